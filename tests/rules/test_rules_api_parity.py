"""``/api/v1/rules`` and ``/api/v1/alerts`` against Debian's real Prometheus on the same
rule file: the same fields in the same order, the same states, labels and values."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, http_get, wait_for

RULES = """
groups:
  - name: app
    rules:
      - record: job:one:sum
        expr: sum(vector(1))
        labels: {source: rule}
      - record: plain
        expr: vector(1)
      - alert: Always
        expr: vector(1) > 0
        labels: {severity: critical}
        annotations: {summary: hi}
      - alert: Later
        expr: vector(2) > 0
        for: 1h
        keep_firing_for: 5m
      - alert: Never
        expr: vector(1) < 0
  - name: other
    interval: 2s
    rules:
      - record: two
        expr: vector(2)
"""


def _get(url: str) -> Any:
    try:
        st, body = http_get(url, timeout=2)
    except OSError:
        return None
    return json.loads(body) if st in (200, 400) else None


def _evaluated(base: str) -> Any:
    data = _get(base + "/api/v1/rules")
    if not data or data["status"] != "success":
        return None
    rules = [r for g in data["data"]["groups"] for r in g["rules"]]
    done = rules and all(r["health"] == "ok" for r in rules)
    return data if done and rules[2]["state"] == "firing" else None


def _shape(x: Any) -> Any:
    """Keys in order, and every value that does not depend on when it was measured."""
    if isinstance(x, dict):
        return [
            (k, "<time>" if k in ("lastEvaluation", "evaluationTime", "activeAt") else _shape(v))
            for k, v in x.items()
        ]
    if isinstance(x, list):
        return [_shape(v) for v in x]
    return x


@pytest.mark.skipif(not shutil.which("prometheus"), reason="Debian prometheus not installed")
def test_rules_and_alerts_api_match_real_prometheus(tmp_path: Path, promhub_factory: Any) -> None:
    (tmp_path / "rules.yml").write_text(RULES)
    cfg = tmp_path / "cfg.yml"
    cfg.write_text("global: {evaluation_interval: 1s}\nrule_files: [rules.yml]\n")
    port = free_port()
    prom = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={cfg}",
            f"--storage.tsdb.path={tmp_path / 'prom'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        p = promhub_factory(None, cfg)
        p.wait_ready()
        theirs = wait_for(lambda: _evaluated(f"http://127.0.0.1:{port}"), timeout=30)
        ours = wait_for(lambda: _evaluated(p.url), timeout=30)
        for g in theirs["data"]["groups"] + ours["data"]["groups"]:
            g["file"] = Path(g["file"]).name  # Prometheus keeps it as written
        assert _shape(ours) == _shape(theirs)
        a_theirs = _get(f"http://127.0.0.1:{port}/api/v1/alerts")
        a_ours = _get(p.url + "/api/v1/alerts")
        key = lambda a: a["labels"]["alertname"]  # noqa: E731
        a_theirs["data"]["alerts"].sort(key=key)
        a_ours["data"]["alerts"].sort(key=key)
        assert _shape(a_ours) == _shape(a_theirs)
        bad_theirs = _get(f"http://127.0.0.1:{port}/api/v1/rules?type=bogus")
        assert _get(p.url + "/api/v1/rules?type=bogus") == bad_theirs
    finally:
        prom.terminate()
        prom.wait(20)
