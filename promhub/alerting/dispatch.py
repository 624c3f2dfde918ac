"""Routing and grouping: Alertmanager's route tree and dispatcher.

An alert walks the route tree (:meth:`Route.match`: depth first, the first matching child
wins unless it sets ``continue``; a node with no matching child takes the alert itself).
For each matched route the alert joins the aggregation group named by the route's
``group_by`` labels (``...`` = all labels). A group first flushes ``group_wait`` after it
was created — at once if the alert started longer ago than that — and then every
``group_interval``; each flush hands the group's alerts (minus inhibited, silenced and
time-muted ones) to ``notify``. Resolved alerts leave the group once a flush carrying
them succeeded; an empty group is dropped. ``repeat_interval`` and ``send_resolved``
are applied per integration by :class:`NotifyLog` (Alertmanager's dedup stage).

Time comes from an injectable ``clock`` and nothing sleeps: :meth:`Dispatcher.tick`
runs every flush that is due, and :meth:`Dispatcher.next_deadline` says when to call it
next, so the same code runs under a test's fake clock and the server's event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from promhub.alerting.alert import Alert, fingerprint, format_labelset
from promhub.alerting.config import (
    DEFAULT_GROUP_INTERVAL,
    DEFAULT_GROUP_WAIT,
    DEFAULT_REPEAT_INTERVAL,
    AlertmanagerConfig,
    RouteConfig,
)
from promhub.alerting.matcher import format_matchers, matches
from promhub.alerting.timeinterval import contains
from promhub.model.matcher import Matcher

__all__ = ["Dispatcher", "Flush", "Muter", "NotifyLog", "Route", "alert_sort_key"]


@dataclass(eq=False, slots=True)
class Route:
    """A route node with inherited settings resolved (Alertmanager's ``dispatch.Route``)."""

    receiver: str
    group_by: frozenset[str]
    group_by_all: bool
    group_wait: float
    group_interval: float
    repeat_interval: float
    matchers: list[Matcher]
    continue_: bool = False
    mute_time_intervals: list[str] = field(default_factory=list)
    active_time_intervals: list[str] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    parent: Route | None = None
    key: str = ""

    @classmethod
    def from_config(cls, cfg: RouteConfig, parent: Route | None = None) -> Route:
        """Build the tree; unset settings come from ``parent`` (or the defaults)."""
        gb = cfg.group_by
        p = parent
        r = cls(
            receiver=cfg.receiver or (p.receiver if p else ""),
            group_by=(
                frozenset(x for x in gb if x != "...")
                if gb is not None
                else (p.group_by if p else frozenset())
            ),
            group_by_all=("..." in gb) if gb is not None else bool(p and p.group_by_all),
            group_wait=_pick(cfg.group_wait, p.group_wait if p else None, DEFAULT_GROUP_WAIT),
            group_interval=_pick(
                cfg.group_interval, p.group_interval if p else None, DEFAULT_GROUP_INTERVAL
            ),
            repeat_interval=_pick(
                cfg.repeat_interval, p.repeat_interval if p else None, DEFAULT_REPEAT_INTERVAL
            ),
            matchers=list(cfg.matchers),
            continue_=cfg.continue_,
            mute_time_intervals=list(cfg.mute_time_intervals),
            active_time_intervals=list(cfg.active_time_intervals),
            parent=parent,
        )
        own = format_matchers(r.matchers)
        r.key = f"{parent.key}/{own}" if parent else own
        r.routes = [cls.from_config(c, r) for c in cfg.routes]
        return r

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes an alert with ``labels`` goes to (empty if not even this one)."""
        if not matches(self.matchers, labels):
            return []
        out: list[Route] = []
        for child in self.routes:
            got = child.match(labels)
            out.extend(got)
            if got and not child.continue_:
                break
        return out or [self]

    def walk(self) -> Iterable[Route]:
        """This route and its descendants, depth first (config order)."""
        yield self
        for c in self.routes:
            yield from c.walk()

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The labels of ``labels`` that name its aggregation group on this route."""
        if self.group_by_all:
            return dict(labels)
        return {k: v for k, v in labels.items() if k in self.group_by}


def _pick(own: float | None, inherited: float | None, default: float) -> float:
    if own is not None:
        return own
    return default if inherited is None else inherited


def alert_sort_key(a: Alert) -> tuple[object, ...]:
    """Alertmanager's alert order in a notification: ``job``, then ``instance`` (an
    alert having the label sorts first), then the whole label set."""
    key: list[object] = []
    for name in ("job", "instance"):
        v = a.labels.get(name)
        key.append((0, v) if v is not None else (1, ""))
    key.append(sorted(a.labels.items()))
    return tuple(key)


@dataclass(slots=True)
class Flush:
    """One notification of one aggregation group to its route's receiver."""

    receiver: str
    group_key: str
    group_labels: dict[str, str]
    route: Route
    alerts: list[Alert]
    now: float

    @property
    def firing(self) -> list[Alert]:
        """The alerts still firing at flush time."""
        return [a for a in self.alerts if not a.resolved(self.now)]

    @property
    def resolved(self) -> list[Alert]:
        """The alerts resolved by flush time."""
        return [a for a in self.alerts if a.resolved(self.now)]


class Muter(Protocol):
    """Something that can mute an alert at a time (inhibitor, silences)."""

    def mutes(self, labels: Mapping[str, str], now: float) -> bool: ...


@dataclass(eq=False, slots=True)
class _Group:
    route: Route
    labels: dict[str, str]
    key: str
    next_flush: float
    alerts: dict[int, Alert] = field(default_factory=dict)
    has_flushed: bool = False


class Dispatcher:
    """Routes alerts into aggregation groups and flushes them on Alertmanager's timing.

    >>> d = Dispatcher(cfg, notify=flushes.append, clock=lambda: now)  # doctest: +SKIP
    >>> d.put(alert); d.tick()                                          # doctest: +SKIP
    """

    def __init__(
        self,
        config: AlertmanagerConfig,
        notify: Callable[[Flush], bool | None],
        clock: Callable[[], float] = time.time,
        muters: Iterable[Muter] = (),
    ) -> None:
        self.config = config
        self.route = Route.from_config(config.route)
        self.notify = notify
        self.clock = clock
        self.muters = list(muters)
        self.groups: dict[tuple[str, int], _Group] = {}

    def put(self, *alerts: Alert) -> None:
        """Receive alerts (new, updated or resolved) and file them into their groups."""
        now = self.clock()
        for alert in alerts:
            for route in self.route.match(alert.labels):
                self._insert(route, alert, now)

    def _insert(self, route: Route, alert: Alert, now: float) -> None:
        labels = route.group_labels(alert.labels)
        gk = (route.key, fingerprint(labels))
        g = self.groups.get(gk)
        if g is None:
            key = f"{route.key}:{format_labelset(labels)}"
            g = _Group(route, labels, key, now + route.group_wait)
            self.groups[gk] = g
        fp = alert.fingerprint
        old = g.alerts.get(fp)
        g.alerts[fp] = old.merge(alert, now) if old is not None else alert
        # An alert that started more than group_wait ago needs no more waiting.
        if not g.has_flushed and alert.starts_at + route.group_wait < now:
            g.next_flush = min(g.next_flush, now)

    def next_deadline(self) -> float | None:
        """When the next flush is due (None if there are no groups)."""
        return min((g.next_flush for g in self.groups.values()), default=None)

    def tick(self) -> int:
        """Run every flush due by now; returns how many groups flushed."""
        now = self.clock()
        due = sorted(
            (g for g in self.groups.values() if g.next_flush <= now), key=lambda g: g.next_flush
        )
        for g in due:
            # Scheduling from the due time, not from now, keeps flushes on the
            # group_interval grid even when tick runs late.
            g.next_flush = max(g.next_flush + g.route.group_interval, now)
            self._flush(g, now)
            g.has_flushed = True
        for gk in [k for k, g in self.groups.items() if not g.alerts]:
            del self.groups[gk]
        return len(due)

    def _flush(self, g: _Group, now: float) -> None:
        alerts = sorted(g.alerts.values(), key=alert_sort_key)
        resolved = {a.fingerprint: a for a in alerts if a.resolved(now)}
        snapshot = [a if a.fingerprint in resolved else _replace_end(a) for a in alerts]
        shown = [a for a in snapshot if not self._muted(g.route, a, now)]
        ok: bool | None = True
        if shown:
            ok = self.notify(Flush(g.route.receiver, g.key, dict(g.labels), g.route, shown, now))
        if ok is not False:
            # Drop resolved alerts that were not updated during the flush.
            for fp, a in resolved.items():
                if g.alerts.get(fp) is a:
                    del g.alerts[fp]

    def _muted(self, route: Route, alert: Alert, now: float) -> bool:
        if self.time_muted(route, now):
            return True
        return any(m.mutes(alert.labels, now) for m in self.muters)

    def time_muted(self, route: Route, now: float) -> bool:
        """Whether ``route`` is muted now by its mute or active time intervals."""
        ti = self.config.time_intervals
        if any(contains(ti.get(n, []), now) for n in route.mute_time_intervals):
            return True
        if route.active_time_intervals:
            return not any(contains(ti.get(n, []), now) for n in route.active_time_intervals)
        return False

    def groups_snapshot(self) -> list[tuple[Route, dict[str, str], list[Alert]]]:
        """The current groups (route, group labels, alerts) for the API."""
        return [
            (g.route, dict(g.labels), sorted(g.alerts.values(), key=alert_sort_key))
            for g in self.groups.values()
        ]


def _replace_end(a: Alert) -> Alert:
    # A firing alert is shown without its (future) end, so it does not seem to resolve
    # as time moves forward while the notification is in flight.
    c = Alert(
        labels=a.labels, annotations=a.annotations, starts_at=a.starts_at, ends_at=0.0,
        generator_url=a.generator_url, updated_at=a.updated_at, timeout=a.timeout,
    )  # fmt: skip
    return c


@dataclass(slots=True)
class _LogEntry:
    firing: frozenset[int]
    resolved: frozenset[int]
    at: float


class NotifyLog:
    """What each integration was last told about each group (Alertmanager's nflog and
    dedup stage): notify only on a change, or after ``repeat_interval``."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], _LogEntry] = {}

    def needs_update(self, integration: str, flush: Flush, send_resolved: bool) -> bool:
        """Whether ``integration`` (e.g. ``"team-x/webhook/0"``) must hear of ``flush``."""
        firing = frozenset(a.fingerprint for a in flush.firing)
        resolved = frozenset(a.fingerprint for a in flush.resolved)
        e = self.entries.get((integration, flush.group_key))
        if e is None:
            return bool(firing)
        if not firing <= e.firing:  # a new alert fires
            return True
        if not firing:
            # All resolved: tell the receiver only if it knew of firing alerts.
            return bool(e.firing)
        if send_resolved and not resolved <= e.resolved:
            return True
        return e.at < flush.now - flush.route.repeat_interval

    def record(self, integration: str, flush: Flush) -> None:
        """Remember a successful notification."""
        self.entries[(integration, flush.group_key)] = _LogEntry(
            frozenset(a.fingerprint for a in flush.firing),
            frozenset(a.fingerprint for a in flush.resolved),
            flush.now,
        )
