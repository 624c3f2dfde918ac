"""Prometheus' ``promqltest`` script format: parsing, not running.

A script is a sequence of commands (``clear``, ``load <interval>``, ``eval …``) with the
data to load and the results to expect, in the notation of Prometheus'
``promql/promqltest/test.go`` (the upstream test files in ``../shared/promql-testdata`` are
written in it). :func:`parse_script` turns the text into :class:`Command` objects;
:mod:`promhub.promql.promqltest` runs them against the engine.

Value sequences follow Prometheus' series-description grammar: ``1 _ 3``, ``_x4`` (four
gaps), ``5x3`` (four fives), ``0+10x100`` (101 values, accumulated one addition at a time as
Prometheus' parser does, so float rounding matches), ``stale``, ``Inf``/``NaN``. Native
histogram literals (``{{…}}``) are recognised but not decoded: promhub has no native
histograms yet, so anything that carries one is flagged and the runner skips it.

>>> script = parse_script("load 1m\\n  up 1 2\\n\\neval instant at 1m up\\n  up 2\\n")
>>> [type(c).__name__ for c in script]
['LoadCommand', 'EvalCommand']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from promhub.model.labels import METRIC_NAME, Labels
from promhub.model.relabel import compile_regex
from promhub.model.value import STALE_NAN
from promhub.promql.value import F64, Mask


class ScriptError(ValueError):
    """A script that does not follow the format; names the 1-based line."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


# -- durations (Prometheus' model.ParseDuration, used for load/eval times) --------------

_DURATION_RE = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_DURATION_UNITS_MS = (
    365 * 86_400_000,
    7 * 86_400_000,
    86_400_000,
    3_600_000,
    60_000,
    1_000,
    1,
)


def parse_duration(text: str) -> int:
    """``1h30m`` → milliseconds; ``0`` is allowed, an empty or unit-less number is not."""
    if text == "0":
        return 0
    m = _DURATION_RE.match(text)
    if not text or m is None or not any(m.groups()):
        raise ValueError(f"not a valid duration string: {text!r}")
    return sum(int(g) * u for g, u in zip(m.groups(), _DURATION_UNITS_MS, strict=True) if g)


# -- numbers and strings ----------------------------------------------------------------

_GO_INT_RE = re.compile(
    r"^[+-]?(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|0(?:_?[0-7])*"
    r"|[1-9](?:_?[0-9])*)$"
)
_GO_FLOAT_RE = re.compile(
    r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)$", re.IGNORECASE
)


def parse_number(text: str) -> float:
    """A whole result line as a scalar: Go's ``ParseInt(s, 0, 64)`` then ``ParseFloat``."""
    if _GO_INT_RE.match(text):
        s = text.replace("_", "")
        sign = -1 if s.startswith("-") else 1
        s = s.lstrip("+-")
        if len(s) > 1 and s[0] == "0" and s[1] in "0123456789":
            return float(sign * int(s, 8))  # Go's base 0 reads a leading 0 as octal
        return float(sign * int(s, 0))
    if _GO_FLOAT_RE.match(text):
        return float(text)
    raise ValueError(f"not a number: {text!r}")


_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
}


def unquote(text: str) -> str:
    """Go's ``strconv.Unquote`` for ``"…"``, ``'…'`` and back-quoted strings."""
    if len(text) < 2 or text[0] != text[-1] or text[0] not in "\"'`":
        raise ValueError(f"not a quoted string: {text}")
    q, body = text[0], text[1:-1]
    if q == "`":
        if "`" in body:
            raise ValueError(f"not a quoted string: {text}")
        return body.replace("\r", "")
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == q or c == "\n":
            raise ValueError(f"not a quoted string: {text}")
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(body):
            raise ValueError(f"unterminated escape in {text}")
        e = body[i + 1]
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
            i += 2
        elif e in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2 : i + 2 + n]
            if len(digits) != n or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError(f"invalid escape \\{e} in {text}")
            if e == "x":
                # A \xNN escape is one byte; Go strings are bytes, ours are text.
                out.append(bytes([int(digits, 16)]).decode("latin-1"))
            else:
                out.append(chr(int(digits, 16)))
            i += 2 + n
        elif e in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not all(d in "01234567" for d in digits):
                raise ValueError(f"invalid octal escape in {text}")
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise ValueError(f"invalid escape \\{e} in {text}")
    return "".join(out)


# -- series descriptions (`name{l="v"} 1 2 3`) --------------------------------------------


