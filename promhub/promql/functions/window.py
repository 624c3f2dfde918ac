"""Shared machinery of the function library: windows of a range vector, Kahan summation,
argument access and result assembly.

A :class:`~promhub.promql.value.RangeSeries` holds every series' samples once (CSR) and a
window ``lo:hi`` per (series, step). Range functions work on all windows at once:

- order-independent results (first/last sample, counts, counter resets) come from index
  arithmetic on ``lo``/``hi`` and prefix sums over the flat sample array;
- order-dependent ones (Kahan sums, incremental means, regressions, smoothing) must add the
  samples in Prometheus' order to reproduce its floats, so :class:`Windows` walks the windows
  *by sample position*: iteration ``j`` updates every window that has a ``j``-th sample with
  one NumPy operation. Python iterates over the longest window's length, never per sample.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from promhub.model.gofloat import format_g
from promhub.model.labels import Labels
from promhub.promql.ast import (
    Expr,
    MatrixSelector,
    ParenExpr,
    StepInvariantExpr,
    VectorSelector,
)
from promhub.promql.call import FunctionCall
from promhub.promql.value import (
    F64,
    I64,
    Mask,
    RangeSeries,
    ScalarSeries,
    StringValue,
    VectorSeries,
)


class FunctionError(Exception):
    """A function rejected its input; the engine reports it as an execution error with the
    message unchanged (Prometheus panics with these texts and recovers them as errors)."""


# --------------------------------------------------------------------------- arguments


def range_arg(call: FunctionCall, i: int = 0) -> RangeSeries:
    arg = call.args[i]
    if not isinstance(arg, RangeSeries):
        raise TypeError(f"{call.node.func}(): argument {i + 1} is not a range vector")
    return arg


def vector_arg(call: FunctionCall, i: int = 0) -> VectorSeries:
    arg = call.args[i]
    if not isinstance(arg, VectorSeries):
        raise TypeError(f"{call.node.func}(): argument {i + 1} is not an instant vector")
    return arg


def scalar_arg(call: FunctionCall, i: int) -> F64:
    """A scalar argument as a ``[T]`` array (also accepts a plain float broadcast)."""
    arg = call.args[i]
    if isinstance(arg, ScalarSeries):
        return np.broadcast_to(np.asarray(arg.values, dtype=np.float64), (call.num_steps,))
    raise TypeError(f"{call.node.func}(): argument {i + 1} is not a scalar")


def string_arg(call: FunctionCall, i: int) -> str:
    arg = call.args[i]
    if isinstance(arg, StringValue):
        return arg.value
    # The engine may leave string literals unevaluated; read them from the syntax tree.
    node = unwrap(call.node.args[i])
    value = getattr(node, "value", None)
    if isinstance(value, str):
        return value
    raise TypeError(f"{call.node.func}(): argument {i + 1} is not a string")


def unwrap(expr: Expr) -> Expr:
    """Strip parentheses and step-invariance wrappers, as Prometheus' unwrapParenExpr does."""
    while isinstance(expr, ParenExpr | StepInvariantExpr):
        expr = expr.expr
    return expr


def selector_of(call: FunctionCall, i: int = 0) -> VectorSelector | None:
    """The vector selector behind argument ``i`` (``foo[5m]`` or ``foo``), if it is one."""
    node = unwrap(call.node.args[i]) if i < len(call.node.args) else None
    if isinstance(node, MatrixSelector):
        return node.vector_selector
    if isinstance(node, VectorSelector):
        return node
    return None


def arg_node(call: FunctionCall, i: int) -> Expr:
    return call.node.args[i] if i < len(call.node.args) else call.node


# --------------------------------------------------------------------------- results


def vector_result(
    labels: list[Labels], values: F64, present: Mask, drop_name: bool | Mask = True
) -> VectorSeries:
    """Assemble a result, dropping series that have no value at any step."""
    keep = present.any(axis=1) if present.ndim == 2 else np.zeros(0, dtype=bool)
    flags = np.broadcast_to(np.asarray(drop_name, dtype=bool), (len(labels),))
    if keep.all():
        return VectorSeries(labels, values, present, flags.copy())
    idx = np.flatnonzero(keep)
    return VectorSeries([labels[int(i)] for i in idx], values[idx], present[idx], flags[idx].copy())


