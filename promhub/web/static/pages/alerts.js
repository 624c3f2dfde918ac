// The alerts page: three tabs on three URLs (/alerts, /silences, /history) so each is a
// shareable link; the tab modules live in pages/alerts/.
import { h, tabs } from "../lib/dom.js";
import { opsPage } from "./ops.js";

const TABS = [
  { id: "alerts", label: "Alerts", load: () => import("./alerts/groups.js") },
  { id: "silences", label: "Silences", load: () => import("./alerts/silences.js") },
  { id: "history", label: "History", load: () => import("./alerts/history.js") },
];

export async function mount(root, ctx) {
  root = opsPage(root, "alerts");
  const id = ctx.path.replace(/^\//, "") || "alerts";
  const tab = TABS.find((t) => t.id === id) || TABS[0];
  const body = h("div", { class: "alerts-tab" });
  root.append(
    h("h1", {}, "Alerts"),
    tabs(TABS, tab.id, (next) => next !== tab.id && ctx.navigate("/" + next)),
    body,
  );
  const mod = await tab.load();
  return mod.mount(body, ctx);
}
