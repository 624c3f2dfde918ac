"""The notification pipeline: from a dispatcher :class:`Flush` to every integration of
its receiver, as Alertmanager's stages do it.

For each integration, concurrently: dedup against the notification log (notify on a
change or after ``repeat_interval``), drop resolved alerts unless ``send_resolved``,
render and send, retry with exponential backoff until the group's next flush is due
(``group_interval``, at least 10 s: Alertmanager's RetryStage), then record success
in the log, which is saved to ``<data dir>/nflog.json``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from promhub.alerting.config import AlertmanagerConfig
from promhub.alerting.dispatch import Flush, NotifyLog
from promhub.alerting.notify.discord import DiscordNotifier
from promhub.alerting.notify.email import EmailNotifier
from promhub.alerting.notify.integration import Integration, Notification, NotifyError
from promhub.alerting.notify.msteams import MSTeamsNotifier
from promhub.alerting.notify.nflog import PersistentNotifyLog
from promhub.alerting.notify.opsgenie import OpsGenieNotifier
from promhub.alerting.notify.pagerduty import PagerDutyNotifier
from promhub.alerting.notify.slack import SlackNotifier
from promhub.alerting.notify.telegram import TelegramNotifier
from promhub.alerting.notify.webhook import WebhookNotifier
from promhub.alerting.receiver import Receiver
from promhub.rules.template import Template
from promhub.rules.template_data import notification_template

__all__ = ["Backoff", "NotifyMetrics", "Notifier", "build_integrations"]

log = logging.getLogger(__name__)

#: Receiver config list -> notifier class, in Alertmanager's integration order.
NOTIFIERS: dict[str, type[Integration]] = {
    "email_configs": EmailNotifier,
    "pagerduty_configs": PagerDutyNotifier,
    "opsgenie_configs": OpsGenieNotifier,
    "webhook_configs": WebhookNotifier,
    "slack_configs": SlackNotifier,
    "telegram_configs": TelegramNotifier,
    "discord_configs": DiscordNotifier,
    "msteams_configs": MSTeamsNotifier,
}
#: Alertmanager gives a notification at least this long, whatever group_interval says.
MIN_TIMEOUT = 10.0
NFLOG_FILE = "nflog.json"
#: Records are batched into one write at most this often.
SAVE_DELAY = 1.0


class NotifyMetrics:
    """Alertmanager's notification metrics, registered once per registry."""

    def __init__(self, registry: CollectorRegistry | None = REGISTRY) -> None:
        kw: dict[str, Any] = {"registry": registry}
        self.total = Counter(
            "alertmanager_notifications", "The total number of attempted notifications.",
            ["integration"], **kw,
        )  # fmt: skip
        self.failed = Counter(
            "alertmanager_notifications_failed", "The total number of failed notifications.",
            ["integration", "reason"], **kw,
        )  # fmt: skip
        self.requests = Counter(
            "alertmanager_notification_requests",
            "The total number of attempted notification requests.", ["integration"], **kw,
        )  # fmt: skip
        self.requests_failed = Counter(
            "alertmanager_notification_requests_failed",
            "The total number of failed notification requests.", ["integration"], **kw,
        )  # fmt: skip
        self.latency = Histogram(
            "alertmanager_notification_latency_seconds",
            "The latency of notifications in seconds.", ["integration"],
            buckets=(1, 5, 10, 15, 20), **kw,
        )  # fmt: skip
        # Alertmanager exports every integration's series from the start, at zero.
        for cls in NOTIFIERS.values():
            for m in (self.total, self.requests, self.requests_failed, self.latency):
                m.labels(cls.name)


@functools.cache
def default_metrics() -> NotifyMetrics:
    """The metrics on the default registry, shared by every Notifier of the process
    (prometheus_client refuses to register the same names twice)."""
    return NotifyMetrics()


class Backoff:
    """Exponential backoff with jitter (cenkalti/backoff's defaults, as Alertmanager):
    0.5 s initial, x1.5 each time, ±50 % randomization, at most 60 s."""

    def __init__(
        self, initial: float = 0.5, multiplier: float = 1.5, jitter: float = 0.5, cap: float = 60.0
    ) -> None:
        self.initial, self.multiplier, self.jitter, self.cap = initial, multiplier, jitter, cap

    def delays(self) -> Any:
        """An endless iterator of waits."""
        d = self.initial
        while True:
            yield d * (1 + self.jitter * (2 * random.random() - 1))
            d = min(d * self.multiplier, self.cap)


def build_integrations(receiver: Receiver) -> list[Integration]:
    """The notifiers of one receiver, indexed per kind as Alertmanager names them."""
    out: list[Integration] = []
    for key, cls in NOTIFIERS.items():
        for i, conf in enumerate(getattr(receiver, key)):
            out.append(cls(conf, i, receiver.name))
    return out


