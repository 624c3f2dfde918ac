// The overview's data: a handful of PromQL queries aggregated `by (instance)` (never one
// query per instance, so 500 instances cost the same number of round trips as 5), joined
// into one row per instance, plus the last-hour range queries for the visible page only.
import { query, queryRange, v1 } from "../../lib/api.js";
import { promqlString, regexEscape } from "../../lib/dom.js";

/** Rate window: long enough for two samples at Prometheus' default 1 m scrape interval. */
export const RATE_WINDOW = "5m";
/** Sparklines cover the last hour at 60 points. */
export const SPARK_RANGE = 3600;
export const SPARK_STEP = 60;

/** Pseudo and in-memory filesystems: their "used %" says nothing about the disk. */
const VIRTUAL_FS = [
  "tmpfs", "devtmpfs", "ramfs", "overlay", "aufs", "squashfs", "nsfs", "autofs", "proc", "sysfs",
  "cgroup", "cgroup2", "fuse.*", "iso9660", "rootfs", "devpts", "mqueue", "tracefs", "debugfs",
  "securityfs", "pstore", "bpf",
].join("|");

/** The metric columns: key, label, unit, and the expression for a matcher list. */
export const METRICS = [
  {
    key: "cpu",
    label: "CPU",
    unit: "percentunit",
    util: true,
    expr: (m) =>
      `1 - avg by (instance) (rate(node_cpu_seconds_total${sel(['mode="idle"', ...m])}[${RATE_WINDOW}]))`,
  },
  {
    key: "mem",
    label: "Memory",
    unit: "percentunit",
    util: true,
    expr: (m) =>
      `1 - sum by (instance) (node_memory_MemAvailable_bytes${sel(m)}) / sum by (instance) (node_memory_MemTotal_bytes${sel(m)})`,
  },
  {
    key: "disk",
    label: "Disk",
    unit: "percentunit",
    util: true,
    // The fullest real filesystem; size > 0 keeps 0/0 (NaN) out of min().
    expr: (m) => {
      const fs = [`fstype!~${promqlString(VIRTUAL_FS)}`, ...m];
      return `1 - min by (instance) (node_filesystem_avail_bytes${sel(fs)} / (node_filesystem_size_bytes${sel(fs)} > 0))`;
    },
  },
  {
    key: "net",
    label: "Network",
    unit: "Bps",
    // One selector for both directions, so a host with only one of them still shows.
    expr: (m) =>
      `sum by (instance) (rate(${sel([
        '__name__=~"node_network_(receive|transmit)_bytes_total"',
        'device!="lo"',
        ...m,
      ])}[${RATE_WINDOW}]))`,
  },
  {
    key: "load",
    label: "Load",
    unit: "none",
    expr: (m) => `max by (instance) (node_load1${sel(m)})`,
  },
];

/** Extra per-instance facts shown next to the values (no sparkline). */
const FACTS = {
  cores: (m) => `count by (instance) (node_cpu_seconds_total${sel(['mode="idle"', ...m])})`,
  memTotal: (m) => `max by (instance) (node_memory_MemTotal_bytes${sel(m)})`,
};

/** `{a="b",c=~"d"}` from matcher strings ("" for none). */
export function sel(matchers) {
  return matchers.length ? `{${matchers.join(",")}}` : "";
}

const MATCHER = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^,"']*?))\s*(?:,|$)/y;

/**
 * Parse the label filter box: `env=prod`, `env="prod", zone=~"eu-.*"`. Returns
 * { matchers: [PromQL matcher strings], error }.
 */
export function parseLabelFilter(text) {
  const s = String(text || "").trim();
  if (!s) return { matchers: [], error: "" };
  const out = [];
  MATCHER.lastIndex = 0;
  while (MATCHER.lastIndex < s.length) {
    const start = MATCHER.lastIndex;
    const m = MATCHER.exec(s);
    if (!m || MATCHER.lastIndex === start) {
      return { matchers: [], error: `expected label="value" at "${s.slice(start)}"` };
    }
    const [, name, op, dq, sq, bare] = m;
    const value = dq !== undefined ? `"${dq}"` : promqlString(sq !== undefined ? sq : bare);
    out.push(`${name}${op}${value}`);
  }
  return { matchers: out, error: "" };
}

/** The matchers every query gets: the job select and the label box. */
export function filterMatchers({ job, label }) {
  const m = [];
  if (job) m.push(`job=${promqlString(job)}`);
  return m.concat(parseLabelFilter(label).matchers);
}

/** The instant queries behind the table, in the order fetchInstances reads them. */
export function instantQueries(matchers) {
  return [
    { key: "up", expr: `up${sel(matchers)}` },
    ...METRICS.map((d) => ({ key: d.key, expr: d.expr(matchers) })),
    ...Object.entries(FACTS).map(([key, f]) => ({ key, expr: f(matchers) })),
  ];
}

