"""Silences, persisted under the data directory, and promhub's recurring silences.

A :class:`Silence` mutes the alerts all its matchers accept between ``starts_at`` and
``ends_at``; it is *pending* before, *active* during and *expired* after that range.
Updating follows Alertmanager: a change that keeps the matchers and is allowed in the
current state (an active silence keeps its start and may not end in the past, a pending
one may not start in the past) edits in place; any other change expires the old silence
and creates a new one with a new id. Expiring sets ``ends_at`` to now. Expired silences
are kept for ``retention`` (5 days, as Alertmanager) and then dropped.

**Recurring silences** are a promhub extension (upstream declined them): a
:class:`RecurringSilence` mutes its matchers every week on the given weekdays between two
times of day in a time zone — "every Sunday 02:00-04:00 Europe/Berlin" is
``RecurringSilence(matchers, weekdays=[0], start="02:00", end="04:00",
timezone="Europe/Berlin")``. A window whose end is not after its start runs past
midnight into the next day (the weekday names the day it starts).

Both kinds live in one JSON file (``silences.json``), rewritten atomically (write to a
temporary file, fsync, rename) on every change, and reloaded at start.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from promhub.alerting.matcher import matches, parse_matchers
from promhub.alerting.timeinterval import WEEKDAYS, _parse_time, parse_location
from promhub.model.matcher import Matcher, MatchType

__all__ = ["RecurringSilence", "Silence", "SilenceError", "Silences"]

FILENAME = "silences.json"
DEFAULT_RETENTION = 5 * 86400.0


class SilenceError(ValueError):
    """An invalid silence or a change that is not allowed."""


class SilenceNotFound(SilenceError):
    """No silence with that id."""


@dataclass(slots=True)
class Silence:
    """An Alertmanager silence. Times are Unix seconds."""

    matchers: list[Matcher]
    starts_at: float
    ends_at: float
    created_by: str = ""
    comment: str = ""
    id: str = ""
    updated_at: float = 0.0

    def state(self, now: float) -> str:
        """``pending``, ``active`` or ``expired`` at ``now``."""
        if self.ends_at <= now:
            return "expired"
        if self.starts_at > now:
            return "pending"
        return "active"

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        """Whether this silence is active at ``now`` and matches ``labels``."""
        return self.state(now) == "active" and matches(self.matchers, labels)

    def validate(self) -> None:
        """Alertmanager's checks on a silence someone wants to create."""
        if not self.matchers:
            raise SilenceError("at least one matcher required")
        for m in self.matchers:
            if not m.name:
                raise SilenceError('invalid label matcher: invalid label name ""')
        if all(m.matches("") for m in self.matchers):
            raise SilenceError("at least one matcher must not match the empty string")
        if not self.starts_at:
            raise SilenceError("invalid zero start timestamp")
        if not self.ends_at:
            raise SilenceError("invalid zero end timestamp")
        if self.ends_at < self.starts_at:
            raise SilenceError("end time must not be before start time")


@dataclass(slots=True)
class RecurringSilence:
    """A weekly maintenance window (promhub extension); ``weekdays`` count from
    Sunday = 0 as in Alertmanager's time intervals; times are ``HH:MM``."""

    matchers: list[Matcher]
    weekdays: list[int]
    start: str
    end: str
    timezone: str = "UTC"
    created_by: str = ""
    comment: str = ""
    id: str = ""
    _minutes: tuple[int, int] = field(default=(0, 0), repr=False, compare=False)

    def validate(self) -> None:
        """Check matchers, weekdays, times and zone (:class:`SilenceError` if bad)."""
        if not self.matchers:
            raise SilenceError("at least one matcher required")
        if all(m.matches("") for m in self.matchers):
            raise SilenceError("at least one matcher must not match the empty string")
        if not self.weekdays or any(not 0 <= d <= 6 for d in self.weekdays):
            raise SilenceError("weekdays must be a non-empty list of days 0 (Sunday) to 6")
        try:
            self._minutes = (_parse_time(self.start), _parse_time(self.end))
            parse_location(self.timezone)
        except ValueError as e:
            raise SilenceError(str(e)) from None

    def active(self, now: float) -> bool:
        """Whether the window is open at ``now``."""
        if self._minutes == (0, 0):
            self.validate()
        start, end = self._minutes
        d = datetime.fromtimestamp(now, parse_location(self.timezone))
        minute = d.hour * 60 + d.minute
        wd = (d.weekday() + 1) % 7
        if start < end:
            return wd in self.weekdays and start <= minute < end
        # Past midnight: open from start on the named day, until end the day after.
        yesterday = (wd + 6) % 7
        return (wd in self.weekdays and minute >= start) or (
            yesterday in self.weekdays and minute < end
        )

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        """Whether the window is open at ``now`` and the matchers accept ``labels``."""
        return self.active(now) and matches(self.matchers, labels)


