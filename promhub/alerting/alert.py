"""The Alert model as Alertmanager keeps it, and its label-set helpers.

An alert is identified by its label set; :func:`fingerprint` hashes that set exactly as
Alertmanager (``prometheus/common`` ``LabelSet.Fingerprint``) does, so group keys,
silences and notification logs line up with a real Alertmanager's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

__all__ = ["Alert", "fingerprint", "format_labelset", "from_client"]

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1
_SEP = 0xFF  # model.SeparatorByte: never valid in UTF-8, so "a"+"bc" != "ab"+"c"


def fingerprint(labels: Mapping[str, str]) -> int:
    """64-bit FNV-1a over sorted names and values, each followed by 0xff."""
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for b in part.encode():
                h = ((h ^ b) * _FNV_PRIME) & _MASK
            h = ((h ^ _SEP) * _FNV_PRIME) & _MASK
    return h


def format_labelset(labels: Mapping[str, str]) -> str:
    """``{a="1", b="2"}`` as Go's ``model.LabelSet.String()`` prints it (sorted, %q)."""
    # json.dumps matches Go's %q for everything but a few non-ASCII escapes.
    inner = ", ".join(f"{k}={json.dumps(labels[k], ensure_ascii=False)}" for k in sorted(labels))
    return "{" + inner + "}"


@dataclass(slots=True)
class Alert:
    """One alert: a label set with annotations and its active time range.

    ``ends_at`` of 0 means "no end known"; such an alert resolves ``resolve_timeout``
    after it was last updated (``timeout`` is True then, as in Alertmanager).
    Times are Unix seconds (floats).
    """

    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: float = 0.0
    ends_at: float = 0.0
    generator_url: str = ""
    updated_at: float = 0.0
    timeout: bool = False

    @property
    def fingerprint(self) -> int:
        """The alert's label-set fingerprint (its identity)."""
        return fingerprint(self.labels)

    @property
    def fingerprint_hex(self) -> str:
        """The fingerprint as the API prints it (16 hex digits)."""
        return f"{self.fingerprint:016x}"

    @property
    def name(self) -> str:
        """The ``alertname`` label."""
        return self.labels.get("alertname", "")

    def resolved(self, now: float) -> bool:
        """Whether the alert has ended by ``now`` (an unset end never has)."""
        return self.ends_at != 0.0 and self.ends_at <= now

    def merge(self, other: Alert, now: float) -> Alert:
        """This alert updated by ``other`` for the same labels (Alertmanager's
        ``Alert.Merge``): the most recently updated one wins, except that the earliest
        start is kept, and a later explicit end beats a resolve-timeout end."""
        if other.updated_at < self.updated_at:
            return other.merge(self, now)
        res = replace(other, labels=dict(other.labels), annotations=dict(other.annotations))
        if self.starts_at and self.starts_at < other.starts_at:
            res.starts_at = self.starts_at
        if other.resolved(now):
            if self.resolved(now) and self.ends_at > other.ends_at:
                res.ends_at = self.ends_at
        elif self.ends_at > other.ends_at and not self.timeout:
            res.ends_at = self.ends_at
        return res


def from_client(alert: Alert, now: float, resolve_timeout: float) -> Alert:
    """An alert as received from a client (Prometheus, the API), with the times
    Alertmanager fills in: no start means now; no end means "firing until
    ``resolve_timeout`` passes without an update" (``timeout`` is set then)."""
    res = replace(alert, updated_at=now)
    if not res.starts_at:
        res.starts_at = res.ends_at if res.ends_at and res.ends_at < now else now
    if not res.ends_at:
        res.ends_at = now + resolve_timeout
        res.timeout = True
    return res
