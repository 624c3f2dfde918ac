"""Prometheus' duration and byte-size syntax.

Durations are ``[Ny][Nw][Nd][Nh][Nm][Ns][Nms]`` in that order with integer counts
(a year is 365 days, a week 7), or a bare ``0``: ``1h30m`` is valid, ``30m1h``, ``1.5h``
and ``15`` are not. Sizes follow ``units.Base2Bytes``: ``B``, ``KB``/``KiB``, ``MB``/``MiB``
… are all powers of 1024, components may be fractional and repeat (``1MB512KB``), and a
bare number other than ``0`` is rejected because it has no unit.
"""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration", "parse_size"]

_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?\Z"
)
_MS_PER = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)
_MAX_MS = (1 << 63) // 1_000_000  # Go's time.Duration (int64 ns) limit


def parse_duration_ms(s: str) -> int:
    """Parse a Prometheus duration into integer milliseconds.

    >>> parse_duration_ms("1m30s")
    90000
    """
    if s == "0":
        return 0
    if s == "":
        raise ValueError("empty duration string")
    m = _DURATION.match(s)
    if m is None:
        raise ValueError(f"not a valid duration string: {_go_quote(s)}")
    ms = sum(int(g) * mult for g, mult in zip(m.groups(), _MS_PER, strict=True) if g)
    if ms > _MAX_MS:
        raise ValueError(f"duration out of range: {_go_quote(s)}")
    return ms


def parse_duration(s: str) -> float:
    """Parse a Prometheus duration into float seconds (``"15s"`` -> ``15.0``)."""
    return parse_duration_ms(s) / 1000.0


def format_duration(seconds: float) -> str:
    """Format seconds the way Prometheus prints a duration (``90`` -> ``"1m30s"``)."""
    ms = int(round(seconds * 1000))
    if ms == 0:
        return "0s"
    out = []
    for unit, mult in zip(("y", "w", "d", "h", "m", "s", "ms"), _MS_PER, strict=True):
        if ms >= mult:
            out.append(f"{ms // mult}{unit}")
            ms %= mult
    return "".join(out)


_SIZE_UNITS_NEW = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
_SIZE_UNITS_NEW |= {"PiB": 1 << 50, "EiB": 1 << 60}
_SIZE_UNITS_OLD = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
_SIZE_UNITS_OLD |= {"PB": 1 << 50, "EB": 1 << 60}
_SIZE_PART = re.compile(r"(\d*)(?:\.(\d*))?([^0-9.]*)")


def parse_size(s: str) -> int:
    """Parse a byte size such as ``512MB``, ``1.5GiB`` or ``0`` into bytes.

    >>> parse_size("10KB")
    10240
    """
    try:
        return _parse_units(s, _SIZE_UNITS_NEW)
    except ValueError:
        return _parse_units(s, _SIZE_UNITS_OLD)


def _parse_units(s: str, units: dict[str, int]) -> int:
    orig = s
    neg = s[:1] == "-"
    if s[:1] in "+-" and s:
        s = s[1:]
    if s == "0":
        return 0
    if s == "":
        raise ValueError(f"units: invalid {orig}")
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _SIZE_PART.match(s, pos)
        assert m is not None  # every group is optional
        whole, frac, unit = m.groups()
        if not whole and not frac:
            raise ValueError(f"units: invalid {orig}")
        if unit not in units:
            raise ValueError(f"units: unknown unit {unit} in {orig}")
        value = float(whole or 0) + (float("0." + frac) if frac else 0.0)
        total += value * units[unit]
        pos = m.end()
    if neg:
        total = -total
    if not -(2.0**63) <= total < 2.0**63:
        raise ValueError("units: overflow parsing unit")
    return int(total)


def _go_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
