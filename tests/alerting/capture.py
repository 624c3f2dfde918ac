"""A local HTTP server that records every request, for comparing what promhub and a
real Alertmanager send to receivers."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.conftest import free_port

AM_BIN = "/usr/bin/prometheus-alertmanager"
#: What the Bot API answers to sendMessage (Alertmanager's client needs a message back).
TELEGRAM_OK = b'{"ok":true,"result":{"message_id":1,"date":0,"chat":{"id":42,"type":"private"}}}'


@dataclass
class Captured:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class CaptureServer:
    """Records requests; ``responses`` (path prefix -> list of statuses) lets a test make
    a path fail a few times before it succeeds."""

    def __init__(self) -> None:
        self.requests: list[Captured] = []
        self.statuses: dict[str, list[int]] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                status = 200
                with outer.lock:
                    for prefix, seq in outer.statuses.items():
                        if self.path.startswith(prefix) and seq:
                            status = seq.pop(0)
                            break
                    if status == 200:
                        outer.requests.append(
                            Captured(self.command, self.path, dict(self.headers), body)
                        )
                out = TELEGRAM_OK if "/sendMessage" in self.path else b"{}"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_POST = do_PUT = _any  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout: float = 20.0) -> list[Captured]:
        """Wait until ``n`` requests arrived (and a moment more, to catch extras)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.requests) < n:
            time.sleep(0.05)
        time.sleep(0.3)
        with self.lock:
            return list(self.requests)

    def take(self) -> list[Captured]:
        with self.lock:
            out, self.requests = self.requests, []
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def alertmanager(config_text: str, tmp: str, external_url: str) -> Iterator[Callable[..., Any]]:
    """A real Alertmanager (clustering off) running ``config_text``; yields a function
    that POSTs alerts to its API v2."""
    os.makedirs(tmp, exist_ok=True)
    cfg = os.path.join(tmp, "alertmanager.yml")
    with open(cfg, "w", encoding="utf-8") as f:
        f.write(config_text)
    port = free_port()
    log = open(os.path.join(tmp, "am.log"), "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            AM_BIN, f"--config.file={cfg}", f"--storage.path={tmp}/data",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
            f"--web.external-url={external_url}",
        ],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                urllib.request.urlopen(base + "/-/ready", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    with open(os.path.join(tmp, "am.log")) as f:
                        raise RuntimeError(f.read()) from None
                time.sleep(0.1)

        def post(alerts: list[dict[str, Any]]) -> None:
            req = urllib.request.Request(
                base + "/api/v2/alerts", json.dumps(alerts).encode(),
                {"Content-Type": "application/json"},
            )  # fmt: skip
            urllib.request.urlopen(req, timeout=5).read()

        yield post
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def have_alertmanager() -> bool:
    return shutil.which(AM_BIN) is not None
