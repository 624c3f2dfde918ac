// The explore panel's result views: graph (uPlot), table and raw JSON. Each builds DOM from
// an API answer; none touches the network.
import { h } from "../../lib/dom.js";
import { timeSeriesChart } from "../../lib/chart.js";
import { formatTime } from "../../lib/format.js";

/** Rows beyond this are not drawn (the browser would choke); the count says what was left. */
export const MAX_TABLE_ROWS = 10000;
/** Series beyond this are not graphed. */
export const MAX_GRAPH_SERIES = 1000;

/** Warnings and infos the API attached to an answer. */
export function notices(warnings = [], infos = []) {
  return [
    ...warnings.map((w) => h("div", { class: "warn-box explore-warning" }, "Warning: ", w)),
    ...infos.map((i) => h("div", { class: "explore-info muted" }, "Info: ", i)),
  ];
}

/** Label chips for a metric: name first, then labels in order. */
function labelChips(metric) {
  const { __name__: name, ...rest } = metric || {};
  const keys = Object.keys(rest).sort();
  return h(
    "span",
    { class: "explore-series" },
    name ? h("span", { class: "explore-metric" }, name) : null,
    keys.map((k) => h("span", { class: "label-chip" }, `${k}="${rest[k]}"`)),
    !name && keys.length === 0 ? h("span", { class: "muted" }, "{}") : null,
  );
}

/**
 * Draw a range-query answer. Returns { el, draw(), destroy() }; el holds the chart (uPlot's legend
 * lists every series by name).
 */
export function graphView(data, win, stacked) {
  const el = h("div", { class: "explore-graph" });
  if (data.resultType !== "matrix") {
    el.append(h("div", { class: "muted" }, `A ${data.resultType} cannot be graphed; use the table view.`));
    return { el, draw() {}, destroy() {} };
  }
  const all = data.result;
  if (all.length === 0) {
    el.append(h("div", { class: "muted explore-empty" }, "Empty query result"));
    return { el, draw() {}, destroy() {} };
  }
  const result = all.slice(0, MAX_GRAPH_SERIES);
  const info =
    all.length > result.length
      ? h("div", { class: "warn-box" }, `Showing ${result.length} of ${all.length} series.`)
      : null;
  const chartEl = h("div", { class: "explore-chart" });
  el.append(chartEl);
  if (info) el.prepend(info);
  let chart = null;
  return {
    el,
    // uPlot sizes itself from its parent's width: called once the element is in the page.
    draw() {
      chart = timeSeriesChart(chartEl, {
        result,
        start: win.start,
        end: win.end,
        step: win.step,
        stacked,
        height: window.innerWidth < 700 ? 220 : 300,
      });
      el.dataset.series = String(result.length);
    },
    destroy() {
      if (chart) chart.destroy();
    },
  };
}
function valueCell(v) {
  return h("td", { class: "explore-value mono" }, v);
}

/** An instant-query answer as a table: vectors, matrices (range selectors), scalars, strings. */
export function tableView(data) {
  const { resultType, result } = data;
  if (resultType === "scalar" || resultType === "string") {
    return h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "data explore-table" },
        h("thead", {}, h("tr", {}, h("th", {}, resultType), h("th", {}, "Value"))),
        h("tbody", {}, h("tr", {}, h("td", { class: "muted" }, resultType), valueCell(result[1]))),
      ),
    );
  }
  if (result.length === 0) return h("div", { class: "muted explore-empty" }, "Empty query result");
  const rows = result.slice(0, MAX_TABLE_ROWS);
  const body = document.createDocumentFragment();
  for (const s of rows) {
    let value;
    if (resultType === "matrix") {
      // A range selector's raw samples: one "value @timestamp" line each.
      value = h(
        "td",
        { class: "explore-value mono" },
        (s.values || []).map(([ts, v]) => h("div", {}, v, h("span", { class: "muted" }, " @", String(ts)))),
        (s.histograms || []).map(([ts, hv]) => h("div", {}, `histogram count=${hv.count} sum=${hv.sum}`, h("span", { class: "muted" }, " @", String(ts)))),
      );
    } else if (s.histogram) {
      value = valueCell(`histogram count=${s.histogram[1].count} sum=${s.histogram[1].sum}`);
    } else {
      value = valueCell(s.value[1]);
    }
    body.append(h("tr", {}, h("td", {}, labelChips(s.metric)), value));
  }
  return h(
    "div",
    {},
    h(
      "div",
      { class: "muted explore-count" },
      `${result.length} ${resultType === "matrix" ? "series" : "result"}${result.length === 1 ? "" : "s"}`,
      rows.length < result.length ? ` (showing the first ${rows.length})` : "",
    ),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "data explore-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "Series"), h("th", {}, "Value"))),
        h("tbody", {}, body),
      ),
    ),
  );
}

/** The raw API answer, pretty-printed. */
export function jsonView(body) {
  return h("div", { class: "table-wrap" }, h("pre", { class: "explore-json" }, JSON.stringify(body, null, 2)));
}

/** "at 2026-11-25 17:40:03" (local) for the instant views. */
export function evaluatedAt(seconds) {
  return h("div", { class: "muted explore-at" }, "Evaluated at ", formatTime(seconds * 1000));
}
