"""The notifier in-process against loopback capture servers: payload shape, batching,
queue overflow, per-set relabeling, auth, slow Alertmanagers, config errors."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from promhub.config.loader import load_config, load_config_text
from promhub.config.model import ConfigError
from promhub.model.labels import Labels
from promhub.rules.notifier import Notifier, PostableAlert, generator_url
from tests.rules.capture import CaptureServer


def _alert(name: str, **labels: str) -> PostableAlert:
    return PostableAlert(
        Labels.from_dict({"alertname": name, **labels}),
        {"summary": f"{name} fired"},
        starts_at_ms=1_700_000_000_123,
        ends_at_ms=1_700_000_240_000,
        generator_url="http://prom:9090/graph?g0.expr=up&g0.tab=1",
    )


async def _deliver(n: Notifier, alerts: list[PostableAlert], done: object) -> None:
    task = asyncio.create_task(n.run())
    await asyncio.sleep(0.05)  # static discovery reports on the first loop turn
    n.send(alerts)
    deadline = time.monotonic() + 10
    while not done() and time.monotonic() < deadline:  # type: ignore[operator]
        await asyncio.sleep(0.02)
    await n.stop()
    await task


def test_payload_batches_and_per_set_relabeling() -> None:
    a, b = CaptureServer(), CaptureServer()
    try:
        cfg = load_config_text(f"""
global: {{external_labels: {{cluster: eu1, svc: default}}}}
alerting:
  alertmanagers:
    - static_configs: [{{targets: ['{a.address}']}}]
      path_prefix: /am/
      basic_auth: {{username: prom, password: secret}}
    - static_configs: [{{targets: ['{b.address}']}}]
      alert_relabel_configs:
        - {{source_labels: [severity], regex: critical, action: keep}}
""")
        n = Notifier(CollectorRegistry(), batch_size=2)
        n.apply_config(cfg)
        alerts = [_alert(f"A{i}", severity="critical" if i == 0 else "warning") for i in range(5)]
        alerts[1] = _alert("A1", svc="mine")
        asyncio.run(_deliver(n, alerts, lambda: len(a.requests) >= 3))

        # Batches of at most 2, in order, to path_prefix + /api/v2/alerts, with auth.
        assert [len(body) for _, _, body in a.requests] == [2, 2, 1]
        path, headers, first = a.requests[0]
        assert path == "/am/api/v2/alerts"
        assert headers["Content-Type"] == "application/json"
        assert headers["Authorization"] == "Basic " + base64.b64encode(b"prom:secret").decode()
        assert first[0] == {
            "annotations": {"summary": "A0 fired"},
            "endsAt": "2023-11-14T22:17:20.000Z",
            "startsAt": "2023-11-14T22:13:20.123Z",
            "generatorURL": "http://prom:9090/graph?g0.expr=up&g0.tab=1",
            "labels": {"alertname": "A0", "cluster": "eu1", "severity": "critical",
                       "svc": "default"},
        }  # fmt: skip
        # An alert's own label wins over the external label of the same name.
        assert first[1]["labels"]["svc"] == "mine"
        # The second set only gets what its alert_relabel_configs keep.
        names = [x["labels"]["alertname"] for _, _, body in b.requests for x in body]
        assert names == ["A0"]
    finally:
        a.close()
        b.close()


def test_full_queue_drops_oldest() -> None:
    reg = CollectorRegistry()
    n = Notifier(reg, queue_capacity=3)
    n.send([_alert(f"A{i}") for i in range(2)])
    n.send([_alert(f"B{i}") for i in range(3)])
    assert n.queue_length() == 3
    assert reg.get_sample_value("prometheus_notifications_dropped_total") == 2
    assert reg.get_sample_value("prometheus_notifications_queue_length") == 3
    assert reg.get_sample_value("prometheus_notifications_queue_capacity") == 3
    batch = n._next_batch()
    assert [x.labels.get("alertname") for x in batch] == ["B0", "B1", "B2"]


def test_hanging_alertmanager_times_out_and_others_still_receive() -> None:
    good = CaptureServer()
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(8)  # accepts connections, never answers
    hang_addr = f"127.0.0.1:{hang.getsockname()[1]}"
    try:
        cfg = load_config_text(f"""
alerting:
  alertmanagers:
    - static_configs: [{{targets: ['{hang_addr}']}}]
      timeout: 500ms
    - static_configs: [{{targets: ['{good.address}']}}]
