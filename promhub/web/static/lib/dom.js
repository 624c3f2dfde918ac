// Small DOM helpers shared by every page: element creation without innerHTML (no injection
// of label values), and a few utilities.

/**
 * Create an element. attrs: properties/attributes ("class", "style" object, "on<event>"
 * handlers, "dataset" object, anything else as attribute or property). Children: nodes,
 * strings (text), arrays, null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Remove all children of el. */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Debounce fn by ms. */
export function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

/** An error box with the message (and optional detail). */
export function errorBox(msg, detail) {
  return h("div", { class: "error-box", role: "alert" }, msg, detail ? h("pre", {}, detail) : null);
}

/** A small muted "loading…" line. */
export function loading(text = "Loading…") {
  return h("div", { class: "muted loading" }, text);
}

/** Escape a string for a PromQL double-quoted label value. */
export function promqlString(s) {
  return '"' + String(s).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") + '"';
}

/** Escape a string for use in a PromQL/RE2 regex literal (inside a double-quoted string). */
export function regexEscape(s) {
  return String(s).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Tabs bar: items [{id,label}], returns element; onSelect(id). */
export function tabs(items, active, onSelect) {
  return h(
    "div",
    { class: "tabs", role: "tablist" },
    items.map((it) =>
      h(
        "button",
        {
          type: "button",
          role: "tab",
          class: "tab" + (it.id === active ? " active" : ""),
          "aria-selected": it.id === active ? "true" : "false",
          dataset: { tab: it.id },
          onclick: () => onSelect(it.id),
        },
        it.label,
      ),
    ),
  );
}

/** Add a page's stylesheet (pages/<page>.css) once. */
export function loadCSS(href) {
  if (document.querySelector(`link[data-css="${href}"]`)) return;
  document.head.append(h("link", { rel: "stylesheet", href, dataset: { css: href } }));
}

/** A console link that opens expr in Explore (Prometheus' g0.* link scheme), graph tab. */
export function exploreURL(expr, range = "1h") {
  const p = new URLSearchParams({ "g0.expr": expr, "g0.tab": "0" });
  if (range) p.set("g0.range_input", range);
  return `/explore?${p}`;
}

/** The current value of a theme CSS variable ("--crit"), or fallback. */
export function cssVar(name, fallback = "") {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}
