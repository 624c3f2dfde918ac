// The status page: runtime and build information, command-line flags, the loaded
// configuration, TSDB statistics with the top cardinality offenders, and the built-in alert
// manager's status. One tab at a time (?tab=…), each loading only its own endpoints.
import { am, v1 } from "../lib/api.js";
import { clear, debounce, errorBox, h, loading, tabs } from "../lib/dom.js";
import { ago, formatTime, formatValue, humanDuration } from "../lib/format.js";
import { opsPage } from "./ops.js";

const TABS = [
  { id: "runtime", label: "Runtime & build", draw: drawRuntime },
  { id: "flags", label: "Flags", draw: drawFlags },
  { id: "config", label: "Configuration", draw: drawConfig },
  { id: "tsdb", label: "TSDB", draw: drawTSDB },
  { id: "alertmanager", label: "Alert manager", draw: drawAlertmanager },
];

export function mount(root, ctx) {
  root = opsPage(root, "status");
  const abort = new AbortController();
  const head = h("div");
  const body = h("div", { class: "status-body" });
  root.append(h("h1", {}, "Status"), head, body);

  function show(id, push) {
    const tab = TABS.find((t) => t.id === id) || TABS[0];
    clear(head).append(tabs(TABS, tab.id, (next) => show(next, true)));
    // Each tab owns its query parameters (flag filter, TSDB limit); switching drops them.
    if (push) ctx.setParams({ tab: tab.id === "runtime" ? "" : tab.id }, { push: true });
    const params = push ? new URLSearchParams({ tab: tab.id }) : ctx.params;
    clear(body).append(loading());
    tab.draw(body, { ...ctx, params }, abort.signal).catch((e) => {
      if (e.name === "AbortError") return;
      clear(body).append(errorBox(`Cannot load ${tab.label.toLowerCase()}.`, e.message));
    });
  }

  show(ctx.params.get("tab") || "runtime", false);
  return () => abort.abort();
}

/** A definition list from [label, value] pairs. */
function kv(rows) {
  return h(
    "dl",
    { class: "kv status-kv" },
    rows.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", { dataset: { key: k } }, v)]),
  );
}

function panel(title, ...children) {
  return h("section", { class: "panel status-panel" }, h("h2", {}, title), ...children);
}

async function drawRuntime(body, ctx, signal) {
  const [build, rt] = await Promise.all([
    v1("status/buildinfo", {}, { signal }),
    v1("status/runtimeinfo", {}, { signal }),
  ]);
  const started = Date.parse(rt.startTime);
  clear(body).append(
    h(
      "div",
      { class: "status-grid" },
      panel(
        "Build information",
        kv([
          ["Version", h("strong", { class: "version" }, build.version)],
          ["Revision", build.revision || "–"],
          ["Branch", build.branch || "–"],
          ["Build user", build.buildUser || "–"],
          ["Build date", build.buildDate || "–"],
          ["Runtime", build.goVersion],
        ]),
      ),
      panel(
        "Runtime information",
        kv([
          ["Start time", h("span", { title: rt.startTime }, `${formatTime(started)} (up ${humanDuration((Date.now() - started) / 1000)})`)],
          ["Working directory", h("code", {}, rt.CWD)],
          [
            "Configuration reload",
            h("span", { class: "badge " + (rt.reloadConfigSuccess ? "ok" : "err") }, rt.reloadConfigSuccess ? "successful" : "failed"),
          ],
          ["Last configuration load", formatTime(Date.parse(rt.lastConfigTime))],
          ["Storage retention", rt.storageRetention],
          ["Scrape configs", String(rt.scrapeConfigs ?? "–")],
          ["CPUs (GOMAXPROCS)", String(rt.GOMAXPROCS)],
          rt.corruptionCount ? ["WAL corruptions", String(rt.corruptionCount)] : null,
        ]),
      ),
    ),
  );
}

async function drawFlags(body, ctx, signal) {
  const flags = await v1("status/flags", {}, { signal });
  const filter = h("input", {
    type: "search",
    class: "grow-input",
    placeholder: "Filter flags by name or value",
    value: ctx.params.get("q") || "",
    "aria-label": "Filter flags",
    oninput: debounce(() => {
      ctx.setParams({ tab: "flags", q: filter.value.trim() });
      drawRows();
    }, 150),
  });
  const tbody = h("tbody");
  const count = h("span", { class: "muted" });
  const names = Object.keys(flags).sort();
  function drawRows() {
    const q = filter.value.trim().toLowerCase();
    const shown = names.filter((n) => !q || n.toLowerCase().includes(q) || String(flags[n]).toLowerCase().includes(q));
    count.textContent = `${shown.length} of ${names.length}`;
    clear(tbody).append(
      ...shown.map((n) => h("tr", { dataset: { flag: n } }, h("td", { class: "mono" }, "--" + n), h("td", { class: "mono flag-value" }, String(flags[n])))),
    );
  }
  drawRows();
  clear(body).append(
    h("div", { class: "toolbar" }, filter, count),
    h(
      "div",
      { class: "panel table-wrap" },
      h("table", { class: "data flags-table" }, h("thead", {}, h("tr", {}, h("th", {}, "Flag"), h("th", {}, "Value"))), tbody),
    ),
  );
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard API (plain http on a non-local host): the old selection-based copy.
    const ta = h("textarea", { style: { position: "fixed", opacity: "0" } }, text);
    document.body.append(ta);
    ta.select();
    document.execCommand("copy");
    ta.remove();
  }
  const old = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => (button.textContent = old), 1500);
}

