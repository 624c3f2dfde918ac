// Panel renderers for Grafana panels on promhub: timeseries (and legacy graph), stat, gauge,
// bargauge, table, text. Each renderer gets (body, panel, env) where env = { scope (for
// interpolation), range {start, end, step}, signal } and returns a cleanup function.
import { query, queryRange } from "../../lib/api.js";
import { legendName, sparkline, timeSeriesChart } from "../../lib/chart.js";
import { h } from "../../lib/dom.js";
import { formatValue } from "../../lib/format.js";
import { interpolate } from "./vars.js";

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

/** Value mappings: {type: value|range|special} → display text/colour, or null. */
function mapValue(panel, v) {
  for (const m of defaults(panel).mappings || []) {
    const o = m.options || {};
    if (m.type === "value" && o[String(v)]) return o[String(v)];
    if (m.type === "range" && v >= (o.from ?? -Infinity) && v <= (o.to ?? Infinity)) return o.result;
    if (m.type === "special") {
      const hit = (o.match === "null" && v === null) || (o.match === "nan" && Number.isNaN(v));
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
  const mapped = v === null ? null : mapValue(panel, v);
  return {
    text: mapped?.text ?? fmt(v, fo.unit, fo.decimals),
    color: mapped?.color,
  };
}

/** The panel's visible targets. */
function targetsOf(panel) {
  const t = Array.isArray(panel.targets) ? panel.targets : [];
  return t.filter((x) => !x.hide && typeof x.expr === "string" && x.expr.trim());
}

/** Run each target as a range query; series carry their legend name. */
async function rangeSeries(panel, env) {
  const { start, end, step } = env.range;
  const out = [];
  const results = await Promise.all(
    targetsOf(panel).map(async (t) => {
      const expr = interpolate(t.expr, env.scope);
      const stepT = t.interval ? stepFor(interpolate(t.interval, env.scope), step) : step;
      const data = await queryRange(expr, start, end, stepT, { signal: env.signal });
      return { t, data };
    }),
  );
  for (const { t, data } of results) {
    const legend = interpolate(t.legendFormat || "", env.scope);
    for (const s of data.result || []) out.push({ ...s, name: legendName(legend, s.metric) });
  }
  return out;
}

function stepFor(minInterval, step) {
  const m = String(minInterval).match(/^(\d+)(ms|s|m|h|d)$/);
  if (!m) return step;
  const sec = Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2]];
  return Math.max(step, sec);
}

/** Run each target as an instant query at the range's end. */
async function instantSeries(panel, env) {
  const out = [];
  const results = await Promise.all(
    targetsOf(panel).map(async (t) => ({
      t,
      data: await query(interpolate(t.expr, env.scope), env.range.end, { signal: env.signal }),
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
  const series = await rangeSeries(panel, env);
  if (!series.length) return noData(body);
  const fo = fieldOpts(panel);
  const { start, end, step } = env.range;
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
    height,
    showLegend,
    thresholds: chartThresholds(panel),
    // Unit labels ("7.5k ops/s") vary in width: size the axis to its longest tick.
    axisSize: (u, values) => (values ? Math.max(40, Math.max(...values.map((v) => String(v).length)) * 8 + 24) : 70),
  });
  holder.dataset.series = String(series.length);
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
  return () => cleanups.forEach((c) => c());
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
  const table = h(
    "table",
    { class: "data dash-table" },
    h("thead", {}, h("tr", {}, labels.map((l) => h("th", {}, l)), valueCols.map((c) => h("th", { class: "num" }, c)))),
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

// ---------------------------------------------------------------------------- text

function renderText(body, panel, env) {
  const content = panel.options?.content ?? panel.content ?? "";
  // Shown as plain text: markdown/HTML from an imported file must never become markup.
  body.append(h("div", { class: "dash-text" }, interpolate(String(content), env.scope, { fmt: "text" })));
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
  text: renderText,
};

/** Draw a panel's content into body; returns a cleanup function (or nothing). */
export async function renderPanel(body, panel, env) {
  const fn = RENDERERS[panel.type];
  if (!fn) {
    body.append(
      h("div", { class: "dash-unsupported muted" }, `Panel type "${panel.type}" is not supported by promhub's console.`),
    );
    return null;
  }
  return fn(body, panel, env);
}
