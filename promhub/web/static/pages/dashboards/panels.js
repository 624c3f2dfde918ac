// Panel renderers for Grafana panels on promhub: timeseries (and legacy graph), stat, gauge,
// bargauge, table, pie (text, alert and dashboard lists are in infopanels.js). Each renderer
// gets (body, panel, env) where env = { scope (for interpolation), range {start, end, step},
// signal } and returns a cleanup function.
import { query, queryRange } from "../../lib/api.js";
import { PALETTE, legendName, sparkline, timeSeriesChart } from "../../lib/chart.js";
import { exploreURL, h } from "../../lib/dom.js";
import { formatValue } from "../../lib/format.js";
import { renderAlertList, renderDashList, renderText } from "./infopanels.js";
import { builtins, interpolate } from "./vars.js";

// Grafana's named colours (its dark-theme hues, readable on both themes).
const NAMED = {
  green: "#73bf69", "dark-green": "#37872d", "semi-dark-green": "#56a64b", "light-green": "#96d98d",
  red: "#f2495c", "dark-red": "#c4162a", "semi-dark-red": "#e02f44", "light-red": "#ff7383",
  orange: "#ff9830", "dark-orange": "#fa6400", "semi-dark-orange": "#ff780a", "light-orange": "#ffb357",
  yellow: "#fade2a", "dark-yellow": "#e0b400", "semi-dark-yellow": "#f2cc0c", "light-yellow": "#ffee52",
  blue: "#5794f2", "dark-blue": "#1f60c4", "semi-dark-blue": "#3274d9", "light-blue": "#8ab8ff",
  purple: "#b877d9", "dark-purple": "#8f3bb8", "semi-dark-purple": "#a352cc", "light-purple": "#ca95e5",
  transparent: "transparent",
};

/** A Grafana colour (name, hex, rgb()) as CSS; "text" follows the theme. */
export function cssColor(c) {
  if (!c) return "var(--fg)";
  if (c === "text") return "var(--fg)";
  return NAMED[c] || c;
}

/** Hex for canvas drawing (CSS variables don't work there). */
function canvasColor(c) {
  if (!c || c === "text") return getComputedStyle(document.documentElement).getPropertyValue("--fg").trim() || "#888";
  return NAMED[c] || c;
}

function defaults(panel) {
  return panel.fieldConfig?.defaults || {};
}

/** Threshold steps [{value (null = base), color}] of a panel, ascending. */
export function thresholdSteps(panel) {
  const steps = defaults(panel).thresholds?.steps;
  if (Array.isArray(steps) && steps.length) return steps;
  // Legacy singlestat/graph: thresholds "80,90" + colors [base, mid, high].
  if (typeof panel.thresholds === "string" && Array.isArray(panel.colors)) {
    const vals = panel.thresholds.split(",").map(Number).filter(Number.isFinite);
    return [{ value: null, color: panel.colors[0] }, ...vals.map((v, i) => ({ value: v, color: panel.colors[i + 1] }))];
  }
  return [{ value: null, color: "green" }];
}

/** For thresholds.mode "percentage": a step's value as a point between min and max. */
function percentOf(panel, min, max) {
  if (defaults(panel).thresholds?.mode !== "percentage") return undefined;
  return (pct) => min + ((max - min) * pct) / 100;
}

function thresholdColor(steps, v, pctOf) {
  let color = steps[0]?.color;
  for (const s of steps) {
    if (s.value === null || s.value === undefined) {
      color = s.color;
      continue;
    }
    const limit = pctOf ? pctOf(s.value) : s.value;
    if (v >= limit) color = s.color;
  }
  return color;
}

/** Unit/decimals/min/max of a panel (fieldConfig, or the legacy graph's yaxes[0]). */
function fieldOpts(panel) {
  const d = defaults(panel);
  const y = Array.isArray(panel.yaxes) ? panel.yaxes[0] || {} : {};
  const num = (x) => (x === null || x === undefined || x === "" ? undefined : Number(x));
  return {
    unit: d.unit || y.format || panel.format || "short",
    decimals: num(d.decimals ?? y.decimals ?? panel.decimals),
    min: num(d.min ?? y.min ?? panel.gauge?.minValue),
    max: num(d.max ?? y.max ?? panel.gauge?.maxValue),
  };
}

