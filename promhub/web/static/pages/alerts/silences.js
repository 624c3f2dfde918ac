// The Silences tab: the list (active, pending, expired) from GET /api/v2/silences, and the
// editor (?new=1 or ?edit=<id>, with matcher=…, comment=… in the URL so "Silence" links
// from alerts open it pre-filled). Saving POSTs /api/v2/silences; as in Alertmanager,
// changing an active silence's matchers or start expires it and creates a new one, while a
// comment or end change updates it in place. Expiring is DELETE /api/v2/silence/{id}.
import { am } from "../../lib/api.js";
import { clear, debounce, errorBox, h, loading } from "../../lib/dom.js";
import { ago, formatDuration, formatTime, humanDuration, parseDuration } from "../../lib/format.js";
import {

  apiTime,
  checkMatcher,
  fromAPIMatcher,
  labelChips,
  matcherText,
  matches,
  newSilenceURL,
  parseMatcher,
  toAPIMatcher,
} from "./common.js";

const AUTHOR_KEY = "promhub.silence.createdBy";

export function mount(root, ctx) {
  const p = ctx.params;
  if (p.get("new") || p.get("edit")) return mountEditor(root, ctx);
  return mountList(root, ctx);
}

// -- the list ---------------------------------------------------------------------------

function mountList(root, ctx) {
  const abort = new AbortController();
  const saved = ctx.params.get("saved");
  const replaced = ctx.params.get("replaced");
  const out = h("div", {}, loading());
  root.append(
    h(
      "div",
      { class: "toolbar" },
      h("span", { class: "muted" }, "Silences mute matching alerts for a while; they expire by themselves."),
      h("span", { class: "spacer" }),
      h("a", { class: "button-link primary", href: newSilenceURL([]) }, "New silence"),
    ),
    // Alertmanager semantics: an active silence whose matchers or start changed is
    // expired and replaced by a new one; say so, as the id the user knew is now expired.
    h(
      "div",
      {},
      replaced
        ? h(
            "div",
            { class: "warn-box replaced-note" },
            `Saved as a new silence ${saved.slice(0, 8)}; the edited one (${replaced.slice(0, 8)}) was expired, as the alert manager does when an active silence changes.`,
          )
        : null,
    ),
    out,
  );

  async function refresh() {
    try {
      const [silences, alerts] = await Promise.all([
        am("silences", { signal: abort.signal }),
        am("alerts", { signal: abort.signal }),
      ]);
      // How many current alerts each silence mutes (what Alertmanager's UI shows too).
      const muted = new Map();
      for (const a of alerts) for (const id of a.status.silencedBy || []) muted.set(id, (muted.get(id) || 0) + 1);
      const by = { active: [], pending: [], expired: [] };
      for (const s of silences) (by[s.status.state] || by.expired).push(s);
      clear(out).append(
        ...["active", "pending", "expired"].map((st) =>
          h(
            "section",
            { class: "silence-section", dataset: { state: st } },
            h("h2", {}, st[0].toUpperCase() + st.slice(1), " ", h("span", { class: "badge " + badgeClass(st) }, String(by[st].length))),
            by[st].length
              ? by[st].map((s) => silenceCard(s, muted.get(s.id) || 0, s.id === saved, expire))
              : h("p", { class: "muted empty" }, `No ${st} silences.`),
          ),
        ),
      );
    } catch (e) {
      if (e.name === "AbortError") return;
      clear(out).append(errorBox("Cannot load silences.", e.message));
    }
  }

  async function expire(s, button) {
    if (!window.confirm(`Expire the silence ${s.id.slice(0, 8)} now?`)) return;
    button.disabled = true;
    try {
      await am("silence/" + encodeURIComponent(s.id), { method: "DELETE" });
      await refresh();
    } catch (e) {
      button.disabled = false;
      out.prepend(errorBox("Cannot expire the silence.", e.message));
    }
  }

  refresh();
  const timer = setInterval(() => document.visibilityState === "visible" && refresh(), 30000);
  return () => {
    clearInterval(timer);
    abort.abort();
  };
}

function badgeClass(state) {
  return state === "active" ? "ok" : state === "pending" ? "pending" : "";
}

