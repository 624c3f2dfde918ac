// The console's only way to the server: promhub's public HTTP API (Prometheus v1,
// Alertmanager v2, promhub's own additions). Same-origin fetches, so the browser attaches the
// basic-auth credentials it asked the user for when the page loaded.

export class APIError extends Error {
  constructor(message, { status = 0, errorType = "", body = null } = {}) {
    super(message);
    this.status = status;
    this.errorType = errorType;
    this.body = body;
  }
}

function url(path, params) {
  if (!params) return path;
  const qs = params instanceof URLSearchParams ? params : toSearch(params);
  const s = qs.toString();
  return s ? `${path}?${s}` : path;
}

function toSearch(params) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) v.forEach((x) => qs.append(k, x));
    else qs.append(k, String(v));
  }
  return qs;
}

async function request(method, path, { params, form, json, text: rawBody, signal } = {}) {
  const init = { method, credentials: "same-origin", signal, headers: { Accept: "application/json" } };
  if (form) {
    init.body = toSearch(form);
    init.headers["Content-Type"] = "application/x-www-form-urlencoded";
  } else if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (rawBody !== undefined) {
    // JSON text sent as written, so the server (not the browser) reports what is wrong in it.
    init.body = rawBody;
    init.headers["Content-Type"] = "application/json";
  }
  let resp;
  try {
    resp = await fetch(url(path, params), init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new APIError(`cannot reach promhub: ${e.message}`);
  }
  const text = await resp.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!resp.ok) {
    const msg =
      (body && (body.error || body.message)) || text.trim() || `${resp.status} ${resp.statusText}`;
    throw new APIError(msg, { status: resp.status, errorType: body?.errorType || "", body });
  }
  return { body, text, resp };
}

/** A Prometheus v1 endpoint: returns `data`, throws APIError with the server's message. */
export async function v1(path, params, opts = {}) {
  const method = opts.method || "GET";
  const { body } = await request(method, `/api/v1/${path}`, {
    params: method === "GET" ? params : undefined,
    form: method === "POST" ? params : undefined,
    signal: opts.signal,
  });
  if (!body || body.status !== "success") {
    throw new APIError(body?.error || "unexpected response", { errorType: body?.errorType });
  }
  if (opts.withWarnings) return { data: body.data, warnings: body.warnings || [], infos: body.infos || [] };
  return body.data;
}

/** Instant query. POST, so long expressions never hit URL limits. */
export function query(expr, time, opts = {}) {
  const p = { query: expr };
  if (time !== undefined && time !== null) p.time = time;
  if (opts.limit) p.limit = opts.limit;
  return v1("query", p, { method: "POST", ...opts });
}

/** Range query (seconds). */
export function queryRange(expr, start, end, step, opts = {}) {
  return v1("query_range", { query: expr, start, end, step }, { method: "POST", ...opts });
}

/** Alertmanager API v2 (and promhub's additions under /api/v2): plain JSON, no envelope. */
export async function am(path, { method = "GET", params, json, signal } = {}) {
  const { body } = await request(method, `/api/v2/${path}`, { params, json, signal });
  return body;
}

/** Any other JSON endpoint of promhub's (e.g. /api/v1/dashboards). */
export async function raw(method, path, opts = {}) {
  return (await request(method, path, opts)).body;
}
