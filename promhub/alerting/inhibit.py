"""Inhibition as Alertmanager's inhibitor does it.

A target alert is muted while a *firing* source alert of the same rule has equal values
for the rule's ``equal`` labels (a missing label equals the empty value). An alert that
matches both sides of a rule cannot inhibit another alert that does too, so an alert
never inhibits itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from promhub.alerting.alert import Alert
from promhub.alerting.config import InhibitRule
from promhub.alerting.matcher import matches

__all__ = ["Inhibitor"]


class Inhibitor:
    """Keeps, per rule, the alerts matching its source side; answers :meth:`mutes`."""

    def __init__(self, rules: Iterable[InhibitRule]) -> None:
        self.rules = list(rules)
        # Per rule, source alerts indexed by their values of the rule's equal labels,
        # so a lookup does not scan every source (5,000 alerts would be 25M checks).
        self._sources: list[dict[tuple[str, ...], dict[int, Alert]]] = [{} for _ in self.rules]

    def put(self, *alerts: Alert) -> None:
        """Receive alerts (the same stream the dispatcher gets)."""
        for alert in alerts:
            fp = alert.fingerprint
            for rule, index in zip(self.rules, self._sources, strict=True):
                if matches(rule.source_matchers, alert.labels):
                    key = tuple(alert.labels.get(n, "") for n in rule.equal)
                    index.setdefault(key, {})[fp] = alert

    def gc(self, now: float) -> None:
        """Forget resolved source alerts."""
        for index in self._sources:
            for key, cache in list(index.items()):
                for fp in [fp for fp, a in cache.items() if a.resolved(now)]:
                    del cache[fp]
                if not cache:
                    del index[key]

    def inhibited_by(self, labels: Mapping[str, str], now: float) -> list[str]:
        """Fingerprints (hex) of the alerts inhibiting ``labels`` (first match only,
        as Alertmanager records), or an empty list."""
        for rule, index in zip(self.rules, self._sources, strict=True):
            if not matches(rule.target_matchers, labels):
                continue
            both_sides = matches(rule.source_matchers, labels)
            key = tuple(labels.get(n, "") for n in rule.equal)
            for src in index.get(key, {}).values():
                if src.resolved(now):
                    continue
                if both_sides and matches(rule.target_matchers, src.labels):
                    continue
                return [src.fingerprint_hex]
        return []

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        """Whether an alert with ``labels`` is inhibited at ``now``."""
        return bool(self.inhibited_by(labels, now))
