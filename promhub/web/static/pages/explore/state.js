// The explore page's state and its URL form. The query string uses the Prometheus UI's
// scheme (g0.expr=…&g0.tab=…&g0.range_input=1h&g0.end_input=…&g0.step_input=…&g0.stacked=1)
// so links copied from a Prometheus server open here roughly as they did there.
import { formatDuration, parseDuration } from "../../lib/format.js";

export const RANGES = ["5m", "15m", "1h", "3h", "6h", "12h", "1d", "2d", "7d"];
export const TABS = ["graph", "table", "json"];
/** The server refuses range queries with more points per series than this (as Prometheus). */
export const MAX_POINTS = 11000;
/** Steps the "auto" step snaps to, so axes and URLs show round numbers (seconds). */
const NICE_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];

/** A new panel's state. */
export function newPanel(expr = "") {
  return { expr, tab: "graph", range: "1h", end: null, step: null, stacked: false };
}

/** Prometheus' tab ids: 0 = graph, 1 = table (classic UI); names in the newer UI. */
function parseTab(v) {
  if (v === "0" || v === "graph") return "graph";
  if (v === "1" || v === "table") return "table";
  if (v === "json") return "json";
  return "graph";
}

/** "2026-11-25 17:40:03" (UTC, as the Prometheus UI writes end_input) → epoch seconds. */
export function parseEndInput(text) {
  if (!text) return null;
  const t = String(text).trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const iso = t.includes("T") ? t : t.replace(" ", "T");
  const ms = Date.parse(/Z$|[+-]\d\d:?\d\d$/.test(iso) ? iso : iso + "Z");
  return Number.isFinite(ms) ? ms / 1000 : null;
}

/** Epoch seconds → "2026-11-25 17:40:03" in UTC (the URL form of an end time). */
export function formatEndInput(seconds) {
  return new Date(seconds * 1000).toISOString().slice(0, 19).replace("T", " ");
}

/** Read the panels from the URL's query string (at least one, empty if none given). */
export function parsePanels(params) {
  const ids = new Set();
  for (const k of params.keys()) {
    const m = k.match(/^g(\d+)\./);
    if (m) ids.add(Number(m[1]));
  }
  const panels = [...ids]
    .sort((a, b) => a - b)
    .map((i) => {
      const get = (k) => params.get(`g${i}.${k}`);
      const p = newPanel(get("expr") || "");
      p.tab = parseTab(get("tab"));
      const range = get("range_input");
      if (range && Number.isFinite(parseDuration(range)) && parseDuration(range) > 0) p.range = range;
      p.end = parseEndInput(get("end_input") || get("moment_input"));
      const step = get("step_input");
      if (step) {
        // Prometheus writes a plain number of seconds; a duration ("30s") also reads.
        const s = /^\d+(\.\d+)?$/.test(step) ? Number(step) : parseDuration(step);
        if (Number.isFinite(s) && s > 0) p.step = s;
      }
      p.stacked = get("stacked") === "1" || get("display_mode") === "stacked";
      return p;
    });
  return panels.length ? panels : [newPanel()];
}

/** The panels as query-string entries (for ctx.setParams). */
export function panelsToParams(panels) {
  const qs = new URLSearchParams();
  panels.forEach((p, i) => {
    qs.set(`g${i}.expr`, p.expr);
    qs.set(`g${i}.tab`, p.tab);
    qs.set(`g${i}.range_input`, p.range);
    if (p.end !== null) qs.set(`g${i}.end_input`, formatEndInput(p.end));
    if (p.step !== null) qs.set(`g${i}.step_input`, String(p.step));
    if (p.stacked) qs.set(`g${i}.stacked`, "1");
  });
  return qs;
}

/** The auto step for a range: range/250 snapped up to a round value. */
export function autoStep(rangeSeconds) {
  const raw = rangeSeconds / 250;
  return NICE_STEPS.find((s) => s >= raw) ?? Math.ceil(raw);
}

/**
 * The [start, end, step] a panel's graph queries, plus a note when the step had to grow to
 * stay under the server's MAX_POINTS per series.
 */
export function graphWindow(p, now = Date.now() / 1000) {
  const range = parseDuration(p.range) || 3600;
  const end = p.end ?? now;
  let step = p.step ?? autoStep(range);
  let note = "";
  const minStep = Math.ceil(range / MAX_POINTS);
  if (step < minStep) {
    note = `step raised from ${formatDuration(step)} to ${formatDuration(minStep)}: at most ${MAX_POINTS} points per series`;
    step = minStep;
  }
  // The server samples start, start+step, … ≤ end: a start a whole number of steps before
  // the end puts the last point at the end itself, so the newest samples always show.
  // (Rounding "now" down to the step would hide up to a step of the newest data.)
  return { start: end - Math.ceil(range / step - 1e-9) * step, end, step, note };
}

/**
 * Prometheus' parse errors start "L:C: parse error: …": line L from 1, and C counting UTF-8
 * bytes from 1 within the line (Go indexes strings by byte). Returns the character offset.
 */
export function errorPosition(message, doc) {
  const m = String(message).match(/(?:^|[\s"])(\d+):(\d+): parse error/);
  if (!m) return null;
  const line = Number(m[1]);
  const col = Number(m[2]);
  const lines = doc.split("\n");
  if (line < 1 || line > lines.length) return null;
  let offset = 0;
  for (let i = 0; i < line - 1; i++) offset += lines[i].length + 1;
  offset += charIndexOfByte(lines[line - 1], col - 1);
  return { line, col, offset };
}

/** The index of the character that starts at UTF-8 byte `byte` of text (clamped). */
function charIndexOfByte(text, byte) {
  let bytes = 0;
  let i = 0;
  while (i < text.length && bytes < byte) {
    const cp = text.codePointAt(i);
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    i += cp > 0xffff ? 2 : 1;
  }
  return i;
}
