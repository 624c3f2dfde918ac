"""The Alert model against a real Alertmanager: fingerprints and group keys must be
the ones Debian's ``prometheus-alertmanager`` computes."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from promhub.alerting.alert import Alert, fingerprint, format_labelset, from_client
from promhub.alerting.dispatch import Dispatcher, Flush
from tests.alerting.conftest import FakeClock, am_config
from tests.conftest import free_port

AM = shutil.which("prometheus-alertmanager")

LABELS = [
    {"alertname": "HighCpuUsage", "severity": "critical", "instance": "web-1:9100"},
    {"alertname": "Quotes", "msg": 'say "hi"\n', "city": "Zürich"},
    {"alertname": "Single"},
]


def test_fingerprint_of_the_empty_set_is_fnv_offset() -> None:
    assert fingerprint({}) == 0xCBF29CE484222325


def test_labelset_string_is_sorted_and_quoted() -> None:
    assert format_labelset({"b": "2", "a": 'x"y'}) == '{a="x\\"y", b="2"}'


def test_resolved_and_merge() -> None:
    a = Alert({"a": "1"}, starts_at=100, ends_at=200, updated_at=100)
    assert not a.resolved(199) and a.resolved(200)
    assert not Alert({"a": "1"}).resolved(1e12)  # no end known yet
    later = Alert({"a": "1"}, starts_at=150, ends_at=400, updated_at=150)
    m = a.merge(later, now=160)
    assert (m.starts_at, m.ends_at) == (100, 400)
    # A resolve-timeout end does not override a later explicit one.
    explicit = Alert({"a": "1"}, starts_at=100, ends_at=900, updated_at=100)
    refresh = from_client(Alert({"a": "1"}, starts_at=100), now=200, resolve_timeout=300)
    assert (refresh.ends_at, refresh.timeout) == (500, True)
    assert explicit.merge(refresh, now=200).ends_at == 900
    assert refresh.merge(explicit, now=200).ends_at == 900


class _Capture(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802
        n = int(self.headers["Content-Length"])
        _Capture.bodies.append(json.loads(self.rfile.read(n)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def alertmanager(tmp_path: Any) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    if AM is None:
        pytest.skip("prometheus-alertmanager not installed")
    hook = HTTPServer(("127.0.0.1", 0), _Capture)
    _Capture.bodies = []
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    cfg = tmp_path / "am.yml"
    cfg.write_text(
        "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 0s\n"
        "  routes:\n    - matchers: ['severity=\"critical\"']\n      receiver: hook\n"
        "receivers:\n  - name: hook\n"
        f"    webhook_configs: [{{url: 'http://127.0.0.1:{hook.server_port}/'}}]\n"
    )
    port = free_port()
    proc = subprocess.Popen(
        [AM, f"--config.file={cfg}", f"--storage.path={tmp_path}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/-/ready", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        yield url, _Capture.bodies
    finally:
        proc.terminate()
        proc.wait(10)
        hook.shutdown()


def test_fingerprints_and_group_keys_match_alertmanager(
    alertmanager: tuple[str, list[dict[str, Any]]],
) -> None:
    url, hooks = alertmanager
    body = json.dumps([{"labels": ls} for ls in LABELS]).encode()
    req = urllib.request.Request(url + "/api/v2/alerts", body, {"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5)
    with urllib.request.urlopen(url + "/api/v2/alerts", timeout=5) as r:
        theirs = {json.dumps(a["labels"], sort_keys=True): a["fingerprint"] for a in json.load(r)}
    ours = {json.dumps(ls, sort_keys=True): f"{fingerprint(ls):016x}" for ls in LABELS}
    assert ours == theirs
    # The same routing in promhub yields the group keys Alertmanager sends its webhooks.
    deadline = time.monotonic() + 15
    while len(hooks) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    flushes: list[Flush] = []
    clock = FakeClock()
    cfg = am_config(
        """
        route:
          receiver: hook
          group_by: [alertname]
          group_wait: 0s
          routes: [{matchers: ['severity="critical"'], receiver: hook}]
        """,
        ("hook",),
    )
    d = Dispatcher(cfg, flushes.append, clock=clock)
    d.put(*(Alert(ls, starts_at=clock() - 1, ends_at=clock() + 300) for ls in LABELS))
    d.tick()
    assert sorted(f.group_key for f in flushes) == sorted(h["groupKey"] for h in hooks)