""")
        reg = CollectorRegistry()
        n = Notifier(reg)
        n.apply_config(cfg)
        t0 = time.monotonic()
        asyncio.run(_deliver(n, [_alert("X")], lambda: good.requests))
        assert time.monotonic() - t0 < 5
        assert len(good.requests) == 1
        bad_url = f"http://{hang_addr}/api/v2/alerts"
        assert reg.get_sample_value(
            "prometheus_notifications_errors_total", {"alertmanager": bad_url}
        ) == 1  # fmt: skip
        # One set was covered, the other was not: the batch counts as dropped.
        assert reg.get_sample_value("prometheus_notifications_dropped_total") == 1
    finally:
        hang.close()
        good.close()


def test_generator_url_escapes_as_go() -> None:
    assert generator_url("http://h:9090/", 'rate(x{a="b c"}[5m]) > 0.5') == (
        "http://h:9090/graph?g0.expr=rate%28x%7Ba%3D%22b+c%22%7D%5B5m%5D%29+%3E+0.5&g0.tab=1"
    )


@pytest.mark.parametrize(
    ("text", "where", "msg"),
    [
        ("alerting:\n  alertmanagers:\n    - api_version: v1\n",
         "alerting.alertmanagers[0].api_version", "alertmanager api v1 is no longer supported"),
        ("alerting:\n  alertmanagers:\n    - api_version: v3\n",
         "alerting.alertmanagers[0].api_version", "one of [v2] but got v3"),
        ("alerting:\n  alertmanagers:\n    - scheme: ftp\n",
         "alerting.alertmanagers[0].scheme", 'invalid scheme "ftp"'),
        ("alerting:\n  alertmanagers:\n    - static_configs: [{targets: ['http://am/']}]\n",
         "alerting.alertmanagers[0].static_configs[0].targets", "is not a valid hostname"),
        ("alerting:\n  alertmanagers:\n    - timeout: soon\n",
         "alerting.alertmanagers[0].timeout", "not a valid duration"),
        ("alerting:\n  alert_relabel_configs:\n    - action: explode\n",
         "alerting.alert_relabel_configs[0].action", "unknown relabel action"),
        ("alerting:\n  alertmanagers:\n    - targets: [a]\n",
         "alerting.alertmanagers[0].targets", "not found"),
    ],
)  # fmt: skip
def test_bad_alerting_config_names_file_line_field(text: str, where: str, msg: str) -> None:
    with pytest.raises(ConfigError) as ei:
        load_config_text(text, "prom.yml")
    assert ei.value.file == "prom.yml" and ei.value.line >= 2
    assert ei.value.field == where
    assert msg in str(ei.value)


def test_file_sd_alertmanagers_and_reload(tmp_path: Path) -> None:
    a, b = CaptureServer(), CaptureServer()
    targets = tmp_path / "ams.json"
    targets.write_text(json.dumps([{"targets": [a.address], "labels": {"dc": "x"}}]))
    text = f"""
alerting:
  alertmanagers:
    - file_sd_configs: [{{files: ['{targets}']}}]
      relabel_configs:
        - {{source_labels: [dc], regex: y, action: drop}}
"""
    cfg_file = tmp_path / "prom.yml"
    cfg_file.write_text(text)

    async def scenario(n: Notifier) -> None:
        task = asyncio.create_task(n.run())
        await _until(lambda: n.alertmanagers())
        assert n.alertmanagers() == [f"http://{a.address}/api/v2/alerts"]
        # A changed file is picked up; relabeling drops the "dc: y" group.
        targets.write_text(json.dumps([
            {"targets": [b.address], "labels": {"dc": "x"}},
            {"targets": [a.address], "labels": {"dc": "y"}},
        ]))  # fmt: skip
        await _until(lambda: n.alertmanagers() == [f"http://{b.address}/api/v2/alerts"])
        assert n.dropped_alertmanagers() == [f"http://{a.address}/api/v2/alerts"]
        # Reloading the same config keeps the discovered Alertmanagers at once.
        n.apply_config(load_config(str(cfg_file)))
        assert n.alertmanagers() == [f"http://{b.address}/api/v2/alerts"]
        n.send([_alert("R")])
        await _until(lambda: b.requests)
        # A config without alertmanagers sends nowhere (and drops nothing).
        n.apply_config(load_config_text(""))
        assert n.alertmanagers() == []
        await n.stop()
        await task

    try:
        n = Notifier(CollectorRegistry(), file_poll_interval=0.05)
        n.apply_config(load_config(str(cfg_file)))
        asyncio.run(scenario(n))
        assert [x["labels"]["alertname"] for _, _, body in b.requests for x in body] == ["R"]
        assert not a.requests
    finally:
        a.close()
        b.close()


async def _until(pred: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.02)
