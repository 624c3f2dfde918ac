// The overview: every monitored instance as one row (a card on phones) with its health and
// CPU, memory, disk, network and load, each as the current value plus a last-hour sparkline,
// worst first. Instances come from `up` and node_exporter-named metrics (node_exporter
// itself or promhub's built-in host collector), joined by instance. State (search, job,
// label filter, sort, page, page size) lives in the URL so a view can be shared.
import { cssVar, debounce, errorBox, exploreURL, h, loadCSS, promqlString } from "../lib/dom.js";
import { formatValue, formatTime } from "../lib/format.js";
import {
  METRICS,
  fetchInstances,
  fetchJobs,
  fetchSparklines,
  filterMatchers,
  level,
  parseLabelFilter,
} from "./overview/data.js";
import { sparkline } from "../lib/chart.js";

const REFRESH_MS = 30_000;
const PAGE_SIZES = [25, 50, 100];
const SORTS = [
  ["worst", "Worst first"],
  ["instance", "Instance"],
  ["health", "Health"],
  ...METRICS.map((d) => [d.key, d.label]),
];
const HEALTH_ORDER = { down: 0, partial: 1, unknown: 2, up: 3 };

function readState(params) {
  const size = Number(params.get("size"));
  return {
    q: params.get("q") || "",
    job: params.get("job") || "",
    label: params.get("label") || "",
    sort: SORTS.some(([k]) => k === params.get("sort")) ? params.get("sort") : "worst",
    dir: params.get("dir") === "asc" ? "asc" : params.get("dir") === "desc" ? "desc" : "",
    page: Math.max(1, Number(params.get("page")) || 1),
    size: PAGE_SIZES.includes(size) ? size : 50,
  };
}

/** Natural direction of a column: names A→Z, health worst first, numbers highest first. */
function defaultDir(sort) {
  return sort === "instance" || sort === "health" ? "asc" : "desc";
}

function compare(sort) {
  const byName = (a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0);
  if (sort === "instance") return byName;
  if (sort === "health") return (a, b) => HEALTH_ORDER[a.health] - HEALTH_ORDER[b.health] || byName(a, b);
  const key = sort === "worst" ? "score" : sort;
  return (a, b) => (a[key] ?? -Infinity) - (b[key] ?? -Infinity) || -byName(a, b);
}

/** Filter by the search box, then sort; rows without a value sort last either way. */
export function arrange(rows, st) {
  const q = st.q.toLowerCase();
  const hit = q
    ? rows.filter((r) => r.instance.toLowerCase().includes(q) || r.jobs.some((j) => j.toLowerCase().includes(q)))
    : rows;
  const dir = st.dir || defaultDir(st.sort);
  const cmp = compare(st.sort);
  const key = st.sort === "worst" ? "score" : st.sort;
  const missing = (r) => METRICS.some((d) => d.key === key) && (r[key] === null || r[key] === undefined);
  return hit.slice().sort((a, b) => {
    const ma = missing(a);
    const mb = missing(b);
    if (ma !== mb) return ma ? 1 : -1;
    return dir === "asc" ? cmp(a, b) : -cmp(a, b);
  });
}

