"""Run Prometheus' ``promqltest`` scripts against promhub's engine and TSDB.

This is promhub's conformance harness: the upstream test files pin PromQL semantics, and
:func:`run_file` replays them the way Prometheus' ``promql/promqltest/test.go`` does — data
loaded into a real :class:`~promhub.tsdb.DB` (a fresh one per ``clear``), every ``eval``
compared with the same float rules, and each instant eval checked two more ways (pinned with
``@`` at other times, and as a range query around its time).

promhub has no native histograms yet: a ``clear``-delimited section that loads one (or uses
``load_with_nhcb``) is skipped, as is an eval that expects one; they count as *skipped*.

Command line: ``promhub promqltest FILE... [-v]``.
"""

from __future__ import annotations

import math
import re
import signal
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import FrameType
from typing import IO, Any, Literal

import numpy as np

from promhub.model.labels import METRIC_NAME, Labels
from promhub.model.value import is_stale, stale_mask
from promhub.promql.ast import Call, Expr, SubqueryExpr, VectorSelector
from promhub.promql.testscript import (
    ClearCommand,
    Command,
    EvalCommand,
    Expectation,
    LoadCommand,
    ScriptError,
    parse_script,
)
from promhub.promql.value import F64, I64, RangeSeries, ScalarSeries, StringValue, VectorSeries

#: Relative error allowed between expected and actual floats (upstream's defaultEpsilon).
EPSILON = 1e-6
_MIN_NORMAL = 2.2250738585072014e-308

#: Functions whose result depends on the evaluation time even with ``@``-pinned arguments:
#: the pinned rewrite cannot give the same answer at other times, so it is not tried.
AT_UNSAFE_FUNCTIONS = frozenset(
    {
        "days_in_month",
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "hour",
        "minute",
        "month",
        "year",
        "predict_linear",
        "time",
        "timestamp",
        "start",
        "end",
        "range",
        "step",
    }
)
_QUERY_CONTEXT_FUNCS_RE = re.compile(r"(start|end|range|step)\(\)")
_QUERY_CONTEXT_FUNCS = frozenset({"start", "end", "range", "step"})

Status = Literal["passed", "failed", "skipped"]


