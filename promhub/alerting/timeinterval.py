"""Alertmanager's ``time_intervals``: when a route is muted or active.

A named interval is a list of :class:`TimeInterval`; a time is in the named interval if
any of them contains it. Within one :class:`TimeInterval` every field that is set must
match (times of day, weekdays, days of the month — negative counts from the month's end —,
months, years), evaluated in its ``location`` (UTC by default). Ranges are inclusive
except times of day, whose end minute is exclusive (``00:00``–``24:00`` is all day).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "TimeInterval",
    "TimeRange",
    "contains",
    "parse_days_of_month",
    "parse_location",
    "parse_months",
    "parse_time_range",
    "parse_weekdays",
    "parse_years",
]

WEEKDAYS = {
    "sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5,
    "saturday": 6,
}  # fmt: skip
MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS_INV = {v: k for k, v in MONTHS.items()}
_TIME = re.compile(r"(?:([01][0-9]|2[0-3]):([0-5][0-9])|(24):(00))\Z")

Range = tuple[int, int]


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Minutes of the day, ``start`` inclusive, ``end`` exclusive."""

    start: int
    end: int


@dataclass(slots=True)
class TimeInterval:
    """One entry of a named time interval; an unset (None) field matches every time."""

    times: list[TimeRange] | None = None
    weekdays: list[Range] | None = None
    days_of_month: list[Range] | None = None
    months: list[Range] | None = None
    years: list[Range] | None = None
    location: tzinfo = field(default=UTC)
    location_name: str = "UTC"

    def contains(self, t: float) -> bool:
        """Whether Unix time ``t`` (seconds) falls in this interval."""
        d = datetime.fromtimestamp(t, self.location)
        if self.times is not None:
            minute = d.hour * 60 + d.minute
            if not any(r.start <= minute < r.end for r in self.times):
                return False
        if self.days_of_month is not None:
            ndays = calendar.monthrange(d.year, d.month)[1]
            if not any(_in_days(d.day, ndays, b, e) for b, e in self.days_of_month):
                return False
        if self.months is not None and not any(b <= d.month <= e for b, e in self.months):
            return False
        if self.weekdays is not None:
            wd = (d.weekday() + 1) % 7  # Go counts from Sunday = 0
            if not any(b <= wd <= e for b, e in self.weekdays):
                return False
        return self.years is None or any(b <= d.year <= e for b, e in self.years)


def _in_days(day: int, ndays: int, begin: int, end: int) -> bool:
    b = ndays + begin + 1 if begin < 0 else begin
    e = ndays + end + 1 if end < 0 else end
    if b > ndays:  # e.g. "31" in a 30-day month never matches
        return False
    b, e = max(-ndays, min(b, ndays)), max(-ndays, min(e, ndays))
    return b <= day <= e


def contains(intervals: list[TimeInterval], t: float) -> bool:
    """Whether any interval of a named time interval contains ``t``."""
    return any(ti.contains(t) for ti in intervals)


# -- parsing (errors read as Alertmanager's)


def _parse_time(s: str) -> int:
    m = _TIME.match(s)
    if m is None:
        raise ValueError(f"couldn't parse timestamp {s}, invalid format")
    if m.group(3):
        return 1440
    return int(m.group(1)) * 60 + int(m.group(2))


def parse_time_range(start: str, end: str) -> TimeRange:
    """``HH:MM`` start (inclusive) and end (exclusive, up to ``24:00``)."""
    if not start or not end:
        raise ValueError("both start and end times must be provided")
    s, e = _parse_time(start), _parse_time(end)
    if s >= e:
        raise ValueError("start time cannot be equal or greater than end time")
    return TimeRange(s, e)


def _range(s: str, member: dict[str, int] | None, what: str) -> Range:
    parts = s.lower().split(":")
    if len(parts) > 2:
        raise ValueError(f"couldn't parse range {s}, invalid format")
    vals = []
    for p in parts:
        if member is not None and p in member:
            vals.append(member[p])
            continue
        if member is not None and what == "weekday":
            raise ValueError(f"{p} is not a valid weekday")
        try:
            vals.append(int(p))
        except ValueError:
            if what == "month":
                raise ValueError(f"{p} is not a valid month") from None
            raise ValueError(f'strconv.Atoi: parsing "{p}": invalid syntax') from None
    return (vals[0], vals[-1])


def parse_weekdays(s: str) -> Range:
    """``monday`` or ``monday:friday`` (names only, Sunday = 0)."""
    b, e = _range(s, WEEKDAYS, "weekday")
    if b > e:
        raise ValueError("start day cannot be before end day")
    if not (0 <= b <= 6 and 0 <= e <= 6):
        raise ValueError(f"{s} is not a valid day of the week: out of range")
    return (b, e)


def parse_days_of_month(s: str) -> Range:
    """``1``, ``1:15`` or ``-3:-1`` (negative counts from the end of the month)."""
    b, e = _range(s, None, "day")
    for v in (b, e):
        if v == 0 or not -31 <= v <= 31:
            raise ValueError(f"{v} is not a valid day of the month: out of range")
    if b < 0 < e:
        raise ValueError("end day must be negative if start day is negative")
    # Negative days are checked against the shortest month (28 days).
    if (28 + b if b < 0 else b) > (28 + e if e < 0 else e):
        raise ValueError(f"end day {e} is always before start day {b}")
    return (b, e)


def parse_months(s: str) -> Range:
    """``march``, ``january:march`` or month numbers."""
    b, e = _range(s, MONTHS, "month")
    if b > e:
        raise ValueError(
            f"end month {_MONTHS_INV.get(e, e)} is before start month {_MONTHS_INV.get(b, b)}"
        )
    return (b, e)


def parse_years(s: str) -> Range:
    """``2024`` or ``2024:2026``."""
    b, e = _range(s, None, "year")
    if b > e:
        raise ValueError(f"end year {e} is before start year {b}")
    return (b, e)


def parse_location(name: str) -> tzinfo:
    """An IANA zone; ``""`` and ``UTC`` are UTC, ``Local`` the host's zone."""
    if name in ("", "UTC"):
        return UTC
    if name == "Local":
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name}") from None
