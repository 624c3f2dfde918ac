"""histogram_quantile, histogram_quantiles and histogram_fraction on classic histograms
(``le`` bucket series), following Prometheus' BucketQuantile/BucketFraction.

Buckets are grouped per series identity (all labels but ``le``). Within a group the
buckets present can differ between steps, so steps are grouped by their presence pattern
(usually one) and each pattern is computed for all its steps at once; the per-bucket
passes (coalescing equal bounds, the monotonicity fix, the fraction walk) iterate over
buckets, never over samples.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from promhub.model.labels import Labels
from promhub.promql.call import FunctionCall, function
from promhub.promql.functions.window import (
    arg_node,
    go_float,
    scalar_arg,
    string_arg,
    vector_arg,
    vector_result,
)
from promhub.promql.value import F64, I64, Mask, Value, VectorSeries

BUCKET_LABEL = "le"
_MIN_NORMAL = 2.2250738585072014e-308
_SMALL_DELTA = 1e-12
# Go's strconv.ParseFloat: decimal or hex floats, inf/infinity/nan in any case.
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z")
_HEX = re.compile(r"[+-]?0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?\d+\Z")
_SPECIAL = {
    "inf": math.inf,
    "+inf": math.inf,
    "-inf": -math.inf,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-infinity": -math.inf,
    "nan": math.nan,
}


def parse_go_float(s: str) -> float | None:
    """``strconv.ParseFloat(s, 64)``, or None where Go reports an error."""
    special = _SPECIAL.get(s.lower())
    if special is not None:
        return special
    if _DECIMAL.match(s):
        return float(s)
    if _HEX.match(s):
        try:
            return float.fromhex(s)
        except (ValueError, OverflowError):
            return None
    return None


@dataclass(slots=True)
class _Group:
    labels: Labels
    rows: I64  # sorted by upper bound
    bounds: F64


def _groups(call: FunctionCall, v: VectorSeries, vec_arg: int) -> list[_Group]:
    """Bucket series grouped by their labels without ``le``; warns about bad ``le``."""
    index: dict[Labels, list[int]] = {}
    bounds = np.zeros(v.num_series)
    for i, ls in enumerate(v.labels):
        le = ls.get(BUCKET_LABEL)
        ub = parse_go_float(le)
        if ub is None:
            if v.present[i].any():
                name = ls.name
                suffix = f' for metric name "{name}"' if name else ""
                call.annotate(
                    "warning",
                    f'bucket label "le" is missing or has a malformed value of "{le}"{suffix}',
                    arg_node(call, vec_arg),
                )
            continue
        bounds[i] = ub
        index.setdefault(ls.without(BUCKET_LABEL), []).append(i)
    out = []
    for ls, rows in index.items():
        r = np.array(rows, dtype=np.int64)
        order = np.argsort(bounds[r], kind="stable")
        out.append(_Group(ls, r[order], bounds[r][order]))
    return out


def _patterns(present: Mask) -> list[tuple[Mask, I64]]:
    """Steps grouped by which buckets are present: ``(bucket mask, step indices)``."""
    if present.shape[1] == 0:
        return []
    uniq, inverse = np.unique(present, axis=1, return_inverse=True)
    inverse = inverse.reshape(-1)
    out = []
    for p in range(uniq.shape[1]):
        if uniq[:, p].any():
            out.append((uniq[:, p], np.flatnonzero(inverse == p)))
    return out


def _coalesce(bounds: F64, counts: F64) -> tuple[F64, F64]:
    """Sum the counts of buckets with equal upper bounds (bounds sorted)."""
    starts = np.flatnonzero(np.r_[True, bounds[1:] != bounds[:-1]])
    if len(starts) == len(bounds):
        return bounds, counts
    return bounds[starts], np.add.reduceat(counts, starts, axis=0)


def _almost_equal(a: F64, b: F64, eps: float) -> Mask:
    with np.errstate(invalid="ignore", over="ignore"):
        both_nan = np.isnan(a) & np.isnan(b)
        abs_sum = np.abs(a) + np.abs(b)
        diff = np.abs(a - b)
        tiny = (a == 0) | (b == 0) | (abs_sum < _MIN_NORMAL)
        rel = diff / np.minimum(abs_sum, np.finfo(np.float64).max)
        out: Mask = both_nan | (a == b) | np.where(tiny, diff < eps * _MIN_NORMAL, rel < eps)
    return out


def _ensure_monotonic(counts: F64) -> Mask:
    """In place, per step: absorb float noise, then remove decreases. Returns, per step,
    whether a real decrease had to be removed."""
    forced = np.zeros(counts.shape[1], dtype=bool)
    prev = counts[0].copy()
    for i in range(1, counts.shape[0]):
        cur = counts[i]
        same = cur == prev
        noise = ~same & _almost_equal(prev, cur, _SMALL_DELTA)
        with np.errstate(invalid="ignore"):
            dec = ~same & ~noise & (cur < prev)
        fix = noise | dec
        counts[i] = np.where(fix, prev, cur)
        prev = np.where(fix, prev, cur)
        forced |= dec
    return forced


def _bucket_quantile(q: F64, bounds: F64, counts: F64) -> tuple[F64, Mask]:
    """BucketQuantile for one bucket layout over S steps: ``counts`` is ``[B, S]``."""
    s = counts.shape[1]
    out = np.full(s, np.nan)
    forced = np.zeros(s, dtype=bool)
    if np.isinf(bounds[-1]) and bounds[-1] > 0:
        bounds, counts = _coalesce(bounds, counts.copy())
        forced = _ensure_monotonic(counts)
        if len(bounds) >= 2:
            obs = counts[-1]
            with np.errstate(invalid="ignore", divide="ignore"):
                rank = q * obs
                hit = counts[:-1] >= rank[None, :]
                b = np.where(hit.any(axis=0), np.argmax(hit, axis=0), len(bounds) - 1)
                cols = np.arange(s)
                prev_b = np.maximum(b - 1, 0)
                start = np.where(b > 0, bounds[prev_b], 0.0)
                end = bounds[b]
                count = counts[b, cols] - np.where(b > 0, counts[prev_b, cols], 0.0)
                r = rank - np.where(b > 0, counts[prev_b, cols], 0.0)
                val = start + (end - start) * (r / count)
                val = np.where((b == 0) & (bounds[0] <= 0), bounds[0], val)
                val = np.where(b == len(bounds) - 1, bounds[-2], val)
                val = np.where(obs == 0, np.nan, val)
            out = val
    with np.errstate(invalid="ignore"):
        out = np.where(q > 1, np.inf, np.where(q < 0, -np.inf, out))
        out = np.where(np.isnan(q), np.nan, out)
        forced &= ~(np.isnan(q) | (q < 0) | (q > 1))
    return out, forced


def _bucket_fraction(lower: F64, upper: F64, bounds: F64, counts: F64) -> F64:
    """BucketFraction over S steps (cumulative counts ``[B, S]``)."""
    s = counts.shape[1]
    if not (np.isinf(bounds[-1]) and bounds[-1] > 0):
        return np.full(s, np.nan)
    bounds, counts = _coalesce(bounds, counts)
    total = counts[-1]
    rank = np.zeros(s)
    lower_rank = np.zeros(s)
    upper_rank = np.zeros(s)
    lower_set = np.zeros(s, dtype=bool)
    upper_set = np.zeros(s, dtype=bool)
    done = np.zeros(s, dtype=bool)
    lb = 0.0 if bounds[0] > 0 else -np.inf
    with np.errstate(invalid="ignore", divide="ignore"):
        for i in range(len(bounds)):
            if i > 0:
                lb = float(bounds[i - 1])
            ub = float(bounds[i])
            c = counts[i]

            act = ~done
            m = act & ~lower_set & (lb >= lower)
            lower_rank = np.where(m, rank, lower_rank)
            lower_set |= m
            m = act & ~upper_set & (lb >= upper)
            upper_rank = np.where(m, rank, upper_rank)
            upper_set |= m
            done |= lower_set & upper_set
            act = ~done
            m = act & ~lower_set & (lb < lower) & (ub > lower)
            lower_rank = np.where(m, _interpolate_cumulative(lower, rank, c, lb, ub), lower_rank)
            lower_set |= m
            m = act & ~upper_set & (lb < upper) & (ub > upper)
            upper_rank = np.where(m, _interpolate_cumulative(upper, rank, c, lb, ub), upper_rank)
            upper_set |= m
            done |= lower_set & upper_set
            rank = np.where(done, rank, c)
        lower_rank = np.where(~lower_set | (lower_rank > total), total, lower_rank)
        upper_rank = np.where(~upper_set | (upper_rank > total), total, upper_rank)
        out: F64 = (upper_rank - lower_rank) / total
        out = np.where(lower >= upper, 0.0, out)
        out = np.where((total == 0) | np.isnan(lower) | np.isnan(upper), np.nan, out)
    return out


def _interpolate_cumulative(x: F64, rank: F64, c: F64, lb: float, ub: float) -> F64:
    """Rank of ``x`` inside bucket ``(lb, ub]`` with cumulative count ``c``; a bucket with
    an infinite lower bound contributes nothing to interpolate."""
    if lb == -np.inf:
        return c
    out: F64 = rank + (c - rank) * (x - lb) / (ub - lb)
    return out


def _warn_quantiles(call: FunctionCall, q: F64, arg: int) -> None:
    for qv in np.unique(q[np.isnan(q) | (q < 0) | (q > 1)]):
        call.annotate(
            "warning",
            f"quantile value should be between 0 and 1, got {go_float(float(qv))}",
            arg_node(call, arg),
        )


def _quantiles(
    call: FunctionCall, v: VectorSeries, q: F64, vec_arg: int
) -> tuple[list[_Group], F64, Mask]:
    groups = _groups(call, v, vec_arg)
    t = v.num_steps
    values = np.zeros((len(groups), t))
    present = np.zeros((len(groups), t), dtype=bool)
    forced_names: set[str] = set()
    for g, grp in enumerate(groups):
        pres = v.present[grp.rows]
        for mask, steps in _patterns(pres):
            rows = grp.rows[mask]
            res, forced = _bucket_quantile(q[steps], grp.bounds[mask], v.values[rows][:, steps])
            values[g, steps] = res
            present[g, steps] = True
            if forced.any():
                forced_names.add(grp.labels.name)
    for name in sorted(forced_names):
        suffix = f' for metric name "{name}"' if name else ""
        call.annotate(
            "info",
            "input to histogram_quantile needed to be fixed for monotonicity (see "
            "https://prometheus.io/docs/prometheus/latest/querying/functions/"
            f"#histogram_quantile){suffix}",
            arg_node(call, vec_arg),
        )
    return groups, values, present


@function("histogram_quantile")
def histogram_quantile(call: FunctionCall) -> Value:
    """The φ-quantile of classic histograms (bucket series with an ``le`` label)."""
    q = scalar_arg(call, 0)
    v = vector_arg(call, 1)
    _warn_quantiles(call, q, 0)
    groups, values, present = _quantiles(call, v, q, 1)
    return vector_result([g.labels for g in groups], values, present)


@function("histogram_quantiles")
def histogram_quantiles(call: FunctionCall) -> Value:
    """Several quantiles at once, each output series labelled with its quantile."""
    v = vector_arg(call, 0)
    label = string_arg(call, 1)
    labels: list[Labels] = []
    all_values: list[F64] = []
    all_present: list[Mask] = []
    qs = [scalar_arg(call, i) for i in range(2, len(call.args))]
    for i, q in enumerate(qs):
        _warn_quantiles(call, q, i + 2)
    for q in qs:
        groups, values, present = _quantiles(call, v, q, 0)
        # A per-step quantile would need per-step labels; Prometheus labels by value, so
        # split steps by value (almost always a single constant).
        for qv in np.unique(q.astype(np.float64)):
            steps = (q == qv) | (np.isnan(q) & np.isnan(qv))
            for g, grp in enumerate(groups):
                d = grp.labels.to_dict()
                d[label] = _openmetrics_float(float(qv))
                labels.append(Labels.from_dict(d))
                all_values.append(values[g])
                all_present.append(present[g] & steps)
    if not labels:
        return vector_result(
            [], np.zeros((0, call.num_steps)), np.zeros((0, call.num_steps), dtype=bool)
        )
    return vector_result(labels, np.vstack(all_values), np.vstack(all_present))


def _openmetrics_float(f: float) -> str:
    s = go_float(f)
    if s in ("NaN", "+Inf", "-Inf") or "e" in s or "." in s:
        return s
    return s + ".0"


@function("histogram_fraction")
def histogram_fraction(call: FunctionCall) -> Value:
    """Estimated fraction of observations between two bounds, from classic buckets."""
    lower = scalar_arg(call, 0)
    upper = scalar_arg(call, 1)
    v = vector_arg(call, 2)
    groups = _groups(call, v, 2)
    t = v.num_steps
    values = np.zeros((len(groups), t))
    present = np.zeros((len(groups), t), dtype=bool)
    for g, grp in enumerate(groups):
        for mask, steps in _patterns(v.present[grp.rows]):
            rows = grp.rows[mask]
            values[g, steps] = _bucket_fraction(
                lower[steps], upper[steps], grp.bounds[mask], v.values[rows][:, steps]
            )
            present[g, steps] = True
    return vector_result([g.labels for g in groups], values, present)
