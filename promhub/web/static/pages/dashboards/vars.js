// Grafana template variables for dashboards on promhub: resolving each variable's options
// from the Prometheus API (label_values, label_names, metrics, query_result, custom,
// constant, interval, textbox) and interpolating $var / ${var} / ${var:fmt} / [[var]] and
// the built-ins ($__rate_interval, $__interval, $__range, ...) into expressions and titles.
import { query, v1 } from "../../lib/api.js";
import { formatDuration } from "../../lib/format.js";

export const ALL = "$__all";

// Grafana's variable syntax: $name | [[name(:fmt)]] | ${name(.field)(:fmt)}
const VAR_RE = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}/g;

/** The text of a variable's query (a string, or {query} from newer Grafana editors). */
export function queryText(v) {
  const q = v.query;
  if (q && typeof q === "object") return String(q.query ?? "");
  return String(q ?? v.definition ?? "");
}

// Regex escaping as Grafana's Prometheus data source does it: the value lands inside a
// double-quoted PromQL string, so a regex backslash is written twice.
function regexValue(s) {
  return String(s)
    .replace(/\\/g, "\\\\\\\\")
    .replace(/[$^*{}[\]'+?.()|]/g, "\\\\$&");
}

function plainValue(s) {
  return String(s).replace(/\\/g, "\\\\").replace(/'/g, "\\'");
}

/** The values a variable currently stands for (All expanded to every option). */
function currentValues(v) {
  const sel = v.current || [];
  if (sel.includes(ALL)) {
    if (v.allValue) return null; // a custom "all" value is used verbatim
    return v.options.filter((o) => o.value !== ALL).map((o) => o.value);
  }
  return sel;
}

/** Format a variable's value for a query, by explicit ${var:fmt} or the Prometheus default. */
function formatVar(v, fmt) {
  // Titles show option texts ("All" for All, even with a custom all value like ".+"), as
  // Grafana does.
  if (fmt === "text") {
    if ((v.current || []).includes(ALL)) return "All";
    const text = (x) => v.options.find((o) => o.value === x)?.text ?? x;
    return (v.current || []).map(text).join(" + ");
  }
  const vals = currentValues(v);
  if (vals === null) return v.allValue;
  const multi = v.multi || v.includeAll;
  switch (fmt) {
    case "raw":
      return vals.join(",");
    case "csv":
      return vals.join(",");
    case "pipe":
      return vals.join("|");
    case "regex":
      return vals.length > 1 ? `(${vals.map(regexValue).join("|")})` : regexValue(vals[0] ?? "");
    case "json":
      return JSON.stringify(vals.length === 1 && !multi ? vals[0] : vals);
    case "doublequote":
      return vals.map((s) => `"${s}"`).join(",");
    case "singlequote":
      return vals.map((s) => `'${s}'`).join(",");
    case "glob":
      return vals.length > 1 ? `{${vals.join(",")}}` : vals[0] ?? "";
    default:
      if (!multi) return plainValue(vals[0] ?? "");
      return vals.length > 1 ? `(${vals.map(regexValue).join("|")})` : regexValue(vals[0] ?? "");
  }
}

/**
 * Interpolate variables into text. scope: { vars: Map name→variable state, builtins:
 * {name: string} }. Unknown names are left as written (Grafana does the same).
 */
export function interpolate(text, scope, { fmt } = {}) {
  if (!text || typeof text !== "string" || !text.includes("$") && !text.includes("[[")) return text;
  return text.replace(VAR_RE, (m, a, b, bf, c, _field, cf) => {
    const name = a || b || c;
    const f = bf || cf || fmt;
    if (scope.builtins && name in scope.builtins) return builtinValue(scope.builtins, name, f);
    const v = scope.vars?.get(name);
    if (!v) return m;
    return formatVar(v, f);
  });
}

/** A built-in's value; ${__from:date:seconds} / ${__to:date} (ISO) as Grafana formats them. */
function builtinValue(b, name, f) {
  const ms = Number(b[name]);
  if ((name === "__from" || name === "__to") && f && f.startsWith("date")) {
    if (f === "date:seconds") return String(Math.round(ms / 1000));
    if (f === "date" || f === "date:iso") return new Date(ms).toISOString();
  }
  return b[name];
}

/** Grafana's built-in interval variables for a time range (seconds) and step. */
export function builtins(start, end, step, scrapeInterval = 15) {
  const range = Math.max(1, Math.round(end - start));
  // $__rate_interval: Grafana's max(interval + scrape interval, 4 × scrape interval).
  const rate = Math.max(step + scrapeInterval, 4 * scrapeInterval);
  return {
    __interval: formatDuration(step),
    __interval_ms: String(Math.round(step * 1000)),
    __rate_interval: formatDuration(rate),
    __rate_interval_ms: String(Math.round(rate * 1000)),
    __range: formatDuration(range),
    __range_s: String(range),
    __range_ms: String(range * 1000),
    __from: String(Math.round(start * 1000)),
    __to: String(Math.round(end * 1000)),
  };
}

/** Apply a variable's `regex` (/re/flags; the first capture group, or named text/value). */
function applyRegex(values, regex) {
  if (!regex) return values.map((x) => ({ text: x, value: x }));
  const m = regex.match(/^\/(.*)\/([gimsuy]*)$/s);
  let re;
  try {
    re = m ? new RegExp(m[1], m[2].replace("g", "")) : new RegExp(regex);
  } catch {
    return values.map((x) => ({ text: x, value: x }));
  }
  const out = [];
  for (const x of values) {
    const r = x.match(re);
    if (!r) continue;
    const g = r.groups || {};
    const value = g.value ?? r[1] ?? r[0];
    out.push({ text: g.text ?? value, value });
  }
  return out;
}

function sortOptions(opts, sort) {
  const cmp = {
    1: (a, b) => a.text.localeCompare(b.text),
    2: (a, b) => b.text.localeCompare(a.text),
    3: (a, b) => parseFloat(a.text) - parseFloat(b.text),
    4: (a, b) => parseFloat(b.text) - parseFloat(a.text),
    5: (a, b) => a.text.toLowerCase().localeCompare(b.text.toLowerCase()),
    6: (a, b) => b.text.toLowerCase().localeCompare(a.text.toLowerCase()),
  }[sort];
  return cmp ? opts.slice().sort(cmp) : opts;
}

/** Split a label_values/label_names argument list at top-level commas. */
function splitArgs(s) {
  const out = [];
  let depth = 0;
  let quote = null;
  let cur = "";
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (quote) {
      if (ch === "\\") {
        cur += ch + (s[++i] ?? "");
        continue;
      }
      if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'" || ch === "`") quote = ch;
    else if ("({[".includes(ch)) depth++;
    else if (")}]".includes(ch)) depth--;
    else if (ch === "," && depth === 0) {
      out.push(cur.trim());
      cur = "";
      continue;
    }
    cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** Raw option strings for a Prometheus query variable's query text. */
async function fetchQueryValues(q, range, signal) {
  const t = { start: Math.floor(range.start), end: Math.ceil(range.end) };
  let m;
  if ((m = q.match(/^\s*label_values\s*\(([\s\S]*)\)\s*$/))) {
    const args = splitArgs(m[1]);
    const label = args.pop();
    const params = { ...t };
    if (args.length) params["match[]"] = args.join(",");
    return v1(`label/${encodeURIComponent(label)}/values`, params, { signal });
  }
  if ((m = q.match(/^\s*label_names\s*\(([\s\S]*)\)\s*$/))) {
    const params = { ...t };
    if (m[1].trim()) params["match[]"] = m[1].trim();
    return v1("labels", params, { signal });
  }
  if ((m = q.match(/^\s*metrics\s*\(([\s\S]*)\)\s*$/))) {
    const names = await v1("label/__name__/values", t, { signal });
    let re = null;
    try {
      re = m[1].trim() ? new RegExp(m[1].trim()) : null;
    } catch {
      re = null;
    }
    return re ? names.filter((n) => re.test(n)) : names;
  }
  if ((m = q.match(/^\s*query_result\s*\(([\s\S]*)\)\s*$/))) {
    // Grafana shows each result as `name{labels} value timestamp` for the regex to pick from.
    const data = await query(m[1], t.end, { signal });
    const list = Array.isArray(data.result) ? data.result : [];
    if (data.resultType === "scalar" || data.resultType === "string") {
      return [`${data.result[1]}`];
    }
    return list.map((s) => {
      const { __name__: name = "", ...labels } = s.metric || {};
      const ls = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(",");
      return `${name}{${ls}} ${s.value?.[1]} ${Math.round((s.value?.[0] || 0) * 1000)}`;
    });
  }
  if (!q.trim()) return [];
  // Anything else is a plain PromQL expression: the series' values (Grafana does the same
  // through query_result); errors surface like any query error.
  const data = await query(q, t.end, { signal });
  return (data.result || []).map((s) => String(s.value?.[1] ?? ""));
}

function customValues(q) {
  // "a,b,c" or "key : value,..." (Grafana's custom variable syntax; \, escapes a comma).
  return q
    .split(/(?<!\\),/)
    .map((s) => s.replace(/\\,/g, ",").trim())
    .filter((s) => s !== "")
    .map((s) => {
      const kv = s.match(/^(.*?)\s+:\s+(.*)$/);
      return kv ? { text: kv[1], value: kv[2] } : { text: s, value: s };
    });
}

/** The initial state of each variable of a dashboard model. */
export function initVars(model) {
  const list = model.templating?.list || [];
  const vars = new Map();
  for (const v of list) {
    if (!v || !v.name || v.type === "adhoc") continue;
    vars.set(v.name, {
      name: v.name,
      label: v.label || v.name,
      type: v.type || "query",
      hide: v.hide || 0,
      multi: !!v.multi,
      includeAll: !!v.includeAll,
      allValue: v.allValue || null,
      model: v,
      options: [],
      current: null,
      error: null,
    });
  }
  return vars;
}

function defaultSelection(state, fromUrl) {
  const values = state.options.map((o) => o.value);
  if (fromUrl && fromUrl.length) {
    const keep = fromUrl.filter((x) => x === ALL || values.includes(x) || state.type === "textbox");
    if (keep.length) return state.multi ? keep : keep.slice(0, 1);
  }
  const cur = state.model.current?.value;
  const saved = cur === undefined ? [] : Array.isArray(cur) ? cur : [cur];
  const savedOk = saved.filter((x) => x === ALL || values.includes(x));
  if (savedOk.length) return state.multi ? savedOk : savedOk.slice(0, 1);
  if (state.includeAll && state.multi) return [ALL];
  const first = state.options.find((o) => o.value !== ALL);
  return first ? [first.value] : state.includeAll ? [ALL] : [];
}

/**
 * Resolve the options and current value of every variable, in order (later variables may
 * use earlier ones in their queries). urlValues(name) → array of values from the URL.
 */
export async function resolveVars(vars, range, urlValues, signal) {
  const scope = { vars, builtins: builtins(range.start, range.end, range.step) };
  for (const state of vars.values()) {
    const m = state.model;
    state.error = null;
    let opts = [];
    try {
      switch (state.type) {
        case "query": {
          const q = interpolate(queryText(m), scope);
          const raw = await fetchQueryValues(q, range, signal);
          opts = sortOptions(applyRegex([...new Set(raw.map(String))], m.regex), m.sort);
          break;
        }
        case "custom":
          opts = customValues(queryText(m));
          break;
        case "interval":
          opts = customValues(queryText(m)).filter((o) => o.value !== "auto");
          break;
        case "constant":
          opts = [{ text: queryText(m), value: queryText(m) }];
          state.hide = 2;
          break;
        case "textbox": {
          const val = m.current?.value ?? queryText(m);
          opts = [{ text: String(val), value: String(val) }];
          break;
        }
        case "datasource":
          opts = [{ text: "promhub", value: "prometheus" }];
          state.hide = 2;
          break;
        default:
          opts = (m.options || []).map((o) => ({ text: String(o.text), value: String(o.value) }));
      }
    } catch (e) {
      if (e.name === "AbortError") throw e;
      state.error = e.message;
    }
    if (state.includeAll) opts = [{ text: "All", value: ALL }, ...opts];
    state.options = opts;
    state.current = defaultSelection(state, urlValues(state.name));
  }
  return vars;
}
