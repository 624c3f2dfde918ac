"""The explore page in a real browser: PromQL editor with completion from the API, graph /
table / JSON views that show what the API answers, parse errors marked where they are,
several queries at once, and URLs that restore the view."""

from __future__ import annotations

import datetime
import json
import re
import time
import urllib.parse
from typing import Any

from tests.conftest import http_get
from tests.web.conftest import PHONE, Console, Stack


def api(stack: Stack, path: str, **params: str) -> Any:
    code, body = http_get(f"{stack.url}{path}?{urllib.parse.urlencode(params)}")
    assert code == 200, body
    return json.loads(body)


def explore(c: Console, **panels: str) -> Any:
    """Open /explore with g0.* style parameters (keys like g0_expr → g0.expr)."""
    qs = urllib.parse.urlencode({k.replace("_", ".", 1): v for k, v in panels.items()})
    return c.goto(f"/explore?{qs}")


def legend_series(panel: Any) -> list[str]:
    """The series names in a panel's uPlot legend (its first row is the time axis)."""
    panel.locator(".u-legend").wait_for()
    rows = panel.locator(".u-legend .u-series .u-label").all_inner_texts()
    return [r.rstrip(":").strip() for r in rows[1:]]


def marker_fills(page: Any) -> list[str]:
    """The legend markers' fill colours (skipping the time row)."""
    fills: list[str] = page.evaluate(
        "() => [...document.querySelectorAll('.explore-chart .u-legend .u-series .u-marker')]"
        ".slice(1).map(m => getComputedStyle(m).backgroundColor)"
    )
    return ["transparent" if f in ("", "rgba(0, 0, 0, 0)") else f for f in fills]


def type_in_editor(page: Any, panel: Any, text: str) -> None:
    panel.locator(".cm-content").click()
    page.keyboard.type(text)


def expect_error_count(c: Console, n: int) -> None:
    """A query the server refuses is a 400, which Chromium reports as a console error:
    expected here, so it is taken off the list the fixture checks."""
    bad = [e for e in c.errors if "status of 400" in e]
    assert len(bad) == n, c.errors
    for e in bad:
        c.errors.remove(e)


def test_graph_shows_one_series_per_target(stack: Stack, console: Any) -> None:
    c = console(stack.url)
    page = explore(c, g0_expr="up", g0_range_input="15m")
    panel = page.locator(".explore-panel").first
    names = legend_series(panel)
    expected = api(stack, "/api/v1/query", query="up")["data"]["result"]
    assert len(names) == len(expected) == 4  # promhub, host, node, broken
    for s in expected:
        assert f'instance="{s["metric"]["instance"]}"' in " ".join(names)
    assert page.locator(".explore-range").input_value() == "15m"
    # The auto step for 15m is range/250 rounded up to a round value.
    assert "step 5s" in panel.locator(".explore-stats").inner_text()


def test_stacked_toggle_redraws_and_lands_in_the_url(stack: Stack, console: Any) -> None:
    c = console(stack.url)
    page = explore(c, g0_expr='node_cpu_seconds_total{mode=~"user|system"}')
    panel = page.locator(".explore-panel").first
    n = len(legend_series(panel))
    assert n >= 2
    assert "stacked" not in page.url
    assert marker_fills(page) == ["transparent"] * n
    panel.locator(".explore-stacked").check()
    page.wait_for_url(re.compile(r"g0\.stacked=1"))
    # Stacked series are filled areas: uPlot's legend markers take the fill colour.
    fills = marker_fills(page)
    assert len(fills) == n and "transparent" not in fills
    assert len(legend_series(panel)) == n
    panel.locator(".explore-stacked").uncheck()
    page.wait_for_url(lambda u: "stacked" not in u)


def test_table_view_shows_the_labels_and_values_the_api_returns(stack: Stack, console: Any) -> None:
    c = console(stack.url)
    page = explore(c, g0_expr="up", g0_tab="table")
    table = page.locator(".explore-panel .explore-table")
    table.wait_for()
    rows = table.locator("tbody tr")
    expected = api(stack, "/api/v1/query", query="up")["data"]["result"]
    assert rows.count() == len(expected)
    shown = {
        (
            r.locator(".label-chip", has_text="instance=").inner_text(),
            r.locator(".explore-value").inner_text(),
        )
        for r in rows.all()
    }
    want = {(f'instance="{s["metric"]["instance"]}"', s["value"][1]) for s in expected}
    assert {i for i, _ in shown} == {i for i, _ in want}
    assert ('instance="127.0.0.1:1"', "0") in shown
    # A scalar shows as one row.
    page.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.type("1 + 2")
    page.keyboard.press("Shift+Enter")
    page.locator(".explore-table .explore-value", has_text="3").wait_for()
    # A range selector lists each raw sample with its timestamp.
    page.keyboard.press("Control+a")
    page.keyboard.type('up{job="broken"}[10s]')
    page.keyboard.press("Control+Enter")
    page.locator(".explore-table .label-chip", has_text='job="broken"').wait_for()
    samples = page.locator(".explore-table .explore-value div").all_inner_texts()
    assert len(samples) >= 2 and all(re.fullmatch(r"0 @\d+(\.\d+)?", x) for x in samples)