def empty_vector(num_steps: int) -> VectorSeries:
    return VectorSeries(
        [],
        np.zeros((0, num_steps), dtype=np.float64),
        np.zeros((0, num_steps), dtype=bool),
        np.zeros(0, dtype=bool),
    )


# --------------------------------------------------------------------------- windows


def window_counts(rs: RangeSeries) -> I64:
    counts: I64 = rs.hi - rs.lo
    return counts


class Windows:
    """The non-empty (or long-enough) windows of a range vector, walked by sample position.

    ``flat`` are the flat (series * T + step) positions of the selected windows, ordered by
    descending length so that the windows still active at position ``j`` are a prefix.
    """

    def __init__(
        self, rs: RangeSeries, min_count: int = 1, lo: I64 | None = None, hi: I64 | None = None
    ) -> None:
        lo_all = (rs.lo if lo is None else lo).ravel()
        hi_all = (rs.hi if hi is None else hi).ravel()
        counts = hi_all - lo_all
        sel = np.flatnonzero(counts >= min_count)
        order = np.argsort(-counts[sel], kind="stable")
        self.flat: I64 = sel[order]
        self.lo: I64 = lo_all[self.flat]
        self.counts: I64 = counts[self.flat]
        self.size = len(self.flat)
        self.shape = rs.lo.shape
        self._neg = -self.counts
        self.timestamps = rs.timestamps
        self.values = rs.values

    def positions(self, start: int = 0) -> Iterator[tuple[int, int, I64]]:
        """Yield ``(j, k, idx)``: the first ``k`` windows have a ``j``-th sample at ``idx``."""
        if self.size == 0:
            return
        longest = int(self.counts[0])
        for j in range(start, longest):
            k = int(np.searchsorted(self._neg, -j, side="left"))
            yield j, k, self.lo[:k] + j

    def first(self) -> I64:
        return self.lo

    def last(self) -> I64:
        return self.lo + self.counts - 1

    def scatter(self, out_values: F64) -> tuple[F64, Mask]:
        """Spread per-window results back into ``[N, T]`` values and presence."""
        n = int(np.prod(self.shape))
        values = np.zeros(n, dtype=np.float64)
        present = np.zeros(n, dtype=bool)
        values[self.flat] = out_values
        present[self.flat] = True
        return values.reshape(self.shape), present.reshape(self.shape)

    def per_window(self, per_step: F64) -> F64:
        """A ``[T]`` per-step parameter picked for each window."""
        steps = self.flat % self.shape[1] if len(self.shape) == 2 and self.shape[1] else self.flat
        out: F64 = np.asarray(per_step, dtype=np.float64)[steps]
        return out


def kahan_inc(inc: F64, s: F64, c: F64) -> tuple[F64, F64]:
    """Prometheus' ``kahansum.Inc`` (Neumaier's variant) on arrays."""
    t = s + inc
    with np.errstate(invalid="ignore", over="ignore"):
        big = np.abs(s) >= np.abs(inc)
        comp = np.where(big, (s - t) + inc, (inc - t) + s)
        c = np.where(np.isinf(t), 0.0, c + comp)
    return t, c


def segment_sums(flags: F64, offsets: I64) -> F64:
    """Prefix sums of ``flags`` with a leading zero, for window sums ``P[b] - P[a]``."""
    out = np.zeros(len(flags) + 1, dtype=np.float64)
    np.cumsum(flags, out=out[1:])
    return out


