"""A real Debian ``prometheus`` uses promhub as its Alertmanager: its always-firing
rule's alert arrives over API v2, is routed into a group and notified (the flush shows
in promhub's history)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.alerting.test_am_api import write_setup
from tests.conftest import PromhubProcess, free_port, wait_for


def test_real_prometheus_delivers_alerts(
    promhub_factory: type[PromhubProcess], tmp_path: Path
) -> None:
    ph = promhub_factory(None, write_setup(tmp_path))
    ph.wait_ready()
    prom_dir = tmp_path / "prom"
    prom_dir.mkdir()
    (prom_dir / "rules.yml").write_text(
        "groups:\n- name: g\n  rules:\n"
        "  - alert: PromAlways\n    expr: vector(1)\n"
        "    labels: {severity: critical, team: x}\n"
        "    annotations: {summary: from prometheus}\n"
    )
    (prom_dir / "prometheus.yml").write_text(
        "global:\n  evaluation_interval: 1s\n  external_labels: {replica: a}\n"
        "rule_files: [rules.yml]\n"
        "alerting:\n  alertmanagers:\n  - static_configs:\n"
        f"    - targets: ['127.0.0.1:{ph.port}']\n"
    )
    port = free_port()
    log = open(prom_dir / "prom.log", "wb")  # noqa: SIM115
    prom = subprocess.Popen(
        [
            "/usr/bin/prometheus",
            f"--config.file={prom_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={prom_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.external-url=http://prom.example:{port}/",
            # Alerts evaluated before notifier discovery's first update (5 s) are
            # dropped; resending every second re-sends them once promhub is known.
            "--rules.alert.resend-delay=1s",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def arrived() -> list[dict[str, object]]:
            return [
                a
                for a in json.loads(ph.get("/api/v2/alerts")[1])
                if a["labels"].get("alertname") == "PromAlways"
            ]

        a = wait_for(arrived, 30)[0]
        assert a["labels"] == {
            "alertname": "PromAlways", "severity": "critical", "team": "x", "replica": "a",
        }  # fmt: skip
        assert a["annotations"] == {"summary": "from prometheus"}
        assert a["generatorURL"].startswith(f"http://prom.example:{port}/graph?g0.expr=")
        assert a["receivers"] == [{"name": "team-x"}]
        assert a["status"]["state"] == "active"
        groups = json.loads(ph.get("/api/v2/alerts/groups")[1])
        assert [(g["labels"], g["receiver"]) for g in groups] == [
            ({"alertname": "PromAlways"}, {"name": "team-x"})
        ]

        def notified() -> list[dict[str, object]]:
            h = json.loads(ph.get("/api/v2/history?matcher=alertname%3DPromAlways")[1])
            return [e for e in h if e["kind"] == "notification"]

        note = wait_for(notified, 20)[0]
        assert note["receiver"] == "team-x"
        _, metrics = ph.get("/metrics")
        assert 'alertmanager_alerts{state="active"} 1.0' in metrics
    finally:
        prom.terminate()
        prom.wait(20)
        log.close()