def parse_weekday_names(names: list[str]) -> list[int]:
    """``["sunday", "monday:wednesday"]`` -> ``[0, 1, 2, 3]``."""
    out: list[int] = []
    for n in names:
        a, _, b = n.lower().partition(":")
        if a not in WEEKDAYS or (b and b not in WEEKDAYS):
            raise SilenceError(f"{n} is not a valid weekday")
        out.extend(range(WEEKDAYS[a], WEEKDAYS[b or a] + 1))
    return sorted(set(out))


class Silences:
    """The silence store. ``data_dir`` None keeps silences in memory only."""

    def __init__(
        self,
        data_dir: str | None = None,
        clock: Callable[[], float] = time.time,
        retention: float = DEFAULT_RETENTION,
    ) -> None:
        self.path = os.path.join(data_dir, FILENAME) if data_dir else None
        self.clock = clock
        self.retention = retention
        self.silences: dict[str, Silence] = {}
        self.recurring: dict[str, RecurringSilence] = {}
        if self.path and os.path.exists(self.path):
            self._load(self.path)

    # -- queries

    def get(self, sid: str) -> Silence:
        """The silence with id ``sid`` (:class:`SilenceNotFound` if none)."""
        try:
            return self.silences[sid]
        except KeyError:
            raise SilenceNotFound(f"silence {sid} not found") from None

    def silenced_by(self, labels: Mapping[str, str], now: float | None = None) -> list[str]:
        """Ids of the active silences (plain and recurring) muting ``labels``."""
        t = self.clock() if now is None else now
        ids = [s.id for s in self.silences.values() if s.mutes(labels, t)]
        ids += [r.id for r in self.recurring.values() if r.mutes(labels, t)]
        return ids

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        """Whether any silence mutes ``labels`` at ``now`` (the dispatcher's Muter)."""
        return bool(self.silenced_by(labels, now))

    # -- changes

    def set(self, sil: Silence) -> str:
        """Create or update a silence; returns its id (new if it had to be replaced)."""
        sil.validate()
        now = self.clock()
        prev = self.silences.get(sil.id) if sil.id else None
        if sil.id and prev is None:
            raise SilenceNotFound(f"silence {sil.id} not found")
        if prev is not None:
            if _can_update(prev, sil, now):
                sil.updated_at = now
                self.silences[sil.id] = sil
                self._save()
                return sil.id
            if prev.state(now) != "expired":
                self._expire(prev, now)
        sil.id = str(uuid.uuid4())
        sil.starts_at = max(sil.starts_at, now)
        if sil.ends_at < sil.starts_at:
            raise SilenceError("end time must not be before start time")
        sil.updated_at = now
        self.silences[sil.id] = sil
        self._save()
        return sil.id

    def expire(self, sid: str) -> None:
        """End a silence now (a pending one starts and ends now)."""
        s = self.get(sid)
        now = self.clock()
        if s.state(now) == "expired":
            raise SilenceError(f"silence {sid} already expired")
        self._expire(s, now)
        self._save()

    def _expire(self, s: Silence, now: float) -> None:
        if s.starts_at > now:
            s.starts_at = now
        s.ends_at = now
        s.updated_at = now

    def add_recurring(self, r: RecurringSilence) -> str:
        """Store a recurring silence; returns its id."""
        r.validate()
        r.id = r.id or str(uuid.uuid4())
        self.recurring[r.id] = r
        self._save()
        return r.id

    def delete_recurring(self, rid: str) -> None:
        """Remove a recurring silence (they have no expiry of their own)."""
        if self.recurring.pop(rid, None) is None:
            raise SilenceNotFound(f"recurring silence {rid} not found")
        self._save()

    def gc(self) -> int:
        """Drop silences expired longer than ``retention`` ago; returns how many."""
        cutoff = self.clock() - self.retention
        old = [sid for sid, s in self.silences.items() if s.ends_at < cutoff]
        for sid in old:
            del self.silences[sid]
        if old:
            self._save()
        return len(old)

    # -- persistence

    def _save(self) -> None:
        if not self.path:
            return
        doc = {
            "silences": [_silence_doc(s) for s in self.silences.values()],
            "recurring": [_recurring_doc(r) for r in self.recurring.values()],
        }
        d = os.path.dirname(self.path) or "."
        os.makedirs(d, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".silences.", dir=d)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            os.unlink(tmp)
            raise

    def _load(self, path: str) -> None:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        for d in doc.get("silences", []):
            s = Silence(
                matchers=_matchers_from(d["matchers"]), starts_at=d["startsAt"],
                ends_at=d["endsAt"], created_by=d.get("createdBy", ""),
                comment=d.get("comment", ""), id=d["id"], updated_at=d.get("updatedAt", 0.0),
            )  # fmt: skip
            self.silences[s.id] = s
        for d in doc.get("recurring", []):
            r = RecurringSilence(
                matchers=_matchers_from(d["matchers"]), weekdays=d["weekdays"],
                start=d["start"], end=d["end"], timezone=d.get("timezone", "UTC"),
                created_by=d.get("createdBy", ""), comment=d.get("comment", ""), id=d["id"],
            )  # fmt: skip
            r.validate()
            self.recurring[r.id] = r