export function mount(root, ctx) {
  loadCSS("/static/pages/overview.css");
  let st = readState(ctx.params);
  let rows = null; // every instance from the last fetch
  let sparkCache = new Map(); // instance -> {xs, series by key}, reset on every refresh
  let charts = [];
  let inflight = null;
  let sparkInflight = null;
  let lastLoad = 0;
  let timer = null;
  let disposed = false;

  const search = h("input", {
    type: "search",
    placeholder: "Search instance or job",
    value: st.q,
    "aria-label": "Search instance or job",
    class: "ov-search",
  });
  const jobSel = h("select", { "aria-label": "Job", class: "ov-job" }, h("option", { value: "" }, "All jobs"));
  const labelIn = h("input", {
    type: "text",
    placeholder: 'label="value"',
    value: st.label,
    "aria-label": "Label filter",
    class: "ov-label mono",
    spellcheck: false,
  });
  const labelErr = h("span", { class: "ov-label-error", role: "alert" });
  const sortSel = h(
    "select",
    { "aria-label": "Sort", class: "ov-sort" },
    SORTS.map(([k, l]) => h("option", { value: k, selected: k === st.sort }, l)),
  );
  const summary = h("div", { class: "ov-summary" });
  const updated = h("span", { class: "muted ov-updated" });
  const body = h("div", { class: "ov-body" }, h("div", { class: "muted loading" }, "Loading instances…"));
  const pager = h("div", { class: "ov-pager" });

  root.append(
    h("div", { class: "ov-head" }, h("h1", {}, "Overview"), summary, h("span", { class: "spacer" }), updated),
    h(
      "div",
      { class: "toolbar ov-toolbar" },
      search,
      jobSel,
      h("span", { class: "ov-label-wrap" }, labelIn, labelErr),
      h("label", { class: "ov-inline muted" }, "Sort ", sortSel),
    ),
    body,
    pager,
  );

  function update(patch, { push = false, refetch = false } = {}) {
    st = { ...st, ...patch };
    ctx.setParams(
      {
        q: st.q,
        job: st.job,
        label: st.label,
        sort: st.sort === "worst" ? "" : st.sort,
        dir: st.dir && st.dir !== defaultDir(st.sort) ? st.dir : "",
        page: st.page > 1 ? st.page : "",
        size: st.size !== 50 ? st.size : "",
      },
      { push },
    );
    if (refetch) load();
    else render();
  }

  search.addEventListener(
    "input",
    debounce(() => update({ q: search.value.trim(), page: 1 }), 150),
  );
  jobSel.addEventListener("change", () => update({ job: jobSel.value, page: 1 }, { push: true, refetch: true }));
  const applyLabel = () => {
    const { error } = parseLabelFilter(labelIn.value);
    labelErr.textContent = error;
    labelIn.classList.toggle("invalid", !!error);
    if (!error && labelIn.value.trim() !== st.label) {
      update({ label: labelIn.value.trim(), page: 1 }, { push: true, refetch: true });
    }
  };
  labelIn.addEventListener("change", applyLabel);
  labelIn.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") applyLabel();
  });
  sortSel.addEventListener("change", () => update({ sort: sortSel.value, dir: "", page: 1 }));

  async function loadJobs() {
    try {
      const jobs = await fetchJobs();
      if (disposed) return;
      const all = st.job && !jobs.includes(st.job) ? [...jobs, st.job] : jobs;
      jobSel.replaceChildren(
        h("option", { value: "" }, "All jobs"),
        ...all.map((j) => h("option", { value: j, selected: j === st.job }, j)),
      );
    } catch (e) {
      if (e.name !== "AbortError") console.warn("overview: job list", e);
    }
  }

  async function load() {
    const { error } = parseLabelFilter(st.label);
    labelErr.textContent = error;
    if (inflight) inflight.abort();
    const ac = (inflight = new AbortController());
    performance.mark("overview:load");
    try {
      const fresh = await fetchInstances(filterMatchers({ job: st.job, label: error ? "" : st.label }), {
        signal: ac.signal,
      });
      if (disposed || ac.signal.aborted) return;
      performance.mark("overview:data");
      rows = fresh;
      sparkCache = new Map();
      lastLoad = Date.now();
      updated.textContent = `Updated ${formatTime(lastLoad)}`;
      render();
    } catch (e) {
      if (e.name === "AbortError" || disposed) return;
      rows = null;
      destroyCharts();
      body.replaceChildren(errorBox("Cannot load the instances.", e.message));
    }
  }

  function destroyCharts() {
    for (const c of charts) c.destroy();
    charts = [];
  }

  function render() {
    if (!rows) return;
    const list = arrange(rows, st);
    const pages = Math.max(1, Math.ceil(list.length / st.size));
    const page = Math.min(st.page, pages);
    const visible = list.slice((page - 1) * st.size, page * st.size);
    renderSummary(list);
    destroyCharts();
    body.dataset.sparklines = "loading";
    body.replaceChildren(
      list.length
        ? table(visible)
        : h(
            "p",
            { class: "muted ov-empty" },
            rows.length
              ? "No instance matches the search."
              : "No instances: nothing is scraped yet, or no target matches the filters.",
          ),
    );
    renderPager(list.length, page, pages);
    // Marks for bench/console_bench.py: rows on screen, then sparklines drawn.
    performance.mark("overview:rows");
    drawSparklines(visible);
  }

  function renderSummary(list) {
    const down = list.filter((r) => r.health === "down" || r.health === "partial").length;
    const hot = list.filter((r) => METRICS.some((d) => level(d.key, r) === "crit")).length;
    summary.replaceChildren(
      h("span", { class: "badge" }, `${list.length} instance${list.length === 1 ? "" : "s"}`),
      down ? h("span", { class: "badge down" }, `${down} down`) : h("span", { class: "badge up" }, "all up"),
      hot ? h("span", { class: "badge crit" }, `${hot} critical`) : null,
    );
  }

  function header(key, label) {
    const active = st.sort === key;
    const dir = st.dir || defaultDir(key);
    return h(
      "th",
      {
        class: "ov-sortable" + (active ? " active" : ""),
        "aria-sort": active ? (dir === "asc" ? "ascending" : "descending") : "none",
        dataset: { sort: key },
        tabindex: "0",
        onclick: () => clickSort(key),
        onkeydown: (ev) => (ev.key === "Enter" ? clickSort(key) : null),
      },
      label,
      active ? (dir === "asc" ? " ▲" : " ▼") : "",
    );
  }

  function clickSort(key) {
    const dir = st.dir || defaultDir(st.sort);
    if (st.sort === key) update({ dir: dir === "asc" ? "desc" : "asc" });
    else update({ sort: key, dir: "", page: 1 });
    sortSel.value = st.sort;
  }

  function table(visible) {
    return h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "data ov-table" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            header("health", "Health"),
            header("instance", "Instance"),
            METRICS.map((d) => header(d.key, d.label)),
          ),
        ),
        h("tbody", {}, visible.map(rowEl)),
      ),
    );
  }

  function rowEl(r) {
    return h(
      "tr",
      { class: `ov-row health-${r.health}`, dataset: { instance: r.instance } },
      h("td", { class: "ov-health", "data-label": "Health" }, healthBadge(r)),
      h(
        "td",
        { class: "ov-instance", "data-label": "Instance" },
        h("div", { class: "ov-name mono" }, r.instance || "(no instance label)"),
        h("div", { class: "ov-jobs" }, r.jobs.map((j) => h("span", { class: "label-chip" }, j))),
      ),
      METRICS.map((d) => metricCell(d, r)),
    );
  }

  function healthBadge(r) {
    const text = r.health === "partial" ? `${r.up}/${r.total} up` : r.health === "unknown" ? "no up" : r.health;
    const cls = r.health === "partial" ? "warn" : r.health === "unknown" ? "" : r.health;
    return h("span", { class: `badge ${cls}`, title: `${r.up} of ${r.total} targets up` }, text);
  }

  function metricCell(d, r) {
    const v = r[d.key];
    const lv = level(d.key, r);
    let extra = null;
    if (d.key === "load" && v !== null && r.cores) extra = `${formatValue(v / r.cores, "none", 2)}/core`;
    if (d.key === "mem" && r.memTotal) extra = `of ${formatValue(r.memTotal, "bytes")}`;
    const text = formatValue(v, d.unit);
    return h(
      "td",
      { class: `ov-metric ov-${d.key}`, "data-label": d.label, dataset: { metric: d.key } },
      h(
        "div",
        { class: "ov-val" },
        v === null
          ? h("span", { class: "muted" }, "–")
          : h(
              "a",
              {
                class: `ov-num ${lv}`,
                href: exploreURL(d.expr([`instance=${promqlString(r.instance)}`])),
                title: `Open ${d.label} of ${r.instance} in Explore`,
              },
              text,
            ),
        extra ? h("span", { class: "muted ov-extra" }, " ", extra) : null,
      ),
      v === null ? null : h("div", { class: "ov-spark", dataset: { instance: r.instance, metric: d.key } }),
    );
  }

  function renderPager(total, page, pages) {
    const first = total ? (page - 1) * st.size + 1 : 0;
    const last = Math.min(total, page * st.size);
    const go = (p) => update({ page: p }, { push: true });
    pager.replaceChildren(
      h("button", { type: "button", class: "ov-prev", disabled: page <= 1, onclick: () => go(page - 1) },
        "‹ Prev"),
      h("span", { class: "ov-pageinfo" }, `Page ${page} of ${pages}`),
      h("button", { type: "button", class: "ov-next", disabled: page >= pages, onclick: () => go(page + 1) },
        "Next ›"),
      h("span", { class: "muted" }, `${first}–${last} of ${total}`),
      h("span", { class: "spacer" }),
      h(
        "label",
        { class: "ov-inline muted" },
        "Per page ",
        h(
          "select",
          {
            class: "ov-size",
            "aria-label": "Instances per page",
            onchange: (ev) => update({ size: Number(ev.target.value), page: 1 }),
          },
          PAGE_SIZES.map((n) => h("option", { value: n, selected: n === st.size }, String(n))),
        ),
      ),
    );
  }

  async function drawSparklines(visible) {
    const need = visible.map((r) => r.instance).filter((i) => !sparkCache.has(i));
    if (need.length) {
      if (sparkInflight) sparkInflight.abort();
      const ac = (sparkInflight = new AbortController());
      const matchers = filterMatchers({ job: st.job, label: parseLabelFilter(st.label).error ? "" : st.label });
      try {
        const { xs, series } = await fetchSparklines(matchers, need, { signal: ac.signal });
        if (disposed || ac.signal.aborted) return;
        for (const i of need) sparkCache.set(i, { xs, series });
        performance.mark("overview:sparkdata");
      } catch (e) {
        if (e.name === "AbortError" || disposed) return;
        console.warn("overview: sparklines", e);
        return;
      }
    }
    paintSparklines();
  }

  function paintSparklines() {
    destroyCharts();
    const colors = { "": cssVar("--info"), warn: cssVar("--warn"), crit: cssVar("--crit") };
    const rowsByInstance = new Map(rows.map((r) => [r.instance, r]));
    for (const el of body.querySelectorAll(".ov-spark")) {
      const { instance, metric } = el.dataset;
      const cached = sparkCache.get(instance);
      const ys = cached?.series.get(metric)?.get(instance);
      el.replaceChildren();
      if (!ys) continue;
      const d = METRICS.find((x) => x.key === metric);
      const lv = level(metric, rowsByInstance.get(instance) || {});
      charts.push(
        // Utilisation on a fixed 0–100 % scale, so a flat 5 % never looks like a spike.
        sparkline(el, cached.xs, ys, {
          width: 110,
          height: 24,
          stroke: colors[lv],
          min: 0,
          max: d.util ? 1 : undefined,
        }),
      );
    }
    body.dataset.sparklines = "ready";
    performance.mark("overview:sparklines");
  }

  // Auto-refresh every 30 s while the tab is visible; catch up when it becomes visible.
  const tick = () => {
    if (!document.hidden) load();
  };
  const onVisible = () => {
    if (!document.hidden && Date.now() - lastLoad >= REFRESH_MS) load();
  };
  const onTheme = () => {
    if (rows) paintSparklines();
  };
  timer = setInterval(tick, REFRESH_MS);
  document.addEventListener("visibilitychange", onVisible);
  window.addEventListener("promhub:theme", onTheme);

  // The job list waits for the first rows: they matter more, and the server answers
  // one request at a time.
  load().then(loadJobs);

  return () => {
    disposed = true;
    clearInterval(timer);
    document.removeEventListener("visibilitychange", onVisible);
    window.removeEventListener("promhub:theme", onTheme);
    if (inflight) inflight.abort();
    if (sparkInflight) sparkInflight.abort();
    destroyCharts();
  };
}