@dataclass(slots=True)
class Sequence:
    """Expanded values of one series line: position k is ``interval × k`` (load) or
    ``start + step × k`` (expected range result). ``present`` is False for ``_``."""

    values: F64
    present: Mask
    #: The line holds a native-histogram literal (``{{…}}``); values are not decoded.
    histogram: bool = False

    def __len__(self) -> int:
        return len(self.values)


_IDENT_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_STRING_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|`[^`]*`')
_NUM = r"(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[iI][nN][fF]|[nN][aA][nN])"
_ITEM_RE = re.compile(rf"^(?P<a>[+-]?{_NUM}|stale)(?:(?P<op>[+-])(?P<b>{_NUM}))?(?:x(?P<n>\d+))?$")
_BLANK_RE = re.compile(r"^_(?:x(\d+))?$")


def _labels_part(text: str, line: int) -> tuple[Labels, int]:
    """Parse ``name{…}`` at the start of ``text``; returns labels and where values start."""
    pairs: dict[str, str] = {}
    pos = 0
    m = _IDENT_RE.match(text)
    if m:
        pairs[METRIC_NAME] = m.group()
        pos = m.end()
    if pos < len(text) and text[pos] == "{":
        pos += 1
        while True:
            while pos < len(text) and text[pos] in " \t":
                pos += 1
            if pos < len(text) and text[pos] == "}":
                pos += 1
                break
            sm = _STRING_RE.match(text, pos)
            lm = _LABEL_RE.match(text, pos)
            if sm:
                name = unquote(sm.group())
                pos = sm.end()
            elif lm:
                name = lm.group()
                pos = lm.end()
            else:
                raise ScriptError(line, f"unexpected {text[pos : pos + 10]!r} in series labels")
            while pos < len(text) and text[pos] in " \t":
                pos += 1
            if sm and pos < len(text) and text[pos] in ",}":
                pairs[METRIC_NAME] = name  # a lone quoted string is the metric name
            else:
                if pos >= len(text) or text[pos] != "=" or text[pos : pos + 2] == "=~":
                    raise ScriptError(line, f"expected '=' after label {name!r}")
                pos += 1
                while pos < len(text) and text[pos] in " \t":
                    pos += 1
                vm = _STRING_RE.match(text, pos)
                if not vm:
                    raise ScriptError(line, f"expected a quoted value for label {name!r}")
                if name in pairs and name != METRIC_NAME:
                    raise ScriptError(line, f"label {name!r} given twice")
                pairs[name] = unquote(vm.group())
                pos = vm.end()
                while pos < len(text) and text[pos] in " \t":
                    pos += 1
            if pos < len(text) and text[pos] == ",":
                pos += 1
            elif pos < len(text) and text[pos] == "}":
                pos += 1
                break
            else:
                raise ScriptError(line, "unterminated label set (expected ',' or '}')")
    elif pos == 0:
        raise ScriptError(line, f"expected a series, got {text[:20]!r}")
    return Labels.from_dict(pairs), pos


def parse_sequence(text: str, line: int = 0) -> Sequence:
    """Expand a value sequence (``1 2 _ 0+10x3 stale``)."""
    if "{{" in text:
        return Sequence(np.zeros(0), np.zeros(0, dtype=bool), histogram=True)
    chunks_v: list[F64] = []
    chunks_p: list[Mask] = []
    for item in text.split():
        b = _BLANK_RE.match(item)
        if b:
            n = int(b.group(1)) if b.group(1) is not None else 1
            chunks_v.append(np.zeros(n))
            chunks_p.append(np.zeros(n, dtype=bool))
            continue
        m = _ITEM_RE.match(item)
        if m is None:
            raise ScriptError(line, f"invalid value {item!r} in series values")
        a = STALE_NAN if m["a"] == "stale" else float(m["a"])
        n = int(m["n"]) if m["n"] is not None else 0
        if m["op"] is not None:
            if m["n"] is None:
                raise ScriptError(line, f"invalid value {item!r}: expected 'x<count>'")
            if m["a"] == "stale":
                raise ScriptError(line, f"invalid value {item!r}: stale cannot be incremented")
            d = float(m["b"]) * (-1.0 if m["op"] == "-" else 1.0)
            # Prometheus adds the step once per value (A, A+B, (A+B)+B, …); a cumulative
            # sum reproduces that rounding, A + k*B would not.
            steps = np.full(n + 1, d)
            steps[0] = a
            chunks_v.append(np.cumsum(steps))
        else:
            chunks_v.append(np.full(n + 1, a))
        chunks_p.append(np.ones(n + 1, dtype=bool))
    if not chunks_v:
        return Sequence(np.zeros(0), np.zeros(0, dtype=bool))
    return Sequence(np.concatenate(chunks_v), np.concatenate(chunks_p))


_DUR = r"(?:(?:\d+(?:ms|[smhdwy]))+|\d+)"
_ST_ITEM_RE = re.compile(rf"^(?P<a>[+-]?{_DUR})(?:(?P<op>[+-])(?P<b>{_DUR}))?(?:x(?P<n>\d+))?$")


def _signed_duration(text: str, line: int) -> int:
    sign = -1 if text.startswith("-") else 1
    try:
        return sign * parse_duration(text.lstrip("+-"))
    except ValueError as e:
        raise ScriptError(line, f"invalid start timestamp offset {text!r}: {e}") from None


def parse_st_sequence(text: str, line: int = 0) -> Sequence:
    """Expand a start-timestamp sequence (``_ -1m -30s-1mx2 0-1mx4``): per position, the
    offset in ms of the sample's start timestamp from the sample's own timestamp."""
    chunks_v: list[F64] = []
    chunks_p: list[Mask] = []
    for item in text.split():
        b = _BLANK_RE.match(item)
        if b:
            n = int(b.group(1)) if b.group(1) is not None else 1
            chunks_v.append(np.zeros(n))
            chunks_p.append(np.zeros(n, dtype=bool))
            continue
        m = _ST_ITEM_RE.match(item)
        if m is None:
            raise ScriptError(line, f"invalid start timestamp offset {item!r}")
        a = _signed_duration(m["a"], line)
        n = int(m["n"]) if m["n"] is not None else 0
        d = 0
        if m["op"] is not None:
            if m["n"] is None:
                raise ScriptError(line, f"invalid offset {item!r}: expected 'x<count>'")
            d = _signed_duration(m["op"] + m["b"], line)
        chunks_v.append(a + d * np.arange(n + 1, dtype=np.float64))
        chunks_p.append(np.ones(n + 1, dtype=bool))
    if not chunks_v:
        return Sequence(np.zeros(0), np.zeros(0, dtype=bool))
    return Sequence(np.concatenate(chunks_v), np.concatenate(chunks_p))


def parse_series(text: str, line: int = 0) -> tuple[Labels, Sequence]:
    """``name{l="v"} <values>`` → labels and expanded values."""
    labels, pos = _labels_part(text, line)
    rest = text[pos:]
    if rest and rest[0] not in " \t":
        raise ScriptError(line, f"unexpected {rest[:10]!r} after series labels")
    return labels, parse_sequence(rest, line)


# -- commands -----------------------------------------------------------------------------


@dataclass(slots=True)
class ClearCommand:
    line: int


@dataclass(slots=True)
class LoadCommand:
    line: int
    interval_ms: int
    with_nhcb: bool = False
    #: One entry per series line; a later line for the same labels replaces the earlier.
    series: dict[Labels, Sequence] = field(default_factory=dict)
    #: Start-timestamp offsets (``name@st …`` lines) of the series that have them.
    start_timestamps: dict[Labels, Sequence] = field(default_factory=dict)

    @property
    def has_histograms(self) -> bool:
        return self.with_nhcb or any(s.histogram for s in self.series.values())


@dataclass(slots=True)
class Expectation:
    """An ``expect warn|info|fail … [msg:|regex:]`` line: exact text or a regex (search)."""

    message: str | None = None
    regex: re.Pattern[str] | None = None
    source: str = ""

    def matches(self, text: str) -> bool:
        if self.regex is not None:
            return self.regex.match(text) is not None
        return text == self.message


@dataclass(slots=True)
class ExpectedSeries:
    labels: Labels
    values: Sequence
    #: 1-based position among the expected series (for ``expect ordered``).
    position: int
    line: int


@dataclass(slots=True)
class EvalCommand:
    line: int
    expr: str
    is_range: bool
    #: Instant: the evaluation time. Range: start, end, step.
    start_ms: int
    end_ms: int = 0
    step_ms: int = 0
    fail: bool = False
    ordered: bool = False
    #: Per kind ("warn", "info", "fail"): the expectation lines given.
    expects: dict[str, list[Expectation]] = field(default_factory=dict)
    no_warn: bool = False
    no_info: bool = False
    #: ``eval_warn`` / ``eval_info``: at least one annotation of that kind.
    require_warn: bool = False
    require_info: bool = False
    expected_scalar: float | None = None
    expected_series: dict[Labels, ExpectedSeries] = field(default_factory=dict)
    expected_string: str | None = None
    #: ``expect range vector from … to … step …`` on an instant eval.
    range_vector: tuple[int, int, int] | None = None
    #: The instant query is not re-run as a range query (range vector or string results).
    exclude_from_range_query: bool = False
    #: An expected line holds a native-histogram literal.
    has_histograms: bool = False

    @property
    def eval_time_ms(self) -> int:
        return self.range_vector[1] if self.range_vector else self.start_ms


Command = ClearCommand | LoadCommand | EvalCommand

_LOAD_RE = re.compile(r"^load(?:_(with_nhcb))?\s+(.+?)$")
_EVAL_INSTANT_RE = re.compile(
    r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$"
)
_EVAL_RANGE_RE = re.compile(
    r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$"
)
_EXPECT_RE = re.compile(
    r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$"
)
_EXPECT_RANGE_RE = re.compile(r"^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$")
_ST_LINE_RE = re.compile(r"^\S*@st\s")


def _lines(text: str) -> list[str]:
    """Trimmed lines; a comment is an empty line (and so ends a block)."""
    out = []
    for raw in text.split("\n"):
        s = raw.strip()
        out.append("" if s.startswith("#") else s)
    return out


def _duration(text: str, line: int, what: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as e:
        raise ScriptError(line, f"invalid {what} {text!r}: {e}") from None


def _parse_load(lines: list[str], i: int) -> tuple[int, LoadCommand]:
    m = _LOAD_RE.match(lines[i])
    if m is None:
        raise ScriptError(i + 1, "invalid load command (load[_with_nhcb] <step:duration>)")
    cmd = LoadCommand(i + 1, _duration(m[2], i + 1, "step"), with_nhcb=m[1] == "with_nhcb")
    pending: tuple[Labels, Sequence, int] | None = None
    while i + 1 < len(lines) and lines[i + 1]:
        i += 1
        if pending is not None and _ST_LINE_RE.match(lines[i]):
            raise ScriptError(pending[2], "start timestamp line not followed by its series")
        if _ST_LINE_RE.match(lines[i]):
            at = lines[i].index("@st")
            st_labels, _ = _labels_part(lines[i][:at], i + 1)
            pending = (st_labels, parse_st_sequence(lines[i][at + 3 :], i + 1), i + 1)
            continue
        labels, seq = parse_series(lines[i], i + 1)
        cmd.series[labels] = seq
        cmd.start_timestamps.pop(labels, None)
        if pending is not None:
            st_labels, st_seq, st_line = pending
            pending = None
            if st_labels != labels:
                raise ScriptError(
                    st_line, f"start timestamps for {st_labels} but the next series is {labels}"
                )
            if len(st_seq) != len(seq) and not seq.histogram:
                raise ScriptError(
                    st_line,
                    f"{len(st_seq)} start timestamps for {len(seq)} positions of {labels}",
                )
            cmd.start_timestamps[labels] = st_seq
    if pending is not None:
        raise ScriptError(pending[2], "start timestamp line not followed by its series")
    return i, cmd


def _parse_eval(lines: list[str], i: int) -> tuple[int, EvalCommand]:
    head, lineno = lines[i], i + 1
    im = _EVAL_INSTANT_RE.match(head)
    rm = None if im else _EVAL_RANGE_RE.match(head)
    if im is not None:
        mod, expr = im[1], im[3]
        cmd = EvalCommand(lineno, expr, False, _duration(im[2] or "", lineno, "timestamp"))
    elif rm is not None:
        mod, expr = rm[1], rm[5]
        start = _duration(rm[2], lineno, "start timestamp")
        end = _duration(rm[3], lineno, "end timestamp")
        if end < start:
            raise ScriptError(lineno, f"end timestamp ({rm[3]}) is before start ({rm[2]})")
        step = _duration(rm[4], lineno, "step")
        cmd = EvalCommand(lineno, expr, True, start, end, step)
    else:
        raise ScriptError(
            lineno,
            "invalid evaluation command: must be 'eval[_fail|_warn|_info|_ordered] instant "
            "[at <offset>] <query>' or 'eval[_fail|_warn|_info] range from <from> to <to> "
            "step <step> <query>'",
        )
    cmd.fail = mod == "fail"
    cmd.ordered = mod == "ordered"
    cmd.require_warn = mod == "warn"
    cmd.require_info = mod == "info"
    position = 0
    while i + 1 < len(lines) and lines[i + 1]:
        i += 1
        line, lineno = lines[i], i + 1
        if cmd.fail and line.startswith("expected_fail_message"):
            msg = line[len("expected_fail_message") :].strip()
            cmd.expects.setdefault("fail", []).append(Expectation(message=msg, source=line))
            break  # as upstream: the block ends here
        if cmd.fail and line.startswith("expected_fail_regexp"):
            pat = line[len("expected_fail_regexp") :].strip()
            cmd.expects.setdefault("fail", []).append(_regex_expectation(pat, line, lineno))
            break
        if line.startswith("expect range vector"):
            rv = _EXPECT_RANGE_RE.match(line)
            if rv is None:
                raise ScriptError(lineno, f"invalid range vector definition {line!r}")
            s = _duration(rv[1], lineno, "start timestamp")
            e = _duration(rv[2], lineno, "end timestamp")
            if e < s:
                raise ScriptError(lineno, f"end timestamp ({rv[2]}) is before start ({rv[1]})")
            cmd.range_vector = (s, e, _duration(rv[3], lineno, "step"))
            cmd.exclude_from_range_query = True
            continue
        if line.startswith("expect string"):
            lit = line[len("expect string ") :] if line.startswith("expect string ") else ""
            try:
                cmd.expected_string = unquote(lit)
            except ValueError:
                raise ScriptError(
                    lineno, "expected string literal not valid - a quoted string is required"
                ) from None
            cmd.exclude_from_range_query = True
            continue
        if line.split(" ")[0] == "expect":
            _parse_expect(cmd, line, lineno)
            continue
        try:
            cmd.expected_scalar = parse_number(line)
            break  # as upstream: a scalar result line ends the block
        except ValueError:
            pass
        if "{{" in line:
            cmd.has_histograms = True
        labels, seq = parse_series(line, lineno)
        if len(seq) > 1 and not cmd.is_range and cmd.range_vector is None:
            raise ScriptError(
                lineno,
                "expecting multiple values in instant evaluation not allowed; use "
                "'expect range vector' for a range vector result of an instant query",
            )
        position += 1
        cmd.expected_series[labels] = ExpectedSeries(labels, seq, position, lineno)
    return i, cmd


def _regex_expectation(pattern: str, source: str, line: int) -> Expectation:
    try:
        # Go's MatchString searches; an anchored ``.*(?:p).*`` over the text does the same.
        rx = compile_regex(".*(?:" + pattern + ").*")
    except ValueError as e:
        raise ScriptError(line, f"invalid regex {pattern!r}: {e}") from None
    return Expectation(regex=rx, source=source)


def _parse_expect(cmd: EvalCommand, line: str, lineno: int) -> None:
    m = _EXPECT_RE.match(line)
    if m is None:
        raise ScriptError(
            lineno,
            "invalid expect statement, must match `expect <type> <match_type>: <string>`",
        )
    kind, how, arg = m[1], m[2], m[3]
    if kind == "ordered":
        cmd.ordered = True
        return
    if kind == "no_warn":
        cmd.no_warn = True
    elif kind == "no_info":
        cmd.no_info = True
    elif how == "msg":
        cmd.expects.setdefault(kind, []).append(Expectation(message=arg.strip(), source=line))
    elif how == "regex":
        cmd.expects.setdefault(kind, []).append(_regex_expectation(arg.strip(), line, lineno))
    else:
        cmd.expects.setdefault(kind, []).append(Expectation(regex=compile_regex(".*"), source=line))
    if cmd.expects.get("info") and cmd.no_info:
        raise ScriptError(lineno, "invalid expect lines, info and no_info cannot be used together")
    if cmd.expects.get("warn") and cmd.no_warn:
        raise ScriptError(lineno, "invalid expect lines, warn and no_warn cannot be used together")
    if len(cmd.expects.get("fail", [])) > 1:
        raise ScriptError(
            lineno, "invalid expect lines, multiple expect fail lines are not allowed"
        )


def parse_script(text: str) -> list[Command]:
    """Parse a whole script; raises :class:`ScriptError` naming the line."""
    lines = _lines(text)
    cmds: list[Command] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line:
            i += 1
            continue
        word = re.split(r"[\t ]+", line, maxsplit=1)[0].lower()
        if word == "clear":
            cmds.append(ClearCommand(i + 1))
        elif word.startswith("load"):
            i, load = _parse_load(lines, i)
            cmds.append(load)
        elif word.startswith("eval"):
            i, ev = _parse_eval(lines, i)
            cmds.append(ev)
        else:
            raise ScriptError(i + 1, f"invalid command {line!r}")
        i += 1
    return cmds