/**
 * Older mapping forms as new-style ones: Grafana 7's [{type: 1 (value) | 2 (range), value,
 * from, to, text}] and singlestat's valueMaps/rangeMaps (mappingType 1/2), where "null"
 * stands for no value.
 */
function legacyMappings(panel) {
  const out = [];
  const asValue = (m) =>
    m.value === "null"
      ? { type: "special", options: { match: "null", result: { text: m.text } } }
      : { type: "value", options: { [String(m.value)]: { text: m.text } } };
  const asRange = (m) =>
    m.from === "null" && m.to === "null"
      ? { type: "special", options: { match: "null", result: { text: m.text } } }
      : { type: "range", options: { from: Number(m.from), to: Number(m.to), result: { text: m.text } } };
  for (const m of defaults(panel).mappings || []) {
    if (m.type === 1 || m.type === "1") out.push(asValue(m));
    else if (m.type === 2 || m.type === "2") out.push(asRange(m));
    else out.push(m);
  }
  if (panel.type === "singlestat") {
    const ranges = panel.mappingType === 2;
    for (const m of (ranges ? panel.rangeMaps : panel.valueMaps) || []) out.push(ranges ? asRange(m) : asValue(m));
  }
  return out;
}

/** Value mappings: {type: value|range|special} → display text/colour, or null. */
function mapValue(panel, v) {
  for (const m of legacyMappings(panel)) {
    const o = m.options || {};
    const num = typeof v === "number" && !Number.isNaN(v);
    if (m.type === "value" && num && o[String(v)]) return o[String(v)];
    if (m.type === "range" && num && v >= (o.from ?? -Infinity) && v <= (o.to ?? Infinity)) return o.result;
    if (m.type === "special") {
      const isNull = v === null || v === undefined;
      const nan = typeof v === "number" && Number.isNaN(v);
      const hit = { null: isNull, nan, "null+nan": isNull || nan }[o.match];
      if (hit) return o.result;
    }
  }
  return null;
}

// Grafana units lib/format.js does not know, mapped onto ones it does (or a suffix).
const EXTRA_UNITS = {
  decbits: (v, d) => formatValue(v, "bits", d),
  KBs: (v, d) => formatValue(v * 1000, "decbytes", d) + "/s",
  MBs: (v, d) => formatValue(v * 1e6, "decbytes", d) + "/s",
  kbytes: (v, d) => formatValue(v * 1024, "bytes", d),
  mbytes: (v, d) => formatValue(v * 1048576, "bytes", d),
  deckbytes: (v, d) => formatValue(v * 1000, "decbytes", d),
  pps: (v, d) => formatValue(v, "short", d) + " p/s",
  iops: (v, d) => formatValue(v, "short", d) + " io/s",
  cps: (v, d) => formatValue(v, "short", d) + " c/s",
  m: (v, d) => formatValue(v * 60, "s", d),
  h: (v, d) => formatValue(v * 3600, "s", d),
  d: (v, d) => formatValue(v * 86400, "s", d),
  dtdurations: (v, d) => formatValue(v, "s", d),
  dtdurationms: (v, d) => formatValue(v, "ms", d),
  celsius: (v, d) => formatValue(v, "none", d ?? 1) + " °C",
  hertz: (v, d) => formatValue(v, "short", d) + "Hz",
};

/** formatValue plus the units in EXTRA_UNITS. */
export function fmt(v, unit, decimals) {
  const f = EXTRA_UNITS[unit];
  if (f && typeof v === "number" && Number.isFinite(v)) return f(v, decimals);
  return formatValue(v, unit, decimals);
}

function display(panel, v, fo) {
  const mapped = mapValue(panel, v);
  return {
    text: mapped?.text ?? fmt(v, fo.unit, fo.decimals),
    color: mapped?.color,
  };
}

// Data source types whose queries are not PromQL: their targets are skipped, not sent to
// promhub to fail ("-- Mixed --" panels often hold a Loki query next to Prometheus ones).
const PROMQL_TYPES = new Set(["prometheus", "datasource", ""]);

/** The data source type a target queries ("" when unknown, a variable or a plain name). */
function dsType(panel, t) {
  const ds = t.datasource ?? panel.datasource;
  return ds && typeof ds === "object" && typeof ds.type === "string" && !ds.type.includes("$") ? ds.type : "";
}

