// The dashboards page: /dashboards lists and imports Grafana dashboards, /dashboards/<uid>
// draws one (see dashboards/view.js). Only the public API: /api/v1/dashboards and queries.
import { clear, h, loadCSS } from "../lib/dom.js";

export async function mount(root, ctx) {
  loadCSS("/static/pages/dashboards.css");
  // The page draws into its own box: if the user leaves while a fetch is still running,
  // the shell clears root and late writes land in the detached box, not the next page.
  const box = h("div", { class: "dash-page" }, h("h1", {}, "Dashboards"));
  root.append(box);
  const uid = ctx.match[1] ? decodeURIComponent(ctx.match[1]) : "";
  // Something is on screen at once; the list or view module (and uPlot) loads behind it.
  const mod = uid ? await import("./dashboards/view.js") : await import("./dashboards/list.js");
  clear(box);
  return uid ? mod.mountView(box, ctx, uid) : mod.mountList(box, ctx);
}
