// The console's shell: client-side routing between pages, the light/dark theme, and each
// page's lifecycle. A page is an ES module under pages/ exporting
//   mount(root, ctx) -> cleanup function (optional)
// where ctx = { path, match, params (URLSearchParams), setParams(obj|URLSearchParams,
// {push}), navigate(url) }. Pages keep their state in the URL's query string so every view
// can be shared as a link.
import { clear, errorBox, h } from "./lib/dom.js";

const ROUTES = [
  [/^\/(overview)?$/, "overview"],
  [/^\/(explore|graph)$/, "explore"],
  [/^\/(alerts|silences|history)$/, "alerts"],
  [/^\/targets$/, "targets"],
  [/^\/rules$/, "rules"],
  [/^\/status$/, "status"],
  [/^\/dashboards(?:\/([^/]+))?$/, "dashboards"],
];

const root = document.getElementById("page");
let cleanup = null;
let generation = 0;

function route(path) {
  for (const [re, page] of ROUTES) {
    const m = path.match(re);
    if (m) return { page, match: m };
  }
  return null;
}

function setParams(obj, { push = false } = {}) {
  const qs = obj instanceof URLSearchParams ? obj : new URLSearchParams();
  if (!(obj instanceof URLSearchParams)) {
    for (const [k, v] of Object.entries(obj)) {
      if (v === undefined || v === null || v === "") continue;
      if (Array.isArray(v)) v.forEach((x) => qs.append(k, x));
      else qs.set(k, String(v));
    }
  }
  const s = qs.toString();
  const next = location.pathname + (s ? "?" + s : "");
  if (next === location.pathname + location.search) return;
  history[push ? "pushState" : "replaceState"](null, "", next);
}

/** Go to a console URL without reloading the page. */
export function navigate(url, { replace = false } = {}) {
  history[replace ? "replaceState" : "pushState"](null, "", url);
  render();
}

async function render() {
  const path = location.pathname.replace(/\/+$/, "") || "/";
  const r = route(path);
  const gen = ++generation;
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", !!r && a.dataset.page === r.page);
  }
  if (cleanup) {
    try {
      cleanup();
    } catch (e) {
      console.error(e);
    }
    cleanup = null;
  }
  clear(root);
  if (!r) {
    root.append(errorBox(`No page at ${path}.`));
    return;
  }
  document.title = `promhub · ${r.page[0].toUpperCase()}${r.page.slice(1)}`;
  let mod;
  try {
    mod = await import(`./pages/${r.page}.js`);
  } catch (e) {
    root.append(errorBox(`Cannot load the ${r.page} page.`, String(e)));
    throw e;
  }
  if (gen !== generation) return;
  const ctx = {
    path,
    match: r.match,
    params: new URLSearchParams(location.search),
    setParams,
    navigate,
  };
  const c = await mod.mount(root, ctx);
  if (gen !== generation) {
    if (typeof c === "function") c();
    return;
  }
  cleanup = typeof c === "function" ? c : null;
}

function setTheme(t) {
  document.documentElement.dataset.theme = t;
  localStorage.setItem("promhub.theme", t);
  window.dispatchEvent(new CustomEvent("promhub:theme", { detail: t }));
}

document.getElementById("theme-toggle").addEventListener("click", () => {
  setTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark");
});

// In-app links: <a data-nav href="/x"> (and any same-origin console link) switch pages
// without a reload; modified clicks (new tab) keep the browser's behaviour.
document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a[href]");
  if (!a || a.target || ev.defaultPrevented || ev.button !== 0) return;
  if (ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const u = new URL(a.href, location.href);
  if (u.origin !== location.origin || !route(u.pathname.replace(/\/+$/, "") || "/")) return;
  if (u.pathname.startsWith("/api/") || u.pathname.startsWith("/static/")) return;
  ev.preventDefault();
  navigate(u.pathname + u.search);
});

window.addEventListener("popstate", () => render());
render();