class Notifier:
    """Sends the flushes of a :class:`~promhub.alerting.dispatch.Dispatcher`.

    >>> n = Notifier(cfg, external_url="http://am:9093", data_dir="data")  # doctest: +SKIP
    >>> dispatcher = Dispatcher(cfg, notify=n.submit)                      # doctest: +SKIP
    >>> await n.notify(flush)  # or await it directly                     # doctest: +SKIP
    """

    def __init__(
        self,
        config: AlertmanagerConfig,
        *,
        external_url: str = "",
        data_dir: str | None = None,
        metrics: NotifyMetrics | None = None,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.external_url = external_url.rstrip("/")
        self.metrics = metrics or default_metrics()
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.log: NotifyLog = (
            PersistentNotifyLog(os.path.join(data_dir, NFLOG_FILE)) if data_dir else NotifyLog()
        )
        self.integrations: dict[str, list[Integration]] = {}
        self.template: Template = notification_template()
        self._tasks: set[asyncio.Task[None]] = set()
        self._save_handle: asyncio.TimerHandle | None = None
        self._retired: list[Integration] = []
        self.apply_config(config)

    def apply_config(self, config: AlertmanagerConfig) -> None:
        """Use a new config's receivers and templates (raises
        :class:`~promhub.rules.template.TemplateError` for a bad template file, before
        anything changes). Notifications in flight finish with the old integrations."""
        tmpl = notification_template(config.templates)
        self.template = tmpl
        # Receiver fields parsed once per config, shared by every notification.
        self._fields: dict[str, Template] = {}
        old = [i for ints in self.integrations.values() for i in ints]
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._retired.extend(old)
        else:
            # Close the old sessions once the notifications using them are done.
            task = loop.create_task(self._retire(old, list(self._tasks)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self.integrations = {name: build_integrations(r) for name, r in config.receivers.items()}

    async def _retire(self, old: list[Integration], busy: list[asyncio.Task[None]]) -> None:
        try:
            if busy:
                await asyncio.gather(*busy, return_exceptions=True)
        finally:
            for i in old:
                await i.close()

    def submit(self, flush: Flush) -> None:
        """Start notifying ``flush`` in the background (the Dispatcher's callback):
        never waits, so one slow receiver cannot hold up another group or receiver."""
        task = asyncio.get_running_loop().create_task(self.notify(flush))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def notify(self, flush: Flush) -> None:
        """Notify every integration of the flush's receiver concurrently; returns when
        each has succeeded or given up (failures are logged and counted, not raised)."""
        ints = self.integrations.get(flush.receiver, [])
        await asyncio.gather(*(self._notify_one(i, flush) for i in ints))

    async def _notify_one(self, integ: Integration, flush: Flush) -> None:
        if not self.log.needs_update(integ.key, flush, integ.send_resolved):
            return
        alerts = flush.alerts if integ.send_resolved else flush.firing
        if alerts:
            n = Notification(
                receiver=flush.receiver, group_key=flush.group_key,
                group_labels=flush.group_labels, alerts=alerts, now=flush.now,
                external_url=self.external_url, template=self.template, _cache=self._fields,
            )  # fmt: skip
            deadline = flush.now + max(flush.route.group_interval, MIN_TIMEOUT)
            if not await self._retry(integ, n, deadline):
                return
        # A receiver that does not want resolved alerts is "told" of them by silence,
        # so the next dedup knows it (Alertmanager logs them the same way).
        self.log.record(integ.key, flush)
        self._save_soon()

    async def _retry(self, integ: Integration, n: Notification, deadline: float) -> bool:
        m = self.metrics
        delays = self.backoff.delays()
        attempt = 0
        while True:
            attempt += 1
            start = time.monotonic()
            m.total.labels(integ.name).inc()
            m.requests.labels(integ.name).inc()
            try:
                await asyncio.wait_for(integ.notify(n), max(0.1, deadline - self.clock()))
            except Exception as e:  # noqa: BLE001 - a notifier bug must not stop the others
                if isinstance(e, NotifyError):
                    err = e
                elif isinstance(e, TimeoutError):
                    err = NotifyError(
                        "deadline exceeded", retry=False, reason="contextDeadlineExceeded"
                    )
                else:
                    log.exception("notifier %s crashed", integ.key)
                    err = NotifyError(f"{type(e).__name__}: {e}", retry=False)
                m.latency.labels(integ.name).observe(time.monotonic() - start)
                m.failed.labels(integ.name, err.reason).inc()
                m.requests_failed.labels(integ.name).inc()
                wait = next(delays)
                if not err.retry or self.clock() + wait >= deadline:
                    log.error(
                        "notify %s for group %s failed after %d attempts%s: %s",
                        integ.key, n.group_key, attempt,
                        "" if err.retry else " (not retryable)", err,
                    )  # fmt: skip
                    return False
                log.warning("notify %s attempt %d failed, retrying: %s", integ.key, attempt, err)
                await asyncio.sleep(wait)
                continue
            m.latency.labels(integ.name).observe(time.monotonic() - start)
            return True

    def _save_soon(self) -> None:
        if not isinstance(self.log, PersistentNotifyLog) or self._save_handle is not None:
            return
        loop = asyncio.get_running_loop()
        self._save_handle = loop.call_later(SAVE_DELAY, self._save)

    def _save(self) -> None:
        self._save_handle = None
        if isinstance(self.log, PersistentNotifyLog):
            try:
                self.log.save(self.clock())
            except OSError as e:
                log.error("cannot save notification log %s: %s", self.log.path, e)

    async def close(self) -> None:
        """Cancel notifications in flight (they are not logged, so a restarted promhub
        sends them again), save the log, close HTTP sessions."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._save_handle is not None:
            self._save_handle.cancel()
        self._save_handle = None
        self._save()
        for i in [*self._retired, *(i for ints in self.integrations.values() for i in ints)]:
            await i.close()
        self._retired.clear()
