"""The full line grammar of the text exposition formats: the exact, slower path.

:mod:`promhub.model.exposition` parses the common line shape (``series value [ts]``) with
a few byte operations and a cache; every line it cannot vouch for comes here. This module
follows the lexers and parsers of Prometheus' ``model/textparse`` (``promlex.l``,
``openmetricslex.l``, ``promparse.go``, ``openmetricsparse.go``) rule by rule, so that a
body is accepted or rejected exactly as Prometheus 3 does. Where the two formats differ:

- text 0.0.4 allows spaces and tabs between all tokens, blank lines and free ``#`` comments,
  integer millisecond timestamps, and ``untyped``;
- OpenMetrics allows exactly one space between value, timestamp and exemplar, no blank
  lines, no free comments, float-second timestamps, ``UNIT``, more types, exemplars
  (``# {labels} value [ts]``) and requires ``# EOF`` as the last line.

Every error is an :class:`ExpositionError` naming the 1-based line.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from promhub.model.labels import METRIC_NAME, Labels


class ExpositionError(ValueError):
    """A malformed exposition body; ``line`` is the 1-based line of the first error."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.reason = message


# Metric types each format declares in ``# TYPE``, mapped to Prometheus' metadata names.
TEXT_TYPES = {
    b"counter": "counter",
    b"gauge": "gauge",
    b"histogram": "histogram",
    b"summary": "summary",
    b"untyped": "unknown",
}
OPENMETRICS_TYPES = {
    b"counter": "counter",
    b"gauge": "gauge",
    b"histogram": "histogram",
    b"gaugehistogram": "gaugehistogram",
    b"summary": "summary",
    b"info": "info",
    b"stateset": "stateset",
    b"unknown": "unknown",
}