def pair_flags(rs: RangeSeries, kind: str, use_start_timestamps: bool = False) -> F64:
    """Per sample ``i``: a property of the pair ``(i-1, i)`` within one series.

    ``kind`` is ``"reset"`` (value dropped: counter reset), ``"change"`` (value changed,
    NaN to NaN is no change), ``"correction"`` (the value before a reset, what rate adds)
    or ``"overlap"`` (the sample's start timestamp overlaps the previous sample, see
    :func:`start_timestamp_overlaps`). With ``use_start_timestamps`` a reset is also what
    the samples' start timestamps say (:func:`start_timestamp_resets`).
    The first sample of each series has no pair and gets 0.
    """
    v = rs.values
    out = np.zeros(len(v), dtype=np.float64)
    if len(v) < 2:
        return out
    prev, cur = v[:-1], v[1:]
    wants_st = (use_start_timestamps and kind in ("reset", "correction")) or kind == "overlap"
    st = rs.start_timestamps if wants_st else None
    with np.errstate(invalid="ignore"):
        dropped = cur < prev
        if st is not None:
            dropped = dropped | start_timestamp_resets(st, rs.timestamps)
        if kind == "change":
            flag = (cur != prev) & ~(np.isnan(cur) & np.isnan(prev))
            vals = flag.astype(np.float64)
        elif kind == "reset":
            vals = dropped.astype(np.float64)
        elif kind == "overlap":
            vals = np.zeros(len(cur)) if st is None else start_timestamp_overlaps(st, rs.timestamps)
        else:
            vals = np.where(dropped, prev, 0.0)
    out[1:] = vals
    # Pairs that straddle two series do not exist.
    starts = rs.offsets[1:-1]
    starts = starts[starts < len(v)]
    out[starts] = 0.0
    return out


def start_timestamp_resets(st: I64, t: I64) -> Mask:
    """Per pair ``(i-1, i)`` of samples: whether start timestamps say the counter restarted
    in between (Prometheus' isStartTimestampReset).

    A start timestamp that is unset (0), not before its sample (invalid, or OTel's "unknown
    start"), or before the previous sample (a cumulative counter still counting) is no
    reset; one after the previous sample is. One *at* the previous sample is a reset only
    if the previous sample had a valid, known start of its own (a delta series), not for a
    cumulative series whose start is unknown.
    """
    prev_st, prev_t, cur_st, cur_t = st[:-1], t[:-1], st[1:], t[1:]
    valid = (cur_st != 0) & (cur_st < cur_t) & (cur_st >= prev_t)
    prev_known = (prev_st != 0) & (prev_st < prev_t)
    out: Mask = valid & ((cur_st > prev_t) | prev_known)
    return out


def start_timestamp_overlaps(st: I64, t: I64) -> F64:
    """Per pair ``(i-1, i)``: 1.0 where the sample's start timestamp lies before the previous
    sample but is not that sample's start (Prometheus' checkStartTimeOverlap): neither a
    delta (``ST = previous T``) nor a cumulative counter (``ST = previous ST``)."""
    prev_st, prev_t, cur_st = st[:-1], t[:-1], st[1:]
    flag = (cur_st != 0) & (cur_st < prev_t) & (cur_st != prev_st)
    out: F64 = flag.astype(np.float64)
    return out


# --------------------------------------------------------------------------- formatting


go_float = format_g


def sorted_within_series(rs: RangeSeries) -> bool:
    """Whether each series' samples ascend in time (a plain CSR), as opposed to the
    engine's materialised ``anchored``/``smoothed`` windows laid out one after another."""
    ts = rs.timestamps
    if len(ts) < 2:
        return True
    drops = np.flatnonzero(ts[1:] < ts[:-1]) + 1
    if len(drops) == 0:
        return True
    return bool(np.isin(drops, rs.offsets).all())


def search(rs: RangeSeries, t: I64, side: str) -> I64:
    """Global index, per ``[N, T]`` cell, of the first sample of series ``i`` with a
    timestamp ``> t`` (``side="right"``) or ``>= t`` (``side="left"``).

    One ``searchsorted`` for all series: keys are ``series * span + time`` so that the
    concatenated CSR timestamps are globally sorted.
    """
    n = len(rs.offsets) - 1
    ts = rs.timestamps
    if len(ts) == 0:
        return np.zeros(t.shape, dtype=np.int64)
    tmin = int(ts.min()) - 1
    span = int(ts.max()) - tmin + 2
    series = np.repeat(np.arange(n, dtype=np.int64), np.diff(rs.offsets))
    keys = series * span + (ts - tmin)
    q = np.clip(t, tmin, tmin + span - 1) - tmin + np.arange(n, dtype=np.int64)[:, None] * span
    out: I64 = np.searchsorted(keys, q, side=side).astype(np.int64)  # type: ignore[call-overload]
    return out
