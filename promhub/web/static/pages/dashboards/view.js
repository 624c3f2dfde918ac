// One dashboard: its variables bar, time range and refresh, and the panels laid out on
// Grafana's 24-column grid (rows of panels, collapsible; a single column on phones).
// URL state follows Grafana's: ?from=now-1h&to=now&refresh=30s&var-job=node.
import { raw } from "../../lib/api.js";
import { clear, errorBox, h, loading } from "../../lib/dom.js";
import { parseDuration } from "../../lib/format.js";
import { panelScope, renderPanel } from "./panels.js";
import { ALL, builtins, initVars, interpolate, resolveVars } from "./vars.js";

const RANGES = ["5m", "15m", "30m", "1h", "3h", "6h", "12h", "24h", "2d", "7d"];
const REFRESHES = ["", "5s", "10s", "30s", "1m", "5m", "15m"];

/** Grafana time text ("now", "now-1h", "now-1d/d", epoch ms, ISO) → seconds. */
export function parseTime(text, now = Date.now() / 1000) {
  const s = String(text ?? "").trim();
  if (/^\d{10,}$/.test(s)) return Number(s) / 1000;
  const m = s.match(/^now(?:([+-])(\d+)([smhdwMy]))?(?:\/[smhdwMy])?$/);
  if (m) {
    if (!m[1]) return now;
    const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800, M: 2592000, y: 31536000 }[m[3]];
    return now + (m[1] === "-" ? -1 : 1) * Number(m[2]) * unit;
  }
  const d = Date.parse(s);
  return Number.isNaN(d) ? NaN : d / 1000;
}

/** A step giving about 250 points over the range, rounded to whole seconds (min 1 s). */
function stepFor(seconds, width) {
  const points = Math.max(100, Math.min(400, Math.floor(width / 4)));
  return Math.max(1, Math.round(seconds / points));
}

/**
 * Dashboards from before Grafana 5 (schemaVersion < 16) keep panels in `rows` with a 12-column
 * `span` and a pixel `height`; place them on the 24-column grid as Grafana's migration does.
 */
export function legacyRowsToPanels(rows) {
  const out = [];
  let y = 0;
  for (const row of rows) {
    const hUnits = Math.max(3, Math.ceil((parseInt(row.height, 10) || 250) / 38));
    if (row.showTitle || rows.length > 1) {
      out.push({ type: "row", title: row.title || "", collapsed: !!row.collapse, gridPos: { x: 0, y, w: 24, h: 1 }, panels: [] });
      y += 1;
    }
    let x = 0;
    const inRow = [];
    for (const p of row.panels || []) {
      const w = Math.min(24, Math.max(1, Math.round((p.span || 12) * 2)));
      if (x + w > 24) {
        x = 0;
        y += hUnits;
      }
      inRow.push({ ...p, gridPos: { x, y, w, h: hUnits } });
      x += w;
    }
    if (row.collapse && out.length && out.at(-1).type === "row") out.at(-1).panels = inRow;
    else out.push(...inRow);
    y += row.panels?.length ? hUnits : 0;
  }
  return out;
}

/** The values a variable stands for, with All expanded. */
function expandedValues(v) {
  const cur = v.current || [];
  if (cur.includes(ALL)) return v.options.filter((o) => o.value !== ALL).map((o) => o.value);
  return cur;
}

/**
 * Grafana's panel `repeat`: one copy per value of the variable, side by side ("h", wrapping
 * at maxPerRow) or stacked ("v"); panels below move down by the rows the copies add.
 */
export function expandRepeats(list, vars) {
  const sorted = list.slice().sort((a, b) => (a.gridPos?.y ?? 0) - (b.gridPos?.y ?? 0) || (a.gridPos?.x ?? 0) - (b.gridPos?.x ?? 0));
  const out = [];
  let shift = 0;
  for (const p of sorted) {
    const gp = { x: 0, y: 0, w: 12, h: 8, ...(p.gridPos || {}) };
    const v = p.repeat ? vars.get(p.repeat) : null;
    const values = v ? expandedValues(v) : [];
    if (values.length === 0) {
      out.push({ ...p, gridPos: { ...gp, y: gp.y + shift } });
      continue;
    }
    const y = gp.y + shift;
    if (p.repeatDirection === "v") {
      values.forEach((val, i) => out.push({ ...p, repeatValue: val, gridPos: { ...gp, y: y + i * gp.h } }));
      shift += (values.length - 1) * gp.h;
      continue;
    }
    const perRow = Math.max(1, Math.min(values.length, p.maxPerRow || Math.floor(24 / Math.max(1, gp.w)) || 1));
    const w = Math.max(1, Math.floor(24 / perRow));
    values.forEach((val, i) =>
      out.push({ ...p, repeatValue: val, gridPos: { x: (i % perRow) * w, y: y + Math.floor(i / perRow) * gp.h, w, h: gp.h } }),
    );
    shift += (Math.ceil(values.length / perRow) - 1) * gp.h;
  }
  return out;
}

