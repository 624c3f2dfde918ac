"""The console's shell in a real browser: served at "/", pages switch without reloads,
light/dark, phone widths, assets offline-ready."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promhub import __version__
from tests.conftest import PromhubProcess, http_get
from tests.web.conftest import PHONE, Stack

PAGES = ["overview", "explore", "alerts", "dashboards", "targets", "rules", "status"]


def test_every_page_loads_from_the_nav_without_errors(stack: Stack, console: Any) -> None:
    c = console(stack.url)
    page = c.goto("/")
    for name in PAGES:
        page.click(f'#nav a[data-page="{name}"]')
        page.wait_for_url(f"**/{name}")
        assert page.locator(f'#nav a[data-page="{name}"]').get_attribute("class") == "active"
        # The router empties #page, then the page module fills it: wait for the content.
        page.wait_for_function("document.querySelector('#page').innerText.trim() !== ''")
    # Back goes to the previous page without a reload.
    page.go_back()
    page.wait_for_url("**/rules")


def test_theme_toggle_persists_across_reloads(stack: Stack, console: Any) -> None:
    c = console(stack.url, theme="light")
    page = c.goto("/status")
    html = page.locator("html")
    assert html.get_attribute("data-theme") == "light"
    page.click("#theme-toggle")
    assert html.get_attribute("data-theme") == "dark"
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert bg == "rgb(17, 18, 23)"
    page.reload()
    assert page.locator("html").get_attribute("data-theme") == "dark"


def test_dark_preference_is_the_default(stack: Stack, console: Any) -> None:
    page = console(stack.url, theme="dark").goto("/")
    assert page.locator("html").get_attribute("data-theme") == "dark"


def test_phone_width_has_no_horizontal_page_scroll(stack: Stack, console: Any) -> None:
    c = console(stack.url, viewport=PHONE)
    for name in PAGES:
        page = c.goto(f"/{name}")
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"/{name} is {width}px wide on a {PHONE['width']}px phone"


def test_assets_are_served_locally_compressed_and_revalidated(stack: Stack) -> None:
    import urllib.request

    req = urllib.request.Request(
        stack.url + "/static/vendor/editor.js", headers={"Accept-Encoding": "gzip"}
    )
    with urllib.request.urlopen(req) as r:
        assert r.headers["Content-Encoding"] == "gzip"
        assert r.headers["Content-Type"].startswith("text/javascript")
        etag = r.headers["ETag"]
        assert len(r.read()) < 200_000  # the 460 KB bundle, gzipped
    req = urllib.request.Request(
        stack.url + "/static/vendor/uPlot.esm.js", headers={"If-None-Match": etag}
    )
    assert urllib.request.urlopen(req).status == 200  # another file's ETag does not match
    assert http_get(stack.url + "/static/../pyproject.toml")[0] == 404
    assert http_get(stack.url + "/static/nothing.js")[0] == 404
    code, body = http_get(stack.url + "/")
    assert code == 200 and "<title>promhub</title>" in body


def test_unknown_console_path_is_a_404(stack: Stack) -> None:
    assert http_get(stack.url + "/nonsense")[0] == 404


def test_every_page_in_dark_uses_the_dark_palette(stack: Stack, console: Any) -> None:
    c = console(stack.url, theme="dark")
    for name in PAGES:
        page = c.goto(f"/{name}")
        page.wait_for_load_state("networkidle")
        # Panels, tables and inputs take the dark theme's colours, not the browser's white.
        light = page.evaluate(
            """() => [...document.querySelectorAll('.panel, table, input, select, button, pre')]
                 .filter(el => el.offsetParent !== null)
                 .map(el => getComputedStyle(el).backgroundColor)
                 .filter(bg => bg === 'rgb(255, 255, 255)').length"""
        )
        assert light == 0, f"/{name}: {light} elements with a white background in dark mode"


def test_agent_mode_shows_only_what_an_agent_serves(tmp_path: Path, console: Any) -> None:
    p = PromhubProcess(tmp_path / "data", None, "--agent", f"--storage.agent.path={tmp_path}/a")
    try:
        p.wait_ready()
        c = console(p.url)
        page = c.goto("/")
        # "/" (the overview needs queries) lands on the targets; the nav offers only the
        # pages an agent serves, as Prometheus Agent's UI, and says it is an agent.
        page.wait_for_url("**/targets")
        page.wait_for_function(
            "document.querySelector('#page').innerText.includes('/host/metrics')"
        )
        visible = [a.get_attribute("data-page") for a in page.locator("#nav a:visible").all()]
        assert visible == ["targets", "status"]
        assert page.locator(".agent-badge").inner_text() == "Agent"
        # A query page opened by link explains instead of sending refused queries (the
        # fixture fails the test on any 4xx the page would have caused).
        page = c.goto("/explore?g0.expr=up")
        assert "agent does not keep" in page.locator(".agent-page").inner_text()
        page = c.goto("/status")
        page.wait_for_function(
            "v => document.querySelector('#page').innerText.includes(v)", arg=__version__
        )
    finally:
        p.stop()