def test_json_view_is_the_api_answer(stack: Stack, console: Any) -> None:
    c = console(stack.url)
    page = explore(c, g0_expr='count(up{job="node"})', g0_tab="json")
    pre = page.locator(".explore-json")
    pre.wait_for()
    shown = json.loads(pre.inner_text())
    assert shown["status"] == "success"
    assert shown["data"]["resultType"] == "vector"
    assert shown["data"]["result"][0]["metric"] == {}
    assert shown["data"]["result"][0]["value"][1] == "1"


def test_completion_offers_metric_names_and_label_values_from_the_api(
    stack: Stack, console: Any
) -> None:
    c = console(stack.url)
    page = c.goto("/explore")
    panel = page.locator(".explore-panel").first
    type_in_editor(page, panel, "node_lo")
    popup = page.locator(".cm-tooltip-autocomplete")
    popup.get_by_text("node_load1", exact=True).wait_for()
    assert "node_load1" in api(stack, "/api/v1/label/__name__/values")["data"]
    page.keyboard.press("Escape")
    page.keyboard.press("Control+a")
    page.keyboard.press("Backspace")
    # Label values: closeBrackets completes the braces and quotes as one types.
    type_in_editor(page, panel, 'up{job="')
    assert page.locator(".cm-content").inner_text() == 'up{job=""}'
    for job in ("node", "promhub", "broken"):
        popup.get_by_text(job, exact=True).wait_for()
    # Accepting a suggestion writes it into the expression.
    popup.get_by_text("broken", exact=True).click()
    assert page.locator(".cm-content").inner_text() == 'up{job="broken"}'
    page.keyboard.press("Control+Enter")
    page.locator(".u-legend").wait_for()
    assert legend_series(panel) == ['up{instance="127.0.0.1:1", job="broken"}']


def test_syntax_error_is_shown_at_its_position(stack: Stack, console: Any) -> None:
    c = console(stack.url)
    page = explore(c, g0_expr="sum(up) by (job) foo")
    box = page.locator(".explore-error")
    box.wait_for()
    code, body = http_get(
        stack.url + "/api/v1/query?" + urllib.parse.urlencode({"query": "sum(up) by (job) foo"})
    )
    message = json.loads(body)["error"]
    assert code == 400 and "1:18: parse error" in message
    assert "line 1, column 18" in box.inner_text()
    assert message in box.inner_text()
    # The editor underlines the token where the server's parser stopped.
    mark = page.locator(".explore-editor .cm-server-error")
    assert mark.inner_text() == "foo"
    # Clicking the error puts the cursor there; editing drops the server's mark (it
    # described the old text).
    box.click()
    page.keyboard.type("x")
    assert page.locator(".cm-content").inner_text() == "sum(up) by (job) xfoo"
    mark.wait_for(state="detached")
    expect_error_count(c, 1)


def test_error_position_counts_bytes_as_prometheus_does(stack: Stack, console: Any) -> None:
    """Prometheus (and promhub) count the column in UTF-8 bytes: "é" is two of them."""
    c = console(stack.url)
    page = explore(c, g0_expr='up{job="é"} foo', g0_tab="table")
    page.locator(".explore-error", has_text="1:14: parse error").wait_for()
    assert page.locator(".explore-editor .cm-server-error").inner_text() == "foo"
    expect_error_count(c, 1)


def test_api_infos_are_shown(stack: Stack, console: Any) -> None:
    c = console(stack.url)
    page = explore(c, g0_expr="rate(node_load1[1m])", g0_tab="table")
    info = page.locator(".explore-info")
    info.wait_for()
    assert "might not be a counter" in info.inner_text()


