"""Counter and gauge rates over range vectors: rate, increase, delta (with Prometheus'
extrapolation, and the experimental ``anchored``/``smoothed`` variants), irate, idelta,
deriv, predict_linear, resets and changes.

Everything works on all (series, step) windows at once: first/last samples by index,
counter-reset corrections and change counts by prefix sums over the flat sample array.

Samples read straight from storage may carry start timestamps (see
:mod:`promhub.storage.interface`); rate, increase, irate and resets use them as Prometheus
does: a start timestamp after the previous sample is a counter reset even if the value did
not drop, and rate/increase take a start timestamp inside the window as the point where
the counter was zero instead of extrapolating towards the window start.
"""

from __future__ import annotations

from dataclasses import replace
from operator import itemgetter

import numpy as np

from promhub.model.labels import METRIC_NAME, Labels
from promhub.promql.call import FunctionCall, function
from promhub.promql.functions.window import (
    Windows,
    arg_node,
    kahan_inc,
    pair_flags,
    range_arg,
    scalar_arg,
    search,
    segment_sums,
    selector_of,
    sorted_within_series,
    start_timestamp_resets,
    vector_result,
)
from promhub.promql.value import F64, I64, Mask, RangeSeries, Value

_COUNTER_SUFFIXES = ("_total", "_sum", "_count", "_bucket")


def _note_non_counters(call: FunctionCall, rs: RangeSeries, present: Mask) -> None:
    """Prometheus' info for rate/increase over a metric whose name says it is no counter."""
    rows = present.any(axis=1)
    labels = rs.labels if rows.all() else [rs.labels[i] for i in np.flatnonzero(rows).tolist()]
    for name in _distinct_names(labels):
        if name and not name.endswith(_COUNTER_SUFFIXES):
            call.annotate(
                "info",
                "metric might not be a counter, name does not end in "
                f'_total/_sum/_count/_bucket: "{_go_quote(name)}"',
                arg_node(call, 0),
            )


def _distinct_names(labels: list[Labels]) -> list[str]:
    """The metric names of ``labels`` in order of first appearance ("" for none).

    Usually every label set starts with ``__name__`` (it sorts before lowercase names):
    then the distinct first pairs, found at C speed, give the names without a Python
    loop per series."""
    try:
        firsts = dict.fromkeys(map(itemgetter(0), labels))
    except IndexError:  # an empty label set
        firsts = None
    if firsts is not None and all(p[0] == METRIC_NAME for p in firsts):
        return list(dict.fromkeys(p[1] for p in firsts))
    return list(dict.fromkeys(ls.name for ls in labels))