def _can_update(a: Silence, b: Silence, now: float) -> bool:
    if [str(m) for m in a.matchers] != [str(m) for m in b.matchers]:
        return False
    st = a.state(now)
    if st == "active":
        return b.starts_at == a.starts_at and b.ends_at >= now
    if st == "pending":
        return b.starts_at >= now
    return False


def _matchers_doc(ms: list[Matcher]) -> list[dict[str, Any]]:
    # The API v2 shape, so the file reads like `amtool silence query -o json`.
    return [
        {
            "name": m.name,
            "value": m.value,
            "isRegex": m.type in (MatchType.REGEX, MatchType.NOT_REGEX),
            "isEqual": m.type in (MatchType.EQUAL, MatchType.REGEX),
        }
        for m in ms
    ]


def _matchers_from(docs: list[dict[str, Any]]) -> list[Matcher]:
    out = []
    for d in docs:
        regex, equal = d.get("isRegex", False), d.get("isEqual", True)
        op = ("=~" if equal else "!~") if regex else ("=" if equal else "!=")
        out.append(Matcher.new(op, d["name"], d["value"]))
    return out


def _silence_doc(s: Silence) -> dict[str, Any]:
    return {
        "id": s.id, "matchers": _matchers_doc(s.matchers), "startsAt": s.starts_at,
        "endsAt": s.ends_at, "createdBy": s.created_by, "comment": s.comment,
        "updatedAt": s.updated_at,
    }  # fmt: skip


def _recurring_doc(r: RecurringSilence) -> dict[str, Any]:
    return {
        "id": r.id, "matchers": _matchers_doc(r.matchers), "weekdays": r.weekdays,
        "start": r.start, "end": r.end, "timezone": r.timezone, "createdBy": r.created_by,
        "comment": r.comment,
    }  # fmt: skip


def matchers_from_strings(items: list[str]) -> list[Matcher]:
    """Matchers from ``amtool``-style strings (``alertname=Foo``, ``job=~"a|b"``)."""
    out: list[Matcher] = []
    for s in items:
        out.extend(parse_matchers(s))
    return out
