"""The POST promhub sends to an Alertmanager, compared with what Debian's real Prometheus
sends for the same rule and config: path, content type, the alert's fields in order, the
labels (external labels included) and the time format."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PromhubProcess, free_port, wait_for
from tests.rules.capture import CaptureServer

PROM = "/usr/bin/prometheus"
pytestmark = pytest.mark.skipif(not shutil.which(PROM), reason="needs Debian prometheus")

RULES = """
groups:
  - name: g
    rules:
      - alert: Always
        expr: vector(1) > 0
        labels: {severity: critical}
        annotations: {summary: always firing}
"""
# RFC 3339 with milliseconds, as Go's strfmt.DateTime writes it.
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)\Z")


def _config(tmp: Path, am: CaptureServer, name: str) -> Path:
    (tmp / "rules.yml").write_text(RULES)
    cfg = tmp / f"{name}.yml"
    cfg.write_text(
        "global: {evaluation_interval: 1s, external_labels: {cluster: eu1}}\n"
        "rule_files: [rules.yml]\n"
        "alerting:\n  alertmanagers:\n"
        f"    - static_configs: [{{targets: ['{am.address}']}}]\n"
        "      path_prefix: /prefix\n"
    )
    return cfg


@pytest.fixture
def captures() -> Iterator[tuple[CaptureServer, CaptureServer]]:
    a, b = CaptureServer(), CaptureServer()
    yield a, b
    a.close()
    b.close()


def test_post_matches_prometheus(
    tmp_path: Path,
    captures: tuple[CaptureServer, CaptureServer],
    promhub_factory: type[PromhubProcess],
) -> None:
    to_prom, to_hub = captures
    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115
    prom = subprocess.Popen(
        [
            PROM,
            f"--config.file={_config(tmp_path, to_prom, 'prom')}",
            f"--storage.tsdb.path={tmp_path / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.external-url=http://prom.example:9090/",
            # Its notify discovery may report after the first evaluation; a short resend
            # delay sends the alert again soon after.
            "--rules.alert.resend-delay=1s",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={"TZ": "UTC", "PATH": "/usr/bin:/bin"},
    )
    try:
        hub = promhub_factory(
            None, _config(tmp_path, to_hub, "hub"), "--web.external-url=http://prom.example:9090/"
        )
        hub.wait_ready()
        wait_for(lambda: to_prom.requests and to_hub.requests, 30)
    finally:
        prom.terminate()
        prom.wait(10)
        log.close()
    (p_path, p_headers, p_body), (h_path, h_headers, h_body) = (
        to_prom.requests[0],
        to_hub.requests[0],
    )
    assert h_path == p_path == "/prefix/api/v2/alerts"
    assert h_headers["Content-Type"] == p_headers["Content-Type"] == "application/json"
    p_alert: dict[str, Any] = p_body[0]
    h_alert: dict[str, Any] = h_body[0]
    assert list(h_alert) == list(p_alert)
    assert h_alert["labels"] == p_alert["labels"] == {
        "alertname": "Always", "severity": "critical", "cluster": "eu1",
    }  # fmt: skip
    assert h_alert["annotations"] == p_alert["annotations"]
    assert h_alert["generatorURL"] == p_alert["generatorURL"]
    for key in ("startsAt", "endsAt"):
        assert TIME.match(p_alert[key]) and TIME.match(h_alert[key]), (p_alert, h_alert)
    assert h_alert["endsAt"] > h_alert["startsAt"]  # firing: valid until a few intervals on
