"""The Alert model as Alertmanager keeps it, and its label-set helpers.

An alert is identified by its label set; :func:`fingerprint` hashes that set exactly as
Alertmanager (``prometheus/common`` ``LabelSet.Fingerprint``) does, so group keys,
silences and notification logs line up with a real Alertmanager's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Alert", "fingerprint", "format_labelset"]

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
        return fingerprint(self.labels)

    @property
    def fingerprint_hex(self) -> str:
        """The fingerprint as the API prints it (16 hex digits)."""
        return f"{self.fingerprint:016x}"

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    def resolved(self, now: float) -> bool:
        """Whether the alert has ended by ``now`` (an unset end never has)."""
        return self.ends_at != 0.0 and self.ends_at <= now

    def merge(self, newer: Alert) -> Alert:
        """The alert after receiving ``newer`` for the same labels (Alertmanager's
        ``Alert.Merge``): the earliest start wins; a resolved update ends it."""
        if newer.updated_at < self.updated_at:
            return newer.merge(self)
        res = Alert(
            labels=dict(newer.labels),
            annotations=dict(newer.annotations),
            starts_at=min(self.starts_at, newer.starts_at) if self.starts_at else newer.starts_at,
            ends_at=newer.ends_at,
            generator_url=newer.generator_url,
            updated_at=newer.updated_at,
            timeout=newer.timeout,
        )
        # A firing update with a timeout must not un-resolve an alert ended explicitly.
        if (
            self.ends_at
            and not self.timeout
            and newer.timeout
            and self.ends_at < newer.ends_at
            and self.ends_at > newer.starts_at
        ):
            res.ends_at = self.ends_at
            res.timeout = False
        return res
