"""The dashboards page in a real browser against a real stack: importing a Grafana dashboard
through the UI renders every panel with the API's numbers, variables change the queries,
bad imports say what is wrong, the host overview starter works on node_exporter, phones."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import http_get
from tests.web.conftest import PHONE, Stack

FIXTURE = Path(__file__).parent / "fixtures" / "grafana-targets.json"
#: Our own dashboard with the JSON shapes real community dashboards use (see its test).
SHAPES = Path(__file__).parent / "fixtures" / "grafana-community-shapes.json"


def api_query(stack: Stack, expr: str) -> list[dict[str, Any]]:
    code, body = http_get(f"{stack.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    assert code == 200, body
    result: list[dict[str, Any]] = json.loads(body)["data"]["result"]
    return result


def dashboards(stack: Stack) -> dict[str, Any]:
    return {d["uid"]: d for d in json.loads(http_get(stack.url + "/api/v1/dashboards")[1])["data"]}


def wait_panels(page: Any, count: int) -> None:
    """Wait until `count` panels are drawn (or have failed visibly)."""
    page.wait_for_function(
        """n => {
          const ps = [...document.querySelectorAll('.dash-panel')];
          return ps.length === n && ps.every(p => p.classList.contains('dash-ready'));
        }""",
        arg=count,
    )


def panel(page: Any, title: str) -> Any:
    return page.locator(".dash-panel", has=page.locator(".dash-panel-title", has_text=title))


def test_imported_grafana_dashboard_renders_every_panel_and_follows_its_variable(
    stack: Stack, console: Any
) -> None:
    c = console(stack.url)
    page = c.goto("/dashboards")
    page.click("summary:has-text('Import a Grafana dashboard')")
    page.set_input_files("input[type=file]", str(FIXTURE))
    page.wait_for_url("**/dashboards/fixture-targets?*")
    assert "fixture-targets" in dashboards(stack)
    # 8 panels, one of them repeated for each of the 3 instances.
    wait_panels(page, 10)
    assert page.locator(".dash-panel-error").count() == 0
    # All instances selected by default ($instance: multi + include All).
    assert "var-instance=%24__all" in page.url
    up = api_query(stack, "up")

    ts = panel(page, "Up by instance")
    assert ts.locator("canvas").count() >= 1
    assert ts.locator(".dash-chart").get_attribute("data-series") == str(len(up))
    assert panel(page, "Targets").locator(".dash-stat-value").inner_text() == str(len(up))
    gauge = panel(page, "Slowest scrape")
    assert gauge.locator("svg .dash-gauge-track").count() == 1
    slowest = float(api_query(stack, "max(scrape_duration_seconds)")[0]["value"][1])
    assert gauge.locator("svg text").text_content().endswith("ms" if slowest < 1 else "s")
    bars = panel(page, "Samples per target").locator(".dash-bar")
    assert bars.count() == len(api_query(stack, "scrape_samples_scraped"))
    rows = panel(page, "Targets table").locator("tbody tr")
    assert rows.count() == len(up)
    assert panel(page, "Targets table").locator("th").all_inner_texts() == [
        "instance",
        "job",
        "Value",
    ]
    notes = panel(page, "Notes")
    # Text panels show their content as text: no markup from an imported file.
    assert "<b>not bold</b> for All" in notes.inner_text()
    assert notes.locator("b").count() == 0
    # The pie: one slice per job with targets up (the broken job's 0 has no slice).
    jobs_up = [s for s in api_query(stack, "sum by (job) (up)") if float(s["value"][1]) > 0]
    assert panel(page, "Pie").locator(".dash-pie-legend li").count() == len(jobs_up)
    assert panel(page, "Pie").locator("svg path, svg circle").count() >= len(jobs_up)
    # The repeated stat: one copy per instance, its value mapped (1 → UP, 0 → DOWN).
    for s in up:
        copy = panel(page, f"Up {s['metric']['instance']}").first
        expect = {"1": "UP", "0": "DOWN"}[s["value"][1]]
        assert expect in copy.locator(".dash-stat-value").all_inner_texts()

    # One instance: every query follows the variable.
    page.select_option("select[data-var=instance]", stack.node_exporter)
    page.wait_for_function(
        "document.querySelector('.dash-chart')?.dataset.series === '1'"
        " && document.querySelectorAll('.dash-panel.dash-ready').length === 8"
    )
    assert "var-instance=" + urllib.parse.quote(stack.node_exporter) in page.url
    assert panel(page, "Targets").locator(".dash-stat-value").inner_text() == "1"
    assert panel(page, "Targets table").locator("tbody tr").count() == 1
    assert panel(page, "Samples per target").locator(".dash-bar").count() == 1
    assert stack.node_exporter in panel(page, "Notes").inner_text()

    # The URL carries the choice: a reload shows the same view.
    page.reload()
    wait_panels(page, 8)
    assert panel(page, "Targets table").locator("tbody tr").count() == 1

    # Collapsing a row hides its panels.
    page.click("button.dash-row")
    assert page.locator(".dash-panel").count() == 4


def test_bad_import_shows_the_problem_and_stores_nothing(stack: Stack, console: Any) -> None:
    c = console(stack.url)
    page = c.goto("/dashboards?import=1")
    before = dashboards(stack)
    bad = json.loads(FIXTURE.read_text())
    bad["panels"][0]["targets"][0]["expr"] = 42
    page.fill("textarea.dash-import-text", json.dumps(bad))
    page.click("button:has-text('Import')")
    err = page.locator(".dash-import-error")
    err.wait_for()
    assert "panels[0].targets[0].expr: must be a string" in err.inner_text()
    page.fill("textarea.dash-import-text", '{"title": "x",')
    page.click("button:has-text('Import')")
    page.wait_for_function(
        "document.querySelector('.dash-import-error')?.textContent.includes('invalid JSON')"
    )
    assert dashboards(stack) == before
    assert page.url.endswith("/dashboards?import=1")
    # The two refused POSTs are the only errors the browser logged.
    assert all("status of 400" in e for e in c.errors), c.errors
    c.errors.clear()


def test_delete_from_the_list_and_starters_have_no_delete(stack: Stack, console: Any) -> None:
    model = json.loads(FIXTURE.read_text())
    model["uid"], model["title"] = "to-delete", "Delete me"
    req = urllib.request.Request(
        stack.url + "/api/v1/dashboards", data=json.dumps(model).encode(), method="POST"
    )
    urllib.request.urlopen(req).close()
    page = console(stack.url).goto("/dashboards")
    row = page.locator("tr[data-uid=to-delete]")
    row.wait_for()
    for uid in ("promhub-host-overview", "promhub-http-red", "promhub-self"):
        starter = page.locator(f"tr[data-uid={uid}]")
        assert starter.locator(".badge").inner_text() == "built-in"
        assert starter.locator("[data-action=delete]").count() == 0
    row.locator("[data-action=delete]").click()
    assert "to-delete" in dashboards(stack)  # the first click only arms the button
    row.locator("[data-action=delete]").click()
    row.wait_for(state="detached")
    assert "to-delete" not in dashboards(stack)


def test_host_overview_starter_renders_node_exporter_data(stack: Stack, console: Any) -> None:
    c = console(stack.url, theme="dark")
    # The stack has two node_exporter-style jobs (node_exporter and promhub's host collector).
    page = c.goto("/dashboards/promhub-host-overview?from=now-15m&to=now&var-job=node")
    n = sum(
        1
        for p in json.loads(
            (Path(__file__).parents[2] / "promhub/web/dashboards/host-overview.json").read_text()
        )["panels"]
        if p["type"] != "row"
    )
    wait_panels(page, n)
    assert page.locator(".dash-panel-error").count() == 0
    assert page.locator("select[data-var=job]").input_value() == "node"
    assert page.locator("select[data-var=instance]").input_value() == stack.node_exporter
    cores = api_query(
        stack, f'count(node_cpu_seconds_total{{instance="{stack.node_exporter}", mode="idle"}})'
    )
    assert panel(page, "CPU cores").locator(".dash-stat-value").inner_text() == cores[0]["value"][1]
    assert panel(page, "CPU busy").locator("svg text").text_content().endswith("%")
    assert panel(page, "Filesystem used").locator(".dash-bar").count() >= 1
    assert page.locator(".dash-panel .dash-nodata").count() == 0
    # The range picker rewrites the URL and redraws.
    page.select_option("select.dash-range", "now-5m")
    page.wait_for_url("**from=now-5m**")
    wait_panels(page, n)


def test_dashboard_fits_a_phone_in_one_column(stack: Stack, console: Any) -> None:
    page = console(stack.url, viewport=PHONE).goto("/dashboards/promhub-self")
    wait_panels(page, 18)
    assert page.locator(".dash-panel-error").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    boxes = page.locator(".dash-panel").evaluate_all(
        "ps => ps.map(p => p.getBoundingClientRect()).map(r => [r.x, r.width, r.y])"
    )
    xs = {round(x) for x, _, _ in boxes}
    assert len(xs) == 1, f"panels not in one column: x={xs}"
    assert all(w > PHONE["width"] * 0.8 for _, w, _ in boxes)
    ys = [y for _, _, y in boxes]
    assert ys == sorted(ys)


def test_grafana4_rows_dashboard_is_laid_out_and_drawn(stack: Stack, console: Any) -> None:
    """Pre-Grafana-5 dashboards (rows with 12-column spans, singlestat, graph, [[var]])."""
    body = (Path(__file__).parent / "fixtures" / "grafana-legacy-rows.json").read_bytes()
    req = urllib.request.Request(stack.url + "/api/v1/dashboards", data=body, method="POST")
    urllib.request.urlopen(req).close()
    page = console(stack.url).goto("/dashboards/legacy-rows")
    wait_panels(page, 4)
    assert page.locator(".dash-panel-error").count() == 0
    assert page.locator("select[data-var=job] option").all_inner_texts() == ["node", "promhub"]
    assert page.locator("select[data-var=job]").input_value() == "node"
    assert panel(page, "Up (node)").locator(".dash-stat-value").inner_text() == "1"
    assert panel(page, "Scrape (gauge)").locator("svg .dash-gauge-track").count() == 1
    rows = page.locator("button.dash-row").all_inner_texts()
    assert rows[1].endswith("Graphs for node (1 panel)")
    samples = panel(page, "Samples").locator(".dash-chart")
    assert samples.get_attribute("data-series") == "1"
    # span 4 of 12 → a third of the width; span 12 → the full width.
    widths = [panel(page, t).bounding_box()["width"] for t in ("Up (node)", "Samples")]
    assert 0.28 < widths[0] / widths[1] < 0.36


def test_http_red_starter_without_http_metrics_says_no_data(stack: Stack, console: Any) -> None:
    """The stack serves no http_requests_total: every panel says so, none fails."""
    page = console(stack.url).goto("/dashboards/promhub-http-red")
    wait_panels(page, 11)
    assert page.locator(".dash-panel-error").count() == 0
    assert page.locator(".dash-panel .dash-nodata").count() == 11
    assert page.locator("select[data-var=job] option").all_inner_texts() == ["All"]


def test_community_dashboard_shapes_render_without_errors(stack: Stack, console: Any) -> None:
    """What exported community dashboards (Node Exporter Full, mixins, kubernetes views)
    contain and broke the first console: row panels with query-less targets, a data source
    variable, query_result variables with regex capture and allValue ".+", panel and target
    min intervals, overrides, small stat tiles, non-PromQL (Loki) and unsupported panels."""
    req = urllib.request.Request(
        stack.url + "/api/v1/dashboards", data=SHAPES.read_bytes(), method="POST"
    )
    urllib.request.urlopen(req).close()
    c = console(stack.url)
    page = c.goto("/dashboards/fixture-shapes?var-job=node")
    wait_panels(page, 13)
    assert page.locator(".dash-panel-error").count() == 0
    # The data source variable is not a control; the others resolve from node_exporter.
    assert page.locator("select[data-var=ds]").count() == 0
    host = page.locator("select[data-var=host] option")
    assert host.all_inner_texts() == ["All", stack.node_exporter]
    assert "var-host=%24__all" in page.url and "var-ds" not in page.url
    assert page.locator("select[data-var=res]").input_value() == "1m"

    # ${host:text} of All reads "All", not the custom all value ".+"; the query's
    # ${__to:date:seconds} is the range's end in seconds (else the value is a date or NaN).
    boot = panel(page, "Boot on All")
    value = boot.locator(".dash-stat-value")
    assert value.inner_text().endswith(("hour", "day", "week", "min")), value.inner_text()
    # The value fits its 2×2 tile instead of being clipped.
    assert value.evaluate("e => e.scrollWidth <= e.parentElement.clientWidth")

    # Panel min interval 1m: $__interval in the title and the query step follow it, and the
    # override colours the "out" series.
    traffic = panel(page, "Bytes every 1m")
    assert traffic.locator(".dash-chart").get_attribute("data-step") == "60"
    assert traffic.locator(".dash-chart").get_attribute("data-series") == "2"
    marker = traffic.locator(".u-legend tr", has_text="out").locator(".u-marker")
    assert "rgb(18, 52, 86)" in marker.evaluate("e => getComputedStyle(e).borderColor")
    # Legacy graph: the target's min interval from a variable ($res = 1m) bounds the step
    # (Grafana's max($__interval × intervalFactor, min interval)); aliasColors and regex
    # seriesOverrides colour the series.
    load = panel(page, "Load (legacy graph)")
    assert load.locator(".dash-chart").get_attribute("data-step") == "60"
    colors = {
        name: load.locator(".u-legend tr", has_text=name)
        .locator(".u-marker")
        .evaluate("e => getComputedStyle(e).borderColor")
        for name in ("short", "long")
    }
    assert colors == {"short": "rgb(0, 170, 0)", "long": "rgb(200, 0, 0)"}

    # Unsupported panel: says so and opens its (interpolated) query in Explore.
    heat = panel(page, "Request latency")
    assert "not supported" in heat.inner_text()
    href = heat.locator("a", has_text="in Explore").get_attribute("href")
    expr = urllib.parse.parse_qs(urllib.parse.urlparse(href).query)["g0.expr"][0]
    assert expr.startswith("sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[")
    assert "$" not in expr
    # A Loki panel is not sent to promhub as PromQL; a mixed panel keeps its PromQL part.
    assert "loki data source" in panel(page, "Log lines").inner_text()
    assert panel(page, "Mixed sources").locator(".dash-stat-value").inner_text() == "1"

    # Table: organize's excludeByName and renameByName.
    heads = panel(page, "Root filesystem").locator("th").all_inner_texts()
    assert heads == ["instance", "Mounted on", "Free", "Size"]
    # Alert list and dashboard list come from promhub itself.
    alerts = panel(page, "Alerts").locator("li")
    assert alerts.filter(has_text="TargetDown").count() >= 1
    assert alerts.filter(has_text="AlwaysPending").count() == 1
    related = panel(page, "Related").locator("a")
    assert related.all_inner_texts() == ["Fixture: shapes of community dashboards"]
    # A repeated row: one copy per value of $mode (All = idle, user), each querying its own.
    rows = page.locator("button.dash-row").all_inner_texts()
    assert [r for r in rows if "CPU mode" in r] == [
        "▾ CPU mode idle (1 panel)",
        "▾ CPU mode user (1 panel)",
    ]
    cpus = api_query(stack, 'count(node_cpu_seconds_total{job="node", mode="idle"})')
    for mode in ("idle", "user"):
        stat = panel(page, f"CPUs counting {mode}").locator(".dash-stat-value")
        assert stat.inner_text() == cpus[0]["value"][1]
    # timeFrom: the panel's own range (20 s of a 2 s scrape, not the view's hour).
    samples = panel(page, "Node samples in 20s").locator(".dash-stat-value")
    assert 1 <= int(samples.inner_text()) <= 11
    # Markdown text: headings, bold, lists and web links; HTML and javascript: links stay text.
    md = panel(page, "Runbook")
    assert md.locator(".dash-md-h").inner_text() == "On call for node"
    assert md.locator("strong").inner_text() == "disk"
    assert md.locator("a").count() == 1
    assert md.locator("a").get_attribute("href") == "https://example.org/runbook"
    assert md.locator("li").all_inner_texts() == ["<i>raw html stays text</i>", "no scripts"]
    assert md.locator("i").count() == 0
