"""Aggregation operators over all steps: each input series gets a group id once, then the
per-step work is NumPy over ``[N, T]`` (``add.at``, ``fmax.at``, per-group sorts).

Sums use Kahan-Neumaier compensation like Prometheus, evaluated rank by rank across all
groups at once (so a group of G members costs G vectorised steps, or about 2*sqrt(G) for
big groups via a two-level block sum).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np
import xxhash

from promhub.model.gofloat import format_f
from promhub.model.labels import LABEL_NAME_RE, METRIC_NAME, Labels
from promhub.promql.ast import AggregateExpr, Expr
from promhub.promql.binops import METADATA_LABELS
from promhub.promql.errors import PromQLError
from promhub.promql.value import F64, I64, Mask, VectorSeries

Annotate = Callable[[str, str, Expr], None]

#: Groups up to this size are summed rank by rank; bigger ones in sqrt-sized blocks.
_DIRECT_RANKS = 64


def group_ids(labels: list[Labels], grouping: list[str], without: bool) -> tuple[I64, list[Labels]]:
    """Group id of each series (in order of first appearance) and each group's labels."""
    names = frozenset(grouping)
    if not without and not names:
        # ``sum(x)``: one group with no labels; no per-series work at all.
        return np.zeros(len(labels), dtype=np.int64), [Labels(())] if labels else []
    if not labels:
        return np.zeros(0, dtype=np.int64), []
    if len(labels) > _GROUP_CACHE_SERIES // 4:
        return _group_ids_direct(labels, names, without)
    keys = _group_keys(names, without)
    # One dict lookup per series (series label sets repeat from one evaluation to the
    # next); the ids are global to the grouping, renumbered by first appearance here.
    kid = keys.ids_of(labels)
    uniq, first, inv = np.unique(kid, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    renum = np.empty(len(uniq), dtype=np.int64)
    renum[order] = np.arange(len(uniq), dtype=np.int64)
    table = keys.labels
    out: I64 = renum[inv.reshape(-1)]
    return out, [table[k] for k in uniq[order].tolist()]


def _group_ids_direct(
    labels: list[Labels], names: frozenset[str], without: bool
) -> tuple[I64, list[Labels]]:
    """:func:`group_ids` without the cache (inputs too big to remember)."""
    drop = names | frozenset(METADATA_LABELS)
    ids: dict[Labels, int] = {}
    # Plain loops and lists: this runs once per input series.
    keys = (
        [Labels([p for p in ls if p[0] not in drop]) for ls in labels]
        if without
        else [Labels([p for p in ls if p[0] in names]) for ls in labels]
    )
    setdefault = ids.setdefault
    out = np.fromiter((setdefault(k, len(ids)) for k in keys), dtype=np.int64, count=len(keys))
    return out, list(ids)


class _GroupKeys:
    """For one grouping (``by``/``without`` a set of names): the key of every series label
    set seen so far, as an id into :attr:`labels` (the distinct group label sets).

    Entries are only added (under a lock), never changed, so readers need no lock; when
    the cache grows past its budget it is replaced by an empty one, not cleared in place.
    """

    __slots__ = ("names", "without", "by_series", "by_key", "labels", "lock")

    def __init__(self, names: frozenset[str], without: bool) -> None:
        self.names = names
        self.without = without
        self.by_series: dict[Labels, int] = {}
        self.by_key: dict[Labels, int] = {}
        self.labels: list[Labels] = []
        self.lock = threading.Lock()

    def ids_of(self, labels: list[Labels]) -> I64:
        get = self.by_series.get
        found = list(map(get, labels))
        if None in found:
            with self.lock:
                self._add([ls for ls, k in zip(labels, found, strict=True) if k is None])
            found = list(map(self.by_series.__getitem__, labels))
        return np.fromiter(found, dtype=np.int64, count=len(found))

    def _add(self, series: list[Labels]) -> None:
        names = self.names
        if self.without:
            drop = names | frozenset(METADATA_LABELS)
            keys = [Labels([p for p in ls if p[0] not in drop]) for ls in series]
        else:
            keys = [Labels([p for p in ls if p[0] in names]) for ls in series]
        by_key, table = self.by_key, self.labels
        for ls, key in zip(series, keys, strict=True):
            k = by_key.get(key)
            if k is None:
                k = by_key[key] = len(table)
                table.append(key)
            self.by_series[ls] = k


#: Series label sets remembered over all groupings before the caches start afresh.
_GROUP_CACHE_SERIES = 500_000
_group_caches: dict[tuple[frozenset[str], bool], _GroupKeys] = {}
_group_caches_lock = threading.Lock()


def _group_keys(names: frozenset[str], without: bool) -> _GroupKeys:
    c = _group_caches.get((names, without))
    if c is not None and len(c.by_series) < _GROUP_CACHE_SERIES:
        return c
    with _group_caches_lock:
        if sum(len(x.by_series) for x in _group_caches.values()) >= _GROUP_CACHE_SERIES:
            _group_caches.clear()
        c = _group_caches.get((names, without))
        if c is None:
            c = _group_caches[(names, without)] = _GroupKeys(names, without)
        return c


def _neumaier(s: F64, c: F64, x: F64) -> tuple[F64, F64]:
    with np.errstate(invalid="ignore", over="ignore"):
        t = s + x
        big = np.abs(s) >= np.abs(x)
        dc = np.where(big, (s - t) + x, (x - t) + s)
        c = np.where(np.isinf(t), 0.0, c + np.where(np.isnan(dc), 0.0, dc))
    return t, c


def kahan_sum(values: F64, gid: I64, ngroups: int) -> tuple[F64, F64]:
    """Compensated per-group sums of the rows of ``values`` ([N, T]; absent cells must be
    0). Returns (sum, compensation); the result is ``sum + compensation``."""
    n, t = values.shape
    s = np.zeros((ngroups, t))
    c = np.zeros((ngroups, t))
    if n == 0:
        return s, c
    order = np.argsort(gid, kind="stable")
    gs = gid[order]
    rank = np.arange(n) - np.searchsorted(gs, gs, "left")
    maxsize = int(rank.max()) + 1
    if maxsize > _DIRECT_RANKS:
        block = math.isqrt(maxsize - 1) + 1
        nblocks = (maxsize + block - 1) // block
        sub = np.empty(n, dtype=np.int64)
        sub[order] = gs * nblocks + rank // block
        s1, c1 = kahan_sum(values, sub, ngroups * nblocks)
        owner = np.arange(ngroups * nblocks) // nblocks
        s, c2 = kahan_sum(s1, owner, ngroups)
        np.add.at(c2, owner, c1)
        return s, c2
    by_rank = order[np.argsort(rank, kind="stable")]
    bounds = np.concatenate([[0], np.cumsum(np.bincount(rank))])
    for r in range(maxsize):
        rows = by_rank[bounds[r] : bounds[r + 1]]
        g = gid[rows]
        s[g], c[g] = _neumaier(s[g], c[g], values[rows])
    return s, c


def _welford(values: F64, present: Mask, gid: I64, ngroups: int) -> F64:
    """Per-group sum of squared deviations by Welford's online update, in input order
    (Prometheus' algorithm: identical values give exactly 0)."""
    n, t = values.shape
    mean = np.zeros((ngroups, t))
    m2 = np.zeros((ngroups, t))
    count = np.zeros((ngroups, t))
    if n == 0:
        return m2
    order = np.argsort(gid, kind="stable")
    gs = gid[order]
    rank = np.arange(n) - np.searchsorted(gs, gs, "left")
    by_rank = order[np.argsort(rank, kind="stable")]
    bounds = np.concatenate([[0], np.cumsum(np.bincount(rank))])
    with np.errstate(all="ignore"):
        for r in range(int(rank.max()) + 1):
            rows = by_rank[bounds[r] : bounds[r + 1]]
            g = gid[rows]
            p = present[rows]
            f = values[rows]
            c = count[g] + p
            delta = f - mean[g]
            new_mean = np.where(p, mean[g] + delta / np.where(c > 0, c, 1.0), mean[g])
            m2[g] = np.where(p, m2[g] + delta * (f - new_mean), m2[g])
            mean[g] = new_mean
            count[g] = c
    return m2


def _finish_sum(s: F64, c: F64) -> F64:
    with np.errstate(invalid="ignore"):
        out: F64 = np.where(np.isinf(s), s, s + c)
    return out


def aggregate(
    node: AggregateExpr, vec: VectorSeries, param: F64 | str | None, annotate: Annotate
) -> VectorSeries:
    """Evaluate ``node`` (its input already evaluated to ``vec``) over all steps."""
    op = node.op
    if op in ("topk", "bottomk", "limitk", "limit_ratio"):
        assert not isinstance(param, str)
        return _select_k(node, vec, param, annotate)
    if op == "count_values":
        assert isinstance(param, str)
        return _count_values(node, vec, param)
    gid, glabels = group_ids(vec.labels, node.grouping, node.without)
    ng, t = len(glabels), vec.num_steps
    present = vec.present
    x = np.where(present, vec.values, 0.0)
    count = np.zeros((ng, t))
    np.add.at(count, gid, present.astype(np.float64))
    seen = count > 0
    with np.errstate(all="ignore"):
        if op == "sum":
            out = _finish_sum(*kahan_sum(x, gid, ng))
        elif op == "avg":
            total = _finish_sum(*kahan_sum(x, gid, ng))
            out = total / np.where(seen, count, 1.0)
            overflow = np.isinf(total) & seen
            if overflow.any():
                # The direct sum overflowed: average the pre-divided values instead.
                scaled = np.where(present, vec.values / np.where(seen, count, 1.0)[gid], 0.0)
                alt = _finish_sum(*kahan_sum(scaled, gid, ng))
                has_inf = np.zeros((ng, t), dtype=bool)
                np.logical_or.at(has_inf, gid, present & np.isinf(vec.values))
                out = np.where(overflow & ~has_inf, alt, out)
        elif op == "count":
            out = count
        elif op == "group":
            out = np.ones((ng, t))
        elif op in ("max", "min"):
            out = np.full((ng, t), np.nan)
            fill = np.where(present, vec.values, np.nan)
            (np.fmax if op == "max" else np.fmin).at(out, gid, fill)
        elif op in ("stddev", "stdvar"):
            var = _welford(vec.values, present, gid, ng) / np.where(seen, count, 1.0)
            out = np.sqrt(var) if op == "stddev" else var
        elif op == "quantile":
            assert param is not None and not isinstance(param, str)
            out = _quantile(node, vec, gid, ng, param, annotate)
        else:
            raise PromQLError("bad_data", f"unknown aggregation operator {op!r}")
    drop = np.zeros(ng, dtype=bool)
    if any(g == METRIC_NAME for g in node.grouping) and not node.without:
        np.logical_or.at(drop, gid, vec.drop_name)
    return VectorSeries(glabels, np.asarray(out, dtype=np.float64), seen, drop)


def _quantile(
    node: AggregateExpr, vec: VectorSeries, gid: I64, ng: int, q: F64, annotate: Annotate
) -> F64:
    t = vec.num_steps
    bad = np.isnan(q) | (q < 0) | (q > 1)
    if bad.any() and node.param is not None:
        qv = float(q[np.nonzero(bad)[0][0]])
        annotate(
            "warning", f"quantile value should be between 0 and 1, got {_go_g(qv)}", node.param
        )
    out = np.full((ng, t), np.nan)
    for g in range(ng):
        rows = np.nonzero(gid == g)[0]
        v = vec.values[rows].T  # [T, n]
        p = vec.present[rows].T
        cat = np.where(p, np.where(np.isnan(v), 0, 1), 2)
        order = np.lexsort((np.where(np.isnan(v), 0.0, v), cat), axis=-1)
        sv = np.take_along_axis(v, order, axis=-1)
        n = p.sum(axis=1)
        rank = q * (n - 1)
        lower = np.clip(np.floor(rank), 0, None).astype(np.int64)
        upper = np.minimum(n - 1, lower + 1).clip(0, None)
        lower = np.minimum(lower, np.maximum(n - 1, 0))
        w = rank - np.floor(rank)
        steps = np.arange(t)
        res = sv[steps, lower] * (1 - w) + sv[steps, upper] * w
        res = np.where(q < 0, -np.inf, np.where(q > 1, np.inf, res))
        res = np.where(np.isnan(q) | (n == 0), np.nan, res)
        out[g] = res
    return out


def _select_k(
    node: AggregateExpr, vec: VectorSeries, param: F64 | None, annotate: Annotate
) -> VectorSeries:
    op = node.op
    n, t = vec.values.shape
    assert param is not None
    gid, _ = group_ids(vec.labels, node.grouping, node.without)
    selected = np.zeros((n, t), dtype=bool)
    rank_all = np.zeros((n, t), dtype=np.int64)
    if op == "limit_ratio":
        if np.isnan(param).any():
            raise PromQLError("execution", "Ratio value NaN is NaN")
        ratio = np.clip(param, -1.0, 1.0)
        if (np.abs(param) > 1).any() and node.param is not None:
            bad = float(param[np.nonzero(np.abs(param) > 1)[0][0]])
            annotate(
                "warning",
                f"ratio value should be between -1 and 1, got {_go_g(bad)}, capping to "
                f"{_go_g(float(np.clip(bad, -1, 1)))}",
                node.param,
            )
        offs = np.array([_sample_offset(ls) for ls in vec.labels])[:, None]
        keep = np.where(ratio >= 0, offs < ratio, offs >= 1 + ratio)
        selected = vec.present & keep & (ratio != 0)
    else:
        if (np.abs(param[~np.isnan(param)]) >= 2**63).any() or np.isnan(param).any():
            bad = float(param[np.isnan(param) | (np.abs(param) >= 2**63)][0])
            raise PromQLError("execution", f"Scalar value {_go_g(bad)} overflows int64")
        k = np.trunc(param).astype(np.int64)
        for g in range(int(gid.max()) + 1 if n else 0):
            rows = np.nonzero(gid == g)[0]
            v = vec.values[rows]
            p = vec.present[rows]
            idx = np.broadcast_to(np.arange(len(rows))[:, None], v.shape)
            if op == "limitk":
                rank = np.cumsum(p, axis=0) - 1
            elif t > 1 and 0 < int(k.max(initial=0)) < len(rows) // 4:
                # Range queries with a small k: no full sort of every step's column.
                selected[rows] = _smallest_k(-v if op == "topk" else v, p, k)
                continue
            else:
                key = -v if op == "topk" else v
                cat = np.where(p, np.where(np.isnan(v), 1, 0), 2)
                order = np.lexsort((idx, np.where(np.isnan(key), 0.0, key), cat), axis=0)
                rank = np.empty_like(order)
                np.put_along_axis(rank, order, idx, axis=0)
            rank_all[rows] = rank
            selected[rows] = p & (rank < k[None, :])
    rows_used = np.nonzero(selected.any(axis=1))[0]
    if t == 1 and op != "limit_ratio":
        # Instant queries keep Prometheus' order: by group, then by rank.
        rows_used = rows_used[np.lexsort((rank_all[rows_used, 0], gid[rows_used]))]
    return VectorSeries(
        [vec.labels[i] for i in rows_used],
        vec.values[rows_used],
        selected[rows_used],
        vec.drop_name[rows_used] if vec.drop_name.size == n else np.zeros(len(rows_used), bool),
    )


_NAN_KEY = np.uint64(0xFFF8000000000000)  # above every number, +Inf included
_ABSENT_KEY = np.uint64(0xFFFFFFFFFFFFFFFF)


def _smallest_k(key: F64, present: Mask, k: I64) -> Mask:
    """Per column (step) s, the ``k[s]`` smallest present elements of ``key``, ordered as
    the full sort of topk/bottomk orders them: numbers ascending (-0 == 0), then NaNs,
    ties by row. Partitions out the ``max(k)`` smallest instead of sorting each column."""
    n, t = key.shape
    kmax = int(k.max())
    # Floats as unsigned integers in the same order (flip negatives, set the sign bit of
    # the rest), NaN and absent mapped above every number.
    bits = (key + 0.0).view(np.uint64)
    neg = (bits >> np.uint64(63)).astype(bool)
    u = np.where(neg, ~bits, bits | np.uint64(1 << 63))
    u[np.isnan(key)] = _NAN_KEY
    u[~present] = _ABSENT_KEY
    part = np.partition(u, np.arange(kmax), axis=0)[:kmax]
    kk = np.clip(k, 1, kmax) - 1
    threshold = part[kk, np.arange(t)]
    below = u < threshold
    # Of the elements equal to the threshold, the first rows fill what is left of k.
    room = k - below.sum(axis=0)
    at = u == threshold
    chosen: Mask = below | (at & (np.cumsum(at, axis=0) <= room))
    return chosen & present & (k >= 1)


def _sample_offset(labels: Labels) -> float:
    """A stable position in [0, 1] per label set, for ``limit_ratio``: Prometheus'
    ``HashRatioSampler``, i.e. ``labels.Hash()`` (xxhash64 over ``name\\xffvalue\\xff``
    of every label) over ``MaxUint64``, so promhub keeps the same series Prometheus does."""
    data = b"".join(n.encode() + b"\xff" + v.encode() + b"\xff" for n, v in labels)
    return xxhash.xxh64_intdigest(data) / float(2**64 - 1)


def _count_values(node: AggregateExpr, vec: VectorSeries, label: str) -> VectorSeries:
    if not LABEL_NAME_RE.match(label):
        raise PromQLError("execution", f'invalid label name "{label}"')
    grouping = list(node.grouping)
    if not node.without:
        grouping.append(label)
    gid, glabels = group_ids(vec.labels, grouping, node.without)
    t = vec.num_steps
    rows_i, steps = np.nonzero(vec.present)
    vals = vec.values[rows_i, steps]
    uniq, vinv = np.unique(vals.view(np.int64), return_inverse=True)
    texts = [format_value(float(x)) for x in uniq.view(np.float64)]
    keys: dict[Labels, int] = {}
    out_row = np.empty(len(rows_i), dtype=np.int64)
    cache: dict[tuple[int, int], int] = {}
    for c, (g, u) in enumerate(zip(gid[rows_i].tolist(), vinv.tolist(), strict=True)):
        r = cache.get((g, u))
        if r is None:
            d = dict(glabels[g])
            d[label] = texts[u]
            r = cache[(g, u)] = keys.setdefault(Labels.from_dict(d), len(keys))
        out_row[c] = r
    counts = np.zeros((len(keys), t))
    np.add.at(counts, (out_row, steps), 1.0)
    return VectorSeries(list(keys), counts, counts > 0, np.zeros(len(keys), dtype=bool))


format_value = format_f


def _go_g(v: float) -> str:
    """Go's ``%g``-ish rendering used in Prometheus' messages."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    r = repr(v)
    return r[:-2] if r.endswith(".0") else r


def present_any(mask: Mask) -> bool:
    return bool(mask.any())
