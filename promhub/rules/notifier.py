"""Sending alerts to external Alertmanagers, as Prometheus' notifier does.

>>> n = Notifier(registry)
>>> n.apply_config(cfg)                 # alerting.alertmanagers, external labels
>>> rules.set_notify(n.rule_notify("http://prom:9090"))
>>> await n.run()                       # until stop()

Alerts from the rules engine are converted to Alertmanager's API v2 shape, get the
external labels (where the alert lacks them) and ``alert_relabel_configs``, and wait in a
bounded queue (10,000 by default; when it is full the oldest alerts are dropped). One send
loop takes batches of up to ``batch_size`` alerts and POSTs each batch, as one JSON array,
to ``/api/v2/alerts`` of every Alertmanager of every ``alertmanagers`` set concurrently,
each request bounded by the set's ``timeout``. A batch counts as dropped only when some
set had Alertmanagers and none of them took it; an unreachable Alertmanager is counted
in ``prometheus_notifications_errors_total`` and delays the loop at most its timeout.
There are no retries: the rules engine re-sends firing alerts every
``--rules.alert.resend-delay``, which is what keeps an Alertmanager up to date.

Alertmanagers come from each set's ``static_configs``/``file_sd_configs``/
``http_sd_configs`` through ``relabel_configs`` (``__scheme__``, ``__address__`` and
``__alerts_path__`` make the URL); targets dropped by relabeling are reported by
``/api/v1/alertmanagers`` as dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import posixpath
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol
from urllib.parse import quote_plus

import aiohttp
import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Summary

from promhub.config.alerting import AlertmanagerConfig
from promhub.config.http_client import USER_AGENT, HTTPAuth, client_session, proxy_for, ssl_context
from promhub.config.model import Config, RelabelConfig
from promhub.discovery.file import DEFAULT_POLL_INTERVAL, FileProvider
from promhub.discovery.http import HTTPProvider
from promhub.discovery.static import StaticProvider
from promhub.discovery.targetgroup import ADDRESS_LABEL, TargetGroup
from promhub.model.labels import Labels
from promhub.model.relabel import relabel, relabel_dict
from promhub.rules.group import NotifyFunc
from promhub.rules.rule import Alert

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_QUEUE_CAPACITY",
    "Notifier",
    "PostableAlert",
    "generator_url",
]

log = logging.getLogger(__name__)

#: ``--alertmanager.notification-queue-capacity``'s default.
DEFAULT_QUEUE_CAPACITY = 10_000
#: ``--alertmanager.notification-batch-size``'s default (Prometheus >= 3.4; 64 before).
DEFAULT_BATCH_SIZE = 256
SCHEME_LABEL = "__scheme__"
PATH_LABEL = "__alerts_path__"
_ZERO_TIME = "0001-01-01T00:00:00.000Z"


@dataclass(slots=True)
class PostableAlert:
    """One alert as sent to Alertmanager (``POST /api/v2/alerts`` item). Times are ms
    since the epoch; 0 leaves the time unset."""

    labels: Labels
    annotations: dict[str, str]
    starts_at_ms: int = 0
    ends_at_ms: int = 0
    generator_url: str = ""

    def to_json(self) -> dict[str, Any]:
        """The alert's JSON object, with times as Go's ``strfmt.DateTime`` writes them."""
        return {
            "annotations": self.annotations,
            "endsAt": _format_time(self.ends_at_ms),
            "startsAt": _format_time(self.starts_at_ms),
            "generatorURL": self.generator_url,
            "labels": dict(self.labels),
        }


def _format_time(ms: int) -> str:
    if ms <= 0:
        return _ZERO_TIME
    dt = datetime.fromtimestamp(ms // 1000, UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def generator_url(external_url: str, expr: str) -> str:
    """The link back to the expression's graph, as Prometheus' ``TableLinkForExpression``
    (``url.QueryEscape``: spaces become ``+``)."""
    return f"{external_url.rstrip('/')}/graph?g0.expr={quote_plus(expr, safe='')}&g0.tab=1"


def relabel_alerts(
    alerts: Sequence[PostableAlert], configs: Sequence[RelabelConfig], external: dict[str, str]
) -> list[PostableAlert]:
    """External labels added where the alert has none of that name, then ``configs``
    applied; alerts the relabeling drops are left out."""
    out = []
    for a in alerts:
        labels = a.labels
        if external:
            d = dict(labels)
            missing = {k: v for k, v in external.items() if not d.get(k)}
            if missing:
                labels = Labels.from_dict({**d, **missing})
        new = relabel(labels, configs)
        if new is None:
            continue
        out.append(a if new is a.labels else PostableAlert(
            new, a.annotations, a.starts_at_ms, a.ends_at_ms, a.generator_url
        ))  # fmt: skip
    return out


class _Metrics:
    def __init__(self, registry: CollectorRegistry, capacity: int) -> None:
        am = ["alertmanager"]
        self.latency = Summary(
            "prometheus_notifications_latency_seconds",
            "Latency quantiles for sending alert notifications.",
            am,
            registry=registry,
        )
        self.errors = Counter(
            "prometheus_notifications_errors_total",
            "Total number of sent alerts affected by errors.",
            am,
            registry=registry,
        )
        self.sent = Counter(
            "prometheus_notifications_sent_total", "Total number of alerts sent.", am,
            registry=registry,
        )  # fmt: skip
        self.dropped = Counter(
            "prometheus_notifications_dropped_total",
            "Total number of alerts dropped due to errors when sending to Alertmanager.",
            registry=registry,
        )
        self.queue_length = Gauge(
            "prometheus_notifications_queue_length",
            "The number of alert notifications in the queue.",
            registry=registry,
        )
        self.queue_capacity = Gauge(
            "prometheus_notifications_queue_capacity",
            "The capacity of the alert notifications queue.",
            registry=registry,
        )
        self.queue_capacity.set(capacity)
        self.discovered = Gauge(
            "prometheus_notifications_alertmanagers_discovered",
            "The number of alertmanagers discovered and active.",
            registry=registry,
        )

    def forget(self, url: str) -> None:
        for m in (self.latency, self.errors, self.sent):
            with contextlib.suppress(KeyError):
                m.remove(url)


class _Provider(Protocol):
    async def run(self, send: Callable[[list[TargetGroup]], None]) -> None: ...


class _AlertmanagerSet:
    """One ``alertmanagers`` entry: its discovery, its HTTP client, its Alertmanagers."""

    def __init__(self, key: str, cfg: AlertmanagerConfig, file_poll_interval: float) -> None:
        self.key = key
        self.cfg = cfg
        # Built now so a bad oauth2/TLS file refuses the config instead of every send.
        self.auth = HTTPAuth(cfg.http, f"alerting.alertmanagers[{key}]")
        self.ssl: ssl.SSLContext | None = None
        if cfg.scheme == "https" or cfg.relabel_configs:  # relabeling may pick https
            self.ssl = self.ssl_context()
        self.providers: list[_Provider] = []
        if cfg.static_configs:
            self.providers.append(StaticProvider(cfg.static_configs))
        self.providers += [FileProvider(f, file_poll_interval) for f in cfg.file_sd_configs]
        self.providers += [HTTPProvider(h) for h in cfg.http_sd_configs]
        self.groups: list[list[TargetGroup]] = [[] for _ in self.providers]
        self.tasks: list[asyncio.Task[None]] = []
        self.session: aiohttp.ClientSession | None = None
        #: Alert POST URLs, deduplicated, and the URLs of targets relabeling dropped.
        self.urls: list[str] = []
        self.dropped: list[str] = []

    def ssl_context(self) -> ssl.SSLContext:
        if self.ssl is None:
            where = f"alerting.alertmanagers[{self.key}].tls_config"
            self.ssl = ssl_context(self.cfg.http.tls_config, where)
        return self.ssl

    def start(self, on_change: Callable[[], None]) -> None:
        for i, p in enumerate(self.providers):
            self.tasks.append(asyncio.get_running_loop().create_task(
                p.run(partial(self._report, i, on_change)), name=f"notifier sd {self.key}"
            ))  # fmt: skip

    def _report(self, i: int, on_change: Callable[[], None], groups: list[TargetGroup]) -> None:
        self.groups[i] = groups
        self.sync()
        on_change()

    def sync(self) -> None:
        """Recompute the Alertmanagers from the latest groups of every provider."""
        cfg = self.cfg
        path = _alerts_path(cfg.path_prefix)
        urls: list[str] = []
        dropped: list[str] = []
        for tg in (g for groups in self.groups for g in groups):
            for target in tg.targets:
                lset = dict(target)
                lset[SCHEME_LABEL] = cfg.scheme
                lset[PATH_LABEL] = path
                for k, v in tg.labels.items():
                    lset.setdefault(k, v)
                out = relabel_dict(lset, cfg.relabel_configs)
                if out is None:
                    dropped.append(_url(lset))
                    continue
                addr = out.get(ADDRESS_LABEL, "")
                if not addr or "/" in addr:
                    log.error("notifier: %r is not a valid Alertmanager address", addr)
                    continue
                url = _url(out)
                if url not in urls:
                    urls.append(url)
        self.urls, self.dropped = urls, dropped

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []
        if self.session is not None:
            await self.session.close()
            self.session = None


def _alerts_path(prefix: str) -> str:
    # Go's path.Join("/", prefix, "/api/v2/alerts"): cleaned, one leading slash.
    p = posixpath.normpath(f"/{prefix}/api/v2/alerts")
    return "/" + p.lstrip("/")


def _url(lset: dict[str, str]) -> str:
    return f"{lset.get(SCHEME_LABEL, '')}://{lset.get(ADDRESS_LABEL, '')}{lset.get(PATH_LABEL, '')}"


class Notifier:
    """Queues alerts and sends them to the configured Alertmanagers.

    :meth:`send` may be called from any thread (rule groups evaluate in worker threads);
    everything else runs on the event loop.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        queue_capacity: int = DEFAULT_QUEUE_CAPACITY,
        batch_size: int = DEFAULT_BATCH_SIZE,
        drain_on_shutdown: bool = True,
        file_poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        self.capacity = max(1, queue_capacity)
        self.batch_size = max(1, batch_size)
        self.drain_on_shutdown = drain_on_shutdown
        self._file_poll_interval = file_poll_interval
        self._metrics = _Metrics(registry, self.capacity)
        self._metrics.queue_length.set_function(lambda: len(self._queue))
        self._metrics.discovered.set_function(lambda: len(self.alertmanagers()))
        self._queue: deque[PostableAlert] = deque()
        self._lock = threading.Lock()
        self._external: dict[str, str] = {}
        self._relabel: list[RelabelConfig] = []
        self._sets: dict[str, _AlertmanagerSet] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._more: asyncio.Event | None = None
        self._stopping = False
        self._done = asyncio.Event()
        self._retired: list[_AlertmanagerSet] = []

    # -- configuration -------------------------------------------------------------------

    def apply_config(self, cfg: Config) -> None:
        """Switch to ``cfg``'s external labels and ``alerting`` section. A set whose config
        did not change keeps its discovered Alertmanagers; on an error nothing changes."""
        old_by_hash = {s.cfg.hash: s for s in self._sets.values()}
        new: dict[str, _AlertmanagerSet] = {}
        for i, amc in enumerate(cfg.alerting.alertmanagers):
            key = f"config-{i}"
            reuse = old_by_hash.pop(amc.hash, None)
            if reuse is not None:
                reuse.key = key
                new[key] = reuse
            else:
                new[key] = _AlertmanagerSet(key, amc, self._file_poll_interval)
        with self._lock:
            self._external = dict(cfg.global_.external_labels)
            self._relabel = list(cfg.alerting.alert_relabel_configs)
        retired = [s for s in self._sets.values() if s not in new.values()]
        self._sets = new
        known = {u for s in new.values() for u in s.urls}
        for s in retired:
            for u in s.urls:
                if u not in known:
                    self._metrics.forget(u)
        self._retired.extend(retired)
        if self._loop is not None:
            self._start_new()

    def _start_new(self) -> None:
        for s in self._sets.values():
            if not s.tasks and s.providers:
                s.start(self._on_targets)
        retired, self._retired = self._retired, []
        for s in retired:
            asyncio.get_running_loop().create_task(s.stop())

    def _on_targets(self) -> None:
        for s in self._sets.values():
            for u in s.urls:
                # Series exist (at 0) as soon as an Alertmanager is known, as Prometheus.
                self._metrics.sent.labels(u)
                self._metrics.errors.labels(u)

    def alertmanagers(self) -> list[str]:
        """The alert POST URLs of the active Alertmanagers."""
        return [u for s in list(self._sets.values()) for u in s.urls]

    def dropped_alertmanagers(self) -> list[str]:
        """URLs of discovered Alertmanagers that ``relabel_configs`` dropped."""
        return [u for s in list(self._sets.values()) for u in s.dropped]

    # -- queueing ------------------------------------------------------------------------

    def send(self, alerts: Sequence[PostableAlert]) -> None:
        """Relabel and queue ``alerts``; the oldest queued ones go if the queue is full."""
        with self._lock:
            batch = relabel_alerts(alerts, self._relabel, self._external)
            if not batch:
                return
            over = len(batch) - self.capacity
            if over > 0:
                batch = batch[over:]
                log.warning("notifier: alert batch larger than queue capacity, dropped %d", over)
                self._metrics.dropped.inc(over)
            over = len(self._queue) + len(batch) - self.capacity
            if over > 0:
                for _ in range(over):
                    self._queue.popleft()
                log.warning("notifier: alert notification queue full, dropped %d", over)
                self._metrics.dropped.inc(over)
            self._queue.extend(batch)
            loop, more = self._loop, self._more
        if loop is not None and more is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
                loop.call_soon_threadsafe(more.set)

    def rule_notify(self, external_url: str) -> NotifyFunc:
        """The rules manager's hook: converts rule alerts as Prometheus' ``sendAlerts``
        (``startsAt`` = fired at, ``endsAt`` = resolved at, else valid until)."""

        def notify(expr: str, alerts: list[Alert]) -> None:
            link = generator_url(external_url, expr)
            self.send([
                PostableAlert(
                    a.labels,
                    dict(a.annotations),
                    a.fired_at_ms,
                    a.resolved_at_ms or a.valid_until_ms,
                    link,
                )
                for a in alerts
            ])  # fmt: skip

        return notify

    def queue_length(self) -> int:
        """Alerts waiting to be sent."""
        return len(self._queue)

    def _next_batch(self) -> list[PostableAlert]:
        with self._lock:
            n = min(self.batch_size, len(self._queue))
            return [self._queue.popleft() for _ in range(n)]

    # -- lifecycle -----------------------------------------------------------------------

    async def run(self) -> None:
        """Discover Alertmanagers and send queued alerts until :meth:`stop`."""
        more = asyncio.Event()
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._more = more
        self._start_new()
        try:
            while not self._stopping:
                if not self._queue:
                    more.clear()
                    await more.wait()
                    continue
                await self._send_one_batch()
        finally:
            if self.drain_on_shutdown:
                while self._queue:
                    await self._send_one_batch()
            elif self._queue:
                log.warning("notifier: dropping %d queued notifications", len(self._queue))
                self._metrics.dropped.inc(len(self._queue))
                with self._lock:
                    self._queue.clear()
            for s in list(self._sets.values()) + self._retired:
                await s.stop()
            self._done.set()

    async def stop(self) -> None:
        """Stop sending; queued alerts are sent first when draining on shutdown."""
        self._stopping = True
        if self._more is None:
            return  # never ran
        self._more.set()
        await self._done.wait()

    async def _send_one_batch(self) -> None:
        alerts = self._next_batch()
        if alerts and not await self.send_all(alerts):
            self._metrics.dropped.inc(len(alerts))

    async def send_all(self, alerts: Sequence[PostableAlert]) -> bool:
        """POST ``alerts`` to every Alertmanager; False if some set that had Alertmanagers
        (and alerts left after its relabeling) reached none of them."""
        begin = time.monotonic()
        cached: bytes | None = None
        jobs = []
        sets: list[str] = []
        for s in list(self._sets.values()):
            if not s.urls:
                continue
            if s.cfg.alert_relabel_configs:
                mine = relabel_alerts(alerts, s.cfg.alert_relabel_configs, {})
                if not mine:
                    continue
                payload = orjson.dumps([a.to_json() for a in mine])
            else:
                mine = list(alerts)
                if cached is None:
                    cached = orjson.dumps([a.to_json() for a in mine])
                payload = cached
            sets.append(s.key)
            jobs += [self._post(s, u, payload, len(mine), begin) for u in s.urls]
        results = await asyncio.gather(*jobs)
        covered = {k: False for k in sets}
        for key, ok in results:
            covered[key] = covered[key] or ok
        return all(covered.values())

    async def _post(
        self, s: _AlertmanagerSet, url: str, payload: bytes, count: int, begin: float
    ) -> tuple[str, bool]:
        try:
            if s.session is None:
                s.session = client_session(s.cfg.http)
            headers = await s.auth.headers(s.session)
            headers["User-Agent"] = USER_AGENT
            headers["Content-Type"] = "application/json"
            kwargs: dict[str, Any] = {
                "headers": headers,
                "timeout": aiohttp.ClientTimeout(total=s.cfg.timeout),
                "allow_redirects": s.cfg.http.follow_redirects,
                "proxy": proxy_for(s.cfg.http, url),
            }
            if url.startswith("https:"):
                kwargs["ssl"] = s.ssl_context()
                if s.cfg.http.tls_config.server_name:
                    kwargs["server_hostname"] = s.cfg.http.tls_config.server_name
            async with s.session.post(url, data=payload, **kwargs) as resp:
                await resp.read()
                if resp.status // 100 != 2:
                    raise OSError(f"bad response status {resp.status} {resp.reason}")
            ok = True
            self._metrics.sent.labels(url).inc(count)
        except Exception as e:  # whatever failed, count it and let the other sends go on
            ok = False
            log.error("notifier: error sending %d alerts to %s: %s", count, url, e or type(e))
            self._metrics.errors.labels(url).inc(count)
        self._metrics.latency.labels(url).observe(time.monotonic() - begin)
        return s.key, ok
