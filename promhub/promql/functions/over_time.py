"""Aggregations of each window of a range vector: ``*_over_time``, ``ts_of_*_over_time``,
``present_over_time``/``absent_over_time`` and ``double_exponential_smoothing``.

Sums and moments add samples in Prometheus' order with Kahan compensation (see
:class:`~promhub.promql.functions.window.Windows`) so results match Prometheus' floats;
quantiles sort all windows' samples in one ``lexsort``.
"""

from __future__ import annotations

import numpy as np

from promhub.model.labels import METRIC_NAME, Labels
from promhub.promql.call import FunctionCall, function
from promhub.promql.functions.window import (
    FunctionError,
    Windows,
    arg_node,
    go_float,
    kahan_inc,
    range_arg,
    scalar_arg,
    selector_of,
    vector_result,
)
from promhub.promql.value import F64, I64, Mask, Value


def _windows_result(call: FunctionCall, w: Windows, out: F64, drop_name: bool = True) -> Value:
    rs = range_arg(call)
    values, present = w.scatter(out)
    return vector_result(rs.labels, values, present, drop_name)


@function("count_over_time")
def count_over_time(call: FunctionCall) -> Value:
    rs = range_arg(call)
    counts = rs.hi - rs.lo
    return vector_result(rs.labels, counts.astype(np.float64), counts > 0)


@function("present_over_time")
def present_over_time(call: FunctionCall) -> Value:
    rs = range_arg(call)
    present = rs.hi > rs.lo
    return vector_result(rs.labels, np.ones(rs.lo.shape), present)


def _pick(call: FunctionCall, last: bool, timestamp: bool) -> Value:
    rs = range_arg(call)
    present = rs.hi > rs.lo
    idx = np.where(present, rs.hi - 1 if last else rs.lo, 0)
    if len(rs.values) == 0:
        return vector_result(rs.labels, np.zeros(rs.lo.shape), present)
    values = rs.timestamps[idx] / 1000.0 if timestamp else rs.values[idx]
    # last/first_over_time act like an offset: they keep the metric name, unless the
    # range came from a subquery whose series were already due to lose it.
    keep: bool | Mask = True
    if not timestamp:
        keep = rs.drop_name if len(rs.drop_name) == len(rs.labels) else False
    return vector_result(rs.labels, values, present, drop_name=keep)


@function("last_over_time")
def last_over_time(call: FunctionCall) -> Value:
    return _pick(call, last=True, timestamp=False)


@function("first_over_time")
def first_over_time(call: FunctionCall) -> Value:
    return _pick(call, last=False, timestamp=False)


@function("ts_of_last_over_time")
def ts_of_last_over_time(call: FunctionCall) -> Value:
    return _pick(call, last=True, timestamp=True)


@function("ts_of_first_over_time")
def ts_of_first_over_time(call: FunctionCall) -> Value:
    return _pick(call, last=False, timestamp=True)


def _compare(call: FunctionCall, better: str, timestamp: bool) -> Value:
    """min/max (and the timestamp of the min/max) with Prometheus' NaN rule: a NaN
    running value is replaced by any later sample."""
    w = Windows(range_arg(call))
    v, t = w.values, w.timestamps
    best = v[w.first()].copy() if w.size else np.zeros(0)
    best_t = t[w.first()].copy() if w.size else np.zeros(0, np.int64)
    for _, k, idx in w.positions():
        cur = v[idx]
        b = best[:k]
        with np.errstate(invalid="ignore"):
            if better == ">":
                take = (cur > b) | np.isnan(b)
            elif better == "<":
                take = (cur < b) | np.isnan(b)
            elif better == ">=":
                take = (cur >= b) | np.isnan(b)
            else:
                take = (cur <= b) | np.isnan(b)
        best[:k] = np.where(take, cur, b)
        best_t[:k] = np.where(take, t[idx], best_t[:k])
    out = best_t / 1000.0 if timestamp else best
    return _windows_result(call, w, out)


@function("max_over_time")
def max_over_time(call: FunctionCall) -> Value:
    return _compare(call, ">", False)


@function("min_over_time")
def min_over_time(call: FunctionCall) -> Value:
    return _compare(call, "<", False)


@function("ts_of_max_over_time")
def ts_of_max_over_time(call: FunctionCall) -> Value:
    return _compare(call, ">=", True)


@function("ts_of_min_over_time")
def ts_of_min_over_time(call: FunctionCall) -> Value:
    return _compare(call, "<=", True)


