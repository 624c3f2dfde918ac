"""The built-in alert manager service: Alertmanager inside promhub's process.

:class:`AlertManager` owns the alert store (alerts by fingerprint, merged as
Alertmanager's provider merges them), the :class:`~promhub.alerting.dispatch.Dispatcher`,
the :class:`~promhub.alerting.inhibit.Inhibitor`, the persisted
:class:`~promhub.alerting.silence.Silences` and the :class:`~promhub.alerting.history.History`.
Alerts come from the API v2 (``POST /api/v2/alerts``, e.g. a real Prometheus) and from
promhub's own rules (:meth:`AlertManager.rule_notify`, converted with Prometheus'
semantics). Flushes go to ``notify`` — an ``async`` callable taking a
:class:`~promhub.alerting.dispatch.Flush` (the notifiers' seam).

Everything runs on the event loop; the rules engine evaluates in a worker thread, so its
hook hands the converted alerts to the loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from promhub.alerting.alert import Alert, from_client
from promhub.alerting.config import (
    AlertmanagerConfig,
    load_alertmanager_config,
    load_alertmanager_config_text,
)
from promhub.alerting.dispatch import Dispatcher, Flush
from promhub.alerting.history import History
from promhub.alerting.inhibit import Inhibitor
from promhub.alerting.notify.pipeline import Notifier, NotifyMetrics
from promhub.alerting.silence import Silences
from promhub.config.model import Config, ConfigError
from promhub.rules.template import TemplateError

if TYPE_CHECKING:
    from promhub.rules.group import NotifyFunc
    from promhub.rules.rule import Alert as RuleAlert

__all__ = ["AlertManager", "AlertStatus", "NotifyFn", "alertmanager_source", "fanout_notify"]

log = logging.getLogger("promhub.alerting")

#: The notifiers' seam: deliver one flush (errors are logged, retries are the notifier's).
NotifyFn = Callable[[Flush], Awaitable[None]]

#: The longest the run loop sleeps: housekeeping (GC, history of silence changes) runs
#: at least this often.
HOUSEKEEPING_INTERVAL = 1.0


async def _log_flush(flush: Flush) -> None:
    log.info(
        "notify receiver=%s group=%s firing=%d resolved=%d",
        flush.receiver, flush.group_key, len(flush.firing), len(flush.resolved),
    )  # fmt: skip


def alertmanager_source(cfg: Config) -> tuple[str, Any]:
    """``(file, inline mapping)`` the Prometheus config names for the built-in alert
    manager (``("", None)`` if neither). Reads the typed ``alerting`` section or the raw
    mapping; a relative file is relative to the Prometheus config file."""
    a: Any = cfg.alerting
    if isinstance(a, Mapping):
        path, inline = a.get("alertmanager_config_file") or "", a.get("alertmanager_config")
    else:
        path = getattr(a, "alertmanager_config_file", "") or ""
        inline = getattr(a, "alertmanager_config", None)
    if path and not os.path.isabs(path) and cfg.source_file:
        path = os.path.normpath(os.path.join(os.path.dirname(cfg.source_file), path))
    return str(path), inline


def inline_text(cfg: Config, inline: Any) -> str:
    """The inline ``alerting.alertmanager_config`` block cut out of the Prometheus
    config's text with its line numbers kept (blank lines before it), so errors name
    ``promhub.yml:LINE``; a config without source text is dumped from the mapping."""
    node = None
    try:
        root = yaml.compose(cfg.source_text) if cfg.source_text else None
        node = _child(_child(root, "alerting"), "alertmanager_config")
    except yaml.YAMLError:
        pass
    if not isinstance(node, yaml.MappingNode) or node.flow_style:
        return yaml.safe_dump(inline, sort_keys=False)
    lines = cfg.source_text.splitlines()
    first, last, col = node.start_mark.line, node.end_mark.line, node.start_mark.column
    if node.end_mark.column == 0:  # the mark sits at the start of the next line
        last -= 1
    # Less-indented lines inside the block can only be comments or blank: drop them.
    body = [ln[col:] if not ln[:col].strip() else "" for ln in lines[first : last + 1]]
    return "\n" * first + "\n".join(body) + "\n"


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v  # type: ignore[no-any-return]
    return None


def generator_url(external_url: str, expr: str) -> str:
    """The Prometheus graph link for ``expr`` (``strutil.TableLinkForExpression``)."""
    return f"{external_url.rstrip('/')}/graph?g0.expr={urllib.parse.quote_plus(expr)}&g0.tab=1"


def fanout_notify(*fns: NotifyFunc) -> NotifyFunc:
    """One rules notify hook calling each of ``fns`` (an external notifier and this)."""

    def notify(expr: str, alerts: list[RuleAlert]) -> None:
        for f in fns:
            f(expr, alerts)

    return notify


class AlertStatus:
    """An alert's status as the API shows it: ``active``/``suppressed`` and by what."""

    __slots__ = ("inhibited_by", "silenced_by", "state")

    def __init__(self, state: str, silenced_by: list[str], inhibited_by: list[str]) -> None:
        self.state = state
        self.silenced_by = silenced_by
        self.inhibited_by = inhibited_by

    def key(self) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        """What the history compares to notice a change."""
        return (self.state, tuple(self.silenced_by), tuple(self.inhibited_by))


