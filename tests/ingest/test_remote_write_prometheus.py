"""A real Prometheus (Debian's /usr/bin/prometheus) scrapes a small target and remote-writes
to promhub; every sample Prometheus stored must arrive in promhub with the same value."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PromhubProcess, free_port, http_get, wait_for

PROMETHEUS = "/usr/bin/prometheus"
pytestmark = pytest.mark.skipif(not os.path.exists(PROMETHEUS), reason="needs prometheus")


class _Target(BaseHTTPRequestHandler):
    """Known series whose values move every scrape: counters, gauges, a histogram."""

    scrapes = 0
    lock = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802 (http.server's spelling)
        with _Target.lock:
            _Target.scrapes += 1
            n = _Target.scrapes
        lines = ["# TYPE rwt_requests_total counter"]
        lines += [f'rwt_requests_total{{path="/p{i}"}} {n * (i + 1)}' for i in range(20)]
        lines += ["# TYPE rwt_temperature gauge"]
        lines += [f'rwt_temperature{{room="r{i}"}} {i / 7 + n * 0.1!r}' for i in range(20)]
        lines += ["# TYPE rwt_latency_seconds histogram"]
        for i, le in enumerate(("0.1", "0.5", "1", "+Inf")):
            lines.append(f'rwt_latency_seconds_bucket{{le="{le}"}} {n * (i + 1)}')
        lines += [f"rwt_latency_seconds_sum {n * 0.37!r}", f"rwt_latency_seconds_count {n * 4}"]
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def target() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _matrix(url: str, selector: str, at: float) -> dict[str, list[tuple[int, float]]]:
    q = urllib.parse.urlencode({"query": f"{selector}[1h]", "time": f"{at:.3f}"})
    code, text = http_get(f"{url}/api/v1/query?{q}")
    assert code == 200, text
    return {
        json.dumps(r["metric"], sort_keys=True): [
            (round(float(t) * 1000), float(v)) for t, v in r["values"]
        ]
        for r in json.loads(text)["data"]["result"]
    }


def test_prometheus_remote_write_delivers_every_scraped_sample(
    promhub_factory: Any, target: str, tmp_path: Path
) -> None:
    ph: PromhubProcess = promhub_factory(None, None, "--web.enable-remote-write-receiver")
    ph.wait_ready()
    port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        f"""
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: rwtarget
    static_configs: [{{targets: ["{target}"]}}]
remote_write:
  - url: {ph.url}/api/v1/write
    queue_config:
      batch_send_deadline: 500ms
      max_samples_per_send: 50
      min_backoff: 50ms
      max_backoff: 500ms
"""
    )
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115
    prom = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={cfg}",
            f"--storage.tsdb.path={tmp_path / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    prom_url = f"http://127.0.0.1:{port}"
    try:
        # At least five scrapes in Prometheus, then compare everything up to a cut-off
        # that no scrape in flight can still land before.
        def scrapes() -> bool:
            if prom.poll() is not None:
                raise AssertionError((tmp_path / "prometheus.log").read_text())
            try:
                got = _matrix(prom_url, 'up{job="rwtarget"}', time.time())
            except OSError:  # not listening yet
                return False
            return bool(got) and len(next(iter(got.values()))) >= 5

        wait_for(scrapes, timeout=40, interval=0.5)
        cut = time.time() - 2.0
        want = _matrix(prom_url, '{job="rwtarget"}', cut)
        assert len(want) >= 50  # 46 target series plus up, scrape_* series
        assert sum(len(v) for v in want.values()) >= 50 * 3

        def same() -> bool:
            return _matrix(ph.url, '{job="rwtarget"}', cut) == want

        try:
            wait_for(same, timeout=30, interval=0.5)
        except AssertionError:
            got = _matrix(ph.url, '{job="rwtarget"}', cut)
            missing = {k: v for k, v in want.items() if got.get(k) != v}
            raise AssertionError(
                f"{len(missing)} of {len(want)} series differ, e.g. "
                f"{next(iter(missing.items()))} vs {got.get(next(iter(missing)))}"
            ) from None
        # Prometheus saw no error from promhub (it logs failed sends with the status).
        assert b"non-recoverable error" not in (tmp_path / "prometheus.log").read_bytes()
        _, text = ph.get("/metrics")
        assert 'promhub_remote_write_requests_total{code="204"}' in text
        assert 'promhub_remote_write_requests_total{code="400"}' not in text
        assert 'promhub_remote_write_requests_total{code="500"}' not in text
    finally:
        prom.send_signal(signal.SIGTERM)
        try:
            prom.wait(15)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait(5)
        log.close()
