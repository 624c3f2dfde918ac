"""Go's value printing (fmt %v, Sprint, Printf) and time layouts, as templates show them.

Prometheus and Alertmanager templates print through Go's fmt package, so ``{{ $value }}``
of 1234567.0 reads ``1.234567e+06`` and a timestamp reads ``2015-06-23 13:19:44.128 +0000
UTC``. Users compare promhub's notifications with the ones they had, so the spelling has to
match, not just the meaning.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from promhub.model.gofloat import format_g

__all__ = [
    "NO_VALUE",
    "GoDuration",
    "GoTime",
    "go_float",
    "go_format_g",
    "go_printf",
    "go_sprint",
    "go_sprintln",
    "go_str",
    "go_type_name",
]


class _NoValue:
    """The invalid reflect.Value: a missing key or field of nil data; prints ``<no value>``."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<no value>"

    def __bool__(self) -> bool:
        return False


NO_VALUE: Any = _NoValue()


def go_format_g(v: float, prec: int) -> str:
    """Go's ``%.<prec>g``: Python's, except Inf/NaN spelling."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return f"%.{prec}g" % v


go_float = format_g


class GoDuration:
    """A time.Duration (nanoseconds) that prints like Go: ``1h2m3.5s``."""

    __slots__ = ("ns",)

    def __init__(self, ns: int) -> None:
        self.ns = int(ns)

    def Seconds(self) -> float:  # noqa: N802 - Go method name used from templates
        """The duration in seconds, as Go's Duration.Seconds."""
        return self.ns / 1e9

    def Minutes(self) -> float:  # noqa: N802
        """The duration in minutes."""
        return self.ns / 60e9

    def Hours(self) -> float:  # noqa: N802
        """The duration in hours."""
        return self.ns / 3600e9

    def String(self) -> str:  # noqa: N802
        """Go's Duration.String."""
        return str(self)

    def __str__(self) -> str:
        ns = self.ns
        if ns == 0:
            return "0s"
        sign = "-" if ns < 0 else ""
        ns = abs(ns)
        if ns < 1_000_000_000:
            for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
                if ns >= size:
                    return sign + _trim_frac(ns, size) + unit
        h, rem = divmod(ns, 3_600_000_000_000)
        m, rem = divmod(rem, 60_000_000_000)
        out = sign
        if h:
            out += f"{h}h"
        if h or m:
            out += f"{m}m"
        return out + _trim_frac(rem, 1_000_000_000) + "s"


def _trim_frac(n: int, unit: int) -> str:
    whole, frac = divmod(n, unit)
    if not frac:
        return str(whole)
    width = len(str(unit)) - 1
    return f"{whole}." + f"{frac:0{width}d}".rstrip("0")


_LAYOUT_TOKENS = [
    "January", "Monday", "-07:00:00", "Z07:00:00", "-07:00", "Z07:00", "-0700", "Z0700",
    "2006", "Jan", "Mon", "MST", "-07", "Z07", "002", "__2", "_2", "01", "02", "03", "04",
    "05", "06", "15", "PM", "pm", "1", "2", "3", "4", "5",
]  # fmt: skip
_FRAC = re.compile(r"[.,](0+|9+)(?!\d)")


class GoTime:
    """A time.Time: prints as Go does and offers the methods templates call (Format, Unix…)."""

    __slots__ = ("t",)

    def __init__(self, t: dt.datetime) -> None:
        self.t = t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)

    def Format(self, layout: str) -> str:  # noqa: N802
        """Go's Time.Format with a reference-time layout (``2006-01-02 15:04:05``)."""
        return format_go_layout(self.t, layout)

    def Unix(self) -> int:  # noqa: N802
        """Seconds since the epoch."""
        return math.floor(self.t.timestamp())

    def UnixMilli(self) -> int:  # noqa: N802
        """Milliseconds since the epoch."""
        return math.floor(self.t.timestamp() * 1000)

    def UTC(self) -> GoTime:  # noqa: N802
        """The same instant in UTC."""
        return GoTime(self.t.astimezone(dt.UTC))

    def IsZero(self) -> bool:  # noqa: N802
        """Whether this is Go's zero time (0001-01-01 UTC)."""
        return self.t.year == 1 and self.t.month == 1 and self.t.day == 1

    def String(self) -> str:  # noqa: N802
        """Go's Time.String."""
        return str(self)

    def __str__(self) -> str:
        return format_go_layout(self.t, "2006-01-02 15:04:05.999999999 -0700 MST")


