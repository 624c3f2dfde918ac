// The overview page (placeholder until it is built).
import { h } from "../lib/dom.js";

export function mount(root) {
  root.append(h("h1", {}, "overview"), h("p", { class: "muted" }, "Not built yet."));
}