@function("sum_over_time")
def sum_over_time(call: FunctionCall) -> Value:
    w = Windows(range_arg(call))
    s = np.zeros(w.size)
    c = np.zeros(w.size)
    for _, k, idx in w.positions():
        s[:k], c[:k] = kahan_inc(w.values[idx], s[:k], c[:k])
    with np.errstate(invalid="ignore"):
        out = np.where(np.isinf(s), s, s + c)
    return _windows_result(call, w, out)


@function("avg_over_time")
def avg_over_time(call: FunctionCall) -> Value:
    """Mean by Kahan sum; windows whose sum overflows switch to Prometheus' incremental mean
    from that sample on (so large values average without reaching infinity)."""
    w = Windows(range_arg(call))
    v = w.values
    s = v[w.first()].copy() if w.size else np.zeros(0)
    c = np.zeros(w.size)
    mean = np.zeros(w.size)
    incremental = np.zeros(w.size, dtype=bool)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for j, k, idx in w.positions(start=1):
            f = v[idx]
            count = float(j + 1)
            inc = incremental[:k]
            new_s, new_c = kahan_inc(f, s[:k], c[:k])
            switch = ~inc & np.isinf(new_s)
            direct = ~inc & ~switch
            s[:k] = np.where(direct, new_s, s[:k])
            c[:k] = np.where(direct, new_c, c[:k])
            # Windows that overflow now: start the incremental mean from the sum so far.
            mean[:k] = np.where(switch, s[:k] / (count - 1), mean[:k])
            c[:k] = np.where(switch, c[:k] / (count - 1), c[:k])
            inc = inc | switch
            incremental[:k] = inc
            q = (count - 1) / count
            m_new, c_new = kahan_inc(f / count, q * mean[:k], q * c[:k])
            mean[:k] = np.where(inc, m_new, mean[:k])
            c[:k] = np.where(inc, c_new, c[:k])
        n = w.counts.astype(np.float64)
        out = np.where(incremental, mean + c, s / n + c / n)
    return _windows_result(call, w, out)


def _variance(call: FunctionCall) -> tuple[Windows, F64]:
    w = Windows(range_arg(call))
    v = w.values
    mean = np.zeros(w.size)
    c_mean = np.zeros(w.size)
    aux = np.zeros(w.size)
    c_aux = np.zeros(w.size)
    with np.errstate(invalid="ignore", over="ignore"):
        for j, k, idx in w.positions():
            f = v[idx]
            count = float(j + 1)
            d = f - (mean[:k] + c_mean[:k])
            mean[:k], c_mean[:k] = kahan_inc(d / count, mean[:k], c_mean[:k])
            aux[:k], c_aux[:k] = kahan_inc(d * (f - (mean[:k] + c_mean[:k])), aux[:k], c_aux[:k])
        out: F64 = (aux + c_aux) / w.counts.astype(np.float64)
    return w, out


@function("stdvar_over_time")
def stdvar_over_time(call: FunctionCall) -> Value:
    w, var = _variance(call)
    return _windows_result(call, w, var)


@function("stddev_over_time")
def stddev_over_time(call: FunctionCall) -> Value:
    w, var = _variance(call)
    with np.errstate(invalid="ignore"):
        return _windows_result(call, w, np.sqrt(var))


def _sorted_windows(w: Windows, values: F64 | None = None) -> tuple[F64, I64]:
    """All windows' samples gathered and sorted within each window, NaN first (Prometheus
    sorts NaN below everything). Returns the sorted values and each window's start."""
    total = int(w.counts.sum())
    starts = np.zeros(w.size, dtype=np.int64)
    if w.size:
        np.cumsum(w.counts[:-1], out=starts[1:])
    seg = np.repeat(np.arange(w.size, dtype=np.int64), w.counts)
    if values is None:
        idx = np.repeat(w.lo - starts, w.counts) + np.arange(total, dtype=np.int64)
        vals = w.values[idx]
    else:
        vals = values
    order = np.lexsort((vals, ~np.isnan(vals), seg))
    return vals[order], starts


def _quantile_sorted(q: F64, vals: F64, starts: I64, counts: I64) -> F64:
    n = counts.astype(np.float64)
    with np.errstate(invalid="ignore"):
        rank = q * (n - 1)
        # Out-of-range q is answered below; clip so the gather stays in bounds.
        ok = np.isfinite(rank) & (q >= 0) & (q <= 1)
        lower = np.maximum(0.0, np.floor(np.where(ok, rank, 0.0)))
        upper = np.minimum(n - 1, lower + 1)
        weight = np.where(ok, rank - np.floor(rank), 0.0)
        lo_i = starts + lower.astype(np.int64)
        up_i = starts + upper.astype(np.int64)
        out: F64 = vals[lo_i] * (1 - weight) + vals[up_i] * weight
        out = np.where(np.isnan(q), np.nan, out)
        out = np.where(q < 0, -np.inf, out)
        out = np.where(q > 1, np.inf, out)
    return out


