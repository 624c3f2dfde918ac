// Helpers shared by the alerts, silences and history tabs (and the targets/rules pages):
// label chips, Alertmanager matcher text <-> objects, and ages.
import { debounce, h } from "../../lib/dom.js";

/** One chip per label, alertname first (it is what people scan for), then sorted. */
export function labelChips(labels, { onClick, skip = [] } = {}) {
  const names = Object.keys(labels || {})
    .filter((n) => !skip.includes(n))
    .sort((a, b) => (a === "alertname" ? -1 : b === "alertname" ? 1 : a.localeCompare(b)));
  return names.map((n) => {
    const text = `${n}="${labels[n]}"`;
    if (!onClick) return h("span", { class: "label-chip", title: text }, text);
    return h(
      "button",
      { type: "button", class: "label-chip chip-button", title: `Filter by ${text}`, onclick: () => onClick(n, labels[n]) },
      text,
    );
  });
}

const OPS = ["=~", "!~", "!=", "="];
const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Quote a matcher value as Alertmanager's parser reads it back. */
export function quote(v) {
  return '"' + String(v).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") + '"';
}

/** {name, op, value} → `name="value"` (the API's filter/matcher syntax). */
export function matcherText(m) {
  return `${m.name}${m.op}${quote(m.value)}`;
}

/** An API silence matcher {name,value,isRegex,isEqual} → {name, op, value}. */
export function fromAPIMatcher(m) {
  const eq = m.isEqual !== false;
  return { name: m.name, value: m.value, op: m.isRegex ? (eq ? "=~" : "!~") : eq ? "=" : "!=" };
}

/** {name, op, value} → the API's silence matcher. */
export function toAPIMatcher(m) {
  return { name: m.name, value: m.value, isRegex: m.op.endsWith("~"), isEqual: !m.op.startsWith("!") };
}

/**
 * Parse one matcher `name op "value"` (the value may be unquoted). Returns {name, op, value}
 * or throws Error with a message for the user. Checked here so the console never sends a
 * malformed filter (the API would answer 400, noisy in the browser console).
 */
export function parseMatcher(text) {
  const s = String(text).trim();
  const m = s.match(/^([^=!~\s]+)\s*(=~|!~|!=|=)\s*(.*)$/s);
  if (!m) throw new Error(`bad matcher ${s}: want name="value" (or != =~ !~)`);
  const [, name, op, rest] = m;
  let value = rest.trim();
  if (value.startsWith('"')) {
    if (!/^"(?:[^"\\]|\\.)*"$/.test(value)) throw new Error(`bad quoting in ${s}`);
    value = value.slice(1, -1).replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
  }
  return checkMatcher({ name, op, value });
}

/** Check a {name, op, value}: returns it, or throws Error with a message for the user. */
export function checkMatcher(m) {
  if (!NAME_RE.test(m.name)) throw new Error(`bad label name ${JSON.stringify(m.name)}`);
  if (!OPS.includes(m.op)) throw new Error(`bad operator ${JSON.stringify(m.op)}`);
  if (m.op.endsWith("~")) {
    // JavaScript's regexes are close enough to RE2 to catch typos before the server does.
    try {
      new RegExp(m.value);
    } catch (e) {
      throw new Error(`bad regex for ${m.name}: ${e.message}`);
    }
  }
  return m;
}

/**
 * Parse a filter text: `{a="b", c=~"d"}` or `a="b" c="d"` or `a="b", c="d"`. Commas inside
 * quotes are kept. Returns a list of {name, op, value}; throws Error on a bad matcher.
 */
export function parseMatchers(text) {
  let s = String(text || "").trim();
  if (s.startsWith("{") && s.endsWith("}")) s = s.slice(1, -1);
  const parts = [];
  let cur = "";
  let inQuote = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (inQuote && c === "\\") {
      cur += c + (s[i + 1] ?? "");
      i++;
      continue;
    }
    if (c === '"') inQuote = !inQuote;
    // A comma, or whitespace after a closed quote, ends a matcher.
    if (!inQuote && (c === "," || (/\s/.test(c) && cur.trim().endsWith('"') && /(=|~)\s*"/.test(cur)))) {
      if (cur.trim()) parts.push(cur.trim());
      cur = "";
      continue;
    }
    cur += c;
  }
  if (inQuote) throw new Error("unterminated quote");
  if (cur.trim()) parts.push(cur.trim());
  return parts.map(parseMatcher);
}

/** Does {name, op, value} match a label set? (A missing label reads as "".) */
export function matches(m, labels) {
  const v = labels[m.name] ?? "";
  switch (m.op) {
    case "=":
      return v === m.value;
    case "!=":
      return v !== m.value;
    case "=~":
      return new RegExp(`^(?:${m.value})$`).test(v);
    default:
      return !new RegExp(`^(?:${m.value})$`).test(v);
  }
}

export { OPS };

/** Labels → matchers that select exactly them (what "Silence this" pre-fills). */
export function labelsToMatchers(labels) {
  return Object.keys(labels)
    .sort((a, b) => (a === "alertname" ? -1 : b === "alertname" ? 1 : a.localeCompare(b)))
    .map((name) => ({ name, op: "=", value: labels[name] }));
}

/** A console link that opens the silence editor pre-filled with these matchers. */
export function newSilenceURL(matchers) {
  const qs = new URLSearchParams({ new: "1" });
  for (const m of matchers) qs.append("matcher", matcherText(m));
  return "/silences?" + qs.toString();
}

/** Parse an RFC 3339 time from the API; null for Go's zero time. */
export function apiTime(s) {
  if (!s || s.startsWith("0001-")) return null;
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : t;
}

/**
 * The label-matcher filter of the alerts and history tabs: the input (changes reported
 * through onChange, debounced), its error line, `add` for a clicked label chip (replacing a
 * matcher on the same label), and `parse`, which returns the matchers or null after showing
 * why the text does not parse.
 */
export function matcherFilter({ value, placeholder, label, onChange }) {
  const error = h("div", { class: "field-error", role: "alert" });
  const input = h("input", {
    type: "search",
    class: "matcher-input",
    placeholder,
    value,
    "aria-label": label,
    oninput: debounce(() => onChange(input.value.trim()), 400),
  });
  return {
    input,
    error,
    add(text, name, v) {
      let ms = [];
      try {
        ms = parseMatchers(text).filter((m) => m.name !== name);
      } catch {
        ms = []; // an unparsable filter is replaced
      }
      ms.push({ name, op: "=", value: v });
      input.value = ms.map(matcherText).join(", ");
      onChange(input.value);
    },
    parse(text) {
      try {
        const ms = parseMatchers(text);
        error.textContent = "";
        return ms;
      } catch (e) {
        error.textContent = e.message;
        return null;
      }
    },
  };
}
