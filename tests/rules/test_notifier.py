"""promhub's rule alerts reach a real Debian ``prometheus-alertmanager``: labels with the
external labels, the Alertmanager's own webhook notification, the resolution with its
``endsAt``, an unreachable Alertmanager counted in errors without blocking the others,
``alert_relabel_configs`` and ``/api/v1/alertmanagers``."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PromhubProcess, free_port, http_get, wait_for
from tests.rules.capture import CaptureServer
from tests.targets import MetricsTarget

AM_BIN = "/usr/bin/prometheus-alertmanager"

pytestmark = pytest.mark.skipif(not shutil.which(AM_BIN), reason="needs prometheus-alertmanager")

RULES = """
groups:
  - name: app
    rules:
      - alert: AppDown
        expr: app_up == 0
        labels: {severity: critical}
        annotations: {summary: app is down}
      - alert: Noise
        expr: app_up == 0
        labels: {severity: none}
"""


class State:
    up = 0


class Alertmanager:
    """A real Alertmanager (no clustering) whose webhook receiver is ``hook``."""

    def __init__(self, tmp: Path, hook: CaptureServer) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = tmp / "alertmanager.yml"
        cfg.write_text(
            "route:\n  receiver: hook\n  group_by: [alertname]\n"
            "  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n"
            "receivers:\n  - name: hook\n    webhook_configs:\n"
            f"      - url: http://{hook.address}/hook\n        send_resolved: true\n"
        )
        (tmp / "am-data").mkdir()
        self.log = open(tmp / "alertmanager.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                AM_BIN,
                f"--config.file={cfg}",
                f"--storage.path={tmp / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

        def ready() -> bool:
            assert self.proc.poll() is None, (tmp / "alertmanager.log").read_text()
            try:
                return http_get(self.url + "/-/ready", timeout=1)[0] == 200
            except OSError:
                return False

        wait_for(ready, 20)

    def alerts(self) -> list[dict[str, Any]]:
        status, body = http_get(self.url + "/api/v2/alerts")
        assert status == 200, body
        out: list[dict[str, Any]] = json.loads(body)
        return out

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


@pytest.fixture
def hook() -> Iterator[CaptureServer]:
    h = CaptureServer()
    yield h
    h.close()


@pytest.fixture
def alertmanager(tmp_path: Path, hook: CaptureServer) -> Iterator[Alertmanager]:
    am = Alertmanager(tmp_path, hook)
    yield am
    am.stop()


def _metric(p: PromhubProcess, name: str, **labels: str) -> float:
    _, text = p.get("/metrics")
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} ") or (not labels and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    return float("nan")


def test_rule_alerts_reach_real_alertmanager(
    tmp_path: Path,
    alertmanager: Alertmanager,
    hook: CaptureServer,
    promhub_factory: type[PromhubProcess],
) -> None:
    State.up = 0
    target = MetricsTarget(lambda n: f'app_up{{svc="a"}} {State.up}\n')
    dead = f"127.0.0.1:{free_port()}"  # nothing listens here
    (tmp_path / "rules.yml").write_text(RULES)
    cfg = tmp_path / "promhub.yml"
    cfg.write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s, external_labels: {{cluster: eu1}}}}
rule_files: [rules.yml]
scrape_configs:
  - job_name: app
    static_configs: [{{targets: ['{target.address}']}}]
alerting:
  alert_relabel_configs:
    - {{source_labels: [severity], regex: none, action: drop}}
  alertmanagers:
    - static_configs: [{{targets: ['{dead}']}}]
      timeout: 2s
    - static_configs: [{{targets: ['{alertmanager.url[7:]}', 'standby:9093']}}]
      relabel_configs:
        - {{source_labels: [__address__], regex: 'standby.*', action: drop}}
""")
    p = promhub_factory(None, cfg, "--web.external-url=http://prom.example:9090/")
    p.wait_ready()
    try:
        # The alert is in the real Alertmanager with the external label added.
        def in_am() -> list[dict[str, Any]]:
            return [a for a in alertmanager.alerts() if a["labels"].get("alertname") == "AppDown"]

        got = wait_for(in_am, 30)
        a = got[0]
        assert a["labels"] == {
            "alertname": "AppDown", "severity": "critical", "svc": "a", "job": "app",
            "instance": target.address, "cluster": "eu1",
        }  # fmt: skip
        assert a["annotations"] == {"summary": "app is down"}
        expr = urllib.parse.quote_plus("app_up == 0")
        assert a["generatorURL"] == f"http://prom.example:9090/graph?g0.expr={expr}&g0.tab=1"
        assert a["status"]["state"] == "active"
        # alert_relabel_configs dropped the Noise alert before it was queued.
        assert not [x for x in alertmanager.alerts() if x["labels"]["alertname"] == "Noise"]

        # Alertmanager routed it and its webhook notification arrived.
        def firing() -> list[Any]:
            return [b for b in hook.bodies() if b["status"] == "firing"]

        note = wait_for(firing, 20)[0]
        assert note["commonLabels"]["alertname"] == "AppDown"
        assert note["commonLabels"]["cluster"] == "eu1"

        # The dead Alertmanager is counted, and did not keep the live one from getting it.
        dead_url = f"http://{dead}/api/v2/alerts"
        live_url = f"{alertmanager.url}/api/v2/alerts"
        assert wait_for(lambda: _metric(p, "prometheus_notifications_errors_total",
                                        alertmanager=dead_url) >= 1, 10)  # fmt: skip
        assert _metric(p, "prometheus_notifications_sent_total", alertmanager=live_url) >= 1
        assert _metric(p, "prometheus_notifications_alertmanagers_discovered") == 2
        assert _metric(p, "prometheus_notifications_queue_capacity") == 10000

        status, body = p.get("/api/v1/alertmanagers")
        assert status == 200
        data = json.loads(body)["data"]
        assert data["activeAlertmanagers"] == [{"url": dead_url}, {"url": live_url}]
        assert data["droppedAlertmanagers"] == [{"url": "http://standby:9093/api/v2/alerts"}]

        # Resolution: the alert is sent with its endsAt, and Alertmanager says resolved.
        State.up = 1

        def resolved() -> list[Any]:
            return [b for b in hook.bodies() if b["status"] == "resolved"]

        done = wait_for(resolved, 30)[0]
        alert = done["alerts"][0]
        assert alert["labels"]["alertname"] == "AppDown"
        assert alert["status"] == "resolved"
        assert alert["endsAt"] > alert["startsAt"]
        assert not in_am()  # Alertmanager no longer lists it as active
    finally:
        target.close()