class AlertManager:
    """The alert manager service (see the module docstring).

    ``data_dir`` holds ``silences.json`` and ``history.jsonl`` (None: memory only).
    """

    def __init__(
        self,
        data_dir: str | None,
        registry: CollectorRegistry | None = None,
        notify: NotifyFn | None = _log_flush,
        external_url: str = "",
        clock: Callable[[], float] = time.time,
        history_max_events: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        #: With ``notify=None`` flushes go to the built-in notification pipeline (the
        #: receivers of the config: webhook, Slack, e-mail, …), created with the first
        #: config; otherwise to ``notify`` (tests, or another delivery path).
        self.pipeline: Notifier | None = None
        self._pipeline_metrics = NotifyMetrics(registry) if notify is None else None
        self.notify: NotifyFn = notify if notify is not None else _log_flush
        self._use_pipeline = notify is None
        self.external_url = external_url
        self.clock = clock
        self.start_time = clock()
        if data_dir:
            os.makedirs(data_dir, exist_ok=True)
        self.silences = Silences(data_dir, clock)
        self.history = (
            History(data_dir, history_max_events) if history_max_events else History(data_dir)
        )
        self.config: AlertmanagerConfig | None = None
        self.alerts: dict[int, Alert] = {}
        self.inhibitor = Inhibitor(())
        self.dispatcher: Dispatcher | None = None
        self._recorded: dict[int, tuple[str, tuple[str, ...], tuple[str, ...]]] = {}
        # Built on the server's loop: rule hooks from worker threads hop onto it even
        # before run() starts.
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._wake = asyncio.Event()
        self._stopped = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_housekeeping = 0.0
        self._last_silence_gc = 0.0
        self._metrics(registry)

    # -- metrics ----------------------------------------------------------------------

    def _metrics(self, registry: CollectorRegistry | None) -> None:
        self.received = Counter(
            "alertmanager_alerts_received",
            "The total number of received alerts.",
            ["version", "status"],
            registry=registry,
        )
        self.invalid = Counter(
            "alertmanager_alerts_invalid",
            "The total number of received alerts that were invalid.",
            ["version"],
            registry=registry,
        )
        self.config_hash = Gauge(
            "alertmanager_config_hash",
            "Hash of the currently loaded alertmanager configuration.",
            registry=registry,
        )
        self.reload_ok = Gauge(
            "alertmanager_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful.",
            registry=registry,
        )
        self.reload_time = Gauge(
            "alertmanager_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload.",
            registry=registry,
        )
        self.notifications = Counter(
            "alertmanager_dispatcher_flushes",
            "Aggregation group flushes handed to the notifiers, by receiver.",
            ["receiver"],
            registry=registry,
        )
        if registry is not None:
            registry.register(_StateCollector(self))

    # -- configuration ----------------------------------------------------------------

    def apply_config(self, cfg: Config) -> None:
        """Load the alertmanager config ``cfg`` names; a bad one raises
        :class:`ConfigError` (file:line) and the running one stays."""
        path, inline = alertmanager_source(cfg)
        try:
            if path:
                am = load_alertmanager_config(path)
            elif inline is not None:
                am = load_alertmanager_config_text(inline_text(cfg, inline), cfg.source_file)
            else:
                am = None
        except ConfigError:
            self.reload_ok.set(0)
            raise
        except OSError as e:
            self.reload_ok.set(0)
            raise ConfigError(f"cannot read alertmanager config: {e}", path) from None
        if am is not None and self._use_pipeline:
            self._configure_pipeline(am)
        self.set_config(am)

    def _configure_pipeline(self, am: AlertmanagerConfig) -> None:
        """Point the notification pipeline at ``am``'s receivers and templates; a template
        file that does not load refuses the config (the running one stays)."""
        try:
            if self.pipeline is None:
                self.pipeline = Notifier(
                    am,
                    external_url=self.external_url,
                    data_dir=self.data_dir,
                    metrics=self._pipeline_metrics,
                    clock=self.clock,
                )
                self.notify = self.pipeline.notify
            else:
                self.pipeline.apply_config(am)
        except TemplateError as e:
            self.reload_ok.set(0)
            raise ConfigError(f"notification templates: {e}", am.source_file) from None

    def set_config(self, am: AlertmanagerConfig | None) -> None:
        """Switch to ``am`` (None: route nothing): as Alertmanager on reload, the
        dispatcher and inhibitor start afresh from the alerts in the store."""
        self.config = am
        self.inhibitor = Inhibitor(am.inhibit_rules if am else ())
        if am is None:
            self.dispatcher = None
        else:
            self.dispatcher = Dispatcher(
                am, self._on_flush, self.clock, muters=(self.inhibitor, self.silences)
            )
            now = self.clock()
            live = [a for a in self.alerts.values() if not a.resolved(now)]
            self.inhibitor.put(*live)
            self.dispatcher.put(*live)
        text = am.source_text if am else ""
        digest = hashlib.sha256(text.encode()).digest()
        self.config_hash.set(float(int.from_bytes(digest[:6], "big")))
        self.reload_ok.set(1)
        self.reload_time.set(time.time())
        self._wake.set()

    @property
    def resolve_timeout(self) -> float:
        """``global.resolve_timeout`` (5m without a config)."""
        return self.config.global_.resolve_timeout if self.config else 300.0

    # -- alerts in --------------------------------------------------------------------

    def put_alerts(self, alerts: Iterable[Alert], version: str = "v2") -> None:
        """Receive client alerts (API or rules): fill in times, merge with the stored
        ones, route and inhibit them."""
        now = self.clock()
        merged: list[Alert] = []
        for a in alerts:
            a = from_client(a, now, self.resolve_timeout)
            self.received.labels(version, "resolved" if a.resolved(now) else "firing").inc()
            fp = a.fingerprint
            old = self.alerts.get(fp)
            m = old.merge(a, now) if old is not None else a
            self.alerts[fp] = m
            merged.append(m)
        self.inhibitor.put(*merged)
        if self.dispatcher is not None:
            self.dispatcher.put(*merged)
        self._observe(merged, now)
        self._wake.set()

    def rule_notify(self, external_labels: Callable[[], Mapping[str, str]]) -> NotifyFunc:
        """The rules engine's notify hook: rule alerts become alerts as Prometheus sends
        them (start = fired at, end = resolved at or valid until, generator URL,
        external labels unless the alert has the label)."""

        def notify(expr: str, alerts: list[RuleAlert]) -> None:
            ext = external_labels()
            url = generator_url(self.external_url, expr)
            out = []
            for ra in alerts:
                labels = ra.labels.to_dict()
                for k, v in ext.items():
                    labels.setdefault(k, v)
                end = ra.resolved_at_ms or ra.valid_until_ms
                out.append(
                    Alert(
                        labels=labels,
                        annotations=dict(ra.annotations),
                        starts_at=ra.fired_at_ms / 1000,
                        ends_at=end / 1000,
                        generator_url=url,
                    )  # fmt: skip
                )
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(self.put_alerts, out)
            else:
                self.put_alerts(out)

        return notify

    # -- queries ----------------------------------------------------------------------

    def status(self, a: Alert, now: float | None = None) -> AlertStatus:
        """Whether ``a`` is silenced or inhibited now, and by which ids."""
        t = self.clock() if now is None else now
        sil = self.silences.silenced_by(a.labels, t)
        inh = self.inhibitor.inhibited_by(a.labels, t)
        return AlertStatus("suppressed" if sil or inh else "active", sil, inh)

    def receivers(self, a: Alert) -> list[str]:
        """The receivers ``a`` routes to (deduplicated, in route order)."""
        if self.dispatcher is None:
            return []
        return list(dict.fromkeys(r.receiver for r in self.dispatcher.route.match(a.labels)))

    def live_alerts(self, now: float | None = None) -> Iterator[Alert]:
        """Stored alerts that have not resolved."""
        t = self.clock() if now is None else now
        return (a for a in self.alerts.values() if not a.resolved(t))

    # -- flushes and history ----------------------------------------------------------

    def _on_flush(self, flush: Flush) -> bool:
        self.notifications.labels(flush.receiver).inc()
        self.history.add(
            {
                "time": flush.now, "kind": "notification", "receiver": flush.receiver,
                "groupKey": flush.group_key, "labels": flush.group_labels,
                "alerts": [
                    {
                        "fingerprint": a.fingerprint_hex, "labels": a.labels,
                        "status": "resolved" if a.resolved(flush.now) else "firing",
                    }
                    for a in flush.alerts
                ],
            }
        )  # fmt: skip
        task = asyncio.get_running_loop().create_task(self._deliver(flush))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _deliver(self, flush: Flush) -> None:
        try:
            await self.notify(flush)
        except Exception as e:  # one failing notifier must not stop the dispatcher
            log.exception("notifying receiver %s failed", flush.receiver)
            self.history.add(
                {
                    "time": self.clock(), "kind": "notification_failed",
                    "receiver": flush.receiver, "groupKey": flush.group_key,
                    "labels": flush.group_labels, "error": str(e) or type(e).__name__,
                }
            )  # fmt: skip

    def _observe(self, alerts: Iterable[Alert], now: float) -> None:
        """Record the alerts whose state changed since last seen."""
        events = []
        for a in alerts:
            if a.resolved(now):
                key: tuple[str, tuple[str, ...], tuple[str, ...]] = ("resolved", (), ())
            else:
                key = self.status(a, now).key()
            fp = a.fingerprint
            if self._recorded.get(fp) == key:
                continue
            if key[0] == "resolved" and fp not in self._recorded:
                # Never seen firing (e.g. a resolution for an alert we forgot).
                self._recorded[fp] = key
                continue
            self._recorded[fp] = key
            ev: dict[str, Any] = {
                "time": now, "kind": key[0], "fingerprint": a.fingerprint_hex,
                "labels": a.labels,
            }  # fmt: skip
            if key[0] == "suppressed":
                ev["silencedBy"], ev["inhibitedBy"] = list(key[1]), list(key[2])
            events.append(ev)
        self.history.add_many(events)

    def housekeeping(self) -> None:
        """Note state changes (silences starting or ending, resolve timeouts) and drop
        alerts resolved longer than ``resolve_timeout`` ago."""
        now = self.clock()
        self._observe(list(self.alerts.values()), now)
        cutoff = now - self.resolve_timeout
        for fp in [fp for fp, a in self.alerts.items() if a.resolved(cutoff)]:
            del self.alerts[fp]
            self._recorded.pop(fp, None)
        self.inhibitor.gc(now)
        if now - self._last_silence_gc > 60:
            self._last_silence_gc = now
            self.silences.gc()

    def silences_changed(self) -> None:
        """Note the alerts a silence change (un)mutes in the history right away."""
        self._observe(list(self.alerts.values()), self.clock())

    # -- lifecycle --------------------------------------------------------------------

    def tick(self) -> None:
        """Run due flushes and, at most every second, housekeeping."""
        if self.dispatcher is not None:
            self.dispatcher.tick()
        now = self.clock()
        if now - self._last_housekeeping >= HOUSEKEEPING_INTERVAL:
            self._last_housekeeping = now
            self.housekeeping()

    async def run(self) -> None:
        """Drive the dispatcher: wake at its next deadline or when alerts arrive."""
        self._loop = asyncio.get_running_loop()
        while not self._stopped:
            dl = self.dispatcher.next_deadline() if self.dispatcher else None
            wait = HOUSEKEEPING_INTERVAL
            if dl is not None:
                wait = min(wait, max(0.0, dl - self.clock()))
            if not self._wake.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
            if self._stopped:
                break
            try:
                self.tick()
            except Exception:  # keep dispatching whatever one bad tick did
                log.exception("alert manager tick failed")
            self._wake.clear()

    async def stop(self) -> None:
        """Stop the loop and wait briefly for notifications in flight."""
        self._stopped = True
        self._wake.set()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)
        if self.pipeline is not None:
            await self.pipeline.close()


class _StateCollector(Collector):
    """Gauges computed at scrape time from the store (no bookkeeping on the hot path)."""

    def __init__(self, am: AlertManager) -> None:
        self.am = am

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.am.clock()
        counts = {"active": 0, "suppressed": 0, "unprocessed": 0}
        for a in list(self.am.live_alerts(now)):
            counts[self.am.status(a, now).state] += 1
        g = GaugeMetricFamily("alertmanager_alerts", "How many alerts by state.", labels=["state"])
        for k, v in counts.items():
            g.add_metric([k], v)
        yield g
        sc = {"active": 0, "expired": 0, "pending": 0}
        for s in list(self.am.silences.silences.values()):
            sc[s.state(now)] += 1
        s_g = GaugeMetricFamily(
            "alertmanager_silences", "How many silences by state.", labels=["state"]
        )
        for k, v in sc.items():
            s_g.add_metric([k], v)
        yield s_g
        yield GaugeMetricFamily(
            "alertmanager_cluster_enabled", "Indicates whether the clustering is enabled or not.",
            value=0,
        )  # fmt: skip
