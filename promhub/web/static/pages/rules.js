// The rules page: rule groups from GET /api/v1/rules with their file, interval, last
// evaluation and its duration; per rule its expression (a link into Explore), health and
// last error, and for alerting rules their for, labels, annotations, state and alerts.
// ?search=…&type=alert|record&health=unhealthy filter.
import { v1 } from "../lib/api.js";
import { clear, debounce, errorBox, exploreURL, h, loading } from "../lib/dom.js";
import { ago, formatTime, humanDuration } from "../lib/format.js";
import { apiTime, labelChips } from "./alerts/common.js";
import { opsPage } from "./ops.js";

const REFRESH_MS = 15000;

export function mount(root, ctx) {
  root = opsPage(root, "rules");
  const p = ctx.params;
  const state = { search: p.get("search") || "", type: p.get("type") || "", unhealthy: p.get("health") === "unhealthy" };
  const abort = new AbortController();
  const search = h("input", {
    type: "search",
    class: "grow-input",
    placeholder: "Search rule names and expressions",
    value: state.search,
    "aria-label": "Search rules",
    oninput: debounce(() => update({ search: search.value.trim() }), 250),
  });
  const typeSelect = h(
    "select",
    { "aria-label": "Rule type", onchange: () => update({ type: typeSelect.value }) },
    [
      ["", "All rules"],
      ["alert", "Alerting"],
      ["record", "Recording"],
    ].map(([v, t]) => h("option", { value: v, selected: v === state.type }, t)),
  );
  const summary = h("span", { class: "muted" });
  const out = h("div", {}, loading());
  root.append(
    h("h1", {}, "Rules"),
    h(
      "div",
      { class: "toolbar" },
      search,
      typeSelect,
      h(
        "label",
        { class: "check" },
        h("input", { type: "checkbox", name: "unhealthy", checked: state.unhealthy, onchange: (e) => update({ unhealthy: e.target.checked }) }),
        " Unhealthy only",
      ),
      h("span", { class: "spacer" }),
      summary,
    ),
    out,
  );

  let data = null;
  function update(change) {
    Object.assign(state, change);
    ctx.setParams({ search: state.search, type: state.type, health: state.unhealthy ? "unhealthy" : "" });
    draw();
  }

  async function refresh() {
    try {
      data = await v1("rules", {}, { signal: abort.signal });
      draw();
    } catch (e) {
      if (e.name === "AbortError") return;
      clear(out).append(errorBox("Cannot load rules.", e.message));
    }
  }

  function draw() {
    if (!data) return;
    const q = state.search.toLowerCase();
    const keep = (r) =>
      (!state.type || (state.type === "alert") === (r.type === "alerting")) &&
      (!state.unhealthy || r.health !== "ok") &&
      (!q || r.name.toLowerCase().includes(q) || r.query.toLowerCase().includes(q));
    let rules = 0;
    let bad = 0;
    const sections = [];
    for (const g of data.groups) {
      rules += g.rules.length;
      bad += g.rules.filter((r) => r.health === "err").length;
      const shown = g.rules.filter(keep);
      if (!shown.length && (q || state.type || state.unhealthy)) continue;
      sections.push(groupSection(g, shown));
    }
    summary.textContent = `${data.groups.length} groups, ${rules} rules` + (bad ? `, ${bad} failing` : "");
    // A refresh redraws everything; keep the alert lists the user opened open.
    const opened = new Set([...out.querySelectorAll("details[open]")].map(detailsKey));
    clear(out).append(
      ...(sections.length
        ? sections
        : [h("p", { class: "muted" }, data.groups.length ? "No rule matches." : "No rule groups are loaded (rule_files in the config).")]),
    );
    for (const d of out.querySelectorAll("details")) if (opened.has(detailsKey(d))) d.open = true;
  }

  refresh();
  const timer = setInterval(() => document.visibilityState === "visible" && refresh(), REFRESH_MS);
  return () => {
    clearInterval(timer);
    abort.abort();
  };
}

