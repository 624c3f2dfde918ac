"""The targets, rules and status pages in a real browser, checked against the API they
read: scrape health and errors, rule groups and health, build/flags/config/TSDB."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from playwright.sync_api import expect

from tests.conftest import http_get
from tests.web.conftest import PHONE, Stack


def api(stack: Stack, path: str) -> Any:
    code, body = http_get(stack.url + path)
    assert code == 200, body
    return json.loads(body)["data"]


def test_targets_show_the_broken_target_down_with_its_error(stack: Stack, console: Any) -> None:
    page = console(stack.url).goto("/targets")
    broken = page.locator('section.pool[data-pool="broken"]')
    expect(broken.locator(".pool-head")).to_contain_text("0/1 up")
    row = broken.locator("tr.target")
    expect(row).to_have_attribute("data-health", "down")
    expect(row.locator(".badge")).to_have_text("down")
    expect(row.locator(".endpoint a")).to_have_attribute("href", "http://127.0.0.1:1/metrics")
    [target] = [
        t for t in api(stack, "/api/v1/targets")["activeTargets"] if t["scrapePool"] == "broken"
    ]
    assert target["lastError"]
    expect(row.locator(".last-error")).to_contain_text("127.0.0.1:1")

    node = page.locator('section.pool[data-pool="node"]')
    expect(node.locator(".pool-head")).to_contain_text("1/1 up")
    node_row = node.locator("tr.target")
    expect(node_row).to_have_attribute("data-instance", stack.node_exporter)
    expect(node_row.locator(".badge")).to_have_text("up")
    expect(node_row.locator(".last-error")).to_have_text("")
    # Discovered labels on demand.
    node_row.locator('button:has-text("discovered labels")').click()
    expect(node_row.locator(".discovered")).to_contain_text(f'__address__="{stack.node_exporter}"')
    # Collapsing a pool hides its table.
    node.locator(".pool-head").click()
    expect(node.locator("tr.target")).to_have_count(0)

    # Unhealthy only: the healthy pools go away, and the filter is in the URL.
    page.check('input[name="unhealthy"]')
    expect(page.locator("section.pool")).to_have_count(1)
    expect(page.locator("section.pool")).to_have_attribute("data-pool", "broken")
    assert "health=unhealthy" in page.url
    page.uncheck('input[name="unhealthy"]')
    page.fill('input[type="search"]', "host/metrics")
    expect(page.locator("section.pool")).to_have_count(1)
    expect(page.locator("section.pool")).to_have_attribute("data-pool", "host")


def test_rules_show_the_demo_group_with_health_and_explore_links(
    stack: Stack, console: Any
) -> None:
    page = console(stack.url).goto("/rules")
    group = page.locator('section.rule-group[data-group="demo"]')
    expect(group.locator(".rule-group-head")).to_contain_text("rules.yml")
    expect(group.locator(".rule-group-head")).to_contain_text("every 2s")
    expect(group.locator(".rule-group-head")).to_contain_text("evaluated")
    rules = group.locator("article.rule")
    expect(rules).to_have_count(3)
    names = [r["name"] for r in api(stack, "/api/v1/rules")["groups"][0]["rules"]]
    assert rules.evaluate_all("rs => rs.map(r => r.dataset.rule)") == names

    down = group.locator('article.rule[data-rule="TargetDown"]')
    expect(down).to_have_attribute("data-health", "ok")
    expect(down.locator(".rule-line")).to_contain_text("firing")
    expect(down).to_contain_text('severity="critical"')
    expect(down).to_contain_text("{{ $labels.instance }} of job {{ $labels.job }} is down")
    href = down.locator("a.rule-expr").get_attribute("href")
    assert href is not None
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)
    assert q == {"g0.expr": ["up == 0"], "g0.tab": ["0"]}
    pending = group.locator('article.rule[data-rule="AlwaysPending"]')
    expect(pending.locator(".rule-line")).to_contain_text("pending")
    expect(pending).to_contain_text("for")
    expect(pending).to_contain_text("1h")
    # The active alerts of a rule open below it.
    down.locator("details.rule-alerts summary").click()
    expect(down.locator("details.rule-alerts table")).to_contain_text('job="broken"')

    page.select_option('select[aria-label="Rule type"]', "record")
    expect(rules).to_have_count(1)
    expect(rules).to_have_attribute("data-rule", "instance:node_cpu_busy:ratio")


def test_status_shows_version_flags_config_and_tsdb_offenders(stack: Stack, console: Any) -> None:
    c = console(stack.url)
    page = c.goto("/status")
    version = api(stack, "/api/v1/status/buildinfo")["version"]
    expect(page.locator(".version")).to_have_text(version)
    expect(page.locator('dd[data-key="Configuration reload"]')).to_have_text("successful")

    page.click('.tabs [data-tab="flags"]')
    page.wait_for_url("**/status?tab=flags")
    flags = api(stack, "/api/v1/status/flags")
    page.fill('input[aria-label="Filter flags"]', "tsdb.path")
    row = page.locator('tr[data-flag="storage.tsdb.path"]')
    expect(row.locator(".flag-value")).to_have_text(flags["storage.tsdb.path"])
    expect(page.locator(".flags-table tbody tr")).to_have_count(
        sum("tsdb.path" in n or "tsdb.path" in v for n, v in flags.items())
    )

    page.click('.tabs [data-tab="config"]')
    expect(page.locator("pre.config-yaml")).to_contain_text("job_name: broken")
    expect(page.locator("pre.config-yaml")).to_have_text(
        api(stack, "/api/v1/status/config")["yaml"]
    )

    before = [e["name"] for e in api(stack, "/api/v1/status/tsdb")["seriesCountByMetricName"]]
    page.click('.tabs [data-tab="tsdb"]')
    top = page.locator('[data-table="metrics"] tbody tr')
    expect(top).to_have_count(len(before))
    shown = top.locator(".top-name").all_inner_texts()
    after = [e["name"] for e in api(stack, "/api/v1/status/tsdb")["seriesCountByMetricName"]]
    # The head can gain series between the calls; the page shows what one of them saw.
    assert shown in (before, after)
    head = api(stack, "/api/v1/status/tsdb")["headStats"]
    assert head["numSeries"] > 0
    expect(page.locator('dd[data-key="Series"]')).not_to_have_text("0")

    page.click('.tabs [data-tab="alertmanager"]')
    expect(page.locator(".status-panel").first).to_contain_text("disabled")
    expect(page.locator("pre.config-yaml")).to_contain_text("receiver: default")
    # The tab is in the URL: a reload comes back to it.
    page.reload()
    expect(page.locator('.tabs [data-tab="alertmanager"]')).to_have_class("tab active")


def test_ops_pages_fit_a_phone(stack: Stack, console: Any) -> None:
    c = console(stack.url, viewport=PHONE, theme="dark")
    for path in ("/targets", "/rules", "/status?tab=tsdb", "/status?tab=config", "/history"):
        page = c.goto(path)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide on a phone"