function silenceCard(s, mutedCount, highlight, expire) {
  const start = apiTime(s.startsAt);
  const end = apiTime(s.endsAt);
  const st = s.status.state;
  const when =
    st === "active"
      ? `ends in ${humanDuration((end - Date.now()) / 1000)}`
      : st === "pending"
        ? `starts in ${humanDuration((start - Date.now()) / 1000)}`
        : `expired ${ago(end)}`;
  const recreate = newSilenceURL(s.matchers.map(fromAPIMatcher)) + "&comment=" + encodeURIComponent(s.comment);
  const expireBtn =
    st === "expired" ? null : h("button", { type: "button", class: "danger", onclick: (e) => expire(s, e.currentTarget) }, "Expire");
  return h(
    "article",
    { class: "panel silence" + (highlight ? " highlight" : ""), dataset: { id: s.id, state: st } },
    h(
      "div",
      { class: "silence-head" },
      h("span", { class: "matchers" }, s.matchers.map((m) => h("span", { class: "label-chip" }, matcherText(fromAPIMatcher(m))))),
      h("span", { class: "spacer" }),
      st === "expired" ? null : h("a", { class: "button-link", href: "/silences?edit=" + encodeURIComponent(s.id) }, "Edit"),
      st === "expired" ? h("a", { class: "button-link", href: recreate }, "Recreate") : null,
      expireBtn,
    ),
    h("div", { class: "silence-comment" }, s.comment),
    h(
      "div",
      { class: "silence-meta muted" },
      h("span", {}, "by ", h("strong", {}, s.createdBy)),
      h("span", { title: `${formatTime(start)} → ${formatTime(end)}` }, `${formatTime(start)} → ${formatTime(end)}`),
      h("span", { class: "badge " + badgeClass(st) }, st),
      h("span", {}, when),
      st === "active" ? h("span", {}, `mutes ${mutedCount} alert${mutedCount === 1 ? "" : "s"}`) : null,
      h("code", { class: "silence-id", title: "Silence id" }, s.id),
    ),
  );
}

// -- the editor ---------------------------------------------------------------------------

/** "now", "2026-11-25 17:40:03" (local) or RFC 3339 → ms; NaN if not a time. */
function parseTimeText(text) {
  const t = String(text).trim();
  if (t === "" || t.toLowerCase() === "now") return Date.now();
  return Date.parse(/^\d{4}-\d\d-\d\d \d/.test(t) ? t.replace(" ", "T") : t);
}