/** The variables with `name` pinned to one value (for a repeated panel's copy). */
function pinnedVars(vars, name, value) {
  const out = new Map(vars);
  const v = vars.get(name);
  if (v) out.set(name, { ...v, current: [value], multi: false, includeAll: false });
  return out;
}

/** Split the panel list into sections: [{row (or null), panels}] in gridPos order. */
function sections(panels) {
  const sorted = panels
    .filter((p) => p && typeof p === "object")
    .slice()
    .sort((a, b) => (a.gridPos?.y ?? 0) - (b.gridPos?.y ?? 0) || (a.gridPos?.x ?? 0) - (b.gridPos?.x ?? 0));
  const out = [{ row: null, panels: [] }];
  for (const p of sorted) {
    if (p.type === "row") out.push({ row: p, panels: p.collapsed ? p.panels || [] : [] });
    else out.at(-1).panels.push(p);
  }
  return out.filter((s) => s.row || s.panels.length);
}

export async function mountView(root, ctx, uid) {
  const abort = new AbortController();
  let timer = null;
  let panelCleanups = [];
  let renderGen = 0;
  root.append(loading("Loading dashboard…"));
  let res;
  try {
    res = await raw("GET", `/api/v1/dashboards/${encodeURIComponent(uid)}`, { signal: abort.signal });
  } catch (e) {
    clear(root);
    root.append(
      h("p", {}, h("a", { href: "/dashboards", "data-nav": "" }, "← Dashboards")),
      errorBox(`Cannot load dashboard ${uid}.`, e.message),
    );
    return () => abort.abort();
  }
  const model = res.data.dashboard;
  if (!Array.isArray(model.panels) && Array.isArray(model.rows)) model.panels = legacyRowsToPanels(model.rows);
  document.title = `promhub · ${model.title}`;
  const vars = initVars(model);

  const state = {
    from: ctx.params.get("from") || model.time?.from || "now-1h",
    to: ctx.params.get("to") || model.time?.to || "now",
    refresh: ctx.params.has("refresh") ? ctx.params.get("refresh") : model.refresh || "",
  };
  const urlVals = (name) => ctx.params.getAll(`var-${name}`);

  const varBar = h("div", { class: "dash-vars", "aria-label": "Variables" });
  const grid = h("div", { class: "dash-body" });

  function range() {
    const now = Date.now() / 1000;
    let end = parseTime(state.to, now);
    let start = parseTime(state.from, now);
    if (!Number.isFinite(end)) end = now;
    if (!Number.isFinite(start) || start >= end) start = end - 3600;
    return { start, end, step: stepFor(end - start, grid.clientWidth || root.clientWidth || 1200) };
  }

  function saveUrl(push = false) {
    if (!root.isConnected) return; // the user has left: this URL belongs to another page
    const p = new URLSearchParams();
    p.set("from", state.from);
    p.set("to", state.to);
    if (state.refresh) p.set("refresh", state.refresh);
    for (const v of vars.values()) {
      if (v.type === "constant" || v.type === "datasource") continue;
      for (const x of v.current || []) p.append(`var-${v.name}`, x === ALL ? "$__all" : x);
    }
    ctx.setParams(p, { push });
  }

  // ------------------------------------------------------------------ toolbar
  const rangeSel = h(
    "select",
    { "aria-label": "Time range", class: "dash-range", onchange: () => setRange(rangeSel.value) },
    RANGES.map((r) => h("option", { value: `now-${r}` }, `Last ${r}`)),
  );
  function syncRangeSel() {
    const known = RANGES.some((r) => `now-${r}` === state.from) && state.to === "now";
    if (!known && ![...rangeSel.options].some((o) => o.value === state.from)) {
      rangeSel.append(h("option", { value: state.from }, `${state.from} → ${state.to}`));
    }
    rangeSel.value = state.from;
  }
  function setRange(from) {
    state.from = from;
    if (from.startsWith("now")) state.to = "now";
    saveUrl(true);
    drawPanels();
  }
  const refreshSel = h(
    "select",
    {
      "aria-label": "Auto refresh",
      onchange: () => {
        state.refresh = refreshSel.value;
        saveUrl();
        schedule();
      },
    },
    REFRESHES.map((r) => h("option", { value: r }, r ? `every ${r}` : "auto refresh off")),
  );
  if (!REFRESHES.includes(state.refresh)) refreshSel.append(h("option", { value: state.refresh }, `every ${state.refresh}`));
  refreshSel.value = state.refresh;

  function schedule() {
    clearInterval(timer);
    timer = null;
    const sec = parseDuration(state.refresh);
    if (Number.isFinite(sec) && sec > 0) timer = setInterval(() => drawPanels(), Math.max(5, sec) * 1000);
  }

  const header = h(
    "div",
    { class: "toolbar dash-toolbar" },
    h("a", { href: "/dashboards", "data-nav": "" }, "Dashboards"),
    h("span", { class: "muted" }, "/"),
    h("h1", { class: "dash-title" }, model.title),
    res.data.meta?.builtin ? h("span", { class: "badge" }, "built-in") : null,
    h("span", { class: "spacer" }),
    rangeSel,
    h("button", { type: "button", title: "Refresh now", onclick: () => drawPanels() }, "↻ Refresh"),
    refreshSel,
  );
  syncRangeSel();
  clear(root);
  root.append(header, varBar, grid);

  // ------------------------------------------------------------------ variables
  function drawVarBar() {
    clear(varBar);
    for (const v of vars.values()) {
      if (v.hide === 2) continue;
      varBar.append(varControl(v));
    }
    varBar.hidden = !varBar.firstChild;
  }

  function varControl(v) {
    const label = v.hide === 1 ? null : h("span", { class: "dash-var-label" }, v.label);
    let input;
    if (v.type === "textbox") {
      input = h("input", {
        value: v.current?.[0] ?? "",
        "aria-label": v.label,
        onchange: () => {
          v.options = [{ text: input.value, value: input.value }];
          varChanged(v, [input.value]);
        },
      });
    } else {
      input = h(
        "select",
        {
          "aria-label": v.label,
          multiple: v.multi,
          size: v.multi ? Math.min(4, Math.max(2, v.options.length)) : undefined,
          dataset: { var: v.name },
          onchange: () => {
            let sel = [...input.selectedOptions].map((o) => o.value);
            // Picking a value next to "All" means that value; picking All alone means All.
            if (sel.length > 1 && sel.includes(ALL)) sel = v.current.includes(ALL) ? sel.filter((x) => x !== ALL) : [ALL];
            varChanged(v, sel);
          },
        },
        v.options.map((o) => h("option", { value: o.value, selected: (v.current || []).includes(o.value) }, o.text)),
      );
    }
    return h(
      "label",
      { class: "dash-var" },
      label,
      input,
      v.error ? h("span", { class: "dash-var-error", title: v.error }, "⚠") : null,
    );
  }

  async function varChanged(v, sel) {
    v.current = sel;
    // Later variables may depend on this one: resolve them again (keeping their choices).
    const later = [...vars.values()];
    const i = later.indexOf(v);
    const keep = (name) => vars.get(name)?.current || [];
    try {
      await resolveSome(later.slice(i + 1), keep);
    } catch (e) {
      if (e.name === "AbortError") return;
      throw e;
    }
    saveUrl(true);
    drawVarBar();
    drawPanels();
  }

  // Re-resolve only the listed variables, with every variable in scope for interpolation.
  async function resolveSome(list, keep) {
    if (!list.length) return;
    const only = new Map(list.map((x) => [x.name, x]));
    const view = { values: () => only.values(), get: (n) => vars.get(n) };
    await resolveVars(view, range(), keep, abort.signal);
  }

  // ------------------------------------------------------------------ panels
  function scope(r, vs = vars) {
    return { vars: vs, builtins: builtins(r.start, r.end, r.step) };
  }

  function panelBox(p, env) {
    const gp = p.gridPos || {};
    const hUnits = Math.max(1, gp.h || 8);
    // The title sees the panel's own $__interval (its min interval / max data points).
    const title = interpolate(p.title || "", panelScope(p, env), { fmt: "text" });
    const body = h("div", { class: "dash-panel-body" });
    const box = h(
      "section",
      {
        class: "panel dash-panel",
        dataset: { panelType: p.type, panelId: String(p.id ?? "") },
        style: {
          gridColumn: `${(gp.x ?? 0) + 1} / span ${Math.min(24, Math.max(1, gp.w || 12))}`,
          gridRow: `${(gp.y ?? 0) - env.y0 + 1} / span ${hUnits}`,
          "--h": String(hUnits),
        },
      },
      h("header", { class: "dash-panel-title", title: p.description || "" }, title || "\u00a0"),
      body,
    );
    box.style.setProperty("--h", String(hUnits));
    return { box, body };
  }

  // vs: the variables the panels see (a repeated row's copy pins its repeat variable).
  function drawSection(container, list, r, gen, vs = vars) {
    const y0 = Math.min(...list.map((p) => p.gridPos?.y ?? 0));
    const base = { range: r, scope: scope(r, vs), signal: abort.signal, y0 };
    const g = h("div", { class: "dash-grid" });
    container.append(g);
    for (const p of expandRepeats(list, vs)) {
      // A repeated panel's copy sees its own value of the repeat variable.
      const env = p.repeatValue === undefined ? base : { ...base, scope: { ...base.scope, vars: pinnedVars(vs, p.repeat, p.repeatValue) } };
      const { box, body } = panelBox(p, env);
      g.append(box);
      // Draw after layout, so charts know their box's size.
      requestAnimationFrame(async () => {
        if (gen !== renderGen) return;
        try {
          const c = await renderPanel(body, p, env);
          if (typeof c === "function") {
            if (gen === renderGen) panelCleanups.push(c);
            else c();
          }
          box.classList.add("dash-ready");
        } catch (e) {
          if (e.name === "AbortError" || gen !== renderGen) return;
          clear(body);
          body.append(h("div", { class: "error-box dash-panel-error", role: "alert" }, e.message));
          box.classList.add("dash-ready", "dash-failed");
        }
      });
    }
  }

  function drawPanels() {
    const gen = ++renderGen;
    for (const c of panelCleanups) c();
    panelCleanups = [];
    clear(grid);
    const r = range();
    const secs = sections(model.panels || []);
    if (!secs.length) grid.append(h("p", { class: "muted" }, "This dashboard has no panels."));
    for (const s of secs) {
      if (!s.row) {
        const container = h("div", { class: "dash-section" });
        grid.append(container);
        drawSection(container, s.panels, r, gen);
        continue;
      }
      // Grafana's row `repeat`: one copy of the row (and its panels) per variable value.
      const rv = s.row.repeat ? vars.get(s.row.repeat) : null;
      const values = rv ? expandedValues(rv) : [];
      if (!values.length) drawRow(s, r, gen, vars);
      else for (const val of values) drawRow(s, r, gen, pinnedVars(vars, s.row.repeat, val));
    }
  }

  function drawRow(s, r, gen, vs) {
    const container = h("div", { class: "dash-section" });
    grid.append(container);
    let open = !s.row.collapsed;
    const content = h("div", { class: "dash-row-content" });
    const toggle = h(
      "button",
      {
        type: "button",
        class: "dash-row",
        "aria-expanded": String(open),
        onclick: () => {
          open = !open;
          s.row.collapsed = !open;
          toggle.setAttribute("aria-expanded", String(open));
          toggle.firstChild.textContent = open ? "▾ " : "▸ ";
          clear(content);
          // Collapsed rows query nothing; their panels draw when opened, as in Grafana.
          if (open && s.panels.length) drawSection(content, s.panels, range(), renderGen, vs);
        },
      },
      h("span", {}, open ? "▾ " : "▸ "),
      interpolate(s.row.title || "Row", scope(r, vs), { fmt: "text" }),
      h("span", { class: "muted dash-row-count" }, ` (${s.panels.length} panel${s.panels.length === 1 ? "" : "s"})`),
    );
    container.append(toggle, content);
    if (open && s.panels.length) drawSection(content, s.panels, r, gen, vs);
  }

  try {
    await resolveVars(vars, range(), urlVals, abort.signal);
  } catch (e) {
    if (e.name === "AbortError") return () => {};
    throw e;
  }
  if (!root.isConnected) return () => abort.abort();
  drawVarBar();
  saveUrl();
  drawPanels();
  schedule();

  return () => {
    abort.abort();
    clearInterval(timer);
    renderGen++;
    for (const c of panelCleanups) c();
  };
}