class EvalFailure(Exception):
    """One eval did not give what the script expects."""

    def __init__(self, message: str, expected: str = "", got: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.got = got


class EvalTimeout(BaseException):
    """The per-eval time limit ran out.

    A BaseException so that an engine's broad ``except Exception`` cannot swallow it.
    """


@dataclass(slots=True)
class EvalOutcome:
    """What happened to one ``eval`` of a script."""

    file: str
    line: int
    expr: str
    status: Status
    message: str = ""
    expected: str = ""
    got: str = ""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(slots=True)
class FileReport:
    """All outcomes of one script; ``error`` is set when the script itself is invalid."""

    file: str
    outcomes: list[EvalOutcome] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def passed(self) -> int:
        return self.count("passed")

    @property
    def failed(self) -> int:
        return self.count("failed") + (1 if self.error else 0)

    @property
    def skipped(self) -> int:
        return self.count("skipped")


# -- float comparison -------------------------------------------------------------------


def almost_equal(a: float, b: float, epsilon: float = EPSILON) -> bool:
    """Upstream's ``almost.Equal``: relative error below epsilon, 0 only equals ~0, any NaN
    equals any NaN except that a staleness marker only equals another marker."""
    sa, sb = is_stale(a), is_stale(b)
    if sa or sb:
        return sa and sb
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    abs_sum = abs(a) + abs(b)
    diff = abs(a - b)
    if a == 0 or b == 0 or abs_sum < _MIN_NORMAL:
        return diff < _MIN_NORMAL * epsilon
    return diff / min(abs_sum, 1.7976931348623157e308) < epsilon


def almost_equal_array(a: F64, b: F64, epsilon: float = EPSILON) -> np.ndarray[Any, Any]:
    """:func:`almost_equal` element-wise over two arrays of the same shape."""
    sa, sb = stale_mask(a), stale_mask(b)
    na, nb = np.isnan(a), np.isnan(b)
    with np.errstate(invalid="ignore", over="ignore"):
        abs_sum = np.abs(a) + np.abs(b)
        diff = np.abs(a - b)
        tiny = (a == 0) | (b == 0) | (abs_sum < _MIN_NORMAL)
        rel = diff / np.minimum(abs_sum, 1.7976931348623157e308)
        close = np.where(tiny, diff < _MIN_NORMAL * epsilon, rel < epsilon)
        out = (a == b) | (na & nb) | close
    either_stale = sa | sb
    return np.where(either_stale, sa & sb, out & ~(na ^ nb))


def format_float(v: float) -> str:
    """A float as the test files write it (``1``, ``0.5``, ``+Inf``, ``NaN``, ``stale``)."""
    if is_stale(v):
        return "stale"
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


# -- results in one comparable shape ---------------------------------------------------


@dataclass(slots=True)
class MatrixSeries:
    labels: Labels
    timestamps: I64
    values: F64


@dataclass(slots=True)
class Result:
    """A query result, normalised: exactly one of the four kinds is set."""

    kind: Literal["vector", "scalar", "string", "matrix"]
    vector: list[tuple[Labels, float]] = field(default_factory=list)
    scalar: float = 0.0
    string: str = ""
    matrix: list[MatrixSeries] = field(default_factory=list)

    def describe(self, limit: int = 20) -> str:
        if self.kind == "scalar":
            return f"scalar {format_float(self.scalar)}"
        if self.kind == "string":
            return f"string {self.string!r}"
        if self.kind == "vector":
            lines = [f"{lb} {format_float(v)}" for lb, v in self.vector[:limit]]
            more = len(self.vector) - limit
        else:
            lines = [
                f"{s.labels} "
                + " ".join(
                    f"{format_float(float(v))}@{int(t)}"
                    for t, v in zip(s.timestamps[:12], s.values[:12], strict=True)
                )
                + (" …" if len(s.timestamps) > 12 else "")
                for s in self.matrix[:limit]
            ]
            more = len(self.matrix) - limit
        if more > 0:
            lines.append(f"… and {more} more series")
        return f"{self.kind} ({len(self.vector) or len(self.matrix)} series)" + "".join(
            "\n    " + ln for ln in lines
        )


def _final_labels(labels: list[Labels], drop_name: np.ndarray[Any, Any]) -> list[Labels]:
    """Apply delayed ``__name__`` removal flags the engine may still carry."""
    if len(drop_name) == 0 or not drop_name.any():
        return labels
    return [
        lb.without(METRIC_NAME) if bool(d) else lb for lb, d in zip(labels, drop_name, strict=False)
    ]


def normalise(value: object, step_times: I64 | None) -> Result:
    """An engine value as a :class:`Result`. ``step_times`` is None for an instant query."""
    if isinstance(value, StringValue):
        return Result("string", string=value.value)
    if isinstance(value, ScalarSeries):
        vals = np.asarray(value.values, dtype=np.float64).reshape(-1)
        if step_times is None:
            return Result("scalar", scalar=float(vals[0]))
        return Result("matrix", matrix=[MatrixSeries(Labels(()), step_times, vals)])
    if isinstance(value, VectorSeries):
        labels = _final_labels(value.labels, value.drop_name)
        vals = np.asarray(value.values, dtype=np.float64)
        present = np.asarray(value.present, dtype=bool)
        if step_times is None:
            idx = np.flatnonzero(present[:, 0]) if vals.size else np.zeros(0, dtype=np.int64)
            return Result("vector", vector=[(labels[i], float(vals[i, 0])) for i in idx])
        return Result(
            "matrix",
            matrix=[
                MatrixSeries(labels[i], step_times[present[i]], vals[i][present[i]])
                for i in range(len(labels))
                if present[i].any()
            ],
        )
    if isinstance(value, RangeSeries):
        labels = _final_labels(value.labels, value.drop_name)
        out = []
        for i, lb in enumerate(labels):
            lo, hi = int(value.lo[i, 0]), int(value.hi[i, 0])
            if hi > lo:
                out.append(MatrixSeries(lb, value.timestamps[lo:hi], value.values[lo:hi]))
        return Result("matrix", matrix=out)
    raise EvalFailure(f"the engine returned an unknown value type {type(value).__name__}")


# -- comparing a result with an eval's expectations ----------------------------------------


def _describe_expected(cmd: EvalCommand) -> str:
    if cmd.expected_string is not None:
        return f"string {cmd.expected_string!r}"
    if cmd.expected_scalar is not None:
        return f"scalar {format_float(cmd.expected_scalar)}"
    if not cmd.expected_series:
        return "empty result"
    lines = []
    for e in list(cmd.expected_series.values())[:20]:
        vals = " ".join(
            format_float(float(v)) if p else "_"
            for v, p in zip(e.values.values[:12], e.values.present[:12], strict=True)
        )
        lines.append(f"{e.labels} {vals}" + (" …" if len(e.values) > 12 else ""))
    if len(cmd.expected_series) > 20:
        lines.append(f"… and {len(cmd.expected_series) - 20} more series")
    return f"{len(cmd.expected_series)} series" + "".join("\n    " + ln for ln in lines)


def _check_sorted(matrix: list[MatrixSeries]) -> None:
    for a, b in zip(matrix, matrix[1:], strict=False):
        if b.labels < a.labels:
            raise EvalFailure(
                f"matrix results must be sorted by labels, but {b.labels} comes after {a.labels}"
            )


def compare(cmd: EvalCommand, res: Result, *, ordered: bool | None = None) -> None:
    """Raise :class:`EvalFailure` unless ``res`` is what ``cmd`` expects."""
    ordered = cmd.ordered if ordered is None else ordered
    expect_scalar = cmd.expected_scalar is not None
    if res.kind == "matrix":
        if ordered:
            raise EvalFailure("expected ordered result, but query returned a matrix")
        if expect_scalar:
            raise EvalFailure("expected scalar result, but got a matrix")
        _check_sorted(res.matrix)
        _compare_matrix(cmd, res.matrix)
    elif res.kind == "vector":
        if expect_scalar:
            raise EvalFailure("expected scalar result, but got a vector")
        _compare_vector(cmd, res.vector, ordered)
    elif res.kind == "scalar":
        if not expect_scalar:
            raise EvalFailure("expected vector or matrix result, but got a scalar")
        assert cmd.expected_scalar is not None
        if not almost_equal(cmd.expected_scalar, res.scalar):
            raise EvalFailure(
                f"expected scalar {format_float(cmd.expected_scalar)} "
                f"but got {format_float(res.scalar)}"
            )
    else:
        want = cmd.expected_string or ""
        if want != res.string:
            raise EvalFailure(f"expected string {want!r} but got {res.string!r}")


def _compare_vector(cmd: EvalCommand, vector: list[tuple[Labels, float]], ordered: bool) -> None:
    seen: set[Labels] = set()
    for pos, (labels, v) in enumerate(vector, start=1):
        exp = cmd.expected_series.get(labels)
        if exp is None:
            raise EvalFailure(f"unexpected metric {labels} in result, has value {format_float(v)}")
        if labels in seen:
            raise EvalFailure(f"metric {labels} appears twice in the result")
        if ordered and exp.position != pos:
            raise EvalFailure(
                f"expected metric {labels} at position {exp.position} but was at {pos}"
            )
        if len(exp.values) == 0:
            raise EvalFailure(f"expected line for {labels} has no value")
        want = float(exp.values.values[0]) if exp.values.present[0] else 0.0
        if not almost_equal(want, v):
            raise EvalFailure(
                f"expected {format_float(want)} for {labels} but got {format_float(v)}"
            )
        seen.add(labels)
    for labels in cmd.expected_series:
        if labels not in seen:
            raise EvalFailure(f"expected metric {labels} not found")


def _compare_matrix(cmd: EvalCommand, matrix: list[MatrixSeries]) -> None:
    if cmd.is_range:
        start, end, step = cmd.start_ms, cmd.end_ms, cmd.step_ms
    elif cmd.range_vector is not None:
        start, end, step = cmd.range_vector
    else:
        # Upstream leaves the end unset (before any time), so no point can be expected.
        start, end, step = cmd.start_ms, -(2**62), 0
    seen: set[Labels] = set()
    for s in matrix:
        exp = cmd.expected_series.get(s.labels)
        if exp is None:
            raise EvalFailure(
                f"unexpected metric {s.labels} in result, has {_points(s.timestamps, s.values)}"
            )
        seen.add(s.labels)
        n = len(exp.values)
        ts = start + step * np.arange(n, dtype=np.int64)
        if n and int(ts[-1]) > end:
            raise EvalFailure(
                f"expected {n} points for {s.labels}, but the query time range cannot "
                "return this many points"
            )
        keep = exp.values.present
        want_t, want_v = ts[keep], exp.values.values[keep]
        if len(want_t) != len(s.timestamps):
            raise EvalFailure(
                f"expected {len(want_t)} float points for {s.labels}, but got "
                f"{_points(s.timestamps, s.values)}"
            )
        bad_t = np.flatnonzero(want_t != s.timestamps)
        if len(bad_t):
            i = int(bad_t[0])
            raise EvalFailure(
                f"expected float value at index {i} for {s.labels} to have timestamp "
                f"{int(want_t[i])}, but it had {int(s.timestamps[i])} "
                f"(result has {_points(s.timestamps, s.values)})"
            )
        bad_v = np.flatnonzero(~almost_equal_array(want_v, s.values))
        if len(bad_v):
            i = int(bad_v[0])
            raise EvalFailure(
                f"expected float value at index {i} (t={int(want_t[i])}) for {s.labels} to be "
                f"{format_float(float(want_v[i]))}, but got {format_float(float(s.values[i]))} "
                f"(result has {_points(s.timestamps, s.values)})"
            )
    for labels in cmd.expected_series:
        if labels not in seen:
            raise EvalFailure(f"expected metric {labels} not found")


def _points(ts: I64, vals: F64) -> str:
    shown = " ".join(
        f"{format_float(float(v))}@{int(t)}" for t, v in zip(ts[:12], vals[:12], strict=True)
    )
    return f"{len(ts)} float points [{shown}{' …' if len(ts) > 12 else ''}]"


def check_annotations(cmd: EvalCommand, warnings: Sequence[str], infos: Sequence[str]) -> None:
    """Upstream's annotation rules: see the ``expect warn/info/no_warn/no_info`` lines."""
    if cmd.require_warn and not warnings:
        raise EvalFailure("expected warnings but got none")
    if cmd.require_info and not infos:
        raise EvalFailure("expected info annotations but got none")
    for kind, actual in (("warn", warnings), ("info", infos)):
        expected = cmd.expects.get(kind, [])
        if not expected:
            continue
        if not actual:
            raise EvalFailure(f"expected {kind} annotations but none were found")
        for e in expected:
            if not any(e.matches(a) for a in actual):
                raise EvalFailure(
                    f"expected {kind} annotation matching {e.source!r} but none did",
                    got="\n    ".join(["annotations:", *warnings, *infos]),
                )
        for a in actual:
            if not any(e.matches(a) for e in expected):
                raise EvalFailure(f"unexpected {kind} annotation {a!r}")
    if cmd.no_warn and warnings:
        raise EvalFailure(f"unexpected warning annotations: {list(warnings)}")
    if cmd.no_info and infos:
        raise EvalFailure(f"unexpected info annotations: {list(infos)}")


def _check_failure(cmd: EvalCommand, err: BaseException) -> None:
    text = _error_text(err)
    fails: list[Expectation] = cmd.expects.get("fail", [])
    for e in fails:
        if not e.matches(text):
            raise EvalFailure(f"expected error matching {e.source!r}, but got: {text}")


def _error_text(err: BaseException) -> str:
    msg = getattr(err, "message", None)
    return msg if isinstance(msg, str) and msg else str(err)


# -- the @ rewrite ----------------------------------------------------------------------


def _children(node: Expr) -> Iterator[Expr]:
    for f in fields(node):
        v = getattr(node, f.name)
        if isinstance(v, Expr):
            yield v
        elif isinstance(v, list):
            yield from (x for x in v if isinstance(x, Expr))


def pin_at(expr: Expr, ts_ms: int) -> bool:
    """Pin ``@ ts_ms`` on every selector and subquery that has no ``@`` of its own, in place,
    as upstream's test does; selectors under a subquery keep their own (relative) time.

    Returns False when the expression calls a function whose result depends on the
    evaluation time itself (then the pinned query cannot be compared at other times).
    """
    safe = True

    def walk(node: Expr) -> None:
        nonlocal safe
        if isinstance(node, VectorSelector | SubqueryExpr) and node.timestamp_ms is None:
            node.timestamp_ms = ts_ms
            node.start_or_end = None
        if isinstance(node, Call) and node.func in AT_UNSAFE_FUNCTIONS:
            safe = False
        if isinstance(node, SubqueryExpr):
            return  # now @-pinned: everything inside evaluates relative to it
        for child in _children(node):
            walk(child)

    walk(expr)
    return safe


def _uses_query_context(expr: Expr) -> bool:
    """start()/end()/range()/step() or an ``@ start()``/``@ end()`` left in the tree."""
    if isinstance(expr, Call) and expr.func in _QUERY_CONTEXT_FUNCS and not expr.args:
        return True
    if isinstance(expr, VectorSelector | SubqueryExpr) and expr.start_or_end is not None:
        return True
    return any(_uses_query_context(c) for c in _children(expr))


# -- the time limit -----------------------------------------------------------------------


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`EvalTimeout` in this thread after ``seconds`` (main thread only: a
    signal timer is the one way to interrupt a runaway pure-Python loop)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum: int, frame: FrameType | None) -> None:
        raise EvalTimeout(f"eval exceeded the {seconds:g}s time limit")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# -- running --------------------------------------------------------------------------