_WS = re.compile(rb"[ \t]*")
_METRIC_NAME = re.compile(rb"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(rb"[a-zA-Z_][a-zA-Z0-9_]*")
# The lexers accept any escaped byte inside quotes; only three escapes are translated.
_QUOTED = re.compile(rb'"([^"\\]*(?:\\.[^"\\]*)*)"', re.DOTALL)
_ESCAPE = re.compile(rb'\\([\\"n])')
_HELP_ESCAPE_TEXT = re.compile(rb"\\([\\n])")
_ESCAPES = {b"\\": b"\\", b'"': b'"', b"n": b"\n"}
# The label block as nearly every exporter writes it: plain names, no blanks. Matched in
# one go (then split with _PAIR), it spares the token-by-token walk below.
_PAIR_SRC = rb'[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*(?:\\.[^"\\]*)*"'
_SIMPLE_BLOCK = re.compile(rb"(?:" + _PAIR_SRC + rb",)*(?:" + _PAIR_SRC + rb")?}", re.DOTALL)
_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\]*(?:\\.[^"\\]*)*)"', re.DOTALL)
_ESCAPE_STR = re.compile(r'\\([\\"n])')
_ESCAPES_STR = {"\\": "\\", '"': '"', "n": "\n"}
_TEXT_VALUE = re.compile(rb"[^{ \t]+")
_DIGITS = re.compile(rb"[0-9]+")
_OM_TOKEN = re.compile(rb" ([^ ]+)")
# Go's strconv.ParseFloat as Prometheus calls it: decimal only (Prometheus rejects any
# 'p' and '_', which removes hex floats and digit separators), special values in any case.
_GO_FLOAT = re.compile(
    rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:[+-]?inf(?:inity)?|nan)"
)
_INT64_MAX = 2**63 - 1

#: The bit pattern Prometheus gives every parsed NaN (value.NormalNaN), so that a NaN in
#: an exposition can never look like a staleness marker.
NORMAL_NAN_BITS = 0x7FF8000000000001


class Exemplar(NamedTuple):
    """An OpenMetrics exemplar attached to a sample of the series ``series_ref``."""

    series_ref: int
    labels: Labels
    value: float
    timestamp: int | None  # milliseconds, or None when the exemplar carried none


class SeriesLine(NamedTuple):
    """One sample line, fully parsed and validated."""

    key: bytes  # the raw series text: what the scrape cache is keyed by
    labels: Labels
    value: bytes  # the value token, already checked to be a Prometheus float
    timestamp: bytes | None  # the timestamp token, already checked
    exemplar: tuple[Labels, float, int | None] | None


class MetaLine(NamedTuple):
    """A ``# HELP``, ``# TYPE`` or ``# UNIT`` line."""

    kind: str  # "help", "type" or "unit"
    name: str
    text: str  # help text unescaped, the type as Prometheus names it, or the unit


def show(b: bytes, limit: int = 60) -> str:
    """A short, quoted rendering of offending input for error messages."""
    s = b[:limit].decode("utf-8", "backslashreplace")
    s = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return '"' + s + ('..."' if len(b) > limit else '"')


def unescape(raw: bytes) -> bytes:
    """Translate the escapes ``\\\\``, ``\\"`` and ``\\n``; keep any other backslash."""
    if b"\\" not in raw:
        return raw
    return _ESCAPE.sub(lambda m: _ESCAPES[m.group(1)], raw)


def _unescape_str(m: re.Match[str]) -> str:
    return _ESCAPES_STR[m.group(1)]


def go_float(token: bytes) -> float | None:
    """Parse a float spelled as Prometheus accepts it, or return None.

    Python's ``float()`` also accepts ``1_0``, ``+nan``, surrounding whitespace and
    out-of-range literals such as ``1e400`` (as inf); Go's parser, as Prometheus uses it,
    rejects all of those.
    """
    if _GO_FLOAT.fullmatch(token) is None:
        return None
    v = float(token)
    if math.isinf(v) and token[-1:] not in (b"f", b"F", b"y", b"Y"):
        return None  # Go reports a range error where Python rounds to infinity
    return v


def decode(raw: bytes, line: int, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ExpositionError(line, f"invalid UTF-8 in {what} {show(raw)}") from None


def format_openmetrics_float(f: float) -> str:
    """Format like Prometheus' ``FormatOpenMetricsFloat`` (Go ``%g`` shortest, plus ".0")."""
    if f == 1:
        return "1.0"
    if f == 0:
        return "0.0"
    if f == -1:
        return "-1.0"
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    r = repr(f)  # Python's repr has the same shortest round-trip digits as Go
    sign = "-" if r[0] == "-" else ""
    mantissa, _, exp = r.lstrip("-").partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    point = len(whole) + (int(exp) if exp else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    e10 = point - 1
    # Go's shortest %g switches to an exponent below 1e-4 and from 1e6 (precision 6).
    if e10 < -4 or e10 >= 6:
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{m}e{'+' if e10 >= 0 else '-'}{abs(e10):02d}"
    if point <= 0:
        s = "0." + "0" * -point + digits
    elif point >= len(digits):
        s = digits + "0" * (point - len(digits))
    else:
        s = digits[:point] + "." + digits[point:]
    return sign + (s if "." in s else s + ".0")


def _normalize(mtype: str, name: str, value: str) -> str:
    # Prometheus 3 rewrites classic histogram "le" and summary "quantile" values into the
    # OpenMetrics spelling so that le="1" and le="1.0" are one series in both formats.
    if (mtype == "histogram" and name == "le") or (mtype == "summary" and name == "quantile"):
        f = go_float(value.encode())
        if f is not None:
            return format_openmetrics_float(f)
    return value


class LineGrammar:
    """Parses single lines of one format. ``mtype`` tracks the last ``# TYPE`` seen."""

    __slots__ = ("om", "mtype")

    def __init__(self, openmetrics: bool) -> None:
        self.om = openmetrics
        self.mtype = "unknown"

    # -- series ---------------------------------------------------------------------

    def _skip(self, line: bytes, pos: int) -> int:
        # Text 0.0.4 allows blanks between any two tokens; OpenMetrics allows none.
        if self.om or pos >= len(line) or line[pos] not in (0x20, 0x09):
            return pos
        m = _WS.match(line, pos)
        assert m is not None
        return m.end()

    def series(self, line: bytes, pos: int, lineno: int) -> tuple[int, Labels]:
        """Parse ``name{labels}`` (either part optional, one required) starting at ``pos``.

        Returns the end of the series text and its label set including ``__name__``.
        """
        name: str | None = None
        end = len(line)
        if pos < end and line[pos] != 0x7B:  # '{'
            m = _METRIC_NAME.match(line, pos)
            if m is None:
                raise ExpositionError(lineno, f"expected a metric name, got {show(line[pos:])}")
            name = m.group().decode()
            pos = m.end()
            after = self._skip(line, pos)
            if after >= end or line[after] != 0x7B:
                return pos, self._labels(name, [], lineno)
            pos = after
        if pos >= end:
            raise ExpositionError(lineno, "expected a metric name, got end of line")
        pairs, pos, qname = self.label_block(line, pos + 1, lineno, exemplar=False)
        if qname is not None:
            if name is not None:
                raise ExpositionError(lineno, f"metric name already set, got {show(qname)}")
            name = decode(unescape(qname), lineno, "metric name")
        if name is None:
            raise ExpositionError(lineno, f"metric name not set in {show(line[:pos])}")
        return pos, self._labels(name, pairs, lineno)

    def _labels(self, name: str, pairs: list[tuple[str, str]], lineno: int) -> Labels:
        if not name:
            raise ExpositionError(lineno, "empty metric name")
        d = {METRIC_NAME: name}
        mtype = self.mtype
        for k, v in pairs:
            if k in d:
                raise ExpositionError(lineno, f"duplicate label name {show(k.encode())}")
            d[k] = _normalize(mtype, k, v) if mtype in ("histogram", "summary") else v
        return Labels.from_dict(d)

    def label_block(
        self, line: bytes, pos: int, lineno: int, *, exemplar: bool
    ) -> tuple[list[tuple[str, str]], int, bytes | None]:
        """Parse label pairs after ``{`` up to and including ``}``.

        Returns the pairs, the position after ``}`` and the raw quoted metric name if the
        block held one (``{"my.metric", label="v"}``, the Prometheus 3 UTF-8 form).
        """
        m = _SIMPLE_BLOCK.match(line, pos)
        if m is not None:
            try:
                block = line[pos : m.end()].decode()
            except UnicodeDecodeError:
                pass  # the walk below names the offending value
            else:
                found: list[tuple[str, str]] = _PAIR.findall(block)
                if "\\" in block:
                    found = [(k, _ESCAPE_STR.sub(_unescape_str, v)) for k, v in found]
                return found, m.end(), None
        pairs: list[tuple[str, str]] = []
        qname: bytes | None = None
        end = len(line)
        om = self.om
        while True:
            pos = self._skip(line, pos)
            if pos >= end:
                raise ExpositionError(lineno, "unterminated label set, expected '}'")
            c = line[pos]
            if c == 0x7D:  # '}'
                return pairs, pos + 1, qname
            quoted = False
            if c == 0x22:  # '"'
                m = _QUOTED.match(line, pos)
                if m is None:
                    raise ExpositionError(lineno, f"unterminated quoted string {show(line[pos:])}")
                raw = m.group(1)
                quoted = True
            else:
                m = _LABEL_NAME.match(line, pos)
                if m is None:
                    raise ExpositionError(lineno, f"expected label name, got {show(line[pos:])}")
                raw = m.group()
            pos = self._skip(line, m.end())
            nxt = line[pos] if pos < end else -1
            if quoted and nxt in (0x2C, 0x7D):  # a quoted string alone is the metric name
                if exemplar:
                    raise ExpositionError(lineno, "expected label name in exemplar")
                if qname is not None:
                    raise ExpositionError(lineno, f"metric name already set, got {show(raw)}")
                qname = raw
                if nxt == 0x2C:
                    pos += 1
                continue
            if nxt != 0x3D:  # '='
                raise ExpositionError(
                    lineno, f"expected '=' after label name, got {show(line[pos:])}"
                )
            lname = decode(unescape(raw), lineno, "label name") if quoted else raw.decode()
            if not lname:
                raise ExpositionError(lineno, "empty label name")
            pos = self._skip(line, pos + 1)
            m = _QUOTED.match(line, pos) if pos < end and line[pos] == 0x22 else None
            if m is None:
                raise ExpositionError(
                    lineno, f"expected quoted label value, got {show(line[pos:])}"
                )
            pairs.append((lname, decode(unescape(m.group(1)), lineno, "label value")))
            pos = self._skip(line, m.end())
            nxt = line[pos] if pos < end else -1
            if nxt == 0x2C:  # ','
                pos += 1
            elif om and nxt != 0x7D:
                raise ExpositionError(
                    lineno, f"expected ',' or '}}' after label value, got {show(line[pos:])}"
                )

    def sample(self, line: bytes, lineno: int) -> SeriesLine:
        """Parse a whole sample line (the caller has ruled out comments and blanks)."""
        pos = self._skip(line, 0)
        start = pos
        pos, labels = self.series(line, pos, lineno)
        key = line[start:pos]
        if self.om:
            return self._om_tail(line, pos, lineno, key, labels)
        pos = self._skip(line, pos)
        m = _TEXT_VALUE.match(line, pos)
        if m is None:
            raise ExpositionError(
                lineno,
                "expected value after metric, got "
                + (show(line[pos:]) if pos < len(line) else "end of line"),
            )
        value = self._value(m.group(), lineno)
        pos = self._skip(line, m.end())
        if pos == len(line):
            return SeriesLine(key, labels, value, None, None)
        m = _DIGITS.match(line, pos)
        if m is None:
            raise ExpositionError(
                lineno, f"expected timestamp or end of line, got {show(line[pos:])}"
            )
        ts = m.group()
        if int(ts) > _INT64_MAX:
            raise ExpositionError(lineno, f"timestamp {show(ts)} out of range")
        pos = self._skip(line, m.end())
        if pos != len(line):
            raise ExpositionError(
                lineno, f"expected end of line after timestamp, got {show(line[pos:])}"
            )
        return SeriesLine(key, labels, value, ts, None)

    @staticmethod
    def _value(token: bytes, lineno: int) -> bytes:
        if go_float(token) is None:
            raise ExpositionError(lineno, f"invalid float value {show(token)}")
        return token

    @staticmethod
    def om_timestamp(token: bytes, lineno: int) -> int:
        """An OpenMetrics timestamp (float seconds) as Prometheus stores it: ms, truncated."""
        f = go_float(token)
        if f is None:
            raise ExpositionError(lineno, f"invalid timestamp {show(token)}")
        if not math.isfinite(f) or abs(f * 1000.0) >= 2.0**63:
            raise ExpositionError(lineno, f"invalid timestamp {show(token)}")
        return int(f * 1000.0)

    def _om_tail(
        self, line: bytes, pos: int, lineno: int, key: bytes, labels: Labels
    ) -> SeriesLine:
        end = len(line)
        m = _OM_TOKEN.match(line, pos)
        if m is None:
            got = show(line[pos:]) if pos < end else "end of line"
            raise ExpositionError(lineno, f"expected value after metric, got {got}")
        value = self._value(m.group(1), lineno)
        pos = m.end()
        ts: bytes | None = None
        if pos < end and not line.startswith(b" # {", pos):
            m = _OM_TOKEN.match(line, pos)
            if m is None:
                raise ExpositionError(lineno, f"expected timestamp, got {show(line[pos:])}")
            ts = m.group(1)
            self.om_timestamp(ts, lineno)
            pos = m.end()
        ex = None
        if pos < end:
            if not line.startswith(b" # {", pos):
                raise ExpositionError(
                    lineno, f"expected exemplar or end of line, got {show(line[pos:])}"
                )
            ex = self._exemplar(line, pos + 4, lineno)
        return SeriesLine(key, labels, value, ts, ex)

    def _exemplar(self, line: bytes, pos: int, lineno: int) -> tuple[Labels, float, int | None]:
        pairs, pos, _ = self.label_block(line, pos, lineno, exemplar=True)
        names = [k for k, _ in pairs]
        if len(set(names)) != len(names):
            raise ExpositionError(lineno, "duplicate label name in exemplar")
        m = _OM_TOKEN.match(line, pos)
        if m is None:
            raise ExpositionError(lineno, f"expected exemplar value, got {show(line[pos:])}")
        value = go_float(m.group(1))
        if value is None:
            raise ExpositionError(lineno, f"invalid exemplar value {show(m.group(1))}")
        pos = m.end()
        ts: int | None = None
        if pos < len(line):
            m = _OM_TOKEN.match(line, pos)
            if m is None or m.end() != len(line):
                raise ExpositionError(
                    lineno, f"expected end of line after exemplar, got {show(line[pos:])}"
                )
            ts = self.om_timestamp(m.group(1), lineno)
        return Labels.from_pairs(pairs), value, ts

    # -- comments and metadata ------------------------------------------------------

    def meta(self, line: bytes, lineno: int) -> MetaLine | None:
        """Parse a line starting with ``#`` (or a blank line); None for a plain comment.

        OpenMetrics' ``# EOF`` is the caller's business.
        """
        if self.om:
            return self._om_meta(line, lineno)
        pos = self._skip(line, 0)
        if pos == len(line):
            return None  # blank line
        pos += 1  # '#'
        if pos == len(line) or line[pos] not in (0x20, 0x09):
            return None  # "#foo" is a comment, never metadata
        pos = self._skip(line, pos)
        kw = line[pos : pos + 4]
        if kw not in (b"HELP", b"TYPE") or pos + 4 >= len(line) or line[pos + 4] not in (0x20, 9):
            return None
        name, pos = self._meta_name(line, self._skip(line, pos + 4), lineno, kw)
        rest = line[pos:]
        # Go's lexer: the text is the rest of the line minus its first (separator) byte;
        # blanks alone mean no text.
        text = rest[1:] if rest.strip(b" \t") else b""
        if kw == b"TYPE":
            mtype = TEXT_TYPES.get(text)
            if mtype is None:
                raise ExpositionError(lineno, f"invalid metric type {show(text)}")
            self.mtype = mtype
            return MetaLine("type", name, mtype)
        if b"\\" in text:
            text = _HELP_ESCAPE_TEXT.sub(lambda m: _ESCAPES[m.group(1)], text)
        return MetaLine("help", name, decode(text, lineno, "help text"))

    def _meta_name(self, line: bytes, pos: int, lineno: int, kw: bytes) -> tuple[str, int]:
        if pos < len(line) and line[pos] == 0x22:
            m = _QUOTED.match(line, pos)
            raw = unescape(m.group(1)) if m else b""
        else:
            m = _METRIC_NAME.match(line, pos)
            raw = m.group() if m else b""
        if m is None or not raw:
            got = show(line[pos:]) if pos < len(line) else "end of line"
            raise ExpositionError(lineno, f"expected metric name after {kw.decode()}, got {got}")
        return decode(raw, lineno, "metric name"), m.end()

    def _om_meta(self, line: bytes, lineno: int) -> MetaLine:
        kw = line[2:6]
        if not line.startswith(b"# ") or kw not in (b"HELP", b"TYPE", b"UNIT") or line[6:7] != b" ":
            got = show(line) if line else "an empty line"
            raise ExpositionError(lineno, f"expected HELP, TYPE, UNIT, EOF or a sample, got {got}")
        name, pos = self._meta_name(line, 7, lineno, kw)
        if line[pos : pos + 1] != b" ":
            raise ExpositionError(lineno, f"expected text in {kw.decode()}")
        text = line[pos + 1 :]
        if kw == b"TYPE":
            mtype = OPENMETRICS_TYPES.get(text)
            if mtype is None:
                raise ExpositionError(lineno, f"invalid metric type {show(text)}")
            self.mtype = mtype
            return MetaLine("type", name, mtype)
        if kw == b"UNIT":
            unit = decode(text, lineno, "unit")
            if unit and not name.endswith("_" + unit):
                raise ExpositionError(lineno, f'unit "{unit}" is not a suffix of metric "{name}"')
            return MetaLine("unit", name, unit)
        return MetaLine("help", name, decode(unescape(text), lineno, "help text"))