/** The panel's visible targets. */
function targetsOf(panel) {
  const t = Array.isArray(panel.targets) ? panel.targets : [];
  return t.filter(
    (x) => x && !x.hide && typeof x.expr === "string" && x.expr.trim() && PROMQL_TYPES.has(dsType(panel, x)),
  );
}

/** "30s", "1m", ">10s" (Grafana's min-interval forms) → seconds, or NaN. */
function intervalSeconds(text) {
  const m = String(text ?? "").trim().match(/^>?\s*(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/);
  return m ? Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2]] : NaN;
}

/**
 * The panel's $__interval: the view's step, raised to the panel's min interval
 * (`interval`) and to range / `maxDataPoints`, as Grafana computes it.
 */
function panelStep(panel, env) {
  const { start, end, step } = env.range;
  let s = step;
  const min = intervalSeconds(interpolate(panel.interval || "", env.scope));
  if (Number.isFinite(min)) s = Math.max(s, min);
  const mdp = Number(panel.maxDataPoints);
  if (mdp > 0) s = Math.max(s, Math.ceil((end - start) / mdp));
  return Math.max(1, Math.round(s));
}

/** A scope whose $__interval/$__rate_interval/... follow `step`. */
function scopeWithStep(env, step) {
  return { ...env.scope, builtins: builtins(env.range.start, env.range.end, step) };
}

/** The scope for a panel's title and texts: its own $__interval. */
export function panelScope(panel, env) {
  const own = panelRange(panel, env);
  return scopeWithStep(own, panelStep(panel, own));
}

/**
 * A target's query step and scope: the panel's interval times `intervalFactor` (old
 * dashboards use 2-10), at least the target's own min `interval` ("1m", "$resolution").
 */
function targetStep(panel, t, env) {
  const base = panelStep(panel, env);
  let step = base * (Number(t.intervalFactor) > 0 ? Number(t.intervalFactor) : 1);
  const min = intervalSeconds(interpolate(t.interval || "", env.scope));
  if (Number.isFinite(min)) step = Math.max(step, min);
  step = Math.max(1, Math.round(step));
  return { step, scope: scopeWithStep(env, step) };
}

/** Run each target as a range query; series carry their legend name and refId. */
async function rangeSeries(panel, env) {
  const { start, end } = env.range;
  const out = [];
  const results = await Promise.all(
    targetsOf(panel).map(async (t) => {
      const { step, scope } = targetStep(panel, t, env);
      const data = await queryRange(interpolate(t.expr, scope), start, end, step, { signal: env.signal });
      return { t, data, scope, step };
    }),
  );
  // The chart's grid: the coarsest step asked for, so a series queried every minute is a
  // line, not dots with gaps between them on a finer grid.
  out.step = Math.max(env.range.step, ...results.map((r) => r.step));
  for (const { t, data, scope } of results) {
    const legend = interpolate(t.legendFormat || "", scope);
    for (const s of data.result || []) out.push({ ...s, name: legendName(legend, s.metric), refId: t.refId || "A" });
  }
  return out;
}

/** Run each target as an instant query at the range's end. */
async function instantSeries(panel, env) {
  const out = [];
  const results = await Promise.all(
    targetsOf(panel).map(async (t) => ({
      t,
      data: await query(interpolate(t.expr, targetStep(panel, t, env).scope), env.range.end, { signal: env.signal }),
    })),
  );
  for (const { t, data } of results) {
    const legend = interpolate(t.legendFormat || "", env.scope);
    let list = data.result || [];
    if (data.resultType === "scalar") list = [{ metric: {}, value: data.result }];
    for (const s of list) {
      const v = s.value ? Number(s.value[1]) : s.values?.length ? Number(s.values.at(-1)[1]) : null;
      out.push({ metric: s.metric || {}, value: v, name: legendName(legend, s.metric), refId: t.refId || "A" });
    }
  }
  return out;
}

const REDUCERS = {
  lastNotNull: (v) => v.at(-1),
  last: (v) => v.at(-1),
  firstNotNull: (v) => v[0],
  first: (v) => v[0],
  mean: (v) => v.reduce((a, b) => a + b, 0) / v.length,
  max: (v) => Math.max(...v),
  min: (v) => Math.min(...v),
  sum: (v) => v.reduce((a, b) => a + b, 0),
  count: (v) => v.length,
  range: (v) => Math.max(...v) - Math.min(...v),
  delta: (v) => v.at(-1) - v[0],
  diff: (v) => v.at(-1) - v[0],
  current: (v) => v.at(-1),
  avg: (v) => v.reduce((a, b) => a + b, 0) / v.length,
  total: (v) => v.reduce((a, b) => a + b, 0),
};

