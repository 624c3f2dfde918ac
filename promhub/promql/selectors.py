"""Series selection: instant vectors with lookback, range windows, anchored/smoothed ranges.

Every selector fetches each matching series once for the whole query and then answers all
steps at once: the samples of all series are concatenated (CSR layout) and one
``searchsorted`` over a per-series shifted key finds, for every (series, step) pair, the
last sample at or before the step, or a range window's bounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from promhub.model.labels import Labels
from promhub.model.matcher import Matcher
from promhub.model.value import stale_mask
from promhub.promql.value import F64, I64, Mask, RangeSeries, VectorSeries
from promhub.storage.interface import Querier, Series, SeriesBatch

#: Beyond this many shifted-key units, keys could overflow int64: search per series.
_KEY_LIMIT = 2**62


@dataclass(slots=True)
class Fetched:
    """The samples of the series a selector matched, concatenated (CSR)."""

    labels: list[Labels]
    offsets: I64  # [N + 1]
    timestamps: I64
    values: F64
    #: Start timestamps aligned with ``timestamps`` (0 = none), None if no series has any.
    start_timestamps: I64 | None = None

    @property
    def num_series(self) -> int:
        return len(self.labels)

    @property
    def num_samples(self) -> int:
        return int(self.timestamps.size)


def concatenate(series: Sequence[Series]) -> Fetched:
    """Stack storage series into one CSR block."""
    counts = np.fromiter((len(s.timestamps) for s in series), dtype=np.int64, count=len(series))
    offsets = np.zeros(len(series) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    if series:
        ts = np.concatenate([np.asarray(s.timestamps, dtype=np.int64) for s in series])
        vals = np.concatenate([np.asarray(s.values, dtype=np.float64) for s in series])
    else:
        ts = np.empty(0, dtype=np.int64)
        vals = np.empty(0, dtype=np.float64)
    sts = None
    if any(s.start_timestamps is not None for s in series):
        sts = np.concatenate(
            [
                np.zeros(len(s.timestamps), np.int64)
                if s.start_timestamps is None
                else np.asarray(s.start_timestamps, dtype=np.int64)
                for s in series
            ]
        )
    return Fetched([s.labels for s in series], offsets, ts, vals, sts)


def fetch(querier: Querier, matchers: Sequence[Matcher]) -> Fetched:
    """Select series into CSR form, through the querier's bulk ``select_batch`` if it has
    one (the TSDB does: no per-series objects), else through ``select``."""
    select_batch = getattr(querier, "select_batch", None)
    if select_batch is None:
        return concatenate(querier.select(matchers))
    b: SeriesBatch = select_batch(matchers)
    return Fetched(b.labels, b.offsets, b.timestamps, b.values, b.start_timestamps)


def without_stale(f: Fetched) -> Fetched:
    """The same series with staleness markers removed (range selections never see them)."""
    stale = stale_mask(f.values)
    if not stale.any():
        return f
    keep = ~stale
    seg = np.repeat(np.arange(f.num_series), np.diff(f.offsets))
    counts = np.bincount(seg[keep], minlength=f.num_series).astype(np.int64)
    offsets = np.zeros(f.num_series + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    sts = None if f.start_timestamps is None else f.start_timestamps[keep]
    return Fetched(f.labels, offsets, f.timestamps[keep], f.values[keep], sts)


def segment_search(f: Fetched, queries: I64, side: str) -> I64:
    """For each series i and query time ``queries[..., k]``, the absolute index into
    ``f.timestamps`` where the query would be inserted within series i's segment.

    ``queries`` is ``[T]`` (the same times for every series) or ``[N, T]``.
    """
    n = f.num_series
    q = np.broadcast_to(queries, (n, queries.shape[-1])) if queries.ndim == 1 else queries
    if n == 0:
        return np.zeros((0, q.shape[1]), dtype=np.int64)
    starts = f.offsets[:-1]
    if f.num_samples == 0:
        return np.broadcast_to(starts[:, None], q.shape).copy()
    if queries.ndim == 1 and bool(np.all(queries[1:] >= queries[:-1])):
        return _grid_search(f, queries, side)
    lo = min(int(f.timestamps.min()), int(q.min()))
    hi = max(int(f.timestamps.max()), int(q.max()))
    span = hi - lo + 1
    if span * n < _KEY_LIMIT and lo > -(2**62) and hi < 2**62:
        seg = np.repeat(np.arange(n, dtype=np.int64), np.diff(f.offsets))
        keys = (f.timestamps - lo) + seg * span
        qk = (q - lo) + (np.arange(n, dtype=np.int64) * span)[:, None]
        found: I64 = np.searchsorted(keys, qk, side=side).astype(np.int64)  # type: ignore[call-overload]
        return found
    out = np.empty(q.shape, dtype=np.int64)
    for i in range(n):
        a, b = int(f.offsets[i]), int(f.offsets[i + 1])
        out[i] = a + np.searchsorted(f.timestamps[a:b], q[i], side=side)  # type: ignore[call-overload]
    return out


def _grid_search(f: Fetched, queries: I64, side: str) -> I64:
    """:func:`segment_search` for one ascending row of query times shared by all series.

    Instead of searching every (series, step) in the samples, each sample is placed among
    the few query times (a search in a small, cache-resident array); counting samples per
    (series, slot) and a running sum along the steps then give every bound at once.
    """
    n, t = f.num_series, len(queries)
    # Samples counted for query k: ts <= q_k ("right") or ts < q_k ("left"); slot b of a
    # sample is the first k for which it counts.
    slot = np.searchsorted(queries, f.timestamps, side="left" if side == "right" else "right")
    cell = np.repeat(np.arange(0, n * (t + 1), t + 1, dtype=np.int64), np.diff(f.offsets))
    cell += slot
    counts = np.bincount(cell, minlength=n * (t + 1)).reshape(n, t + 1)
    found: I64 = np.cumsum(counts[:, :t], axis=1, dtype=np.int64)
    found += f.offsets[:-1, None]
    return found


@dataclass(slots=True)
class InstantSelection:
    vector: VectorSeries
    #: Timestamp of the sample chosen at each (series, step); meaningful where present.
    sample_ts: I64


def select_instant(f: Fetched, ref_times: I64, lookback_ms: int) -> InstantSelection:
    """The latest sample in ``(t - lookback, t]`` for each series and reference time ``t``;
    a staleness marker there means "no value"."""
    n, t = f.num_series, ref_times.shape[-1]
    if n == 0 or f.num_samples == 0:
        empty = VectorSeries(
            f.labels,
            np.zeros((n, t)),
            np.zeros((n, t), dtype=bool),
            np.zeros(n, dtype=bool),
        )
        return InstantSelection(empty, np.zeros((n, t), dtype=np.int64))
    idx = segment_search(f, ref_times, "right") - 1
    valid: Mask = idx >= f.offsets[:-1, None]
    safe = np.where(valid, idx, 0)
    ts = f.timestamps[safe]
    vals = f.values[safe]
    ref = np.broadcast_to(ref_times, (n, t))
    present = valid & (ts > ref - lookback_ms) & ~stale_mask(vals)
    vector = VectorSeries(f.labels, np.where(present, vals, 0.0), present, np.zeros(n, dtype=bool))
    return InstantSelection(vector, ts)


def select_range(f: Fetched, ref_times: I64, range_ms: int) -> RangeSeries:
    """Windows ``(t - range, t]`` over the (stale-free) samples of each series."""
    g = without_stale(f)
    lo = segment_search(g, ref_times - range_ms, "right")
    hi = segment_search(g, ref_times, "right")
    return RangeSeries(
        g.labels,
        g.offsets,
        g.timestamps,
        g.values,
        lo,
        hi,
        np.asarray(ref_times, dtype=np.int64).reshape(-1) if ref_times.ndim == 1 else ref_times[0],
        range_ms,
        np.zeros(g.num_series, dtype=bool),
        g.start_timestamps,
    )


def select_extended(
    f: Fetched, ref_times: I64, range_ms: int, lookback_ms: int, smoothed: bool
) -> RangeSeries:
    """``anchored``/``smoothed`` windows: the raw samples of ``(t - range - lookback, t]``
    (``smoothed`` also ``(t, t + lookback]``), so that the function can pick or interpolate
    the values at the range boundaries as Prometheus' extendedRate does. ``step_times`` and
    ``range_ms`` still describe the range the query asked for.
    """
    g = without_stale(f)
    lo = segment_search(g, ref_times - range_ms - lookback_ms, "right")
    hi = segment_search(g, ref_times + (lookback_ms if smoothed else 0), "right")
    return RangeSeries(
        g.labels,
        g.offsets,
        g.timestamps,
        g.values,
        lo,
        hi,
        np.asarray(ref_times if ref_times.ndim == 1 else ref_times[0], dtype=np.int64),
        range_ms,
        np.zeros(g.num_series, dtype=bool),
        g.start_timestamps,
    )


def select_smoothed(f: Fetched, ref_times: I64, lookback_ms: int) -> InstantSelection:
    """``metric smoothed``: the value linearly interpolated at ``t`` between the last
    sample at or before ``t`` and the next one (within the lookback delta)."""
    sel = select_instant(f, ref_times, lookback_ms)
    n, t = f.num_series, ref_times.shape[-1]
    if n == 0 or f.num_samples == 0:
        return sel
    nxt = segment_search(f, ref_times, "right")
    has_next = nxt < f.offsets[1:, None]
    safe = np.where(has_next, nxt, 0)
    tn, vn = f.timestamps[safe], f.values[safe]
    ref = np.broadcast_to(ref_times, (n, t))
    has_next &= (tn <= ref + lookback_ms) & ~stale_mask(vn)
    prev = sel.sample_ts
    use = sel.vector.present & has_next & (prev < ref)
    v = sel.vector
    interp = _interpolate(prev, v.values, tn, vn, ref)
    values = np.where(use, interp, v.values)
    return InstantSelection(VectorSeries(v.labels, values, v.present, v.drop_name), prev)


def _interpolate(t1: I64, v1: F64, t2: I64, v2: F64, at: I64) -> F64:
    with np.errstate(divide="ignore", invalid="ignore"):
        dt = (t2 - t1).astype(np.float64)
        out: F64 = v1 + (v2 - v1) * (at - t1).astype(np.float64) / np.where(dt == 0, 1.0, dt)
    return out


def range_from_vector(v: VectorSeries, times: I64, ref_times: I64, range_ms: int) -> RangeSeries:
    """A subquery's result as range input: the inner steps where each series had a value,
    windowed by ``(t - range, t]`` for each outer reference time. Computed values have no
    start timestamps (subqueries cut their propagation, as in Prometheus)."""
    n = v.num_series
    counts = v.present.sum(axis=1).astype(np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    rows, cols = np.nonzero(v.present)
    ts = times[cols].astype(np.int64)
    vals = v.values[rows, cols]
    f = Fetched(v.labels, offsets, ts, vals)
    lo = segment_search(f, ref_times - range_ms, "right")
    hi = segment_search(f, ref_times, "right")
    return RangeSeries(
        v.labels,
        offsets,
        ts,
        vals,
        lo,
        hi,
        np.asarray(ref_times if ref_times.ndim == 1 else ref_times[0], dtype=np.int64),
        range_ms,
        v.drop_name.copy() if v.drop_name.size == n else np.zeros(n, dtype=bool),
    )
