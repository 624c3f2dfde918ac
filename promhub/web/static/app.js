// The console's shell: client-side routing between pages, the light/dark theme, and each
// page's lifecycle. A page is an ES module under pages/ exporting
//   mount(root, ctx) -> cleanup function (optional)
// where ctx = { path, match, params (URLSearchParams), setParams(obj|URLSearchParams,
// {push}), navigate(url) }. Pages keep their state in the URL's query string so every view
// can be shared as a link.
import { v1 } from "./lib/api.js";
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

/** The pages a promhub in agent mode (scrape and forward, no local queries) can serve, as
 * Prometheus Agent's own UI. */
const AGENT_PAGES = new Set(["targets", "status"]);
// Asked once: every page waits for it, so an agent is never sent queries it must refuse.
const serverMode = v1("status/flags")
  .then((f) => (f.agent === "true" ? "agent" : "server"))
  .catch(() => "server");

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
  const agent = (await serverMode) === "agent";
  if (gen !== generation) return;
  if (agent) showAgentMode();
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
  if (agent && !AGENT_PAGES.has(r.page)) {
    if (path === "/") return navigate("/targets", { replace: true });
    root.append(
      h(
        "div",
        { class: "warn-box agent-page" },
        "This page needs local queries, which an agent does not keep. ",
        h("a", { href: "/targets", "data-nav": "" }, "See what it scrapes"),
        " or use the server it writes to.",
      ),
    );
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

/** Agent mode: only the pages an agent serves in the nav, and a banner saying why. */
function showAgentMode() {
  if (document.body.classList.contains("agent-mode")) return;
  document.body.classList.add("agent-mode");
  for (const a of document.querySelectorAll("#nav a")) {
    if (!AGENT_PAGES.has(a.dataset.page)) a.hidden = true;
  }
  document.querySelector(".brand").after(
    h(
      "span",
      { class: "badge warn agent-badge", title: "promhub serve --agent: scrapes and forwards with remote_write; no local queries, rules or alerts" },
      "Agent",
    ),
  );
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