def _zone_name(t: dt.datetime) -> str:
    name = t.tzname() or ""
    if name in ("UTC", "") and t.utcoffset() == dt.timedelta(0):
        return "UTC"
    if name and name[0] not in "+-":
        return name
    return _offset(t, "-0700")


def _offset(t: dt.datetime, style: str) -> str:
    off = t.utcoffset() or dt.timedelta(0)
    secs = int(off.total_seconds())
    if style.startswith("Z") and secs == 0:
        return "Z"
    sign = "-" if secs < 0 else "+"
    secs = abs(secs)
    hh, mm, ss = secs // 3600, secs // 60 % 60, secs % 60
    core = style.lstrip("Z-")
    if core == "07":
        return f"{sign}{hh:02d}"
    if core == "0700":
        return f"{sign}{hh:02d}{mm:02d}"
    if core == "07:00":
        return f"{sign}{hh:02d}:{mm:02d}"
    return f"{sign}{hh:02d}:{mm:02d}:{ss:02d}"


def format_go_layout(t: dt.datetime, layout: str) -> str:
    """Render ``t`` with a Go reference-time layout (Mon Jan 2 15:04:05 MST 2006)."""
    out: list[str] = []
    i = 0
    while i < len(layout):
        fm = _FRAC.match(layout, i)
        if fm:
            digits = len(fm.group(1))
            frac = f"{t.microsecond:06d}000"[:digits]
            if fm.group(1)[0] == "9":
                frac = frac.rstrip("0")
                out.append(layout[i] + frac if frac else "")
            else:
                out.append(layout[i] + frac)
            i = fm.end()
            continue
        for tok in _LAYOUT_TOKENS:
            if layout.startswith(tok, i):
                out.append(_layout_value(t, tok))
                i += len(tok)
                break
        else:
            out.append(layout[i])
            i += 1
    return "".join(out)


def _layout_value(t: dt.datetime, tok: str) -> str:
    hour12 = t.hour % 12 or 12
    values = {
        "January": t.strftime("%B"), "Monday": t.strftime("%A"), "2006": f"{t.year:04d}",
        "Jan": t.strftime("%b"), "Mon": t.strftime("%a"), "MST": _zone_name(t),
        "002": f"{t.timetuple().tm_yday:03d}", "__2": f"{t.timetuple().tm_yday:>3d}",
        "_2": f"{t.day:>2d}", "01": f"{t.month:02d}", "02": f"{t.day:02d}",
        "03": f"{hour12:02d}", "04": f"{t.minute:02d}", "05": f"{t.second:02d}",
        "06": f"{t.year % 100:02d}", "15": f"{t.hour:02d}", "PM": "PM" if t.hour >= 12 else "AM",
        "pm": "pm" if t.hour >= 12 else "am", "1": str(t.month), "2": str(t.day),
        "3": str(hour12), "4": str(t.minute), "5": str(t.second),
    }  # fmt: skip
    if tok in values:
        return values[tok]
    return _offset(t, tok)


def go_type_name(v: Any) -> str:
    """The Go type a template error would name for a Python value."""
    if v is None:
        return "<nil>"
    go_type = getattr(type(v), "go_type", None)
    if isinstance(go_type, str):
        return go_type
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, GoTime | dt.datetime):
        return "time.Time"
    if isinstance(v, GoDuration):
        return "time.Duration"
    if isinstance(v, Mapping):
        return "map[string]interface {}"
    if isinstance(v, list | tuple):
        return "[]interface {}"
    return type(v).__name__


def go_str(v: Any) -> str:
    """Go's ``fmt.Sprint`` of one value (``%v``)."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float(v)
    if v is None:
        return "<nil>"
    if v is NO_VALUE:
        return "<no value>"
    if isinstance(v, dt.datetime):
        return str(GoTime(v))
    if isinstance(v, dt.timedelta):
        return str(GoDuration(round(v.total_seconds() * 1e9)))
    string_method = getattr(v, "String", None)
    if callable(string_method):
        return str(string_method())
    if isinstance(v, Mapping):
        items = sorted(v.items(), key=lambda kv: _sort_key(kv[0]))
        return "map[" + " ".join(f"{go_str(k)}:{go_str(x)}" for k, x in items) + "]"
    if isinstance(v, Sequence):
        return "[" + " ".join(go_str(x) for x in v) + "]"
    return str(v)


def _sort_key(k: Any) -> tuple[int, Any]:
    if isinstance(k, int | float) and not isinstance(k, bool):
        return (0, k)
    return (1, str(k))


def go_sprint(*args: Any) -> str:
    """Go's fmt.Sprint: a space between operands when neither side is a string."""
    out: list[str] = []
    for i, a in enumerate(args):
        if i > 0 and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_str(a))
    return "".join(out)


