"""A real `promhub serve` scraping real targets: metadata endpoints, and real Prometheus
federating from promhub."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from tests.conftest import free_port, http_get, wait_for
from tests.targets import MetricsTarget

BODY = """# HELP jobs_total Jobs processed.
# TYPE jobs_total counter
jobs_total{queue="a"} %d
# HELP temp_celsius Temperature.
# TYPE temp_celsius gauge
# UNIT temp_celsius celsius
temp_celsius 21.5
"""


def _get(p, path: str, **params: str):  # type: ignore[no-untyped-def]
    q = urllib.parse.urlencode(params)
    status, body = p.get(path + ("?" + q if q else ""))
    assert status == 200, body
    return json.loads(body)["data"]


@pytest.fixture
def scraped(promhub_factory, tmp_path: Path):  # type: ignore[no-untyped-def]
    targets = [MetricsTarget(lambda n: BODY % n) for _ in range(2)]
    cfg = tmp_path / "promhub.yml"
    cfg.write_text(
        "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\n"
        "  external_labels:\n    site: lab\n"
        "scrape_configs:\n  - job_name: app\n    static_configs:\n"
        f"      - targets: {json.dumps([t.address for t in targets])}\n"
    )
    p = promhub_factory(tmp_path / "data", cfg)
    p.wait_ready()
    wait_for(lambda: len(_get(p, "/api/v1/targets/metadata", metric="jobs_total")) == 2)
    yield p, targets
    for t in targets:
        t.close()


def test_metadata_endpoints(scraped) -> None:  # type: ignore[no-untyped-def]
    p, targets = scraped
    md = _get(p, "/api/v1/metadata")
    assert md["jobs_total"] == [{"type": "counter", "help": "Jobs processed.", "unit": ""}]
    assert _get(p, "/api/v1/metadata", metric="temp_celsius") == {
        "temp_celsius": [{"type": "gauge", "help": "Temperature.", "unit": ""}]
    }
    assert len(_get(p, "/api/v1/metadata", limit="1")) == 1
    tm = _get(p, "/api/v1/targets/metadata", metric="jobs_total")
    assert sorted(t["target"]["instance"] for t in tm) == sorted(t.address for t in targets)
    assert tm[0] == {
        "target": {"instance": tm[0]["target"]["instance"], "job": "app"},
        "type": "counter",
        "help": "Jobs processed.",
        "unit": "",
    }
    one = _get(p, "/api/v1/targets/metadata", match_target=f'{{instance="{targets[0].address}"}}')
    assert {m["metric"] for m in one} >= {"jobs_total", "temp_celsius"}
    assert all(m["target"]["instance"] == targets[0].address for m in one)
    up = _get(p, "/api/v1/query", query="up")
    assert sorted(s["value"][1] for s in up["result"]) == ["1", "1"]


@pytest.mark.skipif(not shutil.which("prometheus"), reason="Debian prometheus not installed")
def test_real_prometheus_federates_from_promhub(scraped, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p, _ = scraped
    port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: federate\n    honor_labels: true\n"
        "    metrics_path: /federate\n    params:\n      'match[]': ['{job=\"app\"}']\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{p.port}']\n"
    )
    proc = subprocess.Popen(
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

        def federated():  # type: ignore[no-untyped-def]
            try:
                st, body = http_get(
                    f"http://127.0.0.1:{port}/api/v1/query?query=jobs_total", timeout=2
                )
            except OSError:
                return None
            res = json.loads(body)["data"]["result"] if st == 200 else []
            return res if len(res) == 2 else None

        res = wait_for(federated, timeout=30)
        # honor_labels keeps promhub's job/instance; the external label came along.
        assert {s["metric"]["job"] for s in res} == {"app"}
        assert {s["metric"]["site"] for s in res} == {"lab"}
        assert all(float(s["value"][1]) >= 1 for s in res)
    finally:
        proc.terminate()
        proc.wait(20)
