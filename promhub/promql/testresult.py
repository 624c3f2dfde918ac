"""Query results in one comparable shape, and upstream promqltest's rules for comparing
them with a script's expectations.

Floats compare as Prometheus' ``almost.Equal``: relative error below 1e-6, zero only equals
(effectively) zero, any NaN equals any NaN except that a staleness marker only equals another
marker, and infinities must match exactly. Matrix results must come back sorted by labels;
instant vectors are compared ignoring order unless ``expect ordered`` asks for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from promhub.model.labels import METRIC_NAME, Labels
from promhub.model.value import is_stale, stale_mask
from promhub.promql.testscript import EvalCommand, Expectation
from promhub.promql.value import F64, I64, RangeSeries, ScalarSeries, StringValue, VectorSeries

#: Relative error allowed between expected and actual floats (upstream's defaultEpsilon).
EPSILON = 1e-6
_MIN_NORMAL = 2.2250738585072014e-308


class EvalFailure(Exception):
    """One eval did not give what the script expects."""

    def __init__(self, message: str, expected: str = "", got: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.got = got


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


def describe_expected(cmd: EvalCommand) -> str:
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


def check_sorted(matrix: list[MatrixSeries]) -> None:
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
        check_sorted(res.matrix)
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


def check_failure(cmd: EvalCommand, err: BaseException) -> None:
    text = error_text(err)
    fails: list[Expectation] = cmd.expects.get("fail", [])
    for e in fails:
        if not e.matches(text):
            raise EvalFailure(f"expected error matching {e.source!r}, but got: {text}")


def error_text(err: BaseException) -> str:
    msg = getattr(err, "message", None)
    return msg if isinstance(msg, str) and msg else str(err)
