"""Peers for remote_write tests: a real Prometheus receiver and a capturing HTTP server."""

from __future__ import annotations

import json
import math
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from promhub.model.labels import Labels
from promhub.storage.remote.codec import decode_write_request, decompress
from tests.conftest import free_port, http_get, wait_for

PROMETHEUS = "/usr/bin/prometheus"


class PrometheusReceiver:
    """A real ``prometheus --web.enable-remote-write-receiver`` with its own data dir."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.write_url = self.url + "/api/v1/write"
        self.dir = workdir / "prom-receiver"
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "prometheus.yml").write_text("global: {}\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.dir / "log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={self.dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-remote-write-receiver",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

        def ready() -> bool:
            try:
                return http_get(self.url + "/-/ready", timeout=1)[0] == 200
            except OSError:
                return False

        wait_for(ready, 30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.proc = None

    def samples(self, selector: str, at: float) -> dict[Labels, list[tuple[int, float]]]:
        return query_samples(self.url, selector, at)


def query_samples(base: str, selector: str, at: float) -> dict[Labels, list[tuple[int, float]]]:
    """Raw samples of ``selector`` in the hour before ``at``, via the Prometheus HTTP API."""
    q = urllib.parse.urlencode({"query": f"{selector}[1h]", "time": f"{at:.3f}"})
    status, body = http_get(f"{base}/api/v1/query?{q}", timeout=10)
    assert status == 200, body
    out: dict[Labels, list[tuple[int, float]]] = {}
    for r in json.loads(body)["data"]["result"]:
        pts = [(round(float(t) * 1000), float(v)) for t, v in r["values"]]
        out[Labels.from_dict(r["metric"])] = pts
    return out


class CaptureServer:
    """Records remote_write requests; answers each with the next status of ``statuses``
    (then 204)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        #: While set, every request is answered 503 (an outage of the remote end).
        self.down = False
        #: Seconds each answer takes (a slow or distant remote end).
        self.delay = 0.0
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        self._lock = threading.Lock()
        cap = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if cap.delay:
                    time.sleep(cap.delay)
                with cap._lock:
                    status = 503 if cap.down else cap.statuses.pop(0) if cap.statuses else 204
                    cap.requests.append((dict(self.headers.items()), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v1/write"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def accepted(self) -> list[tuple[Labels, list[tuple[int, float]]]]:
        """Every series entry of every request answered 2xx, in arrival order."""
        with self._lock:
            reqs = list(self.requests)
        out = []
        for _, body, status in reqs:
            if 200 <= status < 300:
                out.extend(decode_write_request(decompress(body)))
        return out

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def merge(entries: list[tuple[Labels, list[tuple[int, float]]]]) -> dict[Labels, list[int]]:
    """Timestamps per series (stale markers excluded), duplicates kept."""
    out: dict[Labels, list[int]] = {}
    for ls, pts in entries:
        out.setdefault(ls, []).extend(t for t, v in pts if not _stale(v))
    return out


def _stale(v: float) -> bool:
    import struct

    return math.isnan(v) and struct.pack("<d", v) == struct.pack("<Q", 0x7FF0000000000002)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[PrometheusReceiver]:
    r = PrometheusReceiver(tmp_path)
    r.start()
    yield r
    r.stop()


@pytest.fixture
def capture_factory() -> Iterator[Callable[..., CaptureServer]]:
    made: list[CaptureServer] = []

    def make(statuses: list[int] | None = None) -> CaptureServer:
        c = CaptureServer(statuses)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def write_config(path: Path, target: str, remote: dict[str, Any], extra_global: str = "") -> Path:
    """A promhub config scraping ``target`` every second and remote-writing per ``remote``."""
    path.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        + extra_global
        + "scrape_configs:\n"
        + f"  - job_name: t\n    static_configs: [{{targets: ['{target}']}}]\n"
        + "remote_write:\n  - "
        + json.dumps(remote)
        + "\n"
    )
    return path


def now() -> float:
    return time.time()
