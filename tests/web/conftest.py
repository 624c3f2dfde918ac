"""Browser fixtures: Debian's headless Chromium driven by Playwright, against real promhub
servers scraping real targets (a real node_exporter, promhub itself, its host collector).

Every page opened through ``console`` records JavaScript errors (uncaught exceptions and
``console.error``, which includes failed API calls) and any request that leaves promhub's
origin; a test fails if any happened, so each browser test also checks "works without
JavaScript errors" and "no CDN, no internet".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PromhubProcess, free_port, http_get, wait_for

CHROMIUM = os.environ.get("PROMHUB_CHROMIUM", "/usr/bin/chromium")
#: Flags for Chromium in this sandbox: no sandbox as root, no GPU, and no background
#: networking (the machine's closed network refuses those connections noisily).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
LAPTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (scripts/test.sh does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@dataclass
class Console:
    """A browser tab on a promhub console, recording what went wrong in it."""

    page: Any
    base: str
    errors: list[str] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)

    def goto(self, path: str) -> Any:
        self.page.goto(self.base + path)
        return self.page

    def assert_clean(self) -> None:
        assert not self.errors, "JavaScript errors in the console:\n" + "\n".join(self.errors)


@pytest.fixture
def console(browser: Any) -> Iterator[Callable[..., Console]]:
    """``console(base_url, theme="light", viewport=LAPTOP, credentials=None)`` → Console."""
    opened: list[tuple[Any, Console]] = []

    def open_console(
        base: str,
        theme: str = "light",
        viewport: dict[str, int] | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> Console:
        ctx = browser.new_context(
            viewport=viewport or LAPTOP,
            color_scheme=theme,
            http_credentials=(
                {"username": credentials[0], "password": credentials[1]} if credentials else None
            ),
        )
        ctx.set_default_timeout(15_000)
        page = ctx.new_page()
        c = Console(page, base)
        page.on("pageerror", lambda e: c.errors.append(f"uncaught: {e}"))
        page.on(
            "console",
            lambda m: c.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None,
        )
        page.on("request", lambda r: c.requests.append(r))
        # No CDN, no internet at run time: every request stays on promhub's own origin.
        page.on(
            "request",
            lambda r: (
                None
                if r.url.startswith((base, "data:", "blob:", "about:"))
                else c.errors.append(f"request off promhub's origin: {r.url}")
            ),
        )
        opened.append((ctx, c))
        return c

    yield open_console
    failures = [e for _, c in opened for e in c.errors]
    for ctx, _ in opened:
        ctx.close()
    assert not failures, "JavaScript errors in the console:\n" + "\n".join(failures)


@dataclass
class Stack:
    """A promhub scraping a real node_exporter, itself and its host collector."""

    promhub: PromhubProcess
    node_exporter: str
    config: Path

    @property
    def url(self) -> str:
        return self.promhub.url


def start_node_exporter() -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("prometheus-node-exporter")
    if exe is None:
        pytest.fail("prometheus-node-exporter not installed (scripts/test.sh installs it)")
    address = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [exe, f"--web.listen-address={address}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: _up(address))
    return proc, address


def _up(address: str) -> bool:
    try:
        return http_get(f"http://{address}/metrics", timeout=1)[0] == 200
    except OSError:
        return False


STACK_CONFIG = """\
global:
  scrape_interval: 2s
  evaluation_interval: 2s
rule_files: [rules.yml]
alerting:
  alertmanager_config:
    route:
      receiver: default
      group_by: [alertname]
      group_wait: 1s
    receivers:
      - name: default
scrape_configs:
  - job_name: promhub
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
  - job_name: host
    metrics_path: /host/metrics
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
  - job_name: node
    static_configs: [{{targets: ["{node}"]}}]
  - job_name: broken
    static_configs: [{{targets: ["127.0.0.1:1"]}}]
"""

STACK_RULES = """\
groups:
  - name: demo
    rules:
      - record: instance:node_cpu_busy:ratio
        expr: 1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[30s]))
      - alert: TargetDown
        expr: up == 0
        labels: {severity: critical}
        annotations:
          summary: "{{ $labels.instance }} of job {{ $labels.job }} is down"
      - alert: AlwaysPending
        expr: vector(1)
        for: 1h
        labels: {severity: warning}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One real stack per test module: promhub + node_exporter, scraping every 2 s, a rule
    group with a firing and a pending alert, and the built-in alert manager."""
    d = tmp_path_factory.mktemp("stack")
    node, address = start_node_exporter()
    port = free_port()
    cfg = d / "prometheus.yml"
    cfg.write_text(STACK_CONFIG.format(port=port, node=address))
    (d / "rules.yml").write_text(STACK_RULES)
    p = PromhubProcess(d / "data", cfg, port=port)
    try:
        p.wait_ready()
        # Two scrapes of every target, so rates and sparklines have points.
        wait_for(lambda: _series_count(p.url, "up") >= 4, timeout=30)
        time.sleep(4.5)
        yield Stack(p, address, cfg)
    finally:
        p.stop()
        node.terminate()
        node.wait(10)


def _series_count(url: str, expr: str) -> int:
    import json
    import urllib.parse

    code, body = http_get(f"{url}/api/v1/query?query={urllib.parse.quote(expr)}")
    if code != 200:
        return 0
    return len(json.loads(body)["data"]["result"])
