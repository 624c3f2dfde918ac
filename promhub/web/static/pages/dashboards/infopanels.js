// Grafana panels that show no query result: text (a safe markdown subset), alert list
// (promhub's own alerts) and dashboard list (promhub's dashboards).
import { v1 } from "../../lib/api.js";
import { h } from "../../lib/dom.js";
import { interpolate } from "./vars.js";

// ---------------------------------------------------------------------------- text

/** Inline markdown (**bold**, *em*, `code`, [text](http…)) as DOM nodes; the rest is text. */
function mdInline(text) {
  const out = [];
  const re = /\*\*(.+?)\*\*|__(.+?)__|\*(.+?)\*|`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\)/g;
  let last = 0;
  let m;
  while ((m = re.exec(text))) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] || m[2]) out.push(h("strong", {}, m[1] || m[2]));
    else if (m[3]) out.push(h("em", {}, m[3]));
    else if (m[4]) out.push(h("code", {}, m[4]));
    // Only web and same-site links: an imported file must not smuggle javascript: URLs.
    else if (/^(https?:\/\/|\/)/.test(m[6])) out.push(h("a", { href: m[6], target: "_blank", rel: "noopener" }, m[5]));
    else out.push(m[5]);
    last = re.lastIndex;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/**
 * A small, safe subset of markdown (headings, lists, paragraphs, inline marks) built with
 * h(): the content of an imported file never becomes markup, so HTML in it shows as text.
 */
function markdown(text) {
  const blocks = [];
  let list = null;
  let para = [];
  const flush = () => {
    if (para.length) blocks.push(h("p", {}, mdInline(para.join(" "))));
    para = [];
  };
  for (const line of text.split(/\r?\n/)) {
    const head = line.match(/^(#{1,6})\s+(.*)$/);
    const item = line.match(/^\s*(?:[-*+]|\d+[.)])\s+(.*)$/);
    if (head || item || !line.trim()) flush();
    if (!item) list = null;
    if (head) blocks.push(h(`h${Math.min(6, head[1].length + 2)}`, { class: "dash-md-h" }, mdInline(head[2])));
    else if (item) {
      if (!list) blocks.push((list = h("ul", {})));
      list.append(h("li", {}, mdInline(item[1])));
    } else if (line.trim()) para.push(line.trim());
  }
  flush();
  return blocks;
}

export function renderText(body, panel, scope) {
  const content = interpolate(String(panel.options?.content ?? panel.content ?? ""), scope, { fmt: "text" });
  const mode = panel.options?.mode ?? panel.mode ?? "markdown";
  // HTML mode: its text only (no markup from an imported file); markdown: the safe subset.
  const nodes = mode === "markdown" ? markdown(content) : [content];
  body.append(h("div", { class: `dash-text${mode === "markdown" ? " dash-md" : ""}` }, nodes));
}

// ---------------------------------------------------------------------------- alertlist, dashlist

/** Grafana's alert list, from promhub's own rules: firing and pending alerts by state. */
export async function renderAlertList(body, panel, env) {
  const data = await v1("alerts", undefined, { signal: env.signal });
  const alerts = (data.alerts || []).slice().sort((x, y) => (x.state === y.state ? 0 : x.state === "firing" ? -1 : 1));
  const limit = Number(panel.options?.maxItems ?? panel.limit ?? 10) || 10;
  if (!alerts.length) return body.append(h("div", { class: "dash-nodata muted" }, "No alerts firing or pending"));
  body.append(
    h(
      "ul",
      { class: "dash-list" },
      alerts.slice(0, limit).map((a) =>
        h(
          "li",
          {},
          h("span", { class: `badge ${a.state === "firing" ? "crit" : "warn"}` }, a.state),
          " ",
          h("a", { href: "/alerts", "data-nav": "" }, a.labels?.alertname || "alert"),
          h("span", { class: "muted" }, " " + (a.labels?.instance || a.labels?.job || "")),
        ),
      ),
    ),
  );
}

/** Grafana's dashboard list: the dashboards promhub holds (tag filter as in Grafana). */
export async function renderDashList(body, panel, env) {
  const list = await v1("dashboards", undefined, { signal: env.signal });
  const tags = panel.options?.tags || panel.tags || [];
  const shown = list.filter((d) => tags.every((t) => (d.tags || []).includes(t)));
  body.append(
    h(
      "ul",
      { class: "dash-list" },
      shown.map((d) => h("li", {}, h("a", { href: `/dashboards/${encodeURIComponent(d.uid)}`, "data-nav": "" }, d.title))),
    ),
  );
}
