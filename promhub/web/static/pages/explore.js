// The explore page (/explore, and /graph for links from Prometheus): several PromQL query
// panels, each with its own editor, time range and Graph / Table / JSON view. Every panel's
// state lives in the URL (Prometheus' g0.expr=… scheme) so a view can be shared as a link.
import { errorBox, h, loadCSS, tabs } from "../lib/dom.js";
import { raw } from "../lib/api.js";
import { formatDuration, humanDuration, parseDuration } from "../lib/format.js";
import {
  RANGES,
  autoStep,
  errorPosition,
  graphWindow,
  newPanel,
  panelsToParams,
  parsePanels,
} from "./explore/state.js";
import { evaluatedAt, graphView, jsonView, notices, tableView } from "./explore/views.js";

const TAB_ITEMS = [
  { id: "graph", label: "Graph" },
  { id: "table", label: "Table" },
  { id: "json", label: "JSON" },
];

export function mount(root, ctx) {
  loadCSS("/static/pages/explore.css");
  const panels = [];
  const list = h("div", { class: "explore-panels" });
  const sync = () => ctx.setParams(panelsToParams(panels.map((p) => p.state)));
  const runAll = () => {
    for (const p of panels) p.run();
    sync();
  };

  const add = (state) => {
    const p = createPanel(state, { runAll, sync, remove: (x) => removePanel(x) });
    panels.push(p);
    list.append(p.el);
    updateRemovable();
    return p;
  };
  const removePanel = (p) => {
    const i = panels.indexOf(p);
    if (i < 0) return;
    panels.splice(i, 1);
    p.destroy();
    p.el.remove();
    updateRemovable();
    sync();
  };
  // The last panel stays: an empty page would have nowhere to type.
  const updateRemovable = () => {
    for (const p of panels) p.setRemovable(panels.length > 1);
  };

  root.append(
    h(
      "div",
      { class: "explore" },
      h(
        "div",
        { class: "toolbar explore-toolbar" },
        h("h1", {}, "Explore"),
        h("span", { class: "spacer" }),
        h("button", { type: "button", class: "explore-add", onclick: () => add(newPanel()).focus() }, "+ Add query"),
        h("button", { type: "button", class: "primary explore-execute", title: "Run every query (Shift+Enter)", onclick: runAll }, "Execute"),
      ),
      list,
    ),
  );
  const initial = parsePanels(ctx.params);
  initial.forEach(add);
  if (initial.some((s) => s.expr.trim())) for (const p of panels) p.run();
  else panels[0].focus();

  return () => {
    for (const p of panels) p.destroy();
  };
}

