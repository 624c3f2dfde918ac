"""The AlertManager service in process: its run loop flushes groups to the notify seam
(an async callable recording flushes), rule alerts are converted with Prometheus'
semantics, resolved alerts are garbage-collected and the history is bounded."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from promhub.alerting.alert import Alert
from promhub.alerting.config import load_alertmanager_config_text
from promhub.alerting.dispatch import Flush
from promhub.alerting.history import History
from promhub.alerting.manager import AlertManager
from promhub.model.labels import Labels
from promhub.rules.rule import Alert as RuleAlert

AM = textwrap.dedent(
    """\
    route:
      receiver: default
      group_by: [alertname]
      group_wait: 0s
      group_interval: 1h
    receivers:
      - name: default
    """
)


@pytest.mark.asyncio
async def test_rule_alert_flushed_to_notify(tmp_path: Path) -> None:
    flushes: list[Flush] = []
    got = asyncio.Event()

    async def record(f: Flush) -> None:
        flushes.append(f)
        got.set()

    am = AlertManager(str(tmp_path), CollectorRegistry(), record, "http://ph:9090")
    am.set_config(load_alertmanager_config_text(AM, "alertmanager.yml"))
    task = asyncio.create_task(am.run())
    await asyncio.sleep(0)  # the loop registers itself
    hook = am.rule_notify(lambda: {"site": "lab", "alertname": "ignored"})
    ra = RuleAlert(
        labels=Labels.from_dict({"alertname": "High", "job": "api"}),
        annotations={"summary": "hot"}, value=1.0, state="firing",
        active_at_ms=1_000, fired_at_ms=2_000_000_000_000, valid_until_ms=4_000_000_000_000,
    )  # fmt: skip
    # The rules engine calls the hook from its evaluation thread.
    await asyncio.to_thread(hook, "rate(x[5m]) > 1", [ra])
    await asyncio.wait_for(got.wait(), 5)
    await am.stop()
    await task
    (f,) = flushes
    assert f.receiver == "default" and f.group_labels == {"alertname": "High"}
    (a,) = f.alerts
    # Rule labels win over external labels; start = fired at, end = valid until.
    assert a.labels == {"alertname": "High", "job": "api", "site": "lab"}
    assert a.starts_at == 2_000_000_000.0
    assert a.generator_url == "http://ph:9090/graph?g0.expr=rate%28x%5B5m%5D%29+%3E+1&g0.tab=1"


@pytest.mark.asyncio
async def test_resolved_alerts_collected_after_resolve_timeout(tmp_path: Path) -> None:
    now = [1_700_000_000.0]
    am = AlertManager(None, None, clock=lambda: now[0])
    am.set_config(load_alertmanager_config_text(AM, "alertmanager.yml"))
    am.put_alerts([Alert({"alertname": "A"}, ends_at=now[0] + 10)])
    assert len(am.alerts) == 1
    now[0] += 20  # resolved, but kept for resolve_timeout (5m)
    am.housekeeping()
    assert len(am.alerts) == 1 and list(am.live_alerts()) == []
    now[0] += 300
    am.housekeeping()
    assert am.alerts == {}
    kinds = [e["kind"] for e in am.history.events]
    assert kinds == ["active", "resolved"]


def test_history_bounded_and_compacted(tmp_path: Path) -> None:
    h = History(str(tmp_path), max_events=10)
    for i in range(35):
        h.add({"time": float(i), "kind": "active", "labels": {"n": str(i)}})
    assert [e["time"] for e in h.events] == [float(i) for i in range(25, 35)]
    lines = (tmp_path / "history.jsonl").read_text().splitlines()
    assert len(lines) <= 20  # compacted whenever it passes twice the bound
    again = History(str(tmp_path), max_events=10)
    assert [e["time"] for e in again.events] == [float(i) for i in range(25, 35)]
    assert [e["time"] for e in again.query(30, 31)] == [30.0, 31.0]
