// The alerts page (placeholder until it is built).
import { h } from "../lib/dom.js";

export function mount(root) {
  root.append(h("h1", {}, "alerts"), h("p", { class: "muted" }, "Not built yet."));
}
