// The History tab: promhub's alert history (GET /api/v2/history?start=&end=&matcher=…):
// every alert state change (active, suppressed, resolved) and every notification sent,
// newest first, filtered by label matchers and a time range.
import { am } from "../../lib/api.js";
import { clear, errorBox, h, loading } from "../../lib/dom.js";
import { ago, formatTime, parseDuration } from "../../lib/format.js";
import { labelChips, matcherFilter, matcherText } from "./common.js";

const RANGES = ["1h", "6h", "24h", "7d", "30d", "all"];
const KINDS = ["active", "suppressed", "resolved", "notification"];
const MAX_ROWS = 1000;

export function mount(root, ctx) {
  const p = ctx.params;
  const state = { filter: p.get("filter") || "", range: p.get("range") || "24h", kind: p.get("kind") || "" };
  const abort = new AbortController();
  const filter = matcherFilter({
    value: state.filter,
    placeholder: 'Filter: alertname="TargetDown"',
    label: "Filter history by label matchers",
    onChange: (text) => update({ filter: text }),
  });
  const rangeSelect = h(
    "select",
    { "aria-label": "Time range", onchange: () => update({ range: rangeSelect.value }) },
    RANGES.map((r) => h("option", { value: r, selected: r === state.range }, r === "all" ? "All kept" : "Last " + r)),
  );
  const kindSelect = h(
    "select",
    { "aria-label": "Event kind", onchange: () => update({ kind: kindSelect.value }) },
    h("option", { value: "" }, "All events"),
    KINDS.map((k) => h("option", { value: k, selected: k === state.kind }, k)),
  );
  const out = h("div", {}, loading());
  root.append(
    h(
      "div",
      { class: "toolbar" },
      filter.input,
      rangeSelect,
      kindSelect,
      h("span", { class: "spacer" }),
      h("button", { type: "button", onclick: () => refresh() }, "Refresh"),
    ),
    filter.error,
    out,
  );

  function update(change) {
    Object.assign(state, change);
    ctx.setParams({ filter: state.filter, range: state.range === "24h" ? "" : state.range, kind: state.kind });
    refresh();
  }

  function addFilter(name, value) {
    filter.add(state.filter, name, value);
  }

  let seq = 0;
  async function refresh() {
    const mine = ++seq;
    const matchers = filter.parse(state.filter);
    if (matchers === null) return;
    const params = { matcher: matchers.map(matcherText) };
    const secs = parseDuration(state.range);
    if (Number.isFinite(secs)) params.start = (Date.now() / 1000 - secs).toFixed(3);
    try {
      let events = await am("history", { params, signal: abort.signal });
      if (mine !== seq) return;
      if (state.kind) events = events.filter((e) => e.kind === state.kind);
      events.reverse();
      clear(out).append(render(events, addFilter));
    } catch (e) {
      if (e.name === "AbortError") return;
      clear(out).append(errorBox("Cannot load the alert history.", e.message));
    }
  }

  refresh();
  return () => abort.abort();
}

function render(events, addFilter) {
  if (!events.length) return h("p", { class: "muted empty" }, "No events in this range.");
  const shown = events.slice(0, MAX_ROWS);
  return h(
    "div",
    { class: "panel" },
    h(
      "p",
      { class: "muted" },
      events.length > MAX_ROWS ? `Newest ${MAX_ROWS} of ${events.length} events; narrow the filter or range.` : `${events.length} events, newest first.`,
    ),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "data history-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "Time"), h("th", {}, "Event"), h("th", {}, "Labels"), h("th", {}, "Details"))),
        h("tbody", {}, shown.map((e) => row(e, addFilter))),
      ),
    ),
  );
}

const KIND_CLASS = { active: "firing", suppressed: "silenced", resolved: "ok", notification: "info" };

function row(e, addFilter) {
  const t = Date.parse(e.time);
  return h(
    "tr",
    { dataset: { kind: e.kind } },
    h("td", { class: "nowrap", title: ago(t) }, formatTime(t)),
    h("td", {}, h("span", { class: "badge " + (KIND_CLASS[e.kind] || "") }, e.kind === "active" ? "firing" : e.kind)),
    h("td", {}, labelChips(e.labels || {}, { onClick: addFilter })),
    h("td", {}, details(e)),
  );
}

function details(e) {
  if (e.kind === "notification") {
    const alerts = e.alerts || [];
    const firing = alerts.filter((a) => a.status === "firing").length;
    return h(
      "span",
      {},
      "to ",
      h("strong", {}, e.receiver || "?"),
      `: ${firing} firing, ${alerts.length - firing} resolved`,
      alerts.length
        ? h(
            "details",
            { class: "notified" },
            h("summary", {}, "alerts"),
            alerts.map((a) => h("div", {}, h("span", { class: "badge " + (a.status === "firing" ? "firing" : "ok") }, a.status), " ", labelChips(a.labels))),
          )
        : null,
    );
  }
  if (e.kind === "suppressed") {
    const parts = [];
    for (const id of e.silencedBy || []) parts.push(h("span", {}, "silence ", h("a", { href: "/silences?edit=" + encodeURIComponent(id), class: "mono" }, id.slice(0, 8)), " "));
    for (const fp of e.inhibitedBy || []) parts.push(h("span", {}, "inhibited by ", h("code", {}, fp), " "));
    return parts;
  }
  return e.fingerprint ? h("code", { class: "muted" }, e.fingerprint) : "";
}
