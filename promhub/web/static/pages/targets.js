// The targets page: scrape pools from GET /api/v1/targets, each collapsible with its
// "3/4 up" count, and per target the endpoint, health, labels (discovered labels on
// expand), last scrape, duration and last error. ?health=unhealthy&search=… filter.
import { v1 } from "../lib/api.js";
import { clear, debounce, errorBox, h, loading } from "../lib/dom.js";
import { ago, formatTime, humanDuration } from "../lib/format.js";
import { labelChips } from "./alerts/common.js";
import { opsPage } from "./ops.js";

const REFRESH_MS = 10000;

export function mount(root, ctx) {
  root = opsPage(root, "targets");
  const p = ctx.params;
  const state = { search: p.get("search") || "", unhealthy: p.get("health") === "unhealthy" };
  // Pools the user folded; kept while the page is open (and across refreshes).
  const collapsed = new Set();
  const expandedTargets = new Set();
  const abort = new AbortController();
  const search = h("input", {
    type: "search",
    placeholder: "Search endpoints and labels",
    value: state.search,
    "aria-label": "Search targets",
    class: "grow-input",
    oninput: debounce(() => update({ search: search.value.trim() }), 250),
  });
  const out = h("div", { class: "pools" }, loading());
  const summary = h("span", { class: "muted" });
  root.append(
    h("h1", {}, "Targets"),
    h(
      "div",
      { class: "toolbar" },
      search,
      h(
        "label",
        { class: "check" },
        h("input", { type: "checkbox", name: "unhealthy", checked: state.unhealthy, onchange: (e) => update({ unhealthy: e.target.checked }) }),
        " Unhealthy only",
      ),
      h("button", { type: "button", onclick: () => setAll(true) }, "Collapse all"),
      h("button", { type: "button", onclick: () => setAll(false) }, "Expand all"),
      h("span", { class: "spacer" }),
      summary,
    ),
    out,
  );

  let data = null;
  function update(change) {
    Object.assign(state, change);
    ctx.setParams({ search: state.search, health: state.unhealthy ? "unhealthy" : "" });
    draw();
  }

  function setAll(fold) {
    if (!data) return;
    for (const t of data.activeTargets) (fold ? collapsed.add(t.scrapePool) : collapsed.delete(t.scrapePool));
    draw();
  }

  async function refresh() {
    try {
      data = await v1("targets", { state: "active" }, { signal: abort.signal });
      draw();
    } catch (e) {
      if (e.name === "AbortError") return;
      clear(out).append(errorBox("Cannot load targets.", e.message));
    }
  }

  function draw() {
    if (!data) return;
    const pools = new Map();
    for (const t of data.activeTargets) {
      if (!pools.has(t.scrapePool)) pools.set(t.scrapePool, []);
      pools.get(t.scrapePool).push(t);
    }
    const q = state.search.toLowerCase();
    const visible = (t) =>
      (!state.unhealthy || t.health !== "up") &&
      (!q ||
        t.scrapeUrl.toLowerCase().includes(q) ||
        Object.entries(t.labels).some(([k, v]) => `${k}="${v}"`.toLowerCase().includes(q)));
    const total = data.activeTargets.length;
    const up = data.activeTargets.filter((t) => t.health === "up").length;
    summary.textContent = `${up}/${total} targets up in ${pools.size} pools`;
    const sections = [];
    for (const name of [...pools.keys()].sort()) {
      const all = pools.get(name);
      const shown = all.filter(visible);
      if (!shown.length && (state.unhealthy || q)) continue;
      sections.push(poolSection(name, all, shown));
    }
    clear(out).append(
      ...(sections.length ? sections : [h("p", { class: "muted" }, state.unhealthy ? "Every target is up." : "No target matches.")]),
    );
  }

  function poolSection(name, all, shown) {
    const up = all.filter((t) => t.health === "up").length;
    const open = !collapsed.has(name);
    const toggle = () => {
      if (open) collapsed.add(name);
      else collapsed.delete(name);
      draw();
    };
    return h(
      "section",
      { class: "panel pool", dataset: { pool: name } },
      h(
        "button",
        { type: "button", class: "pool-head", "aria-expanded": String(open), onclick: toggle },
        h("span", { class: "caret" }, open ? "▾" : "▸"),
        h("span", { class: "pool-name" }, name),
        h("span", { class: "badge " + (up === all.length ? "up" : up === 0 ? "down" : "warn"), dataset: { count: "" } }, `${up}/${all.length} up`),
      ),
      open
        ? h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { class: "data targets-table" },
              h(
                "thead",
                {},
                h("tr", {}, ["Endpoint", "State", "Labels", "Last scrape", "Duration", "Error"].map((c) => h("th", {}, c))),
              ),
              h("tbody", {}, shown.map(targetRow)),
            ),
          )
        : null,
    );
  }

  function targetRow(t) {
    const key = t.scrapePool + "|" + t.scrapeUrl;
    const open = expandedTargets.has(key);
    const last = t.lastScrape && !t.lastScrape.startsWith("0001-") ? Date.parse(t.lastScrape) : null;
    const discoveredText = Object.entries(t.discoveredLabels || {})
      .map(([k, v]) => `${k}="${v}"`)
      .join("\n");
    return h(
      "tr",
      { class: "target", dataset: { health: t.health, instance: t.labels.instance || "" } },
      h("td", { class: "endpoint" }, h("a", { href: t.scrapeUrl, target: "_blank", rel: "noopener" }, t.scrapeUrl)),
      h("td", {}, h("span", { class: "badge " + t.health }, t.health)),
      h(
        "td",
        { class: "target-labels", title: "Discovered labels:\n" + discoveredText },
        labelChips(t.labels),
        h(
          "button",
          {
            type: "button",
            class: "link-button",
            "aria-expanded": String(open),
            onclick: () => {
              if (open) expandedTargets.delete(key);
              else expandedTargets.add(key);
              draw();
            },
          },
          open ? "hide discovered labels" : "discovered labels",
        ),
        open ? h("div", { class: "discovered" }, labelChips(t.discoveredLabels || {})) : null,
      ),
      h("td", { class: "nowrap", title: last ? formatTime(last) : "" }, last ? ago(last) : "never"),
      h("td", { class: "nowrap" }, last ? humanDuration(t.lastScrapeDuration) : "–"),
      h("td", { class: "last-error" }, t.lastError ? h("span", { class: "error-text" }, t.lastError) : ""),
    );
  }

  refresh();
  const timer = setInterval(() => document.visibilityState === "visible" && refresh(), REFRESH_MS);
  return () => {
    clearInterval(timer);
    abort.abort();
  };
}