function byInstance(result) {
  const map = new Map();
  for (const s of result || []) {
    const v = Number(s.value[1]);
    map.set(s.metric.instance ?? "", Number.isFinite(v) ? v : null);
  }
  return map;
}

/**
 * Fetch every instance with its current values. Returns rows:
 * { instance, jobs: [..], up, total (targets), health: "up"|"down"|"partial"|"unknown",
 *   cpu, mem, disk, net, load, cores, memTotal, score }.
 */
export async function fetchInstances(matchers, { signal } = {}) {
  const opts = { signal };
  const jobs = new Map(); // instance -> Set(job)
  const [up, ...rest] = await Promise.all(instantQueries(matchers).map((q) => query(q.expr, undefined, opts)));
  const rows = new Map();
  const row = (instance) => {
    let r = rows.get(instance);
    if (!r) {
      r = { instance, jobs: [], up: 0, total: 0, health: "unknown" };
      for (const d of METRICS) r[d.key] = null;
      r.cores = null;
      r.memTotal = null;
      rows.set(instance, r);
      jobs.set(instance, new Set());
    }
    return r;
  };
  for (const s of up.result) {
    const r = row(s.metric.instance ?? "");
    r.total += 1;
    if (Number(s.value[1]) === 1) r.up += 1;
    if (s.metric.job) jobs.get(r.instance).add(s.metric.job);
  }
  const keys = [...METRICS.map((d) => d.key), ...Object.keys(FACTS)];
  rest.forEach((res, i) => {
    for (const [instance, v] of byInstance(res.result)) {
      if (instance) row(instance)[keys[i]] = v;
    }
  });
  for (const r of rows.values()) {
    r.jobs = [...jobs.get(r.instance)].sort();
    r.health = r.total === 0 ? "unknown" : r.up === r.total ? "up" : r.up === 0 ? "down" : "partial";
    r.score = severity(r);
  }
  return [...rows.values()];
}

/**
 * "Worst first": unreachable instances above everything, partly-down next, then the
 * highest of CPU, memory and disk utilisation (0..1).
 */
export function severity(r) {
  const base = r.health === "down" ? 3 : r.health === "partial" ? 2 : 0;
  const util = Math.max(...METRICS.filter((d) => d.util).map((d) => r[d.key] ?? 0), 0);
  return base + Math.min(util, 1);
}

/** Warn/crit class of a value: utilisation > 80 % / > 90 %, load per core > 1 / > 2. */
export function level(key, r) {
  const v = r[key];
  if (v === null || v === undefined) return "";
  if (key === "load") {
    const perCore = r.cores ? v / r.cores : null;
    if (perCore === null) return "";
    return perCore > 2 ? "crit" : perCore > 1 ? "warn" : "";
  }
  if (!METRICS.find((d) => d.key === key)?.util) return "";
  return v > 0.9 ? "crit" : v > 0.8 ? "warn" : "";
}

/** `instance=~"a|b|c"` for the visible page's instances. */
export function instanceMatcher(instances) {
  return `instance=~${promqlString(instances.map(regexEscape).join("|"))}`;
}

/**
 * Last-hour series for the given instances: Map(metric key -> Map(instance -> values)),
 * values aligned on the returned xs grid.
 */
export async function fetchSparklines(matchers, instances, { signal, now = Date.now() / 1000 } = {}) {
  // End at "now", not on a step boundary: a target scraped for a few seconds still gets
  // its latest point.
  const end = Math.floor(now);
  const start = end - SPARK_RANGE;
  const n = SPARK_RANGE / SPARK_STEP + 1;
  const xs = Float64Array.from({ length: n }, (_, i) => start + i * SPARK_STEP);
  const out = new Map();
  if (!instances.length) return { xs, series: out };
  const m = [...matchers, instanceMatcher(instances)];
  const results = await Promise.all(
    METRICS.map((d) => queryRange(d.expr(m), start, end, SPARK_STEP, { signal })),
  );
  METRICS.forEach((d, i) => {
    const per = new Map();
    for (const s of results[i].result) {
      const ys = new Array(n).fill(null);
      for (const [t, v] of s.values) {
        const k = Math.round((t - start) / SPARK_STEP);
        const f = Number(v);
        if (k >= 0 && k < n && Number.isFinite(f)) ys[k] = f;
      }
      per.set(s.metric.instance ?? "", ys);
    }
    out.set(d.key, per);
  });
  return { xs, series: out };
}

/** Jobs for the job select (every job with an `up` series). */
export async function fetchJobs({ signal } = {}) {
  return v1("label/job/values", { "match[]": "up" }, { signal });
}

/** Explore link for one metric of one instance (Prometheus' classic graph URL format). */
