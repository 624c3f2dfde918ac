// The dashboards list: built-in starter dashboards and imported ones, import of a Grafana
// dashboard JSON (file picker or pasted text), copy, download and delete.
import { raw, v1 } from "../../lib/api.js";
import { clear, errorBox, h, loading } from "../../lib/dom.js";

async function writesEnabled() {
  try {
    const flags = await v1("status/flags");
    return flags["web.enable-dashboard-writes"] !== "false";
  } catch {
    return true;
  }
}

function download(name, doc) {
  const blob = new Blob([JSON.stringify(doc, null, 2) + "\n"], { type: "application/json" });
  const a = h("a", { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

export async function mountList(root, ctx) {
  const listEl = h("div", { class: "dash-list" }, loading());
  const importBox = h("div");
  root.append(h("h1", {}, "Dashboards"), importBox, listEl);
  const canWrite = await writesEnabled();

  async function refresh() {
    let items;
    try {
      items = await raw("GET", "/api/v1/dashboards");
    } catch (e) {
      clear(listEl).append(errorBox("Cannot list dashboards.", e.message));
      return;
    }
    clear(listEl);
    const data = items.data || [];
    if (!data.length) listEl.append(h("p", { class: "muted" }, "No dashboards yet: import one above."));
    listEl.append(
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "data dash-table-list" },
          h("thead", {}, h("tr", {}, h("th", {}, "Title"), h("th", { class: "dash-tags" }, "Tags"), h("th", {}, "Panels"), h("th", {}, ""))),
          h("tbody", {}, data.map((d) => row(d))),
        ),
      ),
    );
  }

  function row(d) {
    const actions = h("td", { class: "dash-actions" });
    actions.append(
      h("button", { type: "button", title: "Download the Grafana JSON", onclick: () => exportJson(d) }, "JSON"),
    );
    if (canWrite && d.builtin) {
      actions.append(h("button", { type: "button", title: "Import an editable copy", onclick: () => copy(d) }, "Copy"));
    }
    if (canWrite && !d.builtin) {
      const del = h("button", { type: "button", class: "danger", dataset: { action: "delete" } }, "Delete");
      // Two clicks: the first arms the button, so a stray click deletes nothing.
      del.onclick = async () => {
        if (!del.classList.contains("armed")) {
          del.classList.add("armed");
          del.textContent = "Confirm delete";
          return;
        }
        try {
          await raw("DELETE", `/api/v1/dashboards/${encodeURIComponent(d.uid)}`);
        } catch (e) {
          actions.append(errorBox("Delete failed.", e.message));
          return;
        }
        refresh();
      };
      actions.append(del);
    }
    return h(
      "tr",
      { dataset: { uid: d.uid } },
      h("td", {}, h("a", { href: `/dashboards/${encodeURIComponent(d.uid)}`, "data-nav": "" }, d.title), d.builtin ? h("span", { class: "badge dash-builtin" }, "built-in") : null),
      h("td", { class: "dash-tags" }, (d.tags || []).map((t) => h("span", { class: "label-chip" }, t))),
      h("td", {}, String(d.panels)),
      actions,
    );
  }

  async function exportJson(d) {
    const res = await raw("GET", `/api/v1/dashboards/${encodeURIComponent(d.uid)}`);
    download(`${d.uid}.json`, res.data.dashboard);
  }

  async function copy(d) {
    const res = await raw("GET", `/api/v1/dashboards/${encodeURIComponent(d.uid)}`);
    const doc = { ...res.data.dashboard, title: `${d.title} (copy)` };
    delete doc.uid;
    const saved = await raw("POST", "/api/v1/dashboards", { json: doc });
    ctx.navigate(`/dashboards/${encodeURIComponent(saved.data.uid)}`);
  }

  if (canWrite) {
    const text = h("textarea", {
      class: "dash-import-text",
      rows: 6,
      placeholder: "Paste a Grafana dashboard JSON (the model, or Grafana's export with __inputs)…",
      "aria-label": "Dashboard JSON",
    });
    const file = h("input", { type: "file", accept: ".json,application/json", "aria-label": "Dashboard JSON file" });
    const msg = h("div", { class: "dash-import-msg" });
    file.onchange = async () => {
      if (file.files?.[0]) await submit(await file.files[0].text());
      file.value = "";
    };
    async function submit(body) {
      clear(msg);
      if (!body.trim()) {
        msg.append(errorBox("Nothing to import: paste a dashboard JSON or choose a file."));
        return;
      }
      let saved;
      try {
        saved = await raw("POST", "/api/v1/dashboards", { text: body });
      } catch (e) {
        msg.append(h("div", { class: "error-box dash-import-error", role: "alert" }, `Import failed: ${e.message}`));
        return;
      }
      ctx.navigate(`/dashboards/${encodeURIComponent(saved.data.uid)}`);
    }
    importBox.append(
      h(
        "details",
        { class: "panel dash-import", open: ctx.params.has("import") },
        h("summary", {}, "Import a Grafana dashboard"),
        h("p", { class: "muted" }, "Dashboards that use a Prometheus data source work unchanged; a dashboard with the same uid is replaced."),
        h("div", { class: "toolbar" }, h("label", { class: "field" }, "From a file", file)),
        text,
        h("div", { class: "toolbar" }, h("button", { type: "button", class: "primary", onclick: () => submit(text.value) }, "Import")),
        msg,
      ),
    );
  }
  await refresh();
}
