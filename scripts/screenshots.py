"""Screenshots of every console page for the README tour and docs/screenshots/.

    python scripts/screenshots.py            # writes docs/screenshots/*.png
    python scripts/screenshots.py --out /tmp/shots --keep   # keep the stack running after

Starts a real stack on loopback: promhub (remote_write receiver and lifecycle API on), a
real prometheus-node-exporter, and a simulated fleet of 30 machines plus an HTTP service
with an hour of history (tests/web/fleet.py). Then promhub scrapes itself, its host collector
and the node_exporter, evaluates a few rules (one host is down, some are hot), and headless
Chromium (Debian's, driven by Playwright) visits each page in light and dark, at laptop and
phone widths. Needs: chromium, prometheus-node-exporter (scripts/test.sh installs both) and
the test extras (playwright).
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, PHONE  # noqa: E402
from tests.web.fleet import fleet_series, http_service_series, push  # noqa: E402

LAPTOP = {"width": 1440, "height": 900}  # wider than the tests' laptop, for the README

RULES = """\
groups:
  - name: fleet
    interval: 15s
    rules:
      - record: instance:node_cpu_busy:ratio
        expr: 1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))
      - alert: InstanceDown
        expr: up == 0
        labels: {severity: critical}
        annotations:
          summary: "{{ $labels.instance }} of job {{ $labels.job }} is down"
      - alert: HostHighCPU
        expr: instance:node_cpu_busy:ratio > 0.7
        for: 1m
        labels: {severity: warning}
        annotations:
          summary: "{{ $labels.instance }} CPU at {{ $value | humanizePercentage }}"
      - alert: DiskAlmostFull
        expr: 1 - node_filesystem_avail_bytes / node_filesystem_size_bytes > 0.9
        labels: {severity: warning}
        annotations:
          summary: >-
            {{ $labels.instance }} {{ $labels.mountpoint }} is
            {{ $value | humanizePercentage }} full
"""

CONFIG = """\
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files: [rules.yml]
alerting:
  alertmanager_config:
    route:
      receiver: team
      group_by: [alertname]
      group_wait: 2s
    receivers:
      - name: team
scrape_configs: {scrape}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        return bytes(r.read())


def wait(pred, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("timed out waiting for the stack")


def start_stack(d: Path) -> tuple[str, list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    node = f"127.0.0.1:{free_port()}"
    exe = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"
    procs.append(subprocess.Popen([exe, f"--web.listen-address={node}"], stderr=subprocess.DEVNULL))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    (d / "rules.yml").write_text(RULES)
    cfg = d / "prometheus.yml"
    # No scrape jobs yet: the fleet's hour of history must be written before anything
    # appends "now" (the TSDB refuses samples older than its head window).
    cfg.write_text(CONFIG.format(scrape="[]"))
    procs.append(
        subprocess.Popen(
            [
                sys.executable, "-m", "promhub", "serve",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--storage.tsdb.path={d / 'data'}",
                f"--config.file={cfg}",
                "--web.enable-remote-write-receiver",
                "--web.enable-lifecycle",
            ],
            stdout=open(d / "promhub.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
    )  # fmt: skip
    wait(lambda: get(url + "/-/ready"))
    now = time.time()
    n = push(url, fleet_series(30, now, down_every=29, info=True) + http_service_series(now))
    print(f"fleet: {n} samples")
    # A maintenance silence, so the Silences page has something to show.
    silence = {
        "matchers": [
            {"name": "alertname", "value": "DiskAlmostFull", "isRegex": False},
            {"name": "instance", "value": "host-00[48]:9100", "isRegex": True},
        ],
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60)),
        "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 4 * 3600)),
        "createdBy": "ops@example.com",
        "comment": "Disk replacement on host-004 and host-008 (CHG-1234)",
    }
    req = urllib.request.Request(
        url + "/api/v2/silences",
        data=json.dumps(silence).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(req, timeout=10).read()
    scrape = json.dumps(
        [
            {"job_name": "promhub", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
            {
                "job_name": "host",
                "metrics_path": "/host/metrics",
                "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
            },
            {"job_name": "node-exporter", "static_configs": [{"targets": [node]}]},
        ]
    )
    cfg.write_text(CONFIG.format(scrape=scrape))
    urllib.request.urlopen(urllib.request.Request(url + "/-/reload", method="POST"), timeout=10)
    # Scrapes, rule evaluations and the alert manager's group_wait.
    time.sleep(15)
    return url, procs


#: (file name, console path, theme, viewport)
SHOTS = [
    ("overview", "/overview", "light", LAPTOP),
    ("overview-dark", "/overview", "dark", LAPTOP),
    ("overview-phone", "/overview", "light", PHONE),
    (
        "explore",
        "/explore?"
        + urllib.parse.urlencode(
            {
                "g0.expr": "sum by (instance) "
                '(rate(node_cpu_seconds_total{job="node",mode!="idle"}[5m]))',
                "g0.tab": "0",
                "g0.range_input": "1h",
                "g1.expr": "sum by (handler) (rate(http_requests_total[5m]))",
                "g1.tab": "0",
                "g1.stacked": "1",
                "g1.range_input": "1h",
            }
        ),
        "light",
        LAPTOP,
    ),
    ("explore-dark", "/explore?g0.expr=node_load1&g0.tab=0&g0.range_input=1h", "dark", LAPTOP),
    ("alerts", "/alerts", "light", LAPTOP),
    ("silences", "/silences", "light", LAPTOP),
    ("silence-editor", "/silences?new=1&matcher=alertname%3D%22HostHighCPU%22", "light", LAPTOP),
    ("history", "/history", "light", LAPTOP),
    ("targets", "/targets", "light", LAPTOP),
    ("rules", "/rules", "light", LAPTOP),
    ("status", "/status", "light", LAPTOP),
    ("status-tsdb", "/status?tab=tsdb", "dark", LAPTOP),
    ("dashboards", "/dashboards", "light", LAPTOP),
]


#: The starter dashboards, on the simulated fleet (the host overview on one busy machine).
DASHBOARD_SHOTS = [
    (
        "dashboard-host",
        "/dashboards/promhub-host-overview?var-job=node&var-instance=host-004:9100",
        "dark",
        LAPTOP,
    ),
    ("dashboard-http-red", "/dashboards/promhub-http-red", "light", LAPTOP),
    # promhub has scraped itself for a minute only: show the last 5 minutes.
    ("dashboard-self", "/dashboards/promhub-self?from=now-5m&to=now", "light", LAPTOP),
    ("dashboard-phone", "/dashboards/promhub-http-red", "light", PHONE),
]


def shoot(url: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, path, theme, vp in SHOTS + DASHBOARD_SHOTS:
            ctx = b.new_context(viewport=vp, color_scheme=theme, device_scale_factor=1)
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.goto(url + path)
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(800)
            page.screenshot(path=str(out / f"{name}.png"), full_page=vp is PHONE)
            print(f"{name}.png  {path}" + (f"  ERRORS: {errors}" if errors else ""))
            ctx.close()
        b.close()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    ap.add_argument("--keep", action="store_true", help="leave the stack running; print its URL")
    a = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="promhub-shots-"))
    url, procs = start_stack(d)
    try:
        shoot(url, a.out)
        if a.keep:
            print(f"stack at {url} (data in {d}); Ctrl-C to stop")
            while True:
                time.sleep(3600)
    finally:
        for p in procs[::-1]:
            p.terminate()
            p.wait(20)
        if not a.keep:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
