"""Element-wise functions of an instant vector (abs, ceil, exp, ln, trigonometry, clamp,
round, sgn, ...), scalar constructors (time, pi, scalar, vector), timestamp, absent and the
sort functions.

Each works on the whole ``[N, T]`` matrix at once and keeps the presence mask; results drop
the metric name (Prometheus' delayed ``__name__`` removal) unless noted.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from promhub.model.labels import Labels
from promhub.promql.call import FunctionCall, function
from promhub.promql.functions.over_time import absent_labels
from promhub.promql.functions.window import empty_vector, scalar_arg, vector_arg, vector_result
from promhub.promql.value import F64, I64, Mask, ScalarSeries, Value, VectorSeries

Ufunc = Callable[[F64], F64]


def _elementwise(fn: Ufunc) -> Callable[[FunctionCall], Value]:
    def impl(call: FunctionCall) -> Value:
        v = vector_arg(call)
        with np.errstate(all="ignore"):
            values = fn(v.values)
        return VectorSeries(v.labels, values, v.present.copy(), np.ones(v.num_series, bool))

    return impl


def _sgn(x: F64) -> F64:
    out: F64 = np.where(x < 0, -1.0, np.where(x > 0, 1.0, x))
    return out


def _deg(x: F64) -> F64:
    out: F64 = x * 180 / np.pi
    return out


def _rad(x: F64) -> F64:
    out: F64 = x * np.pi / 180
    return out


_SIMPLE: dict[str, Ufunc] = {
    "abs": np.abs,
    "ceil": np.ceil,
    "floor": np.floor,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "ln": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
    "sgn": _sgn,
    "deg": _deg,
    "rad": _rad,
}

for _name, _fn in _SIMPLE.items():
    function(_name)(_elementwise(_fn))


def _clamp(call: FunctionCall, lo: F64, hi: F64) -> Value:
    v = vector_arg(call)
    with np.errstate(invalid="ignore"):
        values = np.maximum(lo[None, :], np.minimum(hi[None, :], v.values))
        # max < min yields nothing at that step (NaN bounds compare false: kept).
        present = v.present & ~(hi < lo)[None, :]
    return vector_result(v.labels, values, present)


@function("clamp")
def clamp(call: FunctionCall) -> Value:
    return _clamp(call, scalar_arg(call, 1), scalar_arg(call, 2))


@function("clamp_min")
def clamp_min(call: FunctionCall) -> Value:
    lo = scalar_arg(call, 1)
    return _clamp(call, lo, np.full(call.num_steps, np.inf))


@function("clamp_max")
def clamp_max(call: FunctionCall) -> Value:
    hi = scalar_arg(call, 1)
    return _clamp(call, np.full(call.num_steps, -np.inf), hi)


@function("round")
def round_(call: FunctionCall) -> Value:
    """Round to the nearest multiple of ``to_nearest`` (default 1); ties round up."""
    v = vector_arg(call)
    to_nearest = scalar_arg(call, 1) if len(call.args) > 1 else np.ones(call.num_steps)
    with np.errstate(all="ignore"):
        inverse = 1.0 / to_nearest  # inverting loses less precision than dividing
        values = np.floor(v.values * inverse[None, :] + 0.5) / inverse[None, :]
    return VectorSeries(v.labels, values, v.present.copy(), np.ones(v.num_series, bool))


@function("time")
def time_(call: FunctionCall) -> Value:
    return ScalarSeries(np.asarray(call.step_times, dtype=np.float64) / 1000.0)


@function("pi")
def pi(call: FunctionCall) -> Value:
    return ScalarSeries(np.full(call.num_steps, np.pi))


@function("scalar")
def scalar(call: FunctionCall) -> Value:
    """The single element's value, or NaN when the vector has zero or several elements."""
    v = vector_arg(call)
    if v.num_series == 0:
        return ScalarSeries(np.full(call.num_steps, np.nan))
    count = v.present.sum(axis=0)
    first = np.argmax(v.present, axis=0)
    picked = v.values[first, np.arange(v.num_steps)]
    return ScalarSeries(np.where(count == 1, picked, np.nan))


@function("vector")
def vector(call: FunctionCall) -> Value:
    s = scalar_arg(call, 0)
    return VectorSeries(
        [Labels(())],
        np.array(s, dtype=np.float64).reshape(1, -1),
        np.ones((1, call.num_steps), dtype=bool),
        np.zeros(1, dtype=bool),
    )


@function("timestamp")
def timestamp(call: FunctionCall) -> Value:
    """Timestamp of each element. The engine answers ``timestamp(<selector>)`` itself with
    the samples' own timestamps; computed vectors carry the evaluation time."""
    v = vector_arg(call)
    values = np.broadcast_to(np.asarray(call.step_times, dtype=np.float64) / 1000.0, v.values.shape)
    return VectorSeries(v.labels, values.copy(), v.present.copy(), np.ones(v.num_series, bool))


@function("absent")
def absent(call: FunctionCall) -> Value:
    """1 with the selector's equality-matcher labels at the steps where the argument is empty."""
    v = vector_arg(call)
    steps = call.num_steps
    empty: Mask = (
        ~np.asarray(v.present.any(axis=0), dtype=bool)
        if v.num_series
        else np.ones(steps, dtype=bool)
    )
    return vector_result([absent_labels(call)], np.ones((1, steps)), empty[None, :])


def _sort(call: FunctionCall, descending: bool) -> Value:
    v = vector_arg(call)
    if v.num_steps != 1:
        call.annotate(
            "warning",
            "sort is ineffective for range queries since results are always ordered by labels",
        )
        return v
    col = v.values[:, 0]
    nan = np.isnan(col)
    key = -col if descending else col
    # NaN sorts last either way; absent series go after everything.
    order = np.lexsort((key, nan, ~v.present[:, 0]))
    return _reorder(v, order)


def _reorder(v: VectorSeries, order: I64) -> VectorSeries:
    flags = v.drop_name if len(v.drop_name) == v.num_series else np.zeros(v.num_series, bool)
    return VectorSeries(
        [v.labels[int(i)] for i in order], v.values[order], v.present[order], flags[order]
    )


@function("sort")
def sort(call: FunctionCall) -> Value:
    return _sort(call, descending=False)


@function("sort_desc")
def sort_desc(call: FunctionCall) -> Value:
    return _sort(call, descending=True)


def _native_only(call: FunctionCall) -> Value:
    # These read native histograms only; float samples produce nothing (as in Prometheus).
    return empty_vector(call.num_steps)


for _name in (
    "histogram_count",
    "histogram_sum",
    "histogram_avg",
    "histogram_stddev",
    "histogram_stdvar",
):
    function(_name)(_native_only)


@function("min_of")
def min_of(call: FunctionCall) -> Value:
    """The smaller of two scalars (Go's ``math.Min``: NaN wins)."""
    return ScalarSeries(np.minimum(scalar_arg(call, 0), scalar_arg(call, 1)))


@function("max_of")
def max_of(call: FunctionCall) -> Value:
    """The larger of two scalars (Go's ``math.Max``: NaN wins)."""
    return ScalarSeries(np.maximum(scalar_arg(call, 0), scalar_arg(call, 1)))
