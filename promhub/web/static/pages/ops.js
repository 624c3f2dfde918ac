// What the operations pages (alerts, targets, rules, status) share: their stylesheets and
// the wrapper their styles are scoped under.
import { h, loadCSS } from "../lib/dom.js";

/** Load ops.css and the page's own CSS; returns the page's root element, a `.ops-page`
 * wrapper inside `root` (stylesheets stay loaded after navigating away, so every rule of
 * these pages is scoped under it). */
export function opsPage(root, name) {
  loadCSS("/static/pages/ops.css");
  loadCSS(`/static/pages/${name}.css`);
  return root.appendChild(h("div", { class: "ops-page" }));
}
