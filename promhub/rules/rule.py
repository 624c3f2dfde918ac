"""Recording and alerting rules: one evaluation turns a query result into samples and alerts.

The alert state machine is Prometheus' (``rules/alerting.go``): a new result is *pending*;
after ``for`` it is *firing*; when it disappears it is *inactive* (resolved) and kept for
15 minutes so the resolution can be sent, unless ``keep_firing_for`` holds it firing a
while longer. Times are milliseconds since the epoch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from promhub.model.labels import METRIC_NAME, Labels
from promhub.rules.rulefile import RuleDef

__all__ = [
    "ALERTS",
    "ALERTS_FOR_STATE",
    "Alert",
    "AlertingRule",
    "Expand",
    "RecordingRule",
    "RuleError",
    "Sample",
    "no_expand",
]

ALERTS = "ALERTS"
ALERTS_FOR_STATE = "ALERTS_FOR_STATE"
#: How long a resolved alert is kept (and re-sent) after it stopped firing.
RESOLVED_RETENTION_MS = 15 * 60 * 1000

AlertState = Literal["inactive", "pending", "firing"]

#: Expands a label or annotation template:
#: ``(alertname, text, alert labels, value, evaluation time ms) -> text``.
Expand = Callable[[str, str, dict[str, str], float, int], str]


def no_expand(alertname: str, text: str, labels: dict[str, str], value: float, ts: int) -> str:
    """An :data:`Expand` that leaves templates as written (tests of the state machine; the
    server uses :class:`promhub.rules.expander.RuleTemplateExpander`)."""
    return text


class RuleError(Exception):
    """A rule's evaluation failed (shown as its ``lastError``, counted as a failure)."""


#: One query result row: (labels including ``__name__`` if any, value).
Sample = tuple[Labels, float]


@dataclass(slots=True)
class Alert:
    """One active (or recently resolved) alert of an alerting rule."""

    labels: Labels
    annotations: dict[str, str]
    value: float
    state: AlertState
    active_at_ms: int
    fired_at_ms: int = 0
    resolved_at_ms: int = 0
    last_sent_at_ms: int = 0
    valid_until_ms: int = 0
    keep_firing_since_ms: int = 0

    def needs_sending(self, ts_ms: int, resend_delay_ms: int) -> bool:
        """Prometheus' rule: pending alerts never; resolutions once; firing ones again
        after ``resend_delay``."""
        if self.state == "pending":
            return False
        if self.resolved_at_ms > self.last_sent_at_ms:
            return True
        return self.last_sent_at_ms + resend_delay_ms <= ts_ms


@dataclass(slots=True)
class _Health:
    health: Literal["unknown", "ok", "err"] = "unknown"
    last_error: str = ""
    last_eval_ms: int = 0
    eval_seconds: float = 0.0


@dataclass(slots=True)
class RecordingRule:
    """``record: NAME`` — the query's result, renamed and relabelled, stored as series."""

    d: RuleDef
    group_labels: tuple[tuple[str, str], ...] = ()
    status: _Health = field(default_factory=_Health)

    @property
    def name(self) -> str:
        return self.d.name

    def eval(self, result: list[Sample], ts_ms: int, limit: int) -> list[Sample]:
        """The samples to store for this evaluation's query ``result``."""
        extra = dict(self.group_labels)
        extra.update(self.d.labels)
        extra[METRIC_NAME] = self.d.name
        out: list[Sample] = []
        seen: set[Labels] = set()
        for ls, v in result:
            d = ls.to_dict()
            d.update(extra)
            lbls = Labels.from_dict(d)
            if lbls in seen:
                raise RuleError(
                    "vector contains metrics with the same labelset after applying rule labels"
                )
            seen.add(lbls)
            out.append((lbls, v))
        if limit > 0 and len(out) > limit:
            raise RuleError(f"exceeded limit of {limit} with {len(out)} series")
        return out