/** Reduce a series' points by reduceOptions.calcs[0] (or legacy valueName). */
function reduce(panel, values) {
  const calc = panel.options?.reduceOptions?.calcs?.[0] || panel.valueName || "lastNotNull";
  const nums = values.map(([, v]) => Number(v)).filter(Number.isFinite);
  if (!nums.length) return null;
  return (REDUCERS[calc] || REDUCERS.lastNotNull)(nums);
}

function noData(body) {
  body.append(h("div", { class: "dash-nodata muted" }, "No data"));
}

// ---------------------------------------------------------------------------- timeseries

/** A "/re/flags" or plain-text matcher → test(name). */
function nameMatcher(pattern, regex) {
  const m = String(pattern ?? "").match(/^\/(.*)\/([gimsuy]*)$/s);
  if (regex || m) {
    try {
      const re = m ? new RegExp(m[1], m[2].replace("g", "")) : new RegExp(String(pattern));
      return (name) => re.test(name);
    } catch {
      return () => false;
    }
  }
  return (name) => name === pattern;
}

/** Colour as #rrggbb for the chart (it appends alpha for fills): names, #rgb, rgb(a)(). */
function hexColor(c) {
  const s = String(NAMED[c] || c || "").trim();
  if (/^#[0-9a-f]{6}$/i.test(s)) return s;
  if (/^#[0-9a-f]{3}$/i.test(s)) return "#" + [...s.slice(1)].map((x) => x + x).join("");
  const m = s.match(/^rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)/i);
  if (m) return "#" + m.slice(1, 4).map((x) => Math.min(255, Number(x)).toString(16).padStart(2, "0")).join("");
  return null;
}

/**
 * Per-series style from fieldConfig.overrides (matchers byName, byRegexp, byFrameRefID;
 * properties color (fixed), custom.transform negative-Y, displayName) and the legacy
 * graph's aliasColors and seriesOverrides (alias, color, transform). Returns the series
 * with .color and, for negative-Y, negated values (Grafana's "out below the axis").
 */
function styleSeries(panel, series) {
  const rules = [];
  for (const o of panel.fieldConfig?.overrides || []) {
    const id = o.matcher?.id;
    const opt = o.matcher?.options;
    let test = null;
    if (id === "byName") test = (s) => s.name === opt;
    else if (id === "byRegexp") test = ((f) => (s) => f(s.name))(nameMatcher(opt, true));
    else if (id === "byFrameRefID") test = (s) => s.refId === opt;
    if (!test) continue;
    const props = {};
    for (const p of o.properties || []) {
      if (p.id === "color" && p.value?.mode === "fixed") props.color = p.value.fixedColor;
      if (p.id === "custom.transform") props.negate = p.value === "negative-Y";
      if (p.id === "displayName" && typeof p.value === "string") props.name = p.value;
    }
    rules.push({ test, props });
  }
  for (const o of Array.isArray(panel.seriesOverrides) ? panel.seriesOverrides : []) {
    const f = nameMatcher(o.alias);
    const props = {};
    if (o.color) props.color = o.color;
    if (o.transform) props.negate = o.transform === "negative-Y";
    rules.push({ test: (s) => f(s.name), props });
  }
  for (const [name, c] of Object.entries(panel.aliasColors || {})) rules.push({ test: (s) => s.name === name, props: { color: c } });
  if (!rules.length) return series;
  const out = series.map((s) => {
    const props = {};
    for (const r of rules) if (r.test(s)) Object.assign(props, r.props);
    const styled = { ...s, color: hexColor(props.color) || undefined, name: props.name || s.name };
    if (props.negate) styled.values = (s.values || []).map(([t, v]) => [t, String(-Number(v))]);
    return styled;
  });
  out.step = series.step;
  return out;
}

function stacking(panel) {
  const mode = defaults(panel).custom?.stacking?.mode;
  if (mode) return mode !== "none";
  return !!panel.stack;
}

function chartThresholds(panel) {
  const style = defaults(panel).custom?.thresholdsStyle?.mode;
  let steps = [];
  if (style && style !== "off") steps = thresholdSteps(panel).filter((s) => s.value !== null && s.value !== undefined);
  else if (Array.isArray(panel.thresholds)) {
    // Legacy graph thresholds: [{value, colorMode: critical|warning|ok|custom, lineColor}].
    const modes = { critical: "red", warning: "orange", ok: "green" };
    steps = panel.thresholds.map((t) => ({ value: t.value, color: t.lineColor || modes[t.colorMode] || "red" }));
  }
  return steps.map((s) => ({ value: Number(s.value), color: canvasColor(s.color) }));
}

async function renderTimeseries(body, panel, env) {
  const series = styleSeries(panel, await rangeSeries(panel, env));
  if (!series.length) return noData(body);
  const fo = fieldOpts(panel);
  const { start, end } = env.range;
  const step = series.step;
  const showLegend = panel.options?.legend?.showLegend !== false && panel.legend?.show !== false;
  const holder = h("div", { class: "dash-chart" });
  body.append(holder);
  const legendRows = showLegend ? Math.min(series.length, 3) : 0;
  const height = Math.max(60, body.clientHeight - 8 - legendRows * 20);
  const chart = timeSeriesChart(holder, {
    result: series,
    names: series.map((s) => s.name),
    start,
    end,
    step,
    unit: fo.unit,
    decimals: fo.decimals,
    min: fo.min,
    max: fo.max,
    stacked: stacking(panel),
    colors: series.map((s, i) => s.color || PALETTE[i % PALETTE.length]),
    height,
    showLegend,
    thresholds: chartThresholds(panel),
    // Unit labels ("7.5k ops/s") vary in width: size the axis to its longest tick.
    axisSize: (u, values) => (values ? Math.max(40, Math.max(...values.map((v) => String(v).length)) * 8 + 24) : 70),
  });
  holder.dataset.series = String(series.length);
  holder.dataset.step = String(step);
  return () => chart.destroy();
}

// ---------------------------------------------------------------------------- stat

async function renderStat(body, panel, env) {
  const series = await rangeSeries(panel, env);
  if (!series.length) return noData(body);
  const fo = fieldOpts(panel);
  const steps = thresholdSteps(panel);
  const area = (panel.options?.graphMode ?? (panel.sparkline?.show ? "area" : "none")) === "area";
  const colorMode = panel.options?.colorMode || "value";
  const wrap = h("div", { class: "dash-stats" });
  body.append(wrap);
  const cleanups = [];
  for (const s of series) {
    const v = reduce(panel, s.values || []);
    const d = display(panel, v, fo);
    const color = cssColor(d.color || (v === null ? "text" : thresholdColor(steps, v)));
    const valueEl = h("div", { class: "dash-stat-value", dataset: { value: v === null ? "" : String(v) } }, d.text);
    const tile = h("div", { class: "dash-stat" }, series.length > 1 ? h("div", { class: "dash-stat-name" }, s.name) : null, valueEl);
    if (colorMode === "background") {
      tile.style.background = color;
      tile.classList.add("bg");
    } else if (colorMode !== "none") valueEl.style.color = color;
    wrap.append(tile);
    if (area && (s.values || []).length > 1) {
      const sp = h("div", { class: "dash-stat-spark" });
      tile.append(sp);
      const xs = s.values.map(([t]) => t);
      const ys = s.values.map(([, y]) => (Number.isFinite(Number(y)) ? Number(y) : null));
      const w = Math.max(60, Math.floor(body.clientWidth / series.length) - 16);
      const stroke = canvasColor(d.color || (v === null ? "text" : thresholdColor(steps, v)));
      cleanups.push(sparkline(sp, xs, ys, { width: w, height: Math.min(40, Math.max(20, body.clientHeight / 3)), stroke }).destroy);
    }
  }
  fitStatText(wrap);
  return () => cleanups.forEach((c) => c());
}

/**
 * Shrink each stat value to fit its tile: community dashboards put "9.2 GiB" or "3.1 week"
 * into tiles two grid units high and wide, where a fixed size would be clipped.
 */
function fitStatText(wrap) {
  for (const tile of wrap.querySelectorAll(".dash-stat")) {
    const el = tile.querySelector(".dash-stat-value");
    const name = tile.querySelector(".dash-stat-name");
    const w = tile.clientWidth - 8;
    const hgt = tile.clientHeight - (name ? name.offsetHeight : 0) - 4;
    const chars = Math.max(1, el.textContent.length);
    // Bold digits are about 0.6 em wide; the line box is 1.15 em high.
    const size = Math.floor(Math.min(28, w / (chars * 0.6), hgt / 1.2));
    el.style.fontSize = `${Math.max(9, size)}px`;
  }
}

// ---------------------------------------------------------------------------- gauge

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

// Gauge geometry: a 240° arc opening at the bottom, in a 100×80 view box.
const G = { cx: 50, cy: 50, r: 38, from: -210, to: 30 };

function arcPath(r, a0, a1) {
  const p = (a) => [G.cx + r * Math.cos((a * Math.PI) / 180), G.cy + r * Math.sin((a * Math.PI) / 180)];
  const [x0, y0] = p(a0);
  const [x1, y1] = p(a1);
  const large = a1 - a0 > 180 ? 1 : 0;
  return `M ${x0.toFixed(2)} ${y0.toFixed(2)} A ${r} ${r} 0 ${large} 1 ${x1.toFixed(2)} ${y1.toFixed(2)}`;
}

function gaugeSvg(v, text, color, min, max, steps, markers) {
  const frac = (x) => Math.min(1, Math.max(0, (x - min) / (max - min || 1)));
  const ang = (x) => G.from + (G.to - G.from) * frac(x);
  const el = svg("svg", { viewBox: "0 0 100 80", class: "dash-gauge-svg", role: "img" });
  el.append(svg("path", { d: arcPath(G.r, G.from, G.to), class: "dash-gauge-track", "stroke-width": 9, fill: "none" }));
  if (v !== null && Number.isFinite(v) && frac(v) > 0) {
    el.append(svg("path", { d: arcPath(G.r, G.from, ang(v)), stroke: color, "stroke-width": 9, fill: "none", class: "dash-gauge-value" }));
  }
  if (markers) {
    // The thresholds as a thin outer band, each step in its colour.
    const bounds = steps.map((s) => (s.value === null || s.value === undefined ? min : Number(s.value)));
    steps.forEach((s, i) => {
      const a0 = ang(Math.max(min, bounds[i]));
      const a1 = ang(i + 1 < steps.length ? Math.min(max, bounds[i + 1]) : max);
      if (a1 > a0) el.append(svg("path", { d: arcPath(G.r + 7, a0, a1), stroke: canvasColor(s.color), "stroke-width": 2.5, fill: "none" }));
    });
  }
  const t = svg("text", { x: G.cx, y: G.cy + 6, "text-anchor": "middle", class: "dash-gauge-text", fill: color });
  t.textContent = text;
  el.append(t);
  return el;
}

async function renderGauge(body, panel, env) {
  const series = await rangeSeries(panel, env);
  if (!series.length) return noData(body);
  const fo = fieldOpts(panel);
  const steps = thresholdSteps(panel);
  const min = fo.min ?? 0;
  const max = fo.max ?? (fo.unit === "percentunit" ? 1 : 100);
  const markers = panel.options?.showThresholdMarkers !== false;
  const wrap = h("div", { class: "dash-gauges" });
  for (const s of series) {
    const v = reduce(panel, s.values || []);
    const d = display(panel, v, fo);
    const color = canvasColor(d.color || (v === null ? "text" : thresholdColor(steps, v, percentOf(panel, min, max))));
    wrap.append(
      h(
        "div",
        { class: "dash-gauge", dataset: { value: v === null ? "" : String(v) } },
        gaugeSvg(v, d.text, color, min, max, steps, markers),
        series.length > 1 ? h("div", { class: "dash-gauge-name" }, s.name) : null,
      ),
    );
  }
  body.append(wrap);
}

// ---------------------------------------------------------------------------- bargauge

async function renderBarGauge(body, panel, env) {
  const series = await instantSeries(panel, env);
  if (!series.length) return noData(body);
  const fo = fieldOpts(panel);
  const steps = thresholdSteps(panel);
  const vals = series.map((s) => s.value).filter(Number.isFinite);
  const min = fo.min ?? Math.min(0, ...vals);
  const max = fo.max ?? Math.max(...vals, min + 1);
  const list = h("div", { class: "dash-bars" });
  for (const s of series) {
    const v = s.value;
    const d = display(panel, v, fo);
    const color = cssColor(d.color || (Number.isFinite(v) ? thresholdColor(steps, v, percentOf(panel, min, max)) : "text"));
    const pct = Number.isFinite(v) ? Math.min(100, Math.max(0, ((v - min) / (max - min || 1)) * 100)) : 0;
    list.append(
      h(
        "div",
        { class: "dash-bar", dataset: { value: String(v) } },
        h("div", { class: "dash-bar-name", title: s.name }, s.name),
        h("div", { class: "dash-bar-track" }, h("div", { class: "dash-bar-fill", style: { width: pct.toFixed(1) + "%", background: color } })),
        h("div", { class: "dash-bar-value", style: { color } }, d.text),
      ),
    );
  }
  body.append(list);
}

// ---------------------------------------------------------------------------- table

function hiddenColumns(panel) {
  const hide = new Set(["__name__", "Time"]);
  for (const t of panel.transformations || []) {
    if (t.id === "organize") {
      for (const [k, on] of Object.entries(t.options?.excludeByName || {})) if (on) hide.add(k);
    }
  }
  return hide;
}

/** Column headers renamed by the "organize" transformation (renameByName). */
function renamedColumns(panel) {
  const names = {};
  for (const t of panel.transformations || []) {
    if (t.id === "organize") Object.assign(names, t.options?.renameByName || {});
  }
  return (c) => (typeof names[c] === "string" && names[c] ? names[c] : c);
}

async function renderTable(body, panel, env) {
  const series = await instantSeries(panel, env);
  if (!series.length) return noData(body);
  const fo = fieldOpts(panel);
  const hide = hiddenColumns(panel);
  const refs = [...new Set(series.map((s) => s.refId))];
  // One row per label set; one value column per query (Grafana's "Value #A" naming).
  const rows = new Map();
  for (const s of series) {
    const key = JSON.stringify(Object.entries(s.metric).filter(([k]) => k !== "__name__").sort());
    if (!rows.has(key)) rows.set(key, { metric: s.metric, values: {} });
    rows.get(key).values[s.refId] = s.value;
  }
  const labels = [...new Set(series.flatMap((s) => Object.keys(s.metric)))].filter((k) => !hide.has(k)).sort();
  const valueCols = refs.map((r) => (refs.length > 1 ? `Value #${r}` : "Value"));
  const rename = renamedColumns(panel);
  const table = h(
    "table",
    { class: "data dash-table" },
    h("thead", {}, h("tr", {}, labels.map((l) => h("th", {}, rename(l))), valueCols.map((c) => h("th", { class: "num" }, rename(c))))),
    h(
      "tbody",
      {},
      [...rows.values()].map((r) =>
        h(
          "tr",
          {},
          labels.map((l) => h("td", {}, r.metric[l] ?? "")),
          refs.map((ref) => h("td", { class: "num" }, display(panel, r.values[ref] ?? null, fo).text)),
        ),
      ),
    ),
  );
  body.append(h("div", { class: "table-wrap dash-table-wrap" }, table));
}

// ---------------------------------------------------------------------------- piechart

/** Pie/donut of each series' reduced value, with a legend of name, value and share. */
async function renderPie(body, panel, env) {
  const series = await rangeSeries(panel, env);
  const fo = fieldOpts(panel);
  const items = styleSeries(panel, series)
    .map((s, i) => ({ name: s.name, v: reduce(panel, s.values || []), color: s.color || PALETTE[i % PALETTE.length] }))
    .filter((x) => Number.isFinite(x.v) && x.v > 0);
  if (!items.length) return noData(body);
  const total = items.reduce((a, x) => a + x.v, 0);
  const donut = panel.options?.pieType === "donut" || panel.pieType === "donut";
  const el = svg("svg", { viewBox: "-1.05 -1.05 2.1 2.1", class: "dash-pie-svg", role: "img" });
  let a = -Math.PI / 2;
  for (const x of items) {
    const da = (x.v / total) * 2 * Math.PI;
    const p = (ang, r) => `${(r * Math.cos(ang)).toFixed(4)} ${(r * Math.sin(ang)).toFixed(4)}`;
    // A full circle cannot be one arc: draw a single-slice pie as a circle.
    const shape =
      items.length === 1
        ? svg("circle", { cx: 0, cy: 0, r: 1, fill: x.color })
        : svg("path", { d: `M 0 0 L ${p(a, 1)} A 1 1 0 ${da > Math.PI ? 1 : 0} 1 ${p(a + da, 1)} Z`, fill: x.color });
    const tip = svg("title");
    tip.textContent = `${x.name}: ${fmt(x.v, fo.unit, fo.decimals)}`;
    shape.append(tip);
    el.append(shape);
    a += da;
  }
  if (donut) el.append(svg("circle", { cx: 0, cy: 0, r: 0.55, class: "dash-pie-hole" }));
  const legend = h(
    "ul",
    { class: "dash-pie-legend" },
    items.map((x) =>
      h(
        "li",
        { dataset: { value: String(x.v) } },
        h("span", { class: "dash-pie-swatch", style: { background: x.color } }),
        h("span", { class: "dash-pie-name", title: x.name }, x.name),
        h("span", { class: "muted" }, ` ${fmt(x.v, fo.unit, fo.decimals)} (${((x.v / total) * 100).toFixed(1)}%)`),
      ),
    ),
  );
  body.append(h("div", { class: "dash-pie" }, el, legend));
}

/**
 * The placeholder for a panel type the console does not draw: says so, and offers the
 * panel's queries in Explore, so its data is one click away.
 */
function renderUnsupported(body, panel, env) {
  const range = `${Math.max(1, Math.round((env.range.end - env.range.start) / 60))}m`;
  const targets = targetsOf(panel);
  const other = (Array.isArray(panel.targets) ? panel.targets : []).map((t) => dsType(panel, t)).find((x) => x && !PROMQL_TYPES.has(x));
  body.append(
    h(
      "div",
      { class: "dash-unsupported muted" },
      h("div", {}, `Panel type "${panel.type}" is not supported by promhub's console.`),
      targets.length
        ? h(
            "div",
            { class: "dash-unsupported-links" },
            targets.map((t) =>
              h("a", { href: exploreURL(interpolate(t.expr, targetStep(panel, t, env).scope), range), "data-nav": "" }, `Query ${t.refId || "A"} in Explore`),
            ),
          )
        : other
          ? h("div", {}, `It queries a ${other} data source.`)
          : null,
    ),
  );
  return null;
}

const RENDERERS = {
  timeseries: renderTimeseries,
  graph: renderTimeseries,
  stat: renderStat,
  // Grafana < 7 singlestat: a gauge when its gauge.show is set, else a stat.
  singlestat: (body, panel, env) => (panel.gauge?.show ? renderGauge : renderStat)(body, panel, env),
  gauge: renderGauge,
  bargauge: renderBarGauge,
  table: renderTable,
  "table-old": renderTable,
  text: (body, panel, env) => renderText(body, panel, panelScope(panel, env)),
  piechart: renderPie,
  "grafana-piechart-panel": renderPie,
  alertlist: renderAlertList,
  dashlist: renderDashList,
};

/** Draw a panel's content into body; returns a cleanup function (or nothing). */
/**
 * The panel's own time range: `timeFrom` ("24h": the last 24 h up to the view's end) and
 * `timeShift` ("1d": moved back a day), with the step scaled to keep the point count.
 */
function panelRange(panel, env) {
  const r = env.range;
  const from = intervalSeconds(String(interpolate(panel.timeFrom || "", env.scope)).replace(/^now-/, ""));
  const shift = intervalSeconds(interpolate(panel.timeShift || "", env.scope));
  if (!Number.isFinite(from) && !Number.isFinite(shift)) return env;
  let { start, end } = r;
  if (Number.isFinite(from)) start = end - from;
  if (Number.isFinite(shift)) {
    start -= shift;
    end -= shift;
  }
  const step = Math.max(1, Math.round((r.step * (end - start)) / Math.max(1, r.end - r.start)));
  return { ...env, range: { start, end, step } };
}

export async function renderPanel(body, panel, env) {
  env = panelRange(panel, env);
  const fn = RENDERERS[panel.type];
  if (!fn) return renderUnsupported(body, panel, env);
  // A Loki/Elasticsearch/... panel: its queries are not PromQL, so say that instead of
  // sending them to promhub for a parse error.
  const all = Array.isArray(panel.targets) ? panel.targets.filter((t) => t && !t.hide && t.expr) : [];
  if (all.length && !targetsOf(panel).length && !["text", "alertlist", "dashlist"].includes(panel.type)) {
    return renderUnsupported(body, panel, env);
  }
  return fn(body, panel, env);
}
