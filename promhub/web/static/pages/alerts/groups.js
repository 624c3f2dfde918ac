// The Alerts tab: firing alerts as the alert manager groups them (GET /api/v2/alerts/groups),
// plus the pending alerts, which only the rule side knows (they never reach the alert
// manager until their `for` has passed), from GET /api/v1/rules?type=alert.
import { am, v1 } from "../../lib/api.js";
import { clear, errorBox, h, loading, regexEscape } from "../../lib/dom.js";
import { ago, formatTime, humanDuration } from "../../lib/format.js";
import {
  apiTime,
  labelChips,
  labelsToMatchers,
  matcherFilter,
  matcherText,
  matches,
  newSilenceURL,
} from "./common.js";

const REFRESH_MS = 15000;

export function mount(root, ctx) {
  const p = ctx.params;
  const state = {
    filter: p.get("filter") || "",
    receiver: p.get("receiver") || "",
    silenced: p.get("silenced") !== "0",
    inhibited: p.get("inhibited") !== "0",
  };
  const abort = new AbortController();
  const filter = matcherFilter({
    value: state.filter,
    placeholder: 'Filter: severity="critical", job=~"node|api"',
    label: "Filter alerts by label matchers",
    onChange: (text) => update({ filter: text }),
  });
  const receiverSelect = h(
    "select",
    { "aria-label": "Receiver", onchange: () => update({ receiver: receiverSelect.value }) },
    h("option", { value: "" }, "All receivers"),
  );
  const check = (key, text) =>
    h(
      "label",
      { class: "check" },
      h("input", { type: "checkbox", checked: state[key], onchange: (e) => update({ [key]: e.target.checked }) }),
      " " + text,
    );
  const out = h("div", { class: "alert-groups" }, loading());
  root.append(
    h(
      "div",
      { class: "toolbar" },
      filter.input,
      receiverSelect,
      check("silenced", "Silenced"),
      check("inhibited", "Inhibited"),
      h("span", { class: "spacer" }),
      h("a", { class: "button-link", href: newSilenceURL([]) }, "New silence"),
      h("button", { type: "button", onclick: () => refresh() }, "Refresh"),
    ),
    filter.error,
    out,
  );

  function update(change) {
    Object.assign(state, change);
    ctx.setParams({
      filter: state.filter,
      receiver: state.receiver,
      silenced: state.silenced ? "" : "0",
      inhibited: state.inhibited ? "" : "0",
    });
    refresh();
  }

  // Add a label to the filter (clicking a chip), replacing a matcher on the same name.
  function addFilter(name, value) {
    filter.add(state.filter, name, value);
  }

  let receiversLoaded = false;
  let seq = 0;
  async function refresh() {
    const mine = ++seq;
    const matchers = filter.parse(state.filter);
    if (matchers === null) return;
    const params = { filter: matchers.map(matcherText), silenced: state.silenced, inhibited: state.inhibited };
    if (state.receiver) params.receiver = regexEscape(state.receiver);
    try {
      const [groups, rules, receivers] = await Promise.all([
        am("alerts/groups", { params, signal: abort.signal }).catch(noAlertManager),
        v1("rules", { type: "alert" }, { signal: abort.signal }),
        receiversLoaded ? null : am("receivers", { signal: abort.signal }).catch(noAlertManager),
      ]);
      if (mine !== seq) return;
      if (!receiversLoaded) {
        receiversLoaded = true;
        for (const r of receivers || []) receiverSelect.append(h("option", { value: r.name }, r.name));
        receiverSelect.value = state.receiver;
      }
      clear(out).append(...render(groups, pendingAlerts(rules, matchers)).flat());
    } catch (e) {
      if (e.name === "AbortError") return;
      clear(out).append(errorBox("Cannot load alerts.", e.message));
    }
  }

  function render(groups, pending) {
    const firing = (groups || []).reduce((n, g) => n + g.alerts.length, 0);
    return [
      h("h2", {}, "Alert manager groups ", h("span", { class: "badge firing" }, String(firing))),
      groups === null
        ? h("p", { class: "muted empty" }, "The built-in alert manager is not enabled (alerting.alertmanager_config in the configuration); firing alerts show on the Rules page.")
        : groups.length
        ? groups.map((g) => groupCard(g, addFilter))
        : h("p", { class: "muted empty" }, "No alerts in the alert manager match."),
      h(
        "h2",
        {},
        "Pending ",
        h("span", { class: "badge pending" }, String(pending.length)),
        h("span", { class: "muted hint" }, " — waiting out their rule's for; not sent to the alert manager yet"),
      ),
      pending.length
        ? h("div", { class: "panel alert-list" }, pending.map((a) => pendingRow(a, addFilter)))
        : h("p", { class: "muted empty" }, "No pending alerts match."),
    ];
  }

  refresh();
  const timer = setInterval(() => document.visibilityState === "visible" && refresh(), REFRESH_MS);
  return () => {
    clearInterval(timer);
    abort.abort();
  };
}

// Without the built-in alert manager its API answers 404: show the rule side only.
function noAlertManager(e) {
  if (e.status === 404) return null;
  throw e;
}

