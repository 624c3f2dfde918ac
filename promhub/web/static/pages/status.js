// The status page (placeholder until it is built).
import { h } from "../lib/dom.js";

export function mount(root) {
  root.append(h("h1", {}, "status"), h("p", { class: "muted" }, "Not built yet."));
}