function detailsKey(d) {
  return d.closest("[data-group]")?.dataset.group + "/" + d.closest("[data-rule]")?.dataset.rule;
}

function evaluated(t, seconds) {
  const at = apiTime(t);
  if (at === null) return h("span", { class: "muted" }, "not evaluated yet");
  return h("span", { title: formatTime(at) }, `evaluated ${ago(at)} in ${humanDuration(seconds)}`);
}

function groupSection(g, rules) {
  return h(
    "section",
    { class: "panel rule-group", dataset: { group: g.name } },
    h(
      "header",
      { class: "rule-group-head" },
      h("h2", {}, g.name),
      h("span", { class: "muted mono file", title: "File" }, g.file),
      h("span", { class: "spacer" }),
      h("span", { class: "muted" }, `every ${humanDuration(g.interval)}`),
      g.limit ? h("span", { class: "muted" }, `limit ${g.limit}`) : null,
      h("span", { class: "muted" }, evaluated(g.lastEvaluation, g.evaluationTime)),
    ),
    rules.map(ruleItem),
  );
}

function ruleItem(r) {
  const alerting = r.type === "alerting";
  const alerts = r.alerts || [];
  const firing = alerts.filter((a) => a.state === "firing").length;
  const pending = alerts.filter((a) => a.state === "pending").length;
  return h(
    "article",
    { class: "rule " + r.health, dataset: { rule: r.name, health: r.health } },
    h(
      "div",
      { class: "rule-line" },
      h("span", { class: "badge rule-type" }, alerting ? "alert" : "record"),
      h("strong", { class: "rule-name" }, r.name),
      h("span", { class: "badge " + (r.health === "ok" ? "ok" : r.health === "err" ? "err" : "unknown"), title: "Health" }, r.health),
      alerting ? h("span", { class: "badge " + r.state, title: "State" }, r.state) : null,
      h("span", { class: "spacer" }),
      h("span", { class: "muted small" }, evaluated(r.lastEvaluation, r.evaluationTime)),
    ),
    h("a", { class: "rule-expr", href: exploreURL(r.query, ""), title: "Open in Explore" }, h("pre", {}, r.query)),
    r.lastError ? h("div", { class: "error-text rule-error" }, r.lastError) : null,
    alerting ? alertDetails(r, firing, pending) : r.labels ? h("div", { class: "rule-labels" }, labelChips(r.labels)) : null,
  );
}

function alertDetails(r, firing, pending) {
  const rows = [];
  if (r.duration) rows.push(["for", humanDuration(r.duration)]);
  if (r.keepFiringFor) rows.push(["keep firing for", humanDuration(r.keepFiringFor)]);
  if (Object.keys(r.labels || {}).length) rows.push(["labels", labelChips(r.labels)]);
  for (const [k, v] of Object.entries(r.annotations || {})) rows.push([k, h("span", { class: "mono" }, v)]);
  const alerts = r.alerts || [];
  return [
    rows.length ? h("dl", { class: "kv rule-kv" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])) : null,
    alerts.length
      ? h(
          "details",
          { class: "rule-alerts" },
          h("summary", {}, `${alerts.length} active alert${alerts.length === 1 ? "" : "s"}` + (firing ? ` · ${firing} firing` : "") + (pending ? ` · ${pending} pending` : "")),
          h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { class: "data" },
              h("thead", {}, h("tr", {}, ["State", "Labels", "Active since", "Value"].map((c) => h("th", {}, c)))),
              h(
                "tbody",
                {},
                alerts.map((a) => {
                  const at = apiTime(a.activeAt);
                  return h(
                    "tr",
                    {},
                    h("td", {}, h("span", { class: "badge " + a.state }, a.state)),
                    h("td", {}, labelChips(a.labels, { skip: ["alertname"] })),
                    h("td", { class: "nowrap", title: at ? formatTime(at) : "" }, at ? ago(at) : "–"),
                    h("td", { class: "mono" }, a.value),
                  );
                }),
              ),
            ),
          ),
        )
      : null,
  ];
}