def _go_quote(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def _bounds(rs: RangeSeries) -> tuple[I64, I64]:
    """Window start (exclusive) and end (inclusive) per step, broadcast to ``[N, T]``."""
    end = np.broadcast_to(rs.step_times.astype(np.int64), rs.lo.shape)
    return end - rs.range_ms, end


def _extrapolated_rate(call: FunctionCall, is_counter: bool, is_rate: bool) -> Value:
    rs = range_arg(call)
    sel = selector_of(call)
    if sel is not None and (sel.anchored or sel.smoothed):
        values, present = _extended_rate(rs, sel.smoothed, is_counter, is_rate)
    else:
        values, present = _plain_rate(rs, is_counter, is_rate)
        if is_counter:
            _note_overlaps(call, rs)
    if is_counter and call.node.func in ("rate", "increase"):
        _note_non_counters(call, rs, present)
    return vector_result(rs.labels, values, present)


#: (series, step) cells one block of a plain rate evaluates at once. Big inputs (30k
#: series x 241 steps) go in row blocks so that the ~25 temporaries of the formula stay in
#: the CPU cache instead of streaming 60 MB arrays through memory each.
_BLOCK_CELLS = 1 << 14


def _plain_rate(rs: RangeSeries, is_counter: bool, is_rate: bool) -> tuple[F64, Mask]:
    n, t = rs.lo.shape
    rows = max(1, _BLOCK_CELLS // max(t, 1))
    corr = _Corrections(rs) if is_counter and len(rs.timestamps) else None
    if n <= rows:
        return _plain_rate_block(rs, is_counter, is_rate, corr)
    values = np.empty((n, t), dtype=np.float64)
    present = np.empty((n, t), dtype=bool)
    for a in range(0, n, rows):
        block = replace(rs, lo=rs.lo[a : a + rows], hi=rs.hi[a : a + rows])
        values[a : a + rows], present[a : a + rows] = _plain_rate_block(
            block, is_counter, is_rate, corr
        )
    return values, present


def _plain_rate_block(
    rs: RangeSeries, is_counter: bool, is_rate: bool, corr: _Corrections | None
) -> tuple[F64, Mask]:
    counts = rs.hi - rs.lo
    range_start, range_end = _bounds(rs)
    st = rs.start_timestamps if is_counter else None
    # A counter whose first sample in the window started counting inside the window (its
    # start timestamp is after the window start, which is exclusive, and before the
    # sample) was zero at that start timestamp: measure from there, even from one sample.
    from_st = np.zeros(rs.lo.shape, dtype=bool)
    if st is not None and len(st):
        nonempty = counts >= 1
        st0 = st[np.where(nonempty, rs.lo, 0)]
        t0 = rs.timestamps[np.where(nonempty, rs.lo, 0)]
        from_st = nonempty & (st0 != 0) & (st0 > range_start) & (st0 < t0)
    present = (counts >= 2) | from_st
    values = np.zeros(rs.lo.shape, dtype=np.float64)
    if not present.any():
        return values, present
    first = rs.lo[present]
    last = rs.hi[present] - 1
    use_st = from_st[present]
    t, v = rs.timestamps, rs.values
    first_t, last_t = t[first], t[last]
    first_v, last_v = v[first], v[last]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        result = last_v - first_v
        if corr is not None:
            result = result + corr.between(first, last)
        to_start = (first_t - range_start[present]) / 1000.0
        to_end = (range_end[present] - last_t) / 1000.0
        sampled = (last_t - first_t) / 1000.0
        n1 = counts[present] - 1
        avg = np.where(n1 > 0, sampled / np.maximum(n1, 1), 0.0)
        threshold = avg * 1.1
        to_start = np.where(to_start >= threshold, avg / 2, to_start)
        if is_counter:
            # Counters cannot go below zero: never extrapolate past the zero point.
            to_zero = np.where(
                (result > 0) & (first_v >= 0), sampled * (first_v / result), to_start
            )
            to_start = np.minimum(to_start, np.where(np.isnan(to_zero), np.inf, to_zero))
        if use_st.any():
            # The counter grew from zero at its start timestamp to the first sample.
            st_first = np.where(use_st, st[first] if st is not None else 0, first_t)
            to_start = np.where(use_st, 0.0, to_start)
            sampled = np.where(use_st, (last_t - st_first) / 1000.0, sampled)
            result = np.where(use_st, result + first_v, result)
        to_end = np.where(to_end >= threshold, avg / 2, to_end)
        factor = np.where(sampled != 0, (sampled + to_start + to_end) / sampled, 1.0)
        if is_rate:
            factor = factor / (rs.range_ms / 1000.0)
        values[present] = result * factor
    return values, present


def _note_overlaps(call: FunctionCall, rs: RangeSeries) -> None:
    """Prometheus' warning when a sample's start timestamp reaches back before the previous
    sample of a window (neither a delta nor a cumulative counter: the data is suspect)."""
    if rs.start_timestamps is None or len(rs.timestamps) < 2:
        return
    flags = pair_flags(rs, "overlap")
    if not flags.any():
        return
    prefix = segment_sums(flags, rs.offsets)
    has = rs.hi - rs.lo >= 2
    lo = np.where(has, rs.lo, 0)
    hi = np.where(has, rs.hi, 0)
    # Pairs (j-1, j) with both samples in the window: j in (lo, hi).
    hit = has & (prefix[np.maximum(hi, 1)] - prefix[np.minimum(lo + 1, hi)] > 0)
    seen: set[str] = set()
    for i in np.flatnonzero(hit.any(axis=1)).tolist():
        name = rs.labels[i].name or ""
        if name in seen:
            continue
        seen.add(name)
        call.annotate(
            "warning",
            "sample has start time that overlaps with previous sample timestamp for metric "
            f'"{_go_quote(name)}"',
            arg_node(call, 0),
        )


class _Corrections:
    """Sum of the values before each counter reset between two samples (a value drop, or
    a restart that the start timestamps show), for any number of windows of one input."""

    def __init__(self, rs: RangeSeries) -> None:
        self.corr = pair_flags(rs, "correction", use_start_timestamps=True)
        # An infinite value before a reset would poison the prefix sums of later windows.
        self.prefix = segment_sums(self.corr, rs.offsets) if np.isfinite(self.corr).all() else None

    def between(self, first: I64, last: I64) -> F64:
        if self.prefix is not None:
            out: F64 = self.prefix[last + 1] - self.prefix[first + 1]
            return out
        total = np.zeros(len(first), dtype=np.float64)
        width = last - first
        for j in range(1, int(width.max(initial=0)) + 1):
            active = width >= j
            total[active] += self.corr[first[active] + j]
        return total


def _extended_rate(
    rs: RangeSeries, smoothed: bool, is_counter: bool, is_rate: bool
) -> tuple[F64, Mask]:
    """``anchored``/``smoothed`` rates. The engine widens these windows by the lookback
    delta (backwards; forwards too for ``smoothed``) so they hold the samples around the
    range boundaries; Prometheus' extendedRate then picks or interpolates boundary values."""
    t, v = rs.timestamps, rs.values
    counts = rs.hi - rs.lo
    range_start, range_end = _bounds(rs)
    nonempty = counts > 0
    lo, hi = rs.lo, rs.hi
    if sorted_within_series(rs):
        # Raw samples: searches run over all but the last sample of the window, as in
        # Prometheus.
        before = np.clip(search(rs, range_start, "right"), lo, np.maximum(hi - 1, lo)) - lo
        first = lo + np.maximum(0, before - 1)
        last = hi - 1
        if smoothed:
            last = lo + np.clip(search(rs, range_end, "left"), lo, np.maximum(hi - 1, lo)) - lo
    else:
        # Windows materialised with synthetic points exactly at both boundaries.
        first, last = lo, hi - 1
    present = nonempty.copy()
    safe_last = np.where(nonempty, last, 0)
    safe_first = np.where(nonempty, first, 0)
    if len(t) == 0:
        return np.zeros(lo.shape), np.zeros(lo.shape, dtype=bool)
    present &= t[safe_last] > range_start
    if smoothed:
        # Data only after the range: nothing to interpolate from.
        present &= t[safe_first] <= range_end
    values = np.zeros(lo.shape, dtype=np.float64)
    if not present.any():
        return values, present
    f = safe_first[present]
    la = safe_last[present]
    rstart = range_start[present]
    rend = range_end[present]
    lo_p = lo[present]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        left = v[f]
        right = v[la]
        if smoothed:
            need = t[f] < rstart
            nxt = np.minimum(f + 1, len(v) - 1)
            left = np.where(need, _interpolate(t, v, f, nxt, rstart, is_counter), left)
            need = (la > lo_p) & (t[la] > rend)
            prv = np.maximum(la - 1, 0)
            right = np.where(need, _interpolate(t, v, prv, la, rend, is_counter), right)
        result = right - left
        if is_counter:
            f2 = np.where(t[f] <= rstart, f + 1, f)
            l2 = np.where(t[la] >= rend, la - 1, la)
            has = f2 <= l2
            corr = pair_flags(rs, "correction")
            prefix = segment_sums(np.where(np.isfinite(corr), corr, 0.0), rs.offsets)
            f2s = np.where(has, f2, 0)
            l2s = np.where(has, l2, 0)
            inner = np.where(has, prefix[l2s + 1] - prefix[f2s + 1], 0.0)
            first_drop = np.where(has & (v[f2s] < left), left, 0.0)
            prev_last = np.where(has, v[l2s], left)
            last_drop = np.where(right < prev_last, prev_last, 0.0)
            result = result + inner + first_drop + last_drop
        if is_rate:
            result = result / (rs.range_ms / 1000.0)
    values[present] = result
    return values, present


def _interpolate(t: I64, v: F64, a: I64, b: I64, at: I64, is_counter: bool) -> F64:
    y1, y2 = v[a], v[b]
    if is_counter:
        y1 = np.where(y2 < y1, 0.0, y1)
    dt = (t[b] - t[a]).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: F64 = y1 + (y2 - y1) * (at - t[a]).astype(np.float64) / dt
    return out


@function("rate")
def rate(call: FunctionCall) -> Value:
    """Per-second increase of a counter, extrapolated to the window boundaries."""
    return _extrapolated_rate(call, True, True)


@function("increase")
def increase(call: FunctionCall) -> Value:
    return _extrapolated_rate(call, True, False)


@function("delta")
def delta(call: FunctionCall) -> Value:
    return _extrapolated_rate(call, False, False)


def _instant_value(call: FunctionCall, is_rate: bool) -> Value:
    rs = range_arg(call)
    present = (rs.hi - rs.lo) >= 2
    values = np.zeros(rs.lo.shape, dtype=np.float64)
    if present.any():
        b = rs.hi[present] - 1
        a = b - 1
        t, v = rs.timestamps, rs.values
        interval = (t[b] - t[a]).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            res = v[b] - v[a]
            if is_rate:
                reset = v[b] < v[a]
                st = rs.start_timestamps
                if st is not None:
                    pair = np.stack((a, b))
                    reset = reset | start_timestamp_resets(st[pair], t[pair]).reshape(-1)
                res = np.where(reset, v[b], res) / (interval / 1000.0)
        values[present] = res
        # Two samples at one timestamp: Prometheus avoids the division and drops the point.
        present[present] = interval != 0
    return vector_result(rs.labels, values, present)


@function("irate")
def irate(call: FunctionCall) -> Value:
    return _instant_value(call, True)


@function("idelta")
def idelta(call: FunctionCall) -> Value:
    return _instant_value(call, False)


def _regression(w: Windows, intercept_t: I64) -> tuple[F64, F64]:
    """Least squares slope and intercept (at ``intercept_t``, per window) with Kahan sums,
    as Prometheus' linearRegression."""
    n = w.size
    t, v = w.timestamps, w.values
    sums = [np.zeros(n) for _ in range(8)]  # x, cx, y, cy, xy, cxy, x2, cx2
    init_y = v[w.first()] if n else np.zeros(0)
    const_y = np.ones(n, dtype=bool)
    count = w.counts.astype(np.float64)
    for j, k, idx in w.positions():
        y = v[idx]
        x = (t[idx] - intercept_t[:k]).astype(np.float64) / 1e3
        with np.errstate(invalid="ignore", over="ignore"):
            if j > 0:
                const_y[:k] &= y == init_y[:k]
            sums[0][:k], sums[1][:k] = kahan_inc(x, sums[0][:k], sums[1][:k])
            sums[2][:k], sums[3][:k] = kahan_inc(y, sums[2][:k], sums[3][:k])
            sums[4][:k], sums[5][:k] = kahan_inc(x * y, sums[4][:k], sums[5][:k])
            sums[6][:k], sums[7][:k] = kahan_inc(x * x, sums[6][:k], sums[7][:k])
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        sx = sums[0] + sums[1]
        sy = sums[2] + sums[3]
        sxy = sums[4] + sums[5]
        sx2 = sums[6] + sums[7]
        cov = sxy - sx * sy / count
        var = sx2 - sx * sx / count
        slope = cov / var
        intercept = sy / count - slope * sx / count
        inf_y = np.isinf(init_y)
        slope = np.where(const_y, np.where(inf_y, np.nan, 0.0), slope)
        intercept = np.where(const_y, np.where(inf_y, np.nan, init_y), intercept)
    return slope, intercept


@function("deriv")
def deriv(call: FunctionCall) -> Value:
    """Per-second derivative by simple linear regression."""
    rs = range_arg(call)
    w = Windows(rs, min_count=2)
    # Regress around the first sample's time to keep the floats small (Prometheus #2674).
    slope, _ = _regression(w, rs.timestamps[w.first()] if w.size else np.zeros(0, np.int64))
    values, present = w.scatter(slope)
    return vector_result(rs.labels, values, present)


@function("predict_linear")
def predict_linear(call: FunctionCall) -> Value:
    """Value ``t`` seconds after each evaluation time, by linear regression."""
    rs = range_arg(call)
    horizon = scalar_arg(call, 1)
    w = Windows(rs, min_count=2)
    steps = np.asarray(call.step_times, dtype=np.int64)
    at = np.broadcast_to(steps, rs.lo.shape).ravel()[w.flat]
    slope, intercept = _regression(w, at)
    with np.errstate(invalid="ignore", over="ignore"):
        values, present = w.scatter(slope * w.per_window(horizon) + intercept)
    return vector_result(rs.labels, values, present)


def _count_pairs(call: FunctionCall, kind: str) -> Value:
    rs = range_arg(call)
    lo, hi = rs.lo, rs.hi
    present = hi > lo
    sel = selector_of(call)
    if sel is not None and sel.anchored and len(rs.timestamps) and sorted_within_series(rs):
        # Anchored: count from the last sample at or before the range start.
        range_start, _ = _bounds(rs)
        before = np.clip(search(rs, range_start, "right"), lo, np.maximum(hi - 1, lo)) - lo
        lo = lo + np.maximum(0, before - 1)
        present &= rs.timestamps[np.where(present, hi - 1, 0)] > range_start
    prefix = segment_sums(pair_flags(rs, kind, use_start_timestamps=True), rs.offsets)
    first = np.where(present, lo, 0)
    last = np.where(present, hi - 1, 0)
    values = np.where(present, prefix[last + 1] - prefix[first + 1], 0.0)
    return vector_result(rs.labels, values, present)


@function("resets")
def resets(call: FunctionCall) -> Value:
    """Number of counter resets (value decreases) in each window."""
    return _count_pairs(call, "reset")


@function("changes")
def changes(call: FunctionCall) -> Value:
    """Number of value changes in each window."""
    return _count_pairs(call, "change")
