"""The notification pipeline against real local receivers: retries with backoff, a
hanging receiver that delays no one else, the notification log kept across restarts,
metrics, templates errors, and Microsoft Teams' card (Debian's Alertmanager 0.25
predates Teams, so it is checked here rather than in the parity test)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from promhub.alerting.alert import Alert
from promhub.alerting.config import AlertmanagerConfig, load_alertmanager_config_text
from promhub.alerting.dispatch import Flush, Route
from promhub.alerting.notify import Backoff, Notifier, NotifyMetrics
from tests.alerting.capture import CaptureServer

NOW = 1_800_000_000.0


@pytest.fixture
def cap() -> Iterator[CaptureServer]:
    c = CaptureServer()
    yield c
    c.close()


def flush_for(cfg: AlertmanagerConfig, receiver: str, *alerts: Alert, now: float = NOW) -> Flush:
    route = Route.from_config(cfg.route)
    labels = {"alertname": alerts[0].labels["alertname"]}
    key = '{}:{alertname="' + labels["alertname"] + '"}'
    return Flush(receiver, key, labels, route, list(alerts), now)


def firing(name: str = "Down", **labels: str) -> Alert:
    return Alert({"alertname": name, **labels}, {"summary": "s"}, starts_at=NOW - 60)


def notifier(cfg: AlertmanagerConfig, **kw: Any) -> tuple[Notifier, CollectorRegistry]:
    reg = CollectorRegistry()
    n = Notifier(cfg, metrics=NotifyMetrics(reg), backoff=Backoff(initial=0.01), **kw)
    return n, reg


def sample(reg: CollectorRegistry, name: str, **labels: str) -> float:
    return reg.get_sample_value(name, labels) or 0.0


HEAD = """\
route:
  receiver: r
  group_by: [alertname]
  group_interval: 5m
  repeat_interval: 1h
