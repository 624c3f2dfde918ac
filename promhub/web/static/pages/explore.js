// The explore page (placeholder until it is built).
import { h } from "../lib/dom.js";

export function mount(root) {
  root.append(h("h1", {}, "explore"), h("p", { class: "muted" }, "Not built yet."));
}
