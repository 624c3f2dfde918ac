// Number and time formatting shared by the overview, explore and dashboards. Unit ids are
// Grafana's (the dashboards import Grafana panels), so one formatter serves all pages.

const SI = ["", "k", "M", "G", "T", "P", "E"];
const SI_SMALL = ["", "m", "µ", "n", "p"];
const IEC = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
const DEC_BYTES = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];

function trim(n, decimals) {
  if (!Number.isFinite(n)) return String(n);
  const d = decimals ?? (Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2);
  return n.toFixed(d).replace(/\.0+$/, "").replace(/(\.\d*?)0+$/, "$1");
}

function scaled(v, base, names, decimals, sep = " ") {
  let i = 0;
  let x = Math.abs(v);
  while (x >= base && i < names.length - 1) {
    x /= base;
    i++;
  }
  return (v < 0 ? "-" : "") + trim(x, decimals) + sep + names[i];
}

/** A short SI form: 1.2k, 3.4M, 5m (for milli), plain for 1..999. */
export function short(v, decimals) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a < 1) {
    let i = 0;
    let x = a;
    while (x < 1 && i < SI_SMALL.length - 1) {
      x *= 1000;
      i++;
    }
    return (v < 0 ? "-" : "") + trim(x, decimals) + SI_SMALL[i];
  }
  return scaled(v, 1000, SI, decimals, "");
}

function duration(v, unitSeconds, decimals) {
  let s = v * unitSeconds;
  const a = Math.abs(s);
  if (a === 0) return "0 s";
  if (a < 1e-6) return trim(s * 1e9, decimals) + " ns";
  if (a < 1e-3) return trim(s * 1e6, decimals) + " µs";
  if (a < 1) return trim(s * 1e3, decimals) + " ms";
  if (a < 60) return trim(s, decimals) + " s";
  if (a < 3600) return trim(s / 60, decimals) + " min";
  if (a < 86400) return trim(s / 3600, decimals) + " hour";
  if (a < 86400 * 365) return trim(s / 86400, decimals) + " day";
  return trim(s / (86400 * 365), decimals) + " year";
}

/**
 * Format v in a Grafana unit ("short", "percent", "percentunit", "bytes", "decbytes", "bits",
 * "Bps", "bps", "s", "ms", "µs", "ns", "reqps", "ops", "none", ...). Unknown units fall back
 * to short + the unit text as a suffix.
 */
export function formatValue(v, unit = "short", decimals) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "string") v = Number(v);
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  switch (unit || "short") {
    case "none":
      return trim(v, decimals);
    case "short":
      return short(v, decimals);
    case "percent":
      return trim(v, decimals ?? 1) + "%";
    case "percentunit":
      return trim(v * 100, decimals ?? 1) + "%";
    case "bytes":
      return scaled(v, 1024, IEC, decimals);
    case "decbytes":
      return scaled(v, 1000, DEC_BYTES, decimals);
    case "bits":
      return scaled(v, 1000, ["b", "kb", "Mb", "Gb", "Tb", "Pb"], decimals);
    case "Bps":
    case "binBps":
      return scaled(v, 1024, IEC, decimals) + "/s";
    case "bps":
      return scaled(v, 1000, ["bps", "kbps", "Mbps", "Gbps", "Tbps"], decimals);
    case "s":
      return duration(v, 1, decimals);
    case "ms":
      return duration(v, 1e-3, decimals);
    case "µs":
    case "us":
      return duration(v, 1e-6, decimals);
    case "ns":
      return duration(v, 1e-9, decimals);
    case "reqps":
      return short(v, decimals) + " req/s";
    case "ops":
      return short(v, decimals) + " ops/s";
    case "rps":
      return short(v, decimals) + " rd/s";
    case "wps":
      return short(v, decimals) + " wr/s";
    case "dateTimeAsIso":
      return new Date(v).toISOString();
    default:
      return short(v, decimals) + " " + unit;
  }
}

/** "3m 20s ago" style age of a Date/ISO string/ms timestamp. */
export function ago(t) {
  const ms = Date.now() - (t instanceof Date ? t.getTime() : new Date(t).getTime());
  if (!Number.isFinite(ms)) return "never";
  return humanDuration(ms / 1000) + " ago";
}

/** 0.0123 → "12.3ms", 75 → "1m 15s". */
export function humanDuration(seconds) {
  const a = Math.abs(seconds);
  if (a < 1) return trim(seconds * 1000, a < 0.01 ? 2 : 1) + "ms";
  if (a < 60) return trim(seconds, 1) + "s";
  const parts = [];
  let s = Math.round(a);
  for (const [u, n] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]]) {
    if (s >= n) {
      parts.push(Math.floor(s / n) + u);
      s %= n;
    }
  }
  return (seconds < 0 ? "-" : "") + parts.slice(0, 2).join(" ");
}

/** Parse a Prometheus duration ("5m", "1h30m", "90s") into seconds; NaN if invalid. */
export function parseDuration(text) {
  const m = String(text).trim().match(/^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$/);
  if (!m || !text) return NaN;
  const n = (i) => (m[i] ? Number(m[i]) : 0);
  return n(2) * 31536000 + n(4) * 604800 + n(6) * 86400 + n(8) * 3600 + n(10) * 60 + n(12) + n(14) / 1000;
}

/** Seconds → the shortest Prometheus duration text ("1h30m"). */
export function formatDuration(seconds) {
  let ms = Math.round(seconds * 1000);
  if (ms === 0) return "0s";
  let out = "";
  for (const [u, n] of [["y", 31536000000], ["w", 604800000], ["d", 86400000], ["h", 3600000], ["m", 60000], ["s", 1000], ["ms", 1]]) {
    if (ms >= n) {
      out += Math.floor(ms / n) + u;
      ms %= n;
    }
  }
  return out;
}

/** A local date-time string "2026-11-25 17:40:03". */
export function formatTime(t) {
  const d = t instanceof Date ? t : new Date(typeof t === "number" ? t : Date.parse(t));
  if (Number.isNaN(d.getTime())) return "–";
  const p = (x) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
