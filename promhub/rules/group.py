"""A rule group: its rules evaluated in order at aligned times, results written back.

Like Prometheus, every group has a fixed phase inside its interval derived from a hash of
its file and name, so many groups spread over the interval instead of all evaluating at
once, and a group's evaluation times stay put across restarts (restored ``for`` state and
recorded series line up with the previous process').
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from promhub.model.labels import METRIC_NAME, Labels
from promhub.model.matcher import Matcher, MatchType
from promhub.model.value import STALE_NAN, stale_mask
from promhub.promql.engine import Engine
from promhub.promql.value import ScalarSeries, VectorSeries
from promhub.rules.rule import (
    ALERTS_FOR_STATE,
    Alert,
    AlertingRule,
    Expand,
    RecordingRule,
    RuleError,
    Sample,
    no_expand,
)
from promhub.rules.rulefile import GroupDef
from promhub.storage.interface import Appendable, Queryable

__all__ = ["Group", "GroupMetrics", "NotifyFunc"]

log = logging.getLogger(__name__)

Rule = RecordingRule | AlertingRule
#: Receives ``(rule expression, alerts)`` after an alerting rule's evaluation: the firing
#: and newly resolved alerts due for (re)sending, as Prometheus' ``NotifyFunc``.
NotifyFunc = Callable[[str, list[Alert]], None]


class GroupMetrics(Protocol):
    def observe(self, group: Group, rule_failures: int, duration_s: float, samples: int) -> None:
        """Record one evaluation of ``group``."""
        ...


@dataclass(slots=True)
class Settings:
    """What a group needs from the manager besides its definition."""

    engine: Engine
    queryable: Queryable
    appendable: Appendable
    notify: NotifyFunc
    expand: Expand = no_expand
    resend_delay_ms: int = 60_000
    outage_tolerance_ms: int = 3_600_000
    grace_period_ms: int = 600_000


class Group:
    """One group's rules and state; :meth:`eval` runs one iteration (blocking)."""

    def __init__(self, d: GroupDef, interval_s: float, query_offset_s: float, s: Settings):
        self.d = d
        self.interval_ms = max(1, int(interval_s * 1000))
        self.query_offset_ms = int(query_offset_s * 1000)
        self.s = s
        self.rules: list[Rule] = [
            AlertingRule(r, d.labels, s.expand) if r.kind == "alert" else RecordingRule(r, d.labels)
            for r in d.rules
        ]
        self.prev_series: list[set[Labels]] = [set() for _ in self.rules]
        self.last_eval_ms = 0
        self.eval_seconds = 0.0
        #: Restore ``for`` state after the first evaluation (set for groups new at start).
        self.should_restore = False
        digest = hashlib.sha256(f"{d.file}\x00{d.name}".encode()).digest()
        self.offset_ms = int.from_bytes(digest[:8], "big") % self.interval_ms

    @property
    def key(self) -> str:
        """``file;name``: the ``rule_group`` label of the group's metrics."""
        return f"{self.d.file};{self.d.name}"

    def eval_time(self, now_ms: int) -> int:
        """The latest aligned evaluation time at or before ``now_ms``."""
        adj = now_ms - self.offset_ms
        return adj - adj % self.interval_ms + self.offset_ms

    def copy_state(self, old: Group) -> None:
        """Take over alerts and series from the previous version of this group (reload)."""
        by_name: dict[tuple[str, str], list[int]] = {}
        for i, r in enumerate(old.rules):
            by_name.setdefault((r.d.kind, r.d.name), []).append(i)
        for i, r in enumerate(self.rules):
            idxs = by_name.get((r.d.kind, r.d.name))
            if not idxs:
                continue
            j = idxs.pop(0)
            self.prev_series[i] = old.prev_series[j]
            o = old.rules[j]
            r.status = o.status
            if isinstance(r, AlertingRule) and isinstance(o, AlertingRule):
                r.active, r.restored = o.active, o.restored
        self.last_eval_ms, self.eval_seconds = old.last_eval_ms, old.eval_seconds

    # -- evaluation ------------------------------------------------------------------------

    def eval(self, ts_ms: int, metrics: GroupMetrics | None = None) -> None:
        """Evaluate every rule at ``ts_ms`` (minus the query offset), store the results."""
        t0 = time.monotonic()
        qts = ts_ms - self.query_offset_ms
        failures = 0
        written = 0
        for i, rule in enumerate(self.rules):
            r0 = time.monotonic()
            try:
                result = self._query(rule.d.expr, qts)
                samples = rule.eval(result, qts, self.d.limit)
                written += self._store(i, samples, qts)
                rule.status.health, rule.status.last_error = "ok", ""
            except Exception as e:  # a failing rule (or full disk) must not stop the others
                failures += 1
                rule.status.health, rule.status.last_error = "err", str(e)
                if not isinstance(e, RuleError):
                    log.debug("rule %s in group %s failed: %s", rule.name, self.d.name, e)
                # As Prometheus, a failed rule writes no stale markers: its series stay
                # until the next successful evaluation shows which are really gone.
            if isinstance(rule, AlertingRule):
                alerts = rule.to_send(ts_ms, self.s.resend_delay_ms, self.interval_ms)
                if alerts:
                    try:
                        self.s.notify(rule.d.expr, alerts)
                    except Exception:
                        log.exception("alert notification hook failed")
            rule.status.last_eval_ms = ts_ms
            rule.status.eval_seconds = time.monotonic() - r0
        if self.should_restore:
            self.should_restore = False
            self.restore_for_state(ts_ms)
        self.last_eval_ms = ts_ms
        self.eval_seconds = time.monotonic() - t0
        if metrics is not None:
            metrics.observe(self, failures, self.eval_seconds, written)

    def _query(self, expr: str, ts_ms: int) -> list[Sample]:
        res = self.s.engine.instant(self.s.queryable, expr, ts_ms)
        v = res.value
        if isinstance(v, ScalarSeries):
            return [(Labels(()), float(v.values[0]))]
        if not isinstance(v, VectorSeries):
            raise RuleError("rule result is not a vector or scalar")
        vals = v.values[:, 0].tolist()
        return list(zip(v.labels, vals, strict=True))

    def _store(self, i: int, samples: list[Sample], ts_ms: int) -> int:
        """Append this rule's samples and stale markers for its series that went away."""
        now = {ls for ls, _ in samples}
        gone = self.prev_series[i] - now
        self.prev_series[i] = now
        if not samples and not gone:
            return 0
        app = self.s.appendable.appender()
        try:
            refs = [app.ref(ls) for ls, _ in samples] + [app.ref(ls) for ls in gone]
            vals = [v for _, v in samples] + [STALE_NAN] * len(gone)
            app.append(
                np.array(refs, dtype=np.int64),
                np.array([ts_ms], dtype=np.int64),
                np.array(vals, dtype=np.float64),
            )
            # Out-of-order and duplicate samples are counted by the storage, as for scrapes.
            app.commit()
        except Exception:
            app.rollback()
            raise
        return len(samples)

    def mark_stale(self, ts_ms: int) -> None:
        """Write stale markers for every series the group wrote (it was removed)."""
        for i in range(len(self.rules)):
            try:
                self._store(i, [], ts_ms)
            except Exception:
                log.exception("stale markers for removed group %s failed", self.d.name)

    def restore_for_state(self, ts_ms: int) -> None:
        """Give alerts back the pending time they had before a restart (ALERTS_FOR_STATE)."""
        mint = ts_ms - self.s.outage_tolerance_ms
        for rule in self.rules:
            if not isinstance(rule, AlertingRule) or rule.restored:
                continue
            if rule.d.for_s * 1000 < self.s.grace_period_ms or not rule.active:
                rule.restored = True
                continue
            try:
                q = self.s.queryable.querier(mint, ts_ms)
                try:
                    series = q.select(
                        [
                            Matcher.new(MatchType.EQUAL, METRIC_NAME, ALERTS_FOR_STATE),
                            Matcher.new(MatchType.EQUAL, "alertname", rule.d.name),
                        ]
                    )
                finally:
                    q.close()
            except Exception as e:
                log.warning("restoring for state of %s failed: %s", rule.d.name, e)
                rule.restored = True
                continue
            history: dict[Labels, tuple[int, float]] = {}
            for s in series:
                # The current process' own first sample (at ts_ms) is not history.
                ok = (s.timestamps < ts_ms - self.query_offset_ms) & ~stale_mask(s.values)
                keep = np.flatnonzero(ok)
                if keep.size:
                    k = int(keep[-1])
                    history[s.labels.without(METRIC_NAME)] = (
                        int(s.timestamps[k]),
                        float(s.values[k]),
                    )
            rule.restore(history, ts_ms, self.s.grace_period_ms)