/** Pending alerts from the rules API, with their rule's `for`, filtered like the groups. */
function pendingAlerts(rules, matchers) {
  const out = [];
  for (const g of rules.groups) {
    for (const r of g.rules) {
      for (const a of r.alerts || []) {
        if (a.state !== "pending") continue;
        if (!matchers.every((m) => matches(m, a.labels))) continue;
        out.push({ ...a, forSeconds: r.duration, rule: r.name, group: g.name });
      }
    }
  }
  return out;
}

function groupCard(g, addFilter) {
  const groupLabels = g.labels || {};
  const silenceMatchers = labelsToMatchers(groupLabels);
  return h(
    "section",
    { class: "panel alert-group", dataset: { group: Object.values(groupLabels).join(",") } },
    h(
      "header",
      { class: "group-head" },
      h("span", { class: "badge receiver", title: "Receiver" }, g.receiver.name),
      Object.keys(groupLabels).length
        ? labelChips(groupLabels, { onClick: addFilter })
        : h("span", { class: "muted" }, "(not grouped)"),
      h("span", { class: "badge count" }, `${g.alerts.length} alert${g.alerts.length === 1 ? "" : "s"}`),
      h("span", { class: "spacer" }),
      silenceMatchers.length
        ? h("a", { class: "button-link", href: newSilenceURL(silenceMatchers), title: "Silence this whole group" }, "Silence group")
        : null,
    ),
    h("div", { class: "alert-list" }, g.alerts.map((a) => alertRow(a, groupLabels, addFilter))),
  );
}

function annotationsBlock(annotations) {
  const { summary, description, ...rest } = annotations || {};
  return [
    summary ? h("div", { class: "summary" }, summary) : null,
    description ? h("div", { class: "description" }, description) : null,
    Object.keys(rest).length
      ? h(
          "dl",
          { class: "annotations" },
          Object.keys(rest)
            .sort()
            .map((k) => [h("dt", {}, k), h("dd", {}, linkify(rest[k]))]),
        )
      : null,
  ];
}

// Annotations such as runbook_url hold links; only http(s) ones become anchors.
function linkify(v) {
  return /^https?:\/\/\S+$/.test(v) ? h("a", { href: v, target: "_blank", rel: "noopener" }, v) : v;
}

function alertRow(a, groupLabels, addFilter) {
  const st = a.status || {};
  const suppressed = st.state === "suppressed";
  const since = apiTime(a.startsAt);
  // The group's own labels are already in its header.
  const own = Object.fromEntries(Object.entries(a.labels).filter(([k, v]) => groupLabels[k] !== v));
  return h(
    "article",
    { class: "alert-item" + (suppressed ? " suppressed" : ""), dataset: { fingerprint: a.fingerprint, state: st.state } },
    h(
      "div",
      { class: "alert-line" },
      h("span", { class: "badge " + (suppressed ? "silenced" : "firing") }, suppressed ? "suppressed" : "firing"),
      h("span", { class: "age", title: since ? formatTime(since) : "" }, since ? "started " + ago(since) : ""),
      h("span", { class: "spacer" }),
      a.generatorURL ? h("a", { href: a.generatorURL, class: "small-link", target: "_blank", rel: "noopener" }, "source") : null,
      h("a", { class: "button-link small", href: newSilenceURL(labelsToMatchers(a.labels)) }, "Silence"),
    ),
    annotationsBlock(a.annotations),
    h("div", { class: "labels" }, labelChips(own, { onClick: addFilter })),
    suppressed ? suppressedBy(st) : null,
  );
}

function suppressedBy(st) {
  const items = [];
  for (const id of st.silencedBy || []) {
    items.push(h("span", {}, "silenced by ", h("a", { href: "/silences?edit=" + encodeURIComponent(id), class: "mono" }, id.slice(0, 8))));
  }
  for (const fp of st.inhibitedBy || []) items.push(h("span", {}, "inhibited by alert ", h("code", {}, fp)));
  return h("div", { class: "suppressed-by muted" }, items);
}

function pendingRow(a, addFilter) {
  const since = apiTime(a.activeAt);
  const remaining = since === null ? null : since / 1000 + a.forSeconds - Date.now() / 1000;
  return h(
    "article",
    { class: "alert-item pending", dataset: { alertname: a.labels.alertname || "", state: "pending" } },
    h(
      "div",
      { class: "alert-line" },
      h("span", { class: "badge pending" }, "pending"),
      h("span", { class: "age", title: since ? formatTime(since) : "" }, since ? "active since " + ago(since) : ""),
      remaining !== null
        ? h("span", { class: "muted" }, remaining > 0 ? `fires in ${humanDuration(remaining)} (for ${humanDuration(a.forSeconds)})` : "fires at the next evaluation")
        : null,
      h("span", { class: "spacer" }),
      h("a", { class: "small-link", href: "/rules?search=" + encodeURIComponent(a.rule) }, `rule ${a.group}/${a.rule}`),
    ),
    annotationsBlock(a.annotations),
    h("div", { class: "labels" }, labelChips(a.labels, { onClick: addFilter })),
  );
}
