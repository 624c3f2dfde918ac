"""Literal values of PromQL as Prometheus spells them: Go strings, numbers, durations.

Shared by the lexer, the parser and the printer: Go's string quoting and unquoting (label
values may carry raw bytes through ``\\xNN`` escapes; they travel as surrogate escapes),
``strconv`` number parsing, Prometheus duration parsing and formatting, and the evaluation
of duration expressions (``[step() * 2]``) once a query's step and range are known.
"""

from __future__ import annotations

import math
import re

from promhub.promql.ast import BinaryExpr, Call, Expr, NumberLiteral, ParenExpr, UnaryExpr

_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


def go_unquote(s: str) -> str:
    """Unquote a lexed string token (``"..."``, ``'...'`` or a raw backtick string).

    ``\\xNN`` and octal escapes produce raw bytes, as in Go; bytes that do not form valid
    UTF-8 are kept as surrogate escapes (U+DC80..U+DCFF), so ``go_quote`` prints them back as
    ``\\xNN`` and validity checks can reject them.
    """
    q, body = s[0], s[1:-1]
    if q == "`":
        return body
    if "\\" not in body:
        return body
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            j = body.find("\\", i)
            j = n if j < 0 else j
            out += body[i:j].encode("utf-8", "surrogateescape")
            i = j
            continue
        e = body[i + 1]
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
            i += 2
        elif e in "\"'":
            out += e.encode()
            i += 2
        elif e == "x":
            out.append(int(body[i + 2 : i + 4], 16))
            i += 4
        elif e in "01234567":
            out.append(int(body[i + 1 : i + 4], 8) & 0xFF)
            i += 4
        elif e == "u":
            out += chr(int(body[i + 2 : i + 6], 16)).encode("utf-8")
            i += 6
        else:  # "U"
            out += chr(int(body[i + 2 : i + 10], 16)).encode("utf-8")
            i += 10
    return out.decode("utf-8", "surrogateescape")


def _escape_rune(c: str, quote: str) -> str:
    o = ord(c)
    if 0xDC80 <= o <= 0xDCFF:  # a raw byte that was not valid UTF-8
        return f"\\x{o - 0xDC00:02x}"
    if c == quote or c == "\\":
        return "\\" + c
    if c.isprintable():
        return c
    named = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}
    if o in named:
        return named[o]
    if o < 0x20 or o == 0x7F:
        return f"\\x{o:02x}"
    if 0xD800 <= o < 0xE000:
        o = 0xFFFD
    if o < 0x10000:
        return f"\\u{o:04x}"
    return f"\\U{o:08x}"


def go_quote(s: str) -> str:
    """Go's ``strconv.Quote``: a double-quoted string with Go escapes."""
    if s.isprintable() and '"' not in s and "\\" not in s:
        return '"' + s + '"'
    return '"' + "".join(_escape_rune(c, '"') for c in s) + '"'


def go_quote_rune(c: str) -> str:
    """Go's ``%q`` of a rune: ``'x'``."""
    if c == "":  # end of input: Go prints utf8.RuneError
        return "'\ufffd'"
    return "'" + _escape_rune(c, "'") + "'"


def go_rune_u(c: str) -> str:
    """Go's ``%#U`` of a rune: ``U+0063 'c'``."""
    if c == "":
        return "U+FFFFFFFFFFFFFFFF"
    o = ord(c)
    if c.isprintable():
        return f"U+{o:04X} '{c}'"
    return f"U+{o:04X}"


# -- durations --------------------------------------------------------------------------

_UNITS = {"y": (1, 31_536_000_000), "w": (2, 604_800_000), "d": (3, 86_400_000)}
_UNITS.update({"h": (4, 3_600_000), "m": (5, 60_000), "s": (6, 1000), "ms": (7, 1)})
_MAX_NS = (1 << 63) - 1


def parse_duration_ms(text: str) -> int:
    """Parse a Prometheus duration (``5m``, ``1h30m``, ``10s53ms``, ``0``) to milliseconds.

    Raises :class:`ValueError` with Prometheus' message (``not a valid duration string:
    "5m1h"``, ``unknown unit "hs" in duration "5y1hs"``, ``duration out of range``).
    """
    if text == "0":
        return 0
    if text == "":
        raise ValueError("empty duration string")
    s, total_ns, last = text, 0, 0
    while s:
        if not s[0].isdigit() or not s[0].isascii():
            raise ValueError(f"not a valid duration string: {go_quote(text)}")
        i = 0
        while i < len(s) and "0" <= s[i] <= "9":
            i += 1
        v = int(s[:i])
        s = s[i:]
        i = 0
        while i < len(s) and not ("0" <= s[i] <= "9"):
            i += 1
        if i == 0:
            raise ValueError(f"not a valid duration string: {go_quote(text)}")
        unit, s = s[:i], s[i:]
        if unit not in _UNITS:
            raise ValueError(f"unknown unit {go_quote(unit)} in duration {go_quote(text)}")
        order, mult_ms = _UNITS[unit]
        if order <= last:
            raise ValueError(f"not a valid duration string: {go_quote(text)}")
        last = order
        mult_ns = mult_ms * 1_000_000
        if v > (1 << 63) // mult_ns:
            raise ValueError("duration out of range")
        total_ns += v * mult_ns
        if total_ns > _MAX_NS:
            raise ValueError("duration out of range")
    return total_ns // 1_000_000