function yamlPanel(title, text, extra) {
  const copy = h("button", { type: "button", class: "copy-button", onclick: (e) => copyText(text, e.currentTarget) }, "Copy");
  return h(
    "section",
    { class: "panel status-panel" },
    h("div", { class: "toolbar panel-head" }, h("h2", {}, title), extra || null, h("span", { class: "spacer" }), copy),
    h("pre", { class: "config-yaml" }, text || "(empty)"),
  );
}

async function drawConfig(body, ctx, signal) {
  const cfg = await v1("status/config", {}, { signal });
  clear(body).append(yamlPanel("Configuration", cfg.yaml, h("span", { class: "muted" }, "as loaded (the file's text)")));
}

async function drawTSDB(body, ctx, signal) {
  const limit = ctx.params.get("limit") || "10";
  const st = await v1("status/tsdb", { limit }, { signal });
  const hs = st.headStats;
  const empty = hs.numSeries === 0;
  const limitSelect = h(
    "select",
    {
      "aria-label": "How many entries",
      onchange: () => {
        ctx.setParams({ tab: "tsdb", limit: limitSelect.value === "10" ? "" : limitSelect.value });
        drawTSDB(body, { ...ctx, params: new URLSearchParams({ limit: limitSelect.value }) }, signal);
      },
    },
    ["10", "20", "50", "100"].map((n) => h("option", { value: n, selected: n === limit }, `Top ${n}`)),
  );
  const total = hs.numSeries || 1;
  clear(body).append(
    panel(
      "Head block",
      kv([
        ["Series", formatValue(hs.numSeries, "none")],
        ["Label pairs", formatValue(hs.numLabelPairs, "none")],
        ["Chunks", formatValue(hs.chunkCount, "none")],
        ["Oldest sample", empty ? "–" : `${formatTime(hs.minTime)} (${ago(hs.minTime)})`],
        ["Newest sample", empty ? "–" : `${formatTime(hs.maxTime)} (${ago(hs.maxTime)})`],
      ]),
    ),
    h("div", { class: "toolbar tsdb-toolbar" }, h("h2", {}, "Top cardinality offenders"), h("span", { class: "spacer" }), limitSelect),
    h(
      "div",
      { class: "status-grid" },
      topTable("Series count by metric name", "Metric", "Series", st.seriesCountByMetricName, total, "metrics", (n) =>
        // Its series, in Explore's table view (g0.tab=1).
        h("a", { href: "/explore?" + new URLSearchParams({ "g0.expr": n, "g0.tab": "1" }), title: "Show its series in Explore" }, n),
      ),
      topTable("Label value count by label name", "Label", "Values", st.labelValueCountByLabelName, null, "label-values"),
      topTable("Series count by label-value pair", "Pair", "Series", st.seriesCountByLabelValuePair, total, "pairs"),
      topTable("Memory by label name", "Label", "Bytes", st.memoryInBytesByLabelName, null, "memory", null, (v) => formatValue(v, "bytes")),
    ),
  );
}

/** One "top N" table with a share bar (of all series when `total` is given, else of the top). */
function topTable(title, nameHead, valueHead, rows, total, id, nameCell, fmt) {
  const max = total || Math.max(1, ...rows.map((r) => r.value));
  return h(
    "section",
    { class: "panel status-panel top-table", dataset: { table: id } },
    h("h3", {}, title),
    rows.length
      ? h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "data" },
            h("thead", {}, h("tr", {}, h("th", {}, nameHead), h("th", { class: "num" }, valueHead), h("th", { class: "share-col" }, total ? "Share" : ""))),
            h(
              "tbody",
              {},
              rows.map((r) =>
                h(
                  "tr",
                  {},
                  h("td", { class: "mono top-name" }, nameCell ? nameCell(r.name) : r.name),
                  h("td", { class: "num" }, fmt ? fmt(r.value) : formatValue(r.value, "none")),
                  h(
                    "td",
                    { class: "share-col" },
                    h(
                      "div",
                      { class: "share", title: total ? `${((100 * r.value) / total).toFixed(1)}% of all series` : "" },
                      h("div", { class: "share-bar", style: { width: `${Math.min(100, (100 * r.value) / max)}%` } }),
                    ),
                  ),
                ),
              ),
            ),
          ),
        )
      : h("p", { class: "muted" }, "No data."),
  );
}

async function drawAlertmanager(body, ctx, signal) {
  let st;
  try {
    st = await am("status", { signal });
  } catch (e) {
    if (e.status === 404) {
      clear(body).append(
        h("p", { class: "muted" }, "The built-in alert manager is not enabled (alerting.alertmanager_config in the configuration)."),
      );
      return;
    }
    throw e;
  }
  const v = st.versionInfo || {};
  const up = Date.parse(st.uptime);
  clear(body).append(
    panel(
      "Alert manager",
      kv([
        ["Version", v.version],
        ["Runtime", v.goVersion],
        ["Running since", Number.isNaN(up) ? "–" : `${formatTime(up)} (up ${humanDuration((Date.now() - up) / 1000)})`],
        ["Cluster", h("span", { class: "badge" }, st.cluster?.status || "–")],
        st.cluster?.peers?.length ? ["Peers", st.cluster.peers.map((p) => `${p.name} ${p.address}`).join(", ")] : null,
      ]),
    ),
    yamlPanel("Alert manager configuration", (st.config?.original || "").replace(/^\n+/, "")),
  );
}
