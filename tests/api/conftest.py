"""An in-process promhub HTTP API on a loopback port, over a real TSDB holding known data.

The app is the real one (``build_app``) around a real :class:`Server` whose DB is opened
on a temporary directory and filled through the appender; it runs on its own event loop in
a thread so that real clients (urllib, promtool, prometheus-api-client) can reach it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from promhub.api.web import build_app
from promhub.config.loader import load_config_text
from promhub.model.labels import Labels
from promhub.server.options import Options
from promhub.server.server import Server
from promhub.tsdb import DB
from tests.conftest import free_port

STEP_MS = 15_000
#: Samples span the hour before "now" (aligned down to the step) at 15 s.
NOW_MS = (int(time.time() * 1000) // STEP_MS) * STEP_MS
START_MS = NOW_MS - 3_600_000


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class APIServer:
    """A running API with helpers for requests."""

    def __init__(self, server: Server, port: int, scheme: str = "http") -> None:
        self.server = server
        self.port = port
        self.url = f"{scheme}://127.0.0.1:{port}"

    def request(
        self,
        path: str,
        params: dict[str, Any] | list[tuple[str, str]] | None = None,
        *,
        method: str = "GET",
        form: bool = False,
        headers: dict[str, str] | None = None,
        context: Any = None,
    ) -> Reply:
        query = urllib.parse.urlencode(params or {}, doseq=True)
        url = self.url + path
        data = None
        hdrs = dict(headers or {})
        if form:
            data = query.encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        elif query:
            url += "?" + query
        req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=30, context=context) as r:
                return Reply(r.status, dict(r.headers), r.read())
        except urllib.error.HTTPError as e:
            return Reply(e.code, dict(e.headers), e.read())

    def get(self, path: str, params: Any = None, **kw: Any) -> Reply:
        return self.request(path, params, **kw)


def fill(db: DB) -> None:
    """Known series: counters, a gauge, a classic histogram, one series that went stale."""
    app = db.appender()
    ts = np.arange(START_MS, NOW_MS + 1, STEP_MS, dtype=np.int64)
    k = np.arange(len(ts), dtype=np.float64)
    series: list[tuple[dict[str, str], np.ndarray]] = []
    for inst in ("a:9100", "b:9100"):
        for code in ("200", "500"):
            rate = 2.0 if code == "200" else 0.5
            series.append(
                (
                    {
                        "__name__": "http_requests_total",
                        "job": "api",
                        "instance": inst,
                        "code": code,
                    },
                    k * rate * 15,
                )
            )
        series.append(({"__name__": "temperature", "job": "api", "instance": inst}, 20 + k / 10))
    for le, frac in (("0.1", 0.5), ("0.5", 0.9), ("+Inf", 1.0)):
        series.append(
            ({"__name__": "latency_seconds_bucket", "job": "api", "le": le}, k * 10 * frac)
        )
    series.append(({"__name__": "odd_values", "kind": "tiny"}, np.full(len(ts), 1.5e-7)))
    series.append(({"__name__": "odd_values", "kind": "huge"}, np.full(len(ts), 1e21)))
    series.append(({"__name__": "odd_values", "kind": "nan"}, np.full(len(ts), np.nan)))
    for labels, vals in series:
        ref = app.ref(Labels.from_dict(labels))
        app.append(np.full(len(ts), ref, dtype=np.int64), ts, vals.astype(np.float64))
    # A series that stopped 30 minutes ago.
    old = ts[ts <= NOW_MS - 1_800_000]
    ref = app.ref(Labels.from_dict({"__name__": "gone", "job": "batch"}))
    app.append(np.full(len(old), ref, dtype=np.int64), old, np.ones(len(old)))
    app.commit()


def start_api(
    tmp: Path, opts: Options | None = None, config_text: str = ""
) -> tuple[APIServer, Any]:
    opts = opts or Options()
    opts.storage_path = str(tmp / "data")
    srv = Server(opts, registry=CollectorRegistry())
    srv.db = DB.open(opts.storage_path)
    fill(srv.db)
    srv.config = load_config_text(config_text or "global:\n  external_labels:\n    region: eu\n")
    srv.ready = True
    port = free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    app = build_app(srv)
    runner = web.AppRunner(app, access_log=None)

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        from promhub.api.web import SSL_CONTEXT_KEY

        site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=app[SSL_CONTEXT_KEY])
        loop.run_until_complete(site.start())
        started.set()
        loop.run_forever()

    th = threading.Thread(target=run, daemon=True)
    th.start()
    assert started.wait(10)
    scheme = "https" if app[SSL_CONTEXT_KEY_IMPORT()] is not None else "http"
    api = APIServer(srv, port, scheme)

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        th.join(10)
        assert srv.db is not None
        srv.db.close()

    return api, stop


def SSL_CONTEXT_KEY_IMPORT() -> Any:  # noqa: N802
    from promhub.api.web import SSL_CONTEXT_KEY

    return SSL_CONTEXT_KEY


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServer]:
    a, stop = start_api(tmp_path_factory.mktemp("api"))
    yield a
    stop()