/** One query panel: editor, tabs, range controls, result. */
function createPanel(state, { runAll, sync, remove }) {
  const s = { ...state };
  let abort = null;
  let view = null; // the current result view's { destroy }
  let last = null; // the last graph answer, redrawn on a stacked toggle without a new query

  const body = h("div", { class: "explore-body" });
  const status = h("div", { class: "explore-status" });
  const stats = h("span", { class: "muted explore-stats" });
  const editorEl = h("div", { class: "explore-editor" });
  const removeBtn = h("button", { type: "button", class: "explore-remove", title: "Remove this query", "aria-label": "Remove this query", onclick: () => remove(panel) }, "×");
  const editor = lazyEditor(editorEl, { doc: s.expr, onRun: runAll });

  // Range, end and step (graph); the evaluation time (table, JSON).
  const rangeSel = h(
    "select",
    { class: "explore-range", "aria-label": "Range", onchange: () => { s.range = rangeSel.value; changed(); } },
    [...new Set([...RANGES, s.range])]
      .sort((a, b) => parseDuration(a) - parseDuration(b))
      .map((r) => h("option", { value: r, selected: r === s.range }, r)),
  );
  const endInput = h("input", {
    type: "datetime-local",
    step: "1",
    class: "explore-end",
    "aria-label": "End time (empty: now)",
    title: "End time (empty: now)",
    onchange: () => {
      const ms = endInput.value ? new Date(endInput.value).getTime() : NaN;
      s.end = Number.isFinite(ms) ? ms / 1000 : null;
      changed();
    },
  });
  const nowBtn = h("button", { type: "button", class: "explore-now", title: "End at the current time", onclick: () => { s.end = null; endInput.value = ""; changed(); } }, "now");
  const stepInput = h("input", {
    type: "text",
    class: "explore-step",
    size: 6,
    "aria-label": "Step",
    title: "Resolution: a duration (30s, 1m) or seconds; empty for auto",
    onchange: () => {
      const v = stepInput.value.trim();
      const sec = /^\d+(\.\d+)?$/.test(v) ? Number(v) : parseDuration(v);
      s.step = v && Number.isFinite(sec) && sec > 0 ? sec : null;
      if (s.step === null) stepInput.value = "";
      changed();
    },
  });
  const stackedBox = h("input", {
    type: "checkbox",
    class: "explore-stacked",
    checked: s.stacked,
    onchange: () => {
      s.stacked = stackedBox.checked;
      sync();
      if (last) showGraph(last.body, last.win);
    },
  });
  const graphOnly = [
    h("label", { class: "explore-ctl" }, "Range ", rangeSel),
    h("label", { class: "explore-ctl" }, "Step ", stepInput),
    h("label", { class: "explore-ctl explore-stacked-label" }, stackedBox, " stacked"),
  ];
  const controls = h(
    "div",
    { class: "explore-controls" },
    graphOnly,
    h("label", { class: "explore-ctl" }, h("span", { class: "explore-end-label" }), endInput, nowBtn),
    stats,
  );

  let tabBar = null;
  const tabHolder = h("div", {});
  const renderTabs = () => {
    const t = tabs(TAB_ITEMS, s.tab, (id) => {
      if (id === s.tab) return;
      s.tab = id;
      renderTabs();
      run();
      sync();
    });
    if (tabBar) tabBar.replaceWith(t);
    else tabHolder.append(t);
    tabBar = t;
    for (const el of graphOnly) el.hidden = s.tab !== "graph";
    controls.querySelector(".explore-end-label").textContent = s.tab === "graph" ? "End " : "Time ";
  };

  const el = h(
    "section",
    { class: "panel explore-panel" },
    h("div", { class: "explore-query" }, editorEl, removeBtn),
    tabHolder,
    controls,
    status,
    body,
  );

  function changed() {
    refreshStepPlaceholder();
    run();
    sync();
  }

  function refreshStepPlaceholder() {
    const range = parseDuration(s.range) || 3600;
    stepInput.placeholder = `auto ${formatDuration(autoStep(range))}`;
    stepInput.value = s.step === null ? "" : formatDuration(s.step);
    endInput.value = s.end === null ? "" : localInput(s.end);
  }

  function setView(v, node) {
    if (view) view.destroy();
    view = v;
    body.replaceChildren(node);
  }

  function showGraph(answer, win) {
    last = { body: answer, win };
    const g = graphView(answer.data, win, s.stacked);
    setView(g, g.el);
    g.draw();
  }

  async function run() {
    s.expr = editor.text();
    if (abort) abort.abort();
    last = null;
    const expr = s.expr;
    status.replaceChildren();
    stats.textContent = "";
    if (!expr.trim()) {
      setView(null, h("div", { class: "muted" }, "Enter an expression and press Execute."));
      return;
    }
    const ctl = (abort = new AbortController());
    const win = graphWindow(s);
    const time = s.end ?? Date.now() / 1000;
    el.classList.add("loading-result");
    const t0 = performance.now();
    try {
      const answer =
        s.tab === "graph"
          ? await raw("POST", "/api/v1/query_range", { form: { query: expr, start: win.start, end: win.end, step: win.step }, signal: ctl.signal })
          : await raw("POST", "/api/v1/query", { form: { query: expr, time }, signal: ctl.signal });
      if (ctl.signal.aborted) return;
      editor.setServerError(null, null);
      const took = (performance.now() - t0) / 1000;
      status.replaceChildren(...(win.note && s.tab === "graph" ? [h("div", { class: "muted" }, win.note)] : []), ...notices(answer.warnings, answer.infos));
      const n = Array.isArray(answer.data?.result) && answer.data.resultType !== "scalar" && answer.data.resultType !== "string" ? answer.data.result.length : 1;
      stats.textContent = `${humanDuration(took)} · ${n} series` + (s.tab === "graph" ? ` · step ${formatDuration(win.step)}` : "");
      if (s.tab === "graph") showGraph(answer, win);
      else if (s.tab === "table") setView(null, h("div", {}, evaluatedAt(time), tableView(answer.data)));
      else setView(null, h("div", {}, evaluatedAt(time), jsonView(answer)));
    } catch (e) {
      if (e.name === "AbortError" || ctl.signal.aborted) return;
      showError(e, expr);
    } finally {
      if (abort === ctl) {
        abort = null;
        el.classList.remove("loading-result");
      }
    }
  }

  function showError(e, expr) {
    const msg = e.message || String(e);
    const pos = errorPosition(msg, expr);
    setView(null, h("div"));
    const box = errorBox(pos ? `Error at line ${pos.line}, column ${pos.col}` : "Error", msg);
    box.classList.add("explore-error");
    if (pos) {
      box.dataset.offset = String(pos.offset);
      box.title = "Click to put the cursor at the error";
      box.addEventListener("click", () => {
        editor.view?.dispatch({ selection: { anchor: pos.offset } });
        editor.focus();
      });
    }
    status.replaceChildren(box);
    // Mark only if the text is still what was sent (the user may have typed meanwhile).
    if (editor.text() === expr) editor.setServerError(msg, pos);
  }

  renderTabs();
  refreshStepPlaceholder();

  const panel = {
    el,
    state: s,
    run: () => {
      run();
    },
    focus: () => editor.focus(),
    setRemovable: (yes) => {
      removeBtn.hidden = !yes;
    },
    destroy() {
      if (abort) abort.abort();
      if (view) view.destroy();
      editor.destroy();
    },
  };
  return panel;
}

let editorModule = null;

/**
 * The editor, loaded on first use: the CodeMirror bundle is large, and the page (and the
 * queries of a shared link) should not wait for it. Until it is there the expression shows as
 * text and text() answers from it.
 */
function lazyEditor(parent, opts) {
  let real = null;
  let dead = false;
  let wantFocus = false;
  let pendingError = null;
  const preview = h("pre", { class: "explore-editor-preview" }, opts.doc || " ");
  parent.append(preview);
  editorModule ??= import("./explore/editor.js");
  editorModule.then(
    (m) => {
      if (dead) return;
      preview.remove();
      real = m.createEditor(parent, opts);
      if (pendingError) real.setServerError(...pendingError);
      if (wantFocus) real.focus();
    },
    (e) => {
      preview.replaceWith(errorBox("Cannot load the editor.", String(e)));
    },
  );
  return {
    get view() {
      return real?.view;
    },
    text: () => (real ? real.text() : opts.doc),
    setServerError(message, pos) {
      if (real) real.setServerError(message, pos);
      else pendingError = [message, pos];
    },
    focus() {
      if (real) real.focus();
      else wantFocus = true;
    },
    destroy() {
      dead = true;
      if (real) real.destroy();
    },
  };
}

/** Epoch seconds → the local "YYYY-MM-DDTHH:MM:SS" a datetime-local input shows. */
function localInput(seconds) {
  const d = new Date(seconds * 1000);
  const p = (x) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
