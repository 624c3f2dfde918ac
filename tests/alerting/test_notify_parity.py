"""Payload parity with the real Alertmanager: the same config and alerts go to Debian's
prometheus-alertmanager 0.25 and to promhub's dispatcher + notifier; each sends to its
own capture server, and the requests (method, path, content type, user agent, auth
header, JSON body) must be the same."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from promhub.alerting.alert import Alert
from promhub.alerting.config import load_alertmanager_config_text
from promhub.alerting.dispatch import Dispatcher, Flush
from promhub.alerting.notify import Notifier, NotifyMetrics
from tests.alerting.capture import Captured, CaptureServer, alertmanager, have_alertmanager
from tests.alerting.conftest import FakeClock

pytestmark = pytest.mark.skipif(not have_alertmanager(), reason="no prometheus-alertmanager")

EXTERNAL = "http://am.example:9093"
LONG = "x" * 5000  # makes titles and messages long enough for every truncation rule

CONFIG = """
global:
  slack_api_url: {url}/slack
route:
  receiver: all
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: all
  webhook_configs:
  - url: {url}/webhook
  - url: {url}/webhook-max
    max_alerts: 1
    http_config:
      basic_auth: {{username: u, password: p}}
  slack_configs:
  - channel: '#alerts'
    fields: [{{title: sev, value: '{{{{ .CommonLabels.severity }}}}'}}]
    actions:
    - {{type: button, text: Runbook, url: 'http://runbook/{{{{ .GroupLabels.alertname }}}}'}}
  pagerduty_configs:
  - routing_key: rk
    url: {url}/pd
    component: '{{{{ .CommonLabels.job }}}}'
    links: [{{href: 'http://x/{{{{ .GroupLabels.alertname }}}}', text: dash}}]
  discord_configs:
  - webhook_url: {url}/discord
  telegram_configs:
  - api_url: {url}/tg
    bot_token: tok
    chat_id: 42
    disable_notifications: true
  opsgenie_configs:
  - api_url: {url}/og/
    api_key: key
    tags: 'a, b,'
    priority: P2
    update_alerts: true
    responders: [{{name: team1, type: team}}, {{name: 'x,y', type: teams}}]
    details: {{extra: '{{{{ .Status }}}}'}}
"""

START = "2026-01-01T00:00:00Z"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()


def alerts(resolved: bool) -> list[dict[str, Any]]:
    """Two groups: "Down" (two alerts, one already resolved) and "Long"."""
    end = {"endsAt": "2026-01-01T00:10:00Z"} if resolved else {}
    return [
        {"labels": {"alertname": "Down", "job": "node", "instance": "a:1", "severity": "page"},
         "annotations": {"summary": "it is down", "description": "desc"},
         "startsAt": START, "generatorURL": "http://prom/graph?g0.expr=up", **end},
        {"labels": {"alertname": "Down", "job": "node", "instance": "b:1"},
         "annotations": {"summary": "it is down"},
         "startsAt": START, "endsAt": "2026-01-01T00:05:00Z"},
        {"labels": {"alertname": "Long", "job": "x", "detail": LONG},
         "annotations": {"summary": LONG}, "startsAt": START, **end},
    ]  # fmt: skip


def to_alert(d: dict[str, Any], now: float) -> Alert:
    def ts(s: str | None) -> float:
        return dt.datetime.fromisoformat(s).timestamp() if s else 0.0

    return Alert(
        labels=d["labels"], annotations=d.get("annotations", {}), starts_at=ts(d["startsAt"]),
        ends_at=ts(d.get("endsAt")), generator_url=d.get("generatorURL", ""), updated_at=now,
    )  # fmt: skip


def truncate(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def shape(reqs: list[Captured], am: bool = False) -> list[tuple[str, str, dict[str, str], Any]]:
    """Requests in a comparable form: headers a receiver acts on, parsed JSON body."""
    out = []
    for r in reqs:
        h = {k.lower(): v for k, v in r.headers.items()}
        keep = {k: h[k] for k in ("content-type", "user-agent", "authorization") if k in h}
        body = r.json()
        if am and r.path == "/discord":
            # Alertmanager 0.26+ truncates Discord embeds to Discord's limits (0.25 sent
            # them whole, and Discord refused them); promhub does as the newer ones.
            e = body["embeds"][0]
            e["title"], e["description"] = (
                truncate(e["title"], 256),
                truncate(e["description"], 4096),
            )
        out.append((r.method, r.path, keep, body))
    return sorted(out, key=lambda x: (x[1], x[0], json.dumps(x[3], sort_keys=True)))


@pytest.fixture
def servers() -> Iterator[tuple[CaptureServer, CaptureServer]]:
    am, ph = CaptureServer(), CaptureServer()
    yield am, ph
    am.close()
    ph.close()


def run_promhub(cap: CaptureServer, tmp: str) -> tuple[list[Captured], list[Captured]]:
    cfg = load_alertmanager_config_text(CONFIG.format(url=cap.url), "alertmanager.yml")
    clock = FakeClock(time.time())
    flushes: list[Flush] = []
    disp = Dispatcher(cfg, notify=flushes.append, clock=clock)
    notifier = Notifier(
        cfg, external_url=EXTERNAL, data_dir=tmp, metrics=NotifyMetrics(CollectorRegistry())
    )

    async def flush_all() -> None:
        disp.tick()
        await asyncio.gather(*(notifier.notify(f) for f in flushes))
        flushes.clear()

    async def main() -> tuple[list[Captured], list[Captured]]:
        disp.put(*(to_alert(a, clock()) for a in alerts(False)))
        await flush_all()
        firing = cap.take()
        clock.advance(2)
        disp.put(*(to_alert(a, clock()) for a in alerts(True)))
        clock.advance(2)
        await flush_all()
        resolved = cap.take()
        await notifier.close()
        return firing, resolved

    return asyncio.run(main())


# Per group: webhook x2, slack, pagerduty, discord, telegram, opsgenie create+2 updates.
FIRING_PER_GROUP = 9
# Resolved: Slack sends nothing (send_resolved defaults to false), Opsgenie one close.
RESOLVED_PER_GROUP = 6


def test_receivers_send_what_alertmanager_sends(
    servers: tuple[CaptureServer, CaptureServer], tmp_path: Any
) -> None:
    am_cap, ph_cap = servers
    with alertmanager(CONFIG.format(url=am_cap.url), str(tmp_path / "am"), EXTERNAL) as post:
        post(alerts(False))
        am_firing = am_cap.wait_for(2 * FIRING_PER_GROUP)
        am_cap.take()
        post(alerts(True))
        am_resolved = am_cap.wait_for(2 * RESOLVED_PER_GROUP)
    ph_firing, ph_resolved = run_promhub(ph_cap, str(tmp_path / "ph"))

    assert len(am_firing) == 2 * FIRING_PER_GROUP
    assert len(am_resolved) == 2 * RESOLVED_PER_GROUP
    for am, ph in ((am_firing, ph_firing), (am_resolved, ph_resolved)):
        want, got = shape(am, am=True), shape(ph)
        assert [w[:2] for w in want] == [g[:2] for g in got]
        for w, g in zip(want, got, strict=True):
            assert g == w, f"{w[0]} {w[1]}"