function mountEditor(root, ctx) {
  const p = ctx.params;
  const editId = p.get("edit") || "";
  const abort = new AbortController();
  const form = h("form", { class: "panel silence-form", novalidate: true });
  const serverError = h("div", { class: "form-error", role: "alert" });
  const preview = h("div", { class: "silence-preview" });
  root.append(
    h(
      "div",
      { class: "toolbar" },
      h("a", { href: "/silences" }, "← All silences"),
      h("h2", { class: "editor-title" }, editId ? "Edit silence" : "New silence"),
    ),
    h("div", { class: "silence-editor" }, h("div", {}, form, serverError), preview),
  );

  // Editor state; `original` is the silence being edited (its exact startsAt is resent
  // unless the user changes the start, so a comment edit stays an in-place update).
  const st = { matchers: [], start: "now", duration: "2h", end: "", createdBy: "", comment: "", original: null };

  function fromURL() {
    const ms = [];
    for (const text of p.getAll("matcher")) {
      try {
        ms.push(parseMatcher(text));
      } catch {
        // A hand-edited link with a bad matcher: keep what parses.
      }
    }
    if (ms.length) st.matchers = ms;
    for (const k of ["start", "duration", "end", "comment", "createdBy"]) if (p.get(k) !== null) st[k] = p.get(k);
  }

  async function init() {
    if (editId) {
      form.append(loading());
      try {
        const s = await am("silence/" + encodeURIComponent(editId), { signal: abort.signal });
        st.original = s;
        st.matchers = s.matchers.map(fromAPIMatcher);
        st.start = formatTime(apiTime(s.startsAt));
        st.end = formatTime(apiTime(s.endsAt));
        st.duration = formatDuration(Math.round((apiTime(s.endsAt) - apiTime(s.startsAt)) / 1000));
        st.createdBy = s.createdBy;
        st.comment = s.comment;
      } catch (e) {
        if (e.name === "AbortError") return;
        clear(form).append(errorBox("Cannot load the silence.", e.message));
        return;
      }
    } else {
      st.createdBy = localStorage.getItem(AUTHOR_KEY) || "";
    }
    fromURL();
    if (!st.matchers.length) st.matchers = [{ name: "", op: "=", value: "" }];
    if (!st.end) syncEnd();
    draw();
  }

  function syncEnd() {
    const s = parseTimeText(st.start);
    const d = parseDuration(st.duration);
    if (Number.isFinite(s) && Number.isFinite(d)) st.end = formatTime(s + d * 1000);
  }

  function syncDuration() {
    const s = parseTimeText(st.start);
    const e = parseTimeText(st.end);
    if (Number.isFinite(s) && Number.isFinite(e) && e > s) st.duration = formatDuration(Math.round((e - s) / 1000));
  }

  // The editor's state goes into the URL (replace, not push) so the page can be shared.
  function toURL() {
    const q = new URLSearchParams();
    if (editId) q.set("edit", editId);
    else q.set("new", "1");
    for (const m of st.matchers) if (m.name) q.append("matcher", matcherText(m));
    if (st.start !== "now" && !st.original) q.set("start", st.start);
    if (st.duration !== "2h" && !st.original) q.set("duration", st.duration);
    if (st.comment && !st.original) q.set("comment", st.comment);
    ctx.setParams(q);
  }

  const fields = {};
  function draw() {
    clear(form);
    const rows = h("div", { class: "matcher-rows" });
    const drawRows = () => {
      clear(rows).append(
        ...st.matchers.map((m, i) =>
          h(
            "div",
            { class: "matcher-row" },
            h("input", { class: "m-name", placeholder: "label", value: m.name, "aria-label": `Matcher ${i + 1} label`, oninput: (e) => change(() => (m.name = e.target.value.trim())) }),
            h(
              "select",
              { class: "m-op", "aria-label": `Matcher ${i + 1} operator`, onchange: (e) => change(() => (m.op = e.target.value)) },
              ["=", "!=", "=~", "!~"].map((o) => h("option", { value: o, selected: o === m.op }, o)),
            ),
            h("input", { class: "m-value", placeholder: "value", value: m.value, "aria-label": `Matcher ${i + 1} value`, oninput: (e) => change(() => (m.value = e.target.value)) }),
            h(
              "button",
              { type: "button", class: "m-remove", title: "Remove matcher", "aria-label": "Remove matcher", disabled: st.matchers.length === 1, onclick: () => change(() => st.matchers.splice(i, 1), drawRows) },
              "×",
            ),
          ),
        ),
      );
    };
    drawRows();
    const input = (key, attrs = {}, after) => {
      const el = h(attrs.rows ? "textarea" : "input", {
        name: key,
        ...attrs,
        oninput: (e) =>
          change(() => {
            st[key] = e.target.value;
            if (after) after();
          }),
      });
      el.value = st[key]; // a property: a textarea has no value attribute
      return (fields[key] = el);
    };
    form.append(
      h("fieldset", {}, h("legend", {}, "Matchers"), h("p", { class: "muted hint" }, "Alerts matching all of these are silenced."), rows,
        h("button", { type: "button", class: "add-matcher", onclick: () => change(() => st.matchers.push({ name: "", op: "=", value: "" }), drawRows) }, "+ Matcher"),
      ),
      h(
        "div",
        { class: "time-fields" },
        h("label", { class: "field" }, "Start", input("start", { placeholder: "now or 2026-11-25 17:40" }, () => { syncEnd(); fields.end.value = st.end; })),
        h("label", { class: "field" }, "Duration", input("duration", { placeholder: "2h" }, () => { syncEnd(); fields.end.value = st.end; })),
        h("label", { class: "field" }, "End", input("end", { placeholder: "2026-11-25 19:40" }, () => { syncDuration(); fields.duration.value = st.duration; })),
      ),
      h("label", { class: "field" }, "Created by", input("createdBy", { placeholder: "your name", autocomplete: "username" })),
      h("label", { class: "field" }, "Comment", input("comment", { rows: 3, placeholder: "why, and a ticket link" })),
      h("div", { class: "field-error", dataset: { for: "form" } }),
      h(
        "div",
        { class: "toolbar form-buttons" },
        h("button", { type: "submit", class: "primary" }, editId ? "Update silence" : "Create silence"),
        h("a", { href: "/silences" }, "Cancel"),
      ),
    );
    form.onsubmit = (e) => {
      e.preventDefault();
      save();
    };
    toURL();
    refreshPreview();
  }

  function change(fn, redraw) {
    fn();
    if (redraw) redraw();
    toURL();
    refreshPreview();
  }

  /** Client-side checks; returns [message] or the silence to POST. */
  function build() {
    const errs = [];
    const ms = st.matchers.filter((m) => m.name || m.value);
    if (!ms.length) errs.push("Add at least one matcher.");
    for (const m of ms) {
      try {
        checkMatcher(m);
      } catch (e) {
        errs.push(e.message);
      }
    }
    if (!errs.length && ms.length && ms.every((m) => matches(m, {}))) errs.push("The matchers match every alert (even with no labels); make at least one match something.");
    const start = parseTimeText(st.start);
    const end = parseTimeText(st.end);
    if (!Number.isFinite(start)) errs.push(`Start ${JSON.stringify(st.start)} is not a time.`);
    if (!Number.isFinite(end)) errs.push(`End ${JSON.stringify(st.end)} is not a time.`);
    else if (end <= Math.max(start, Date.now())) errs.push("End must be after the start and in the future.");
    if (!st.createdBy.trim()) errs.push("Say who you are (Created by).");
    if (!st.comment.trim()) errs.push("Add a comment: why is this silenced?");
    if (errs.length) return { errs };
    const o = st.original;
    // Resend the exact original start unless the user changed it (see above).
    const startsAt = o && st.start === formatTime(apiTime(o.startsAt)) ? o.startsAt : new Date(start).toISOString();
    const body = {
      matchers: ms.map(toAPIMatcher),
      startsAt,
      endsAt: new Date(end).toISOString(),
      createdBy: st.createdBy.trim(),
      comment: st.comment,
    };
    if (editId) body.id = editId;
    return { body };
  }

  async function save() {
    const r = build();
    const errBox = form.querySelector('.field-error[data-for="form"]');
    clear(serverError);
    if (r.errs) {
      clear(errBox).append(...r.errs.map((e) => h("div", {}, e)));
      return;
    }
    clear(errBox);
    const btn = form.querySelector("button[type=submit]");
    btn.disabled = true;
    try {
      const res = await am("silences", { method: "POST", json: r.body });
      localStorage.setItem(AUTHOR_KEY, r.body.createdBy);
      const q = new URLSearchParams({ saved: res.silenceID });
      if (editId && res.silenceID !== editId) q.set("replaced", editId);
      ctx.navigate("/silences?" + q.toString());
    } catch (e) {
      btn.disabled = false;
      // Alertmanager answers errors as a bare JSON string; show it as text.
      serverError.append(errorBox("The alert manager refused the silence:", typeof e.body === "string" ? e.body : e.message));
    }
  }

  // Affected alerts: what GET /api/v2/alerts returns for the matchers as filters.
  let previewSeq = 0;
  const refreshPreview = debounce(async () => {
    const mine = ++previewSeq;
    const filters = [];
    for (const m of st.matchers) {
      if (!m.name) continue;
      try {
        filters.push(matcherText(checkMatcher(m)));
      } catch {
        clear(preview).append(h("h3", {}, "Affected alerts"), h("p", { class: "muted" }, "Fix the matchers to see the alerts they would silence."));
        return;
      }
    }
    if (!filters.length) {
      clear(preview).append(h("h3", {}, "Affected alerts"), h("p", { class: "muted" }, "Add a matcher to see the alerts it would silence."));
      return;
    }
    try {
      const alerts = await am("alerts", { params: { filter: filters }, signal: abort.signal });
      if (mine !== previewSeq) return;
      clear(preview).append(
        h("h3", {}, "Affected alerts ", h("span", { class: "badge" }, String(alerts.length))),
        alerts.length
          ? h(
              "ul",
              { class: "preview-list" },
              alerts.map((a) =>
                h("li", {}, h("span", { class: "badge " + (a.status.state === "suppressed" ? "silenced" : "firing") }, a.status.state), " ", labelChips(a.labels)),
              ),
            )
          : h("p", { class: "muted" }, "No current alert matches (the silence still applies to future ones)."),
      );
    } catch (e) {
      if (e.name !== "AbortError") clear(preview).append(errorBox("Cannot preview.", e.message));
    }
  }, 300);

  init();
  return () => abort.abort();
}