def go_sprintln(*args: Any) -> str:
    """Go's fmt.Sprintln: operands always space-separated, newline appended."""
    return " ".join(go_str(a) for a in args) + "\n"


_VERB = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d*))?([a-zA-Z%])")


def _bad(verb: str, v: Any) -> str:
    if v is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type_name(v)}={go_str(v)})"


def go_printf(fmt: str, *args: Any) -> str:
    """Go's fmt.Sprintf for the verbs templates use: %s %q %v %d %f %e %g %x %X %o %b %t %c."""
    out: list[str] = []
    argi = 0
    pos = 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width_s, prec_s, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        width: int | None = None
        prec: int | None = None
        if width_s == "*":
            width, argi = (int(args[argi]) if argi < len(args) else None), argi + 1
        elif width_s:
            width = int(width_s)
        if prec_s == "*":
            prec, argi = (int(args[argi]) if argi < len(args) else None), argi + 1
        elif prec_s is not None:
            prec = int(prec_s) if prec_s else 0
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        v = args[argi]
        argi += 1
        out.append(_format_one(flags, width, prec, verb, v))
    out.append(fmt[pos:])
    if argi < len(args):
        extra = ", ".join(f"{go_type_name(a)}={go_str(a)}" for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _format_one(flags: str, width: int | None, prec: int | None, verb: str, v: Any) -> str:
    spec_w = "" if width is None else str(width)
    spec_p = "" if prec is None else f".{prec}"
    num = isinstance(v, int | float) and not isinstance(v, bool)
    if verb == "T":
        return _pad(go_type_name(v), flags, width)
    if verb in "sq" and (num or isinstance(v, bool) or v is None):
        return _bad(verb, v)
    if verb in "sv" or verb == "q":
        if verb == "v" and num:
            s = go_float(v) if isinstance(v, float) else str(v)
            if "+" in flags and v >= 0:
                s = "+" + s
        elif verb == "q":
            s = _go_quote(go_str(v))
        else:
            s = go_str(v)
            if prec is not None and verb == "s":
                s = s[:prec]
        return _pad(s, flags, width)
    if verb == "t":
        return _pad(go_str(v), flags, width) if isinstance(v, bool) else _bad(verb, v)
    if verb in "dboxXc" and isinstance(v, int) and not isinstance(v, bool):
        if verb == "c":
            return _pad(chr(v), flags, width)
        py = {"d": "d", "b": "b", "o": "o", "x": "x", "X": "X"}[verb]
        return _pyfmt(v, flags, spec_w, "", py)
    if verb in "xX" and isinstance(v, str):
        h = v.encode().hex()
        return _pad(h.upper() if verb == "X" else h, flags, width)
    if verb in "feEgGF" and num:
        f = float(v)
        if math.isnan(f) or math.isinf(f):
            return _pad(go_format_g(f, 6) if f == f else "NaN", flags, width)
        if verb in "gG" and prec is None:
            s = go_float(f)
            return _pad(s.upper() if verb == "G" else s, flags, width)
        py = verb.lower() if verb == "F" else verb
        return _pyfmt(f, flags, spec_w, spec_p or (".6" if verb in "feEF" else ""), py)
    return _bad(verb, v)


def _pyfmt(v: float, flags: str, width: str, prec: str, py: str) -> str:
    align = "<" if "-" in flags else ""
    sign = "+" if "+" in flags else (" " if " " in flags else "")
    zero = "0" if "0" in flags and not align else ""
    alt = "#" if "#" in flags else ""
    return format(v, f"{align}{sign}{alt}{zero}{width}{prec}{py}")


def _pad(s: str, flags: str, width: int | None) -> str:
    if width is None or len(s) >= width:
        return s
    return s.ljust(width) if "-" in flags else s.rjust(width)


def _go_quote(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif not ch.isprintable():
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)