@dataclass(slots=True)
class AlertingRule:
    """``alert: NAME`` — every result row is an alert, pending then firing after ``for``."""

    d: RuleDef
    group_labels: tuple[tuple[str, str], ...] = ()
    expand: Expand = no_expand
    status: _Health = field(default_factory=_Health)
    active: dict[Labels, Alert] = field(default_factory=dict)
    #: Set once ``for`` state has been restored after a restart (or needs none).
    restored: bool = False

    @property
    def name(self) -> str:
        return self.d.name

    @property
    def state(self) -> AlertState:
        """The rule's state: its most advanced alert's."""
        states = {a.state for a in self.active.values()}
        return "firing" if "firing" in states else "pending" if "pending" in states else "inactive"

    def alerts(self) -> list[Alert]:
        """Pending and firing alerts (not the resolved ones kept for re-sending)."""
        return [a for a in self.active.values() if a.state != "inactive"]

    def eval(self, result: list[Sample], ts_ms: int, limit: int) -> list[Sample]:
        """Advance the state machine to ``ts_ms``; return ``ALERTS``/``ALERTS_FOR_STATE``."""
        d = self.d
        rule_labels = dict(self.group_labels)
        rule_labels.update(d.labels)
        current: dict[Labels, tuple[float, dict[str, str]]] = {}
        for ls, v in result:
            base = ls.without(METRIC_NAME).to_dict()
            lbls = dict(base)
            for k, tmpl in rule_labels.items():
                lbls[k] = self.expand(d.name, tmpl, base, v, ts_ms)
            lbls["alertname"] = d.name
            key = Labels.from_dict(lbls)
            if key in current:
                raise RuleError(
                    "vector contains metrics with the same labelset after applying alert labels"
                )
            annotations = {k: self.expand(d.name, t, base, v, ts_ms) for k, t in d.annotations}
            current[key] = (v, annotations)
        # Copy-on-write: the API reads ``active`` from another thread while this runs.
        active = dict(self.active)
        for key, (v, ann) in current.items():
            a = active.get(key)
            if a is not None and a.state != "inactive":
                a.value, a.annotations = v, ann
                a.keep_firing_since_ms = 0
            else:
                active[key] = Alert(key, ann, v, "pending", ts_ms)
        for key, a in list(active.items()):
            if key in current:
                if a.state == "pending" and ts_ms - a.active_at_ms >= int(d.for_s * 1000):
                    a.state, a.fired_at_ms = "firing", ts_ms
                continue
            keep_ms = int(d.keep_firing_for_s * 1000)
            if keep_ms > 0 and a.state == "firing":
                if a.keep_firing_since_ms == 0:
                    a.keep_firing_since_ms = ts_ms
                if ts_ms - a.keep_firing_since_ms < keep_ms:
                    continue
            if a.state == "pending" or (
                a.resolved_at_ms and a.resolved_at_ms + RESOLVED_RETENTION_MS < ts_ms
            ):
                del active[key]
            elif a.state != "inactive":
                a.state, a.resolved_at_ms = "inactive", ts_ms
                a.keep_firing_since_ms = 0
        n = sum(1 for a in active.values() if a.state != "inactive")
        if limit > 0 and n > limit:
            self.active = {}
            raise RuleError(f"exceeded limit of {limit} with {n} alerts")
        self.active = active
        out: list[Sample] = []
        for a in self.active.values():
            if a.state == "inactive":
                continue
            d_ = a.labels.to_dict()
            out.append((Labels.from_dict({**d_, METRIC_NAME: ALERTS, "alertstate": a.state}), 1.0))
            out.append(
                (Labels.from_dict({**d_, METRIC_NAME: ALERTS_FOR_STATE}), a.active_at_ms / 1000)
            )
        return out

    def to_send(self, ts_ms: int, resend_delay_ms: int, interval_ms: int) -> list[Alert]:
        """Copies of the alerts to notify now (Prometheus' ``sendAlerts``)."""
        out = []
        delta = max(resend_delay_ms, interval_ms)
        for a in self.active.values():
            if a.needs_sending(ts_ms, resend_delay_ms):
                a.last_sent_at_ms = ts_ms
                a.valid_until_ms = ts_ms + 4 * delta
                out.append(replace(a, annotations=dict(a.annotations)))
        return out

    def restore(
        self,
        history: dict[Labels, tuple[int, float]],
        ts_ms: int,
        grace_ms: int,
    ) -> None:
        """Carry pending time over a restart from ``ALERTS_FOR_STATE``.

        ``history`` maps each alert's labels to the (timestamp, value) of its last
        ``ALERTS_FOR_STATE`` sample within the outage tolerance: when the previous process
        last evaluated it and the ``activeAt`` it had then (in seconds).
        """
        self.restored = True
        for_ms = int(self.d.for_s * 1000)
        for key, a in self.active.items():
            h = history.get(key)
            if h is None or a.state == "inactive":
                continue
            down_at_ms, active_at_s = h
            if not math.isfinite(active_at_s):
                continue
            restored = int(active_at_s * 1000)
            remaining = for_ms - (down_at_ms - restored)
            if remaining <= 0:
                pass  # it was firing: the next evaluation fires it again at once
            elif remaining < grace_ms:
                restored = ts_ms - (for_ms - grace_ms)
            else:
                restored += ts_ms - down_at_ms  # the outage does not count as pending time
            a.active_at_ms = restored
