"""The overview page in a real browser: the stack's instances with health and node metrics,
worst first; search, job and label filters, sorting and pagination kept in the URL; a
120-instance fleet pushed with remote_write for the paging; phone cards."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import PromhubProcess
from tests.web.conftest import PHONE, Stack
from tests.web.fleet import fleet_series, instance_name, push

READY = '.ov-body[data-sparklines="ready"]'


def open_overview(console: Any, base: str, path: str = "/", **kw: Any) -> Any:
    c = console(base, **kw)
    page = c.goto(path)
    page.wait_for_selector(READY)
    return page


def instances(page: Any) -> list[str]:
    return [str(t) for t in page.locator("tr.ov-row .ov-name").all_inner_texts()]


def query_of(page: Any) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlparse(page.url).query))


def test_lists_the_stacks_instances_with_node_metrics_and_down_first(
    stack: Stack, console: Any
) -> None:
    page = open_overview(console, stack.url)
    rows = page.locator("tr.ov-row")
    # The broken target is down, so it comes first, with "–" for every metric.
    first = rows.nth(0)
    assert first.locator(".ov-name").inner_text() == "127.0.0.1:1"
    assert first.locator(".ov-health").inner_text() == "down"
    assert first.locator(".ov-metric").all_inner_texts() == ["–"] * 5
    names = instances(page)
    assert stack.node_exporter in names
    host = stack.url.removeprefix("http://")
    assert host in names  # promhub itself and its host collector share one instance
    assert sorted(rows.nth(names.index(host)).locator(".label-chip").all_inner_texts()) == [
        "host",
        "promhub",
    ]
    node = rows.nth(names.index(stack.node_exporter))
    assert node.locator(".ov-health").inner_text() == "up"
    cpu = node.locator(".ov-cpu .ov-num").inner_text()
    mem = node.locator(".ov-mem .ov-num").inner_text()
    assert cpu.endswith("%") and 0 <= float(cpu[:-1]) <= 100
    assert mem.endswith("%") and 0 < float(mem[:-1]) < 100
    assert "of " in node.locator(".ov-mem").inner_text()  # total memory next to the %
    assert float(node.locator(".ov-load .ov-num").inner_text()) >= 0
    assert "/core" in node.locator(".ov-load").inner_text()
    for key in ("cpu", "mem", "load"):
        assert node.locator(f".ov-{key} .ov-spark canvas").count() == 1, key
    for key in ("disk", "net"):  # depend on the machine's filesystems and interfaces
        has_value = node.locator(f".ov-{key} .ov-num").count() == 1
        assert node.locator(f".ov-{key} .ov-spark canvas").count() == int(has_value), key
    # The values link to Explore with the instance's query.
    href = node.locator(".ov-cpu a").get_attribute("href")
    expr = urllib.parse.parse_qs(urllib.parse.urlparse(href).query)["g0.expr"][0]
    assert f'instance="{stack.node_exporter}"' in expr and "node_cpu_seconds_total" in expr
    assert "1 down" in page.locator(".ov-summary").inner_text()


def test_search_narrows_rows_and_the_url_restores_it(stack: Stack, console: Any) -> None:
    page = open_overview(console, stack.url)
    assert len(instances(page)) == 3
    page.fill(".ov-search", "broke")  # matches the job name
    page.wait_for_function("document.querySelectorAll('tr.ov-row').length === 1")
    assert instances(page) == ["127.0.0.1:1"]
    assert query_of(page)["q"] == "broke"
    page.fill(".ov-search", "no such instance")
    page.wait_for_selector(".ov-empty")
    assert "No instance matches" in page.locator(".ov-empty").inner_text()
    page.goto(stack.url + "/?q=broke")
    page.wait_for_selector(READY)
    assert page.locator(".ov-search").input_value() == "broke"
    assert instances(page) == ["127.0.0.1:1"]


def test_job_filter_queries_only_that_job(stack: Stack, console: Any) -> None:
    page = open_overview(console, stack.url)
    page.wait_for_selector('.ov-job option[value="node"]', state="attached")
    assert sorted(page.locator(".ov-job option").all_inner_texts()) == [
        "All jobs",
        "broken",
        "host",
        "node",
        "promhub",
    ]
    page.select_option(".ov-job", "node")
    page.wait_for_function("document.querySelectorAll('tr.ov-row').length === 1")
    page.wait_for_selector(READY)
    assert instances(page) == [stack.node_exporter]
    assert query_of(page)["job"] == "node"
    page.reload()
    page.wait_for_selector(READY)
    assert instances(page) == [stack.node_exporter]
    assert page.locator(".ov-job").input_value() == "node"
    # Back to "all jobs" with the browser's back button.
    page.go_back()
    page.wait_for_function("document.querySelectorAll('tr.ov-row').length === 3")


def test_label_filter_adds_a_matcher_and_rejects_nonsense(stack: Stack, console: Any) -> None:
    c = console(stack.url)
    page = c.goto("/")
    page.wait_for_selector(READY)
    page.fill(".ov-label", f'instance="{stack.node_exporter}"')
    page.press(".ov-label", "Enter")
    page.wait_for_function("document.querySelectorAll('tr.ov-row').length === 1")
    assert instances(page) == [stack.node_exporter]
    assert query_of(page)["label"] == f'instance="{stack.node_exporter}"'
    # The matcher went to the server on `up` (not a client-side filter).
    sent = [r.post_data or "" for r in c.requests if r.url.endswith("/api/v1/query")]
    assert any(
        urllib.parse.parse_qs(s).get("query", [""])[0] == f'up{{instance="{stack.node_exporter}"}}'
        for s in sent
    )
    page.fill(".ov-label", "job=~bro.*")  # unquoted values and regex operators work too
    page.press(".ov-label", "Enter")
    page.wait_for_function(
        "[...document.querySelectorAll('tr.ov-row')].map(r => r.dataset.instance).join() === "
        "'127.0.0.1:1'"
    )
    page.wait_for_selector(READY)
    assert instances(page) == ["127.0.0.1:1"]
    page.fill(".ov-label", "=oops")
    page.press(".ov-label", "Enter")
    assert "expected label" in page.locator(".ov-label-error").inner_text()
    assert query_of(page)["label"] == "job=~bro.*"  # the last valid filter stays applied
    assert instances(page) == ["127.0.0.1:1"]


def test_refreshes_every_30s_only_while_visible_and_stops_when_left(
    stack: Stack, console: Any
) -> None:
    c = console(stack.url)
    c.page.clock.install()
    page = c.goto("/")
    page.wait_for_selector(READY)

    def queries() -> int:
        return sum(1 for r in c.requests if r.url.endswith("/api/v1/query"))

    def loads_reach(k: int) -> None:
        # Polled from here: with the page's clock faked, Playwright's in-page polling (and
        # performance marks) are frozen too. "Updated <time>" changes once the rows are in.
        deadline = time.monotonic() + 15
        while queries() < k * n or page.locator(".ov-updated").inner_text() == stamps[-1]:
            assert time.monotonic() < deadline, f"no refresh #{k}: {queries()} of {k * n}"
            time.sleep(0.1)
        stamps.append(page.locator(".ov-updated").inner_text())

    stamps = [page.locator(".ov-updated").inner_text()]
    n = queries()
    page.clock.fast_forward(31_000)
    loads_reach(2)
    assert queries() == 2 * n  # the same instant queries again
    # A hidden tab does not poll; it catches up as soon as it is visible again.
    page.evaluate(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => true})"
    )
    page.clock.fast_forward(65_000)
    time.sleep(0.3)
    assert queries() == 2 * n
    page.evaluate(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    loads_reach(3)
    assert queries() == 3 * n
    # Another page: the overview's timer is gone.
    page.click('#nav a[data-page="status"]')
    page.wait_for_url("**/status")
    page.clock.fast_forward(65_000)
    time.sleep(0.3)
    assert queries() == 3 * n


def test_phone_width_shows_cards_without_page_scroll(stack: Stack, console: Any) -> None:
    page = open_overview(console, stack.url, viewport=PHONE, theme="dark")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert not page.locator(".ov-table thead").is_visible()
    row = page.locator("tr.ov-row").first
    assert row.evaluate("el => getComputedStyle(el).display") == "grid"
    # Each metric names itself, as the header row is gone.
    label = page.locator("tr.ov-row .ov-cpu").first.evaluate(
        "el => getComputedStyle(el, '::before').content"
    )
    assert label == '"CPU"'


# -- a fleet of 120 node_exporter-like instances, pushed with remote_write -----------------

FLEET = 120


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromhubProcess]:
    d = tmp_path_factory.mktemp("fleet")
    cfg = d / "prometheus.yml"
    cfg.write_text("scrape_configs: []\n")  # only the pushed fleet (the default scrapes itself)
    p = PromhubProcess(d / "data", cfg, "--web.enable-remote-write-receiver")
    try:
        p.wait_ready()
        push(p.url, fleet_series(FLEET, time.time(), history=600, step=15))
        yield p
    finally:
        p.stop()


def test_pagination_with_many_instances(fleet: PromhubProcess, console: Any) -> None:
    page = open_overview(console, fleet.url)
    assert page.locator(".ov-pageinfo").inner_text() == "Page 1 of 3"
    assert "120 instances" in page.locator(".ov-summary").inner_text()
    first = instances(page)
    assert len(first) == 50
    # Worst first: the two down instances (every 50th), then the hottest.
    assert sorted(first[:2]) == [instance_name(49), instance_name(99)]
    # Only the visible page's sparklines are drawn.
    assert page.locator(".ov-spark canvas").count() == 50 * 5
    page.click(".ov-next")
    page.wait_for_function("document.querySelector('.ov-pageinfo')?.textContent === 'Page 2 of 3'")
    page.wait_for_selector(READY)
    second = instances(page)
    assert len(second) == 50 and not set(first) & set(second)
    assert query_of(page)["page"] == "2"
    page.click(".ov-next")
    page.wait_for_selector(READY)
    assert len(instances(page)) == 20
    assert page.locator(".ov-next").is_disabled()
    page.go_back()  # page changes are history entries
    page.wait_for_function("document.querySelector('.ov-pageinfo')?.textContent === 'Page 2 of 3'")
    assert instances(page) == second
    page.select_option(".ov-size", "100")
    page.wait_for_selector(READY)
    assert page.locator(".ov-pageinfo").inner_text() == "Page 1 of 2"
    assert len(instances(page)) == 100
    assert query_of(page)["size"] == "100"


def test_sorting_thresholds_and_url_state(fleet: PromhubProcess, console: Any) -> None:
    page = open_overview(console, fleet.url, path="/overview?sort=instance&page=2&size=25")
    assert page.locator(".ov-pageinfo").inner_text() == "Page 2 of 5"
    assert instances(page)[0] == instance_name(25)
    page.click('th[data-sort="instance"]')  # same column again: descending
    page.wait_for_selector(READY)
    assert query_of(page)["dir"] == "desc"
    assert instances(page)[0] == instance_name(FLEET - 1 - 25)
    page.click('th[data-sort="cpu"]')
    page.wait_for_selector(READY)
    values = [float(v[:-1]) for v in page.locator(".ov-cpu .ov-num").all_inner_texts()]
    assert values == sorted(values, reverse=True) and len(values) == 25
    # >90 % is critical and drawn in the theme's --crit colour.
    hot = page.locator(".ov-cpu .ov-num").first
    assert float(hot.inner_text()[:-1]) > 90 and "crit" in (hot.get_attribute("class") or "")
    crit = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--crit')")
    rgb = hot.evaluate("el => getComputedStyle(el).color")
    r, g, b = (int(crit.strip()[i : i + 2], 16) for i in (1, 3, 5))
    assert rgb == f"rgb({r}, {g}, {b})"
    # Search + job + label filters together, from a shared link.
    page.goto(fleet.url + "/?q=host-00&job=node&label=dc%3D%22dc-1%22")
    page.wait_for_selector(READY)
    assert sorted(instances(page)) == [instance_name(1), instance_name(4), instance_name(7)]
    assert page.locator(".ov-label").input_value() == 'dc="dc-1"'
