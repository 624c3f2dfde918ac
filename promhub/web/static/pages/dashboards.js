// The dashboards page: /dashboards lists and imports Grafana dashboards, /dashboards/<uid>
// draws one (see dashboards/view.js). Only the public API: /api/v1/dashboards and queries.
import { loadCSS } from "../lib/dom.js";
import { mountList } from "./dashboards/list.js";
import { mountView } from "./dashboards/view.js";

export function mount(root, ctx) {
  loadCSS("/static/pages/dashboards.css");
  const uid = ctx.match[1] ? decodeURIComponent(ctx.match[1]) : "";
  if (uid) return mountView(root, ctx, uid);
  return mountList(root, ctx);
}