def format_duration_ms(ms: int) -> str:
    """Prometheus' ``model.Duration.String()`` (``90d``, ``1h30m``, ``1s500ms``, ``0s``)."""
    if ms == 0:
        return "0s"
    out = []
    for unit, mult, exact in (
        ("y", 31_536_000_000, True),
        ("w", 604_800_000, True),
        ("d", 86_400_000, False),
        ("h", 3_600_000, False),
        ("m", 60_000, False),
        ("s", 1000, False),
        ("ms", 1, False),
    ):
        if exact and ms % mult != 0:
            continue
        v = ms // mult
        if v > 0:
            out.append(f"{v}{unit}")
            ms -= v * mult
    return "".join(out)


# -- numbers and duration expressions ---------------------------------------------------

MAX_DURATION_S = (1 << 63) / 1e9
_LEGACY_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


def seconds_to_ms(v: float) -> int:
    if math.isnan(v) or math.isinf(v):
        return 0
    ns = round_half_away(v * 1e9)
    return ns // 1_000_000 if ns >= 0 else -((-ns) // 1_000_000)


def round_half_away(x: float) -> int:
    """Go's math.Round: halves away from zero."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def go_format_f(v: float) -> str:
    """Go's ``%f``."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return f"{v:f}"


def valid_label_name(name: str) -> bool:
    """Prometheus 3 (UTF-8 mode): any non-empty valid UTF-8 string names a label."""
    return name != "" and not any(0xD800 <= ord(c) <= 0xDFFF for c in name)


def is_legacy_name(name: str) -> bool:
    """``[a-zA-Z_][a-zA-Z0-9_]*``: printed without quotes."""
    return _LEGACY_NAME.match(name) is not None


def parse_go_number(s: str) -> float | str:
    """Prometheus' ``parser.number``: ``strconv.ParseInt(s, 0, 64)`` then ``ParseFloat``.

    Returns the value, or Go's error text when neither accepts ``s``.
    """
    iv = _go_parse_int(s)
    if iv is not None:
        return float(iv)
    low = s.lower()
    if low in ("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan"):
        return float(low.replace("infinity", "inf"))
    if low.startswith(("0x", "-0x", "+0x")) or not _go_float_syntax(s):
        return f"strconv.ParseFloat: parsing {go_quote(s)}: invalid syntax"
    v = float(s)
    if math.isinf(v):
        return f"strconv.ParseFloat: parsing {go_quote(s)}: value out of range"
    return v


_GO_FLOAT = re.compile(r"[+-]?(\d(_?\d)*)?(\.(\d(_?\d)*)?)?([eE][+-]?\d(_?\d)*)?\Z")


def _go_float_syntax(s: str) -> bool:
    return bool(_GO_FLOAT.match(s)) and any(c.isdigit() for c in s.split("e")[0].split("E")[0])


def _go_parse_int(s: str) -> int | None:
    body = s
    base = 10
    low = body.lower()
    if low.startswith("0x"):
        base, body = 16, body[2:]
    elif low.startswith("0b"):
        base, body = 2, body[2:]
    elif low.startswith("0o"):
        base, body = 8, body[2:]
    elif len(body) > 1 and body[0] == "0":
        base, body = 8, body[1:]
    if "_" in body:
        if body.startswith("_") and base == 10:
            return None
        if "__" in body or body.endswith("_"):
            return None
        body = body.replace("_", "")
    if not body:
        return None
    try:
        v = int(body, base)
    except ValueError:
        return None
    if v > (1 << 63) - 1:
        return None
    return v


def evaluate_duration(
    expr: Expr, *, step_ms: int, range_ms: int, allow_negative: bool = False
) -> int:
    """Milliseconds of a duration expression (a ``*_expr`` field) for one query.

    ``step()`` is the query's step and ``range()`` its end minus start (0 for instant
    queries). Raises :class:`ValueError` with Prometheus' message when the result is not
    positive (unless ``allow_negative``, for offsets) or on division by zero.
    """
    seconds = _duration_seconds(expr, step_ms / 1000.0, range_ms / 1000.0)
    if seconds <= 0 and not allow_negative:
        raise ValueError(f"{expr.pos[0]}:{expr.pos[1]}: duration must be greater than 0")
    if not -MAX_DURATION_S <= seconds <= MAX_DURATION_S or math.isnan(seconds):
        raise ValueError(f"{expr.pos[0]}:{expr.pos[1]}: duration is out of range")
    return seconds_to_ms(seconds)


def _duration_seconds(e: Expr, step: float, rng: float) -> float:
    if isinstance(e, NumberLiteral):
        return e.value
    if isinstance(e, ParenExpr):
        return _duration_seconds(e.expr, step, rng)
    if isinstance(e, UnaryExpr):
        v = _duration_seconds(e.expr, step, rng)
        return -v if e.op == "-" else v
    if isinstance(e, Call):
        if e.func == "step":
            return step
        if e.func == "range":
            return rng
        a = _duration_seconds(e.args[0], step, rng)
        b = _duration_seconds(e.args[1], step, rng)
        return min(a, b) if e.func == "min_of" else max(a, b)
    if isinstance(e, BinaryExpr):
        a = _duration_seconds(e.lhs, step, rng)
        b = _duration_seconds(e.rhs, step, rng)
        if e.op == "+":
            return a + b
        if e.op == "-":
            return a - b
        if e.op == "*":
            return a * b
        if e.op == "/":
            if b == 0:
                raise ValueError("division by zero")
            return a / b
        if e.op == "%":
            if b == 0:
                raise ValueError("modulo by zero")
            return math.fmod(a, b)
        if e.op == "^":
            try:
                return math.pow(a, b)
            except (OverflowError, ValueError):
                return math.inf
    raise ValueError(f"not a duration expression: {type(e).__name__}")