def new_engine() -> Any:
    """The engine with the settings the upstream files assume (see SOURCE.md)."""
    from promhub.promql.engine import Engine

    return Engine(
        lookback_ms=300_000, max_samples=10_000, timeout_s=100, default_subquery_step_ms=60_000
    )


@dataclass(slots=True)
class _Query:
    """One instant query of an eval: the original text, or a pinned rewrite at a time."""

    expr: str | Expr
    ts_ms: int
    label: str  # for messages
    range_check: bool


class Runner:
    """Executes parsed commands; one TSDB per ``clear`` section under ``workdir``."""

    def __init__(self, engine: Any, workdir: Path, eval_timeout_s: float = 60.0) -> None:
        self.engine = engine
        self.workdir = workdir
        self.eval_timeout_s = eval_timeout_s
        self._db: Any = None
        self._section = 0
        self.load_warnings: list[str] = []

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def clear(self) -> None:
        self.close()
        self._section += 1

    def _storage(self) -> Any:
        if self._db is None:
            from promhub.tsdb import DB

            self._db = DB.open(self.workdir / f"section-{self._section}")
        return self._db

    def load(self, cmd: LoadCommand) -> None:
        app = self._storage().appender()
        n_total = 0
        for labels, seq in cmd.series.items():
            if seq.histogram or not len(seq):
                continue
            pos = np.flatnonzero(seq.present)
            if not len(pos):
                continue
            ref = app.ref(labels)
            app.append(
                np.full(len(pos), ref, dtype=np.int64),
                pos.astype(np.int64) * cmd.interval_ms,
                seq.values[pos],
            )
            n_total += len(pos)
        res = app.commit()
        if res.appended != n_total:
            self.load_warnings.append(
                f"load at line {cmd.line}: {n_total - res.appended} of {n_total} samples "
                f"rejected (out of order {res.out_of_order}, duplicate {res.duplicate}, "
                f"too old {res.too_old})"
            )

    def eval(self, cmd: EvalCommand) -> None:
        """Raise :class:`EvalFailure` unless the eval passes."""
        with deadline(self.eval_timeout_s):
            if cmd.is_range:
                self._eval_range(cmd)
            else:
                self._eval_instant(cmd)

    def _eval_range(self, cmd: EvalCommand) -> None:
        db = self._storage()
        is_fail = cmd.fail or bool(cmd.expects.get("fail"))
        try:
            qr = self.engine.range(db, cmd.expr, cmd.start_ms, cmd.end_ms, cmd.step_ms)
        except Exception as e:
            if is_fail:
                _check_failure(cmd, e)
                return
            raise EvalFailure(f"error evaluating query: {_error_text(e)}") from e
        if is_fail:
            raise EvalFailure("expected error evaluating query but got none")
        check_annotations(cmd, qr.warnings, qr.infos)
        steps = cmd.start_ms + cmd.step_ms * np.arange(
            (cmd.end_ms - cmd.start_ms) // cmd.step_ms + 1 if cmd.step_ms else 1, dtype=np.int64
        )
        res = normalise(qr.value, steps)
        try:
            compare(cmd, res)
        except EvalFailure as f:
            raise EvalFailure(f.message, _describe_expected(cmd), res.describe()) from None

    def _queries(self, cmd: EvalCommand) -> list[_Query]:
        from promhub.promql.parser import parse_expr

        t = cmd.eval_time_ms
        queries = [
            _Query(
                cmd.expr,
                t,
                "",
                not cmd.exclude_from_range_query and not _QUERY_CONTEXT_FUNCS_RE.search(cmd.expr),
            )
        ]
        try:
            probe = parse_expr(cmd.expr)
        except Exception as e:
            if cmd.fail or cmd.expects.get("fail"):
                return queries  # the engine reports the same error; its text is checked
            raise EvalFailure(f"the query does not parse: {_error_text(e)}") from e
        if not pin_at(probe, t):
            return queries
        others = [-1000, 0, 1000] if t == 0 else [-10 * t, 0, t // 5, t, 10 * t]
        for at in others:
            tree = parse_expr(cmd.expr)  # fresh: the engine may annotate the tree it gets
            pin_at(tree, t)
            check_range = not cmd.exclude_from_range_query and not _uses_query_context(tree)
            queries.append(
                _Query(tree, at, f" (pinned @ {t / 1000:.3f}, evaluated at {at})", check_range)
            )
        return queries

    def _eval_instant(self, cmd: EvalCommand) -> None:
        db = self._storage()
        is_fail = cmd.fail or bool(cmd.expects.get("fail"))
        for q in self._queries(cmd):
            try:
                qr = self.engine.instant(db, q.expr, q.ts_ms)
            except Exception as e:
                if is_fail:
                    _check_failure(cmd, e)
                    continue
                raise EvalFailure(f"error evaluating query{q.label}: {_error_text(e)}") from e
            if is_fail:
                raise EvalFailure(f"expected error evaluating query{q.label} but got none")
            try:
                check_annotations(cmd, qr.warnings, qr.infos)
            except EvalFailure as f:
                raise EvalFailure(f.message + q.label, got=f.got) from None
            res = normalise(qr.value, None)
            try:
                compare(cmd, res)
            except EvalFailure as f:
                raise EvalFailure(
                    f.message + q.label, _describe_expected(cmd), res.describe()
                ) from None
            if q.range_check:
                self._range_check(cmd, q, res)

    def _range_check(self, cmd: EvalCommand, q: _Query, instant: Result) -> None:
        """The instant query as a range query t-1m..t+1m: the point at t must match."""
        if isinstance(q.expr, Expr):
            from promhub.promql.parser import parse_expr

            tree = parse_expr(cmd.expr)
            pin_at(tree, cmd.eval_time_ms)
            expr: str | Expr = tree
        else:
            expr = q.expr
        t = q.ts_ms
        label = q.label + " in range mode"
        try:
            qr = self.engine.range(self._storage(), expr, t - 60_000, t + 60_000, 60_000)
        except Exception as e:
            raise EvalFailure(f"error evaluating query{label}: {_error_text(e)}") from e
        if cmd.ordered:
            return  # range results are sorted by labels: order cannot be checked
        res = normalise(qr.value, np.array([t - 60_000, t, t + 60_000], dtype=np.int64))
        if res.kind != "matrix":
            raise EvalFailure(f"range query{label} returned a {res.kind}, not a matrix")
        try:
            _check_sorted(res.matrix)
        except EvalFailure as f:
            raise EvalFailure(f.message + label) from None
        vec = []
        for s in res.matrix:
            hit = np.flatnonzero(s.timestamps == t)
            if len(hit):
                vec.append((s.labels, float(s.values[hit[0]])))
        if instant.kind == "scalar":
            if not vec:
                raise EvalFailure(f"no point at t={t}{label}")
            point = Result("scalar", scalar=vec[0][1])
        else:
            point = Result("vector", vector=vec)
        try:
            compare(cmd, point, ordered=False)
        except EvalFailure as f:
            raise EvalFailure(
                f.message + label, _describe_expected(cmd), point.describe()
            ) from None


def _histogram_sections(cmds: list[Command]) -> set[int]:
    """Indices of evals in ``clear`` sections that load native histograms."""
    skipped: set[int] = set()
    section: list[int] = []
    has_hist = False
    for i, c in enumerate([*cmds, ClearCommand(0)]):
        if isinstance(c, ClearCommand):
            if has_hist:
                skipped.update(section)
            section, has_hist = [], False
        elif isinstance(c, LoadCommand):
            has_hist = has_hist or c.has_histograms
        else:
            section.append(i)
    return skipped


def run_script(
    text: str,
    name: str = "<script>",
    *,
    engine: Any = None,
    eval_timeout_s: float = 60.0,
) -> FileReport:
    """Parse and run one script; every eval gets an :class:`EvalOutcome`."""
    started = time.monotonic()
    report = FileReport(name)
    try:
        cmds = parse_script(text)
    except ScriptError as e:
        report.error = f"{name}:{e.line}: {e.message}"
        return report
    engine = engine if engine is not None else new_engine()
    skip = _histogram_sections(cmds)
    with tempfile.TemporaryDirectory(prefix="promqltest-") as tmp:
        runner = Runner(engine, Path(tmp), eval_timeout_s)
        try:
            for i, cmd in enumerate(cmds):
                if isinstance(cmd, ClearCommand):
                    runner.clear()
                elif isinstance(cmd, LoadCommand):
                    if not cmd.has_histograms:
                        runner.load(cmd)
                elif i in skip or cmd.has_histograms:
                    report.outcomes.append(EvalOutcome(name, cmd.line, cmd.expr, "skipped"))
                else:
                    report.outcomes.append(_run_eval(runner, cmd, name))
        finally:
            runner.close()
    report.seconds = time.monotonic() - started
    return report


def _run_eval(runner: Runner, cmd: EvalCommand, name: str) -> EvalOutcome:
    try:
        runner.eval(cmd)
    except EvalFailure as f:
        return EvalOutcome(name, cmd.line, cmd.expr, "failed", f.message, f.expected, f.got)
    except EvalTimeout as t:
        return EvalOutcome(name, cmd.line, cmd.expr, "failed", str(t))
    except Exception as e:  # an engine bug must not stop the run: report it as a failure
        return EvalOutcome(name, cmd.line, cmd.expr, "failed", f"crashed: {type(e).__name__}: {e}")
    return EvalOutcome(name, cmd.line, cmd.expr, "passed")


def run_file(path: str | Path, *, engine: Any = None, eval_timeout_s: float = 60.0) -> FileReport:
    """Run one test file (see :func:`run_script`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return FileReport(str(path), error=f"{path}: cannot read: {e}")
    return run_script(text, str(path), engine=engine, eval_timeout_s=eval_timeout_s)


def print_failures(report: FileReport, out: IO[str]) -> None:
    """Readable failure details: where, the query, what was wrong, expected and got."""
    if report.error:
        print(f"{report.error}", file=out)
    for o in report.outcomes:
        if o.status != "failed":
            continue
        print(f"{o.where}: FAILED {o.expr}", file=out)
        print(f"  {o.message}", file=out)
        if o.expected:
            print(f"  expected: {o.expected}", file=out)
        if o.got:
            print(f"  got: {o.got}", file=out)


def main(paths: Sequence[str], *, verbose: bool, out: IO[str], eval_timeout_s: float = 60.0) -> int:
    """``promhub promqltest``: run files, print a summary; 0 when nothing failed."""
    engine = new_engine()
    passed = failed = skipped = 0
    for path in paths:
        report = run_file(path, engine=engine, eval_timeout_s=eval_timeout_s)
        if verbose:
            print_failures(report, out)
            print(
                f"{path}: {report.passed} passed, {report.failed} failed, "
                f"{report.skipped} skipped ({report.seconds:.1f}s)",
                file=out,
            )
        elif report.error:
            print(report.error, file=out)
        passed += report.passed
        failed += report.failed
        skipped += report.skipped
    print(f"{passed} passed, {failed} failed, {skipped} skipped", file=out)
    return 1 if failed else 0


__all__ = [
    "EPSILON",
    "EvalFailure",
    "EvalOutcome",
    "FileReport",
    "Runner",
    "almost_equal",
    "almost_equal_array",
    "check_annotations",
    "compare",
    "format_float",
    "main",
    "normalise",
    "pin_at",
    "run_file",
    "run_script",
]