receivers:
"""


def config(body: str) -> AlertmanagerConfig:
    return load_alertmanager_config_text(HEAD + body, "alertmanager.yml")


def test_server_errors_are_retried_until_delivered(cap: CaptureServer) -> None:
    cfg = config(f"- name: r\n  webhook_configs: [{{url: '{cap.url}/hook'}}]\n")
    cap.statuses["/hook"] = [500, 503]
    n, reg = notifier(cfg)

    async def main() -> None:
        await n.notify(flush_for(cfg, "r", firing()))
        await n.close()

    asyncio.run(main())
    assert [r.path for r in cap.requests] == ["/hook"]
    assert cap.requests[0].json()["alerts"][0]["labels"]["alertname"] == "Down"
    assert sample(reg, "alertmanager_notifications_total", integration="webhook") == 3
    assert sample(
        reg, "alertmanager_notifications_failed_total", integration="webhook", reason="serverError"
    ) == 2  # fmt: skip
    assert (
        sample(reg, "alertmanager_notification_latency_seconds_count", integration="webhook") == 3
    )


def test_client_errors_are_not_retried_and_not_logged(cap: CaptureServer) -> None:
    cfg = config(f"- name: r\n  webhook_configs: [{{url: '{cap.url}/hook'}}]\n")
    cap.statuses["/hook"] = [400]
    n, reg = notifier(cfg)

    async def main() -> None:
        await n.notify(flush_for(cfg, "r", firing()))
        # Not delivered, so not in the log: the next flush tries again.
        await n.notify(flush_for(cfg, "r", firing(), now=NOW + 1))
        await n.close()

    asyncio.run(main())
    assert len(cap.requests) == 1
    assert sample(
        reg, "alertmanager_notifications_failed_total", integration="webhook", reason="clientError"
    ) == 1  # fmt: skip
    assert sample(reg, "alertmanager_notifications_total", integration="webhook") == 2


def test_hanging_receiver_does_not_delay_others(cap: CaptureServer) -> None:
    # A listening socket that never answers: connections succeed, responses never come.
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(16)
    dead = f"http://127.0.0.1:{hole.getsockname()[1]}/never"
    cfg = config(
        f"- name: slow\n  webhook_configs: [{{url: '{dead}'}}]\n"
        f"- name: r\n"
        f"  webhook_configs: [{{url: '{dead}'}}, {{url: '{cap.url}/same-receiver'}}]\n"
        f"- name: fast\n  webhook_configs: [{{url: '{cap.url}/other-receiver'}}]\n"
    )
    n, _ = notifier(cfg)
    done: list[str] = []

    async def main() -> None:
        n.submit(flush_for(cfg, "slow", firing()))
        n.submit(flush_for(cfg, "r", firing()))
        fast = asyncio.create_task(n.notify(flush_for(cfg, "fast", firing())))
        fast.add_done_callback(lambda _: done.append("fast"))
        deadline = time.monotonic() + 10
        while len(cap.requests) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        # Both good webhooks were served while the dead ones still hang.
        assert sum(not t.done() for t in n._tasks) == 2
        await n.close()

    try:
        asyncio.run(main())
    finally:
        hole.close()
    assert sorted(r.path for r in cap.requests) == ["/other-receiver", "/same-receiver"]
    assert done == ["fast"]


def test_notification_log_survives_restart(cap: CaptureServer, tmp_path: Any) -> None:
    cfg = config(f"- name: r\n  webhook_configs: [{{url: '{cap.url}/hook'}}]\n")

    async def run(now: float, *alerts: Alert) -> int:
        n, _ = notifier(cfg, data_dir=str(tmp_path))
        before = len(cap.requests)
        await n.notify(flush_for(cfg, "r", *alerts, now=now))
        await n.close()
        return len(cap.requests) - before

    a = firing(instance="a")
    assert asyncio.run(run(NOW, a)) == 1
    assert (tmp_path / "nflog.json").exists()
    # A new process within repeat_interval: already told, nothing is sent.
    assert asyncio.run(run(NOW + 60, a)) == 0
    # A new alert in the group is news.
    b = firing(instance="b")
    assert asyncio.run(run(NOW + 120, a, b)) == 1
    # After repeat_interval (1h) the group is repeated.
    assert asyncio.run(run(NOW + 120 + 3601, a, b)) == 1


def test_send_resolved_false_sends_nothing_for_resolved(cap: CaptureServer) -> None:
    cfg = config(
        f"- name: r\n  webhook_configs:\n  - url: '{cap.url}/hook'\n    send_resolved: false\n"
    )
    n, _ = notifier(cfg)
    done = firing(instance="b")
    done.ends_at = NOW - 1

    async def main() -> None:
        await n.notify(flush_for(cfg, "r", firing(instance="a"), done))
        await n.notify(flush_for(cfg, "r", done, now=NOW + 10))
        await n.close()

    asyncio.run(main())
    # The only request carried just the firing alert; the all-resolved flush sent nothing.
    assert len(cap.requests) == 1
    body = cap.requests[0].json()
    assert [a["labels"]["instance"] for a in body["alerts"]] == ["a"]
    assert body["status"] == "firing"


def test_template_error_fails_that_integration_only(cap: CaptureServer) -> None:
    cfg = config(
        f"- name: r\n"
        f"  slack_configs: [{{api_url: '{cap.url}/slack', title: '{{{{ .Nope.Deeper }}}}'}}]\n"
        f"  webhook_configs: [{{url: '{cap.url}/hook'}}]\n"
    )
    n, reg = notifier(cfg)

    async def main() -> None:
        await n.notify(flush_for(cfg, "r", firing()))
        await n.close()

    asyncio.run(main())
    assert [r.path for r in cap.requests] == ["/hook"]
    assert (
        sample(reg, "alertmanager_notifications_failed_total", integration="slack", reason="other")
        == 1
    )
    assert sample(reg, "alertmanager_notifications_total", integration="slack") == 1


def test_msteams_message_card(cap: CaptureServer) -> None:
    cfg = config(f"- name: r\n  msteams_configs: [{{webhook_url: '{cap.url}/teams'}}]\n")
    n, _ = notifier(cfg, external_url="http://am.example/")
    done = firing(instance="b")
    done.ends_at = NOW - 1

    async def main() -> None:
        await n.notify(flush_for(cfg, "r", firing(instance="a")))
        await n.notify(flush_for(cfg, "r", done, now=NOW + 10))
        await n.close()

    asyncio.run(main())
    fire, res = (r.json() for r in cap.requests)
    assert cap.requests[0].headers["Content-Type"] == "application/json"
    assert fire["@context"] == "http://schema.org/extensions"
    assert fire["type"] == "MessageCard"
    assert fire["title"].startswith("[FIRING:1] Down")
    assert fire["themeColor"] == "8C1A1A"
    assert "instance = a" in fire["text"]
    assert res["title"].startswith("[RESOLVED] Down")
    assert res["themeColor"] == "2DC72D"


def test_metrics_exist_for_every_integration_from_start() -> None:
    reg = CollectorRegistry()
    NotifyMetrics(reg)
    for integ in ("webhook", "slack", "email", "pagerduty", "msteams", "discord", "telegram",
                  "opsgenie"):  # fmt: skip
        for name in ("alertmanager_notifications_total",
                     "alertmanager_notification_requests_total",
                     "alertmanager_notification_requests_failed_total"):  # fmt: skip
            assert reg.get_sample_value(name, {"integration": integ}) == 0.0


def test_reload_switches_receivers_and_templates(cap: CaptureServer, tmp_path: Any) -> None:
    cfg = config(f"- name: r\n  webhook_configs: [{{url: '{cap.url}/old'}}]\n")
    tmpl = tmp_path / "my.tmpl"
    tmpl.write_text('{{ define "teams.title" }}custom {{ .GroupLabels.alertname }}{{ end }}')
    new = config(
        f"- name: r\n  msteams_configs:\n  - webhook_url: '{cap.url}/new'\n"
        "    title: '{{ template \"teams.title\" . }}'\n"
        f"templates: ['{tmpl}']\n"
    )
    n, _ = notifier(cfg)

    async def main() -> None:
        await n.notify(flush_for(cfg, "r", firing()))
        n.apply_config(new)
        await n.notify(flush_for(new, "r", firing(), now=NOW + 1))
        await n.close()

    asyncio.run(main())
    assert [r.path for r in cap.requests] == ["/old", "/new"]
    assert cap.requests[1].json()["title"] == "custom Down"


def test_urls_and_keys_from_files_are_read_at_send_time(cap: CaptureServer, tmp_path: Any) -> None:
    url_file, key_file = tmp_path / "url", tmp_path / "key"
    url_file.write_text(f"{cap.url}/from-file-1\n")
    key_file.write_text("k1\n")
    cfg = config(
        f"- name: r\n  webhook_configs: [{{url_file: '{url_file}'}}]\n"
        f"  opsgenie_configs: [{{api_url: '{cap.url}/og/', api_key_file: '{key_file}'}}]\n"
    )
    n, _ = notifier(cfg)

    async def main() -> None:
        await n.notify(flush_for(cfg, "r", firing()))
        # Rotated secrets are picked up without a reload.
        url_file.write_text(f"{cap.url}/from-file-2")
        key_file.write_text("k2")
        await n.notify(flush_for(cfg, "r", firing(), firing(instance="new"), now=NOW + 1))
        await n.close()

    asyncio.run(main())
    hooks = [r.path for r in cap.requests if r.path.startswith("/from-file")]
    keys = [r.headers["Authorization"] for r in cap.requests if r.path.startswith("/og/")]
    assert hooks == ["/from-file-1", "/from-file-2"]
    assert keys == ["GenieKey k1", "GenieKey k2"]