@function("quantile_over_time")
def quantile_over_time(call: FunctionCall) -> Value:
    rs = range_arg(call, 1)
    q_steps = scalar_arg(call, 0)
    w = Windows(rs)
    if w.size == 0:
        return vector_result(rs.labels, np.zeros(rs.lo.shape), rs.hi > rs.lo)
    q = w.per_window(q_steps)
    for qv in np.unique(q[np.isnan(q) | (q < 0) | (q > 1)]):
        call.annotate(
            "warning",
            f"quantile value should be between 0 and 1, got {go_float(float(qv))}",
            arg_node(call, 0),
        )
    vals, starts = _sorted_windows(w)
    out = _quantile_sorted(q, vals, starts, w.counts)
    values, present = w.scatter(out)
    return vector_result(rs.labels, values, present)


@function("mad_over_time")
def mad_over_time(call: FunctionCall) -> Value:
    """Median absolute deviation from the median of each window."""
    rs = range_arg(call)
    w = Windows(rs)
    if w.size == 0:
        return vector_result(rs.labels, np.zeros(rs.lo.shape), rs.hi > rs.lo)
    half = np.full(w.size, 0.5)
    vals, starts = _sorted_windows(w)
    median = _quantile_sorted(half, vals, starts, w.counts)
    seg = np.repeat(np.arange(w.size, dtype=np.int64), w.counts)
    dev = np.abs(vals - median[seg])
    dvals, _ = _sorted_windows(w, dev)
    out = _quantile_sorted(half, dvals, starts, w.counts)
    values, present = w.scatter(out)
    return vector_result(rs.labels, values, present)


@function("double_exponential_smoothing")
def double_exponential_smoothing(call: FunctionCall) -> Value:
    """Holt's linear smoothing; the last smoothed value of each window."""
    rs = range_arg(call)
    sf_steps = scalar_arg(call, 1)
    tf_steps = scalar_arg(call, 2)
    w = Windows(rs, min_count=2)
    sf = w.per_window(sf_steps)
    tf = w.per_window(tf_steps)
    bad_sf = (sf <= 0) | (sf >= 1) | np.isnan(sf)
    if bad_sf.any():
        raise FunctionError(
            f"invalid smoothing factor. Expected: 0 < sf < 1, got: {_go_f(sf[bad_sf][0])}"
        )
    bad_tf = (tf <= 0) | (tf >= 1) | np.isnan(tf)
    if bad_tf.any():
        raise FunctionError(
            f"invalid trend factor. Expected: 0 < tf < 1, got: {_go_f(tf[bad_tf][0])}"
        )
    v = w.values
    first = w.first()
    s0 = np.zeros(w.size)
    s1 = v[first].copy() if w.size else np.zeros(0)
    b = v[first + 1] - v[first] if w.size else np.zeros(0)
    with np.errstate(invalid="ignore", over="ignore"):
        for j, k, idx in w.positions(start=1):
            x = sf[:k] * v[idx]
            if j > 1:  # the trend of the first step is the initial difference
                b[:k] = tf[:k] * (s1[:k] - s0[:k]) + (1 - tf[:k]) * b[:k]
            y = (1 - sf[:k]) * (s1[:k] + b[:k])
            s0[:k] = s1[:k]
            s1[:k] = x + y
    return _windows_result(call, w, s1)


def _go_f(f: float) -> str:
    """Go's ``%f``."""
    if np.isnan(f):
        return "NaN"
    if np.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    return f"{f:.6f}"


@function("absent_over_time")
def absent_over_time(call: FunctionCall) -> Value:
    """1 at the steps where no series has a sample in its window."""
    rs = range_arg(call)
    steps = rs.lo.shape[1]
    any_present: Mask = np.asarray((rs.hi > rs.lo).any(axis=0), dtype=bool)
    present = ~any_present[None, :]
    return vector_result([absent_labels(call)], np.ones((1, steps)), present)


def absent_labels(call: FunctionCall) -> Labels:
    """Labels of the series absent() returns: the argument selector's equality matchers,
    except names matched more than once (Prometheus' historic behaviour) and the name."""
    sel = selector_of(call)
    if sel is None:
        return Labels(())
    out: dict[str, str] = {}
    seen: set[str] = set()
    for m in sel.matchers:
        if m.name == METRIC_NAME:
            continue
        if m.type.value == "=" and m.name not in seen:
            out[m.name] = m.value
            seen.add(m.name)
        else:
            out.pop(m.name, None)
    return Labels.from_dict(out)