def test_two_queries_at_once(stack: Stack, console: Any) -> None:
    c = console(stack.url)
    page = c.goto("/explore")
    first = page.locator(".explore-panel").nth(0)
    type_in_editor(page, first, 'up{job="node"}')
    page.click(".explore-add")
    second = page.locator(".explore-panel").nth(1)
    type_in_editor(page, second, "node_load1")
    page.click(".explore-execute")
    assert legend_series(first) == [f'up{{instance="{stack.node_exporter}", job="node"}}']
    load = api(stack, "/api/v1/query", query="node_load1")["data"]["result"]
    assert len(legend_series(second)) == len(load) == 2  # node_exporter and the host collector
    page.wait_for_url(re.compile(r"g1\.expr=node_load1"))
    # Removing the first query renumbers the rest.
    first.locator(".explore-remove").click()
    page.wait_for_url(lambda u: "g1." not in u and "g0.expr=node_load1" in u)
    assert page.locator(".explore-panel").count() == 1


def test_shared_url_restores_the_view(stack: Stack, console: Any) -> None:
    c = console(stack.url)
    page = c.goto("/explore")
    first = page.locator(".explore-panel").nth(0)
    type_in_editor(page, first, "rate(node_cpu_seconds_total[30s])")
    first.locator(".explore-range").select_option("5m")
    first.locator(".explore-step").fill("10s")
    first.locator(".explore-step").press("Tab")
    first.locator(".explore-stacked").check()
    page.click(".explore-add")
    second = page.locator(".explore-panel").nth(1)
    type_in_editor(page, second, "up")
    second.get_by_role("tab", name="Table").click()
    page.click(".explore-execute")
    second.locator(".explore-table").wait_for()
    url = page.url
    assert "g0.range_input=5m" in url and "g0.step_input=10" in url and "g1.tab=table" in url
    # A fresh tab (another browser context: no shared state) opens the same view.
    other = console(stack.url).page
    other.goto(url)
    p0 = other.locator(".explore-panel").nth(0)
    p1 = other.locator(".explore-panel").nth(1)
    assert p0.locator(".cm-content").inner_text() == "rate(node_cpu_seconds_total[30s])"
    assert p0.locator(".explore-range").input_value() == "5m"
    assert p0.locator(".explore-step").input_value() == "10s"
    assert p0.locator(".explore-stacked").is_checked()
    assert len(legend_series(p0)) == len(
        api(stack, "/api/v1/query", query="rate(node_cpu_seconds_total[30s])")["data"]["result"]
    )
    assert "step 10s" in p0.locator(".explore-stats").inner_text()
    assert p1.locator(".cm-content").inner_text() == "up"
    assert p1.get_by_role("tab", name="Table").get_attribute("aria-selected") == "true"
    assert p1.locator(".explore-table tbody tr").count() == 4


def test_prometheus_graph_links_open(stack: Stack, console: Any) -> None:
    """A link copied from Prometheus' classic UI: /graph, tab=1 is the table, end_input in UTC."""
    c = console(stack.url)
    end = time.time() - 1
    qs = urllib.parse.urlencode(
        {"g0.expr": "up", "g0.tab": "1", "g0.range_input": "1h", "g0.end_input": _utc(end)}
    )
    page = c.goto(f"/graph?{qs}")
    page.locator(".explore-table").wait_for()
    assert page.get_by_role("tab", name="Table").get_attribute("aria-selected") == "true"
    assert page.locator(".explore-end").input_value() != ""  # the end time is fixed, not "now"
    assert page.locator(".explore-table tbody tr").count() == 4


def _utc(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def test_phone_width(stack: Stack, console: Any) -> None:
    c = console(stack.url, viewport=PHONE, theme="dark")
    page = explore(c, g0_expr="rate(node_cpu_seconds_total[30s])", g1_expr="up", g1_tab="table")
    panel = page.locator(".explore-panel").first
    assert len(legend_series(panel)) > 4
    page.locator(".explore-table").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    box = panel.locator(".explore-chart canvas").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]


def test_step_obeys_the_servers_points_limit(stack: Stack, console: Any) -> None:
    """An hour at a 0.1 s step would be 36,001 points a series; the server allows 11,000, so
    the page raises the step (and says so) instead of showing the server's refusal."""
    c = console(stack.url)
    page = explore(c, g0_expr="up", g0_range_input="1h", g0_step_input="0.1")
    panel = page.locator(".explore-panel").first
    assert len(legend_series(panel)) == 4
    assert "step raised from 100ms to 1s" in panel.locator(".explore-status").inner_text()
    assert "step 1s" in panel.locator(".explore-stats").inner_text()
