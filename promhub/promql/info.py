"""``info(v, [selector])``: enrich series with the data labels of info metrics.

An info series (``target_info`` unless the selector names others) joins a base series when
both carry the same identifying labels (``instance``, ``job``) and the info series has a
value at that step. Its other labels are added unless the base series already has them;
with data-label matchers in the selector, only those labels are considered, and a base
series without a matching info series is dropped unless every data matcher accepts "".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from promhub.model.labels import METRIC_NAME, Labels
from promhub.model.matcher import Matcher, MatchType
from promhub.promql.ast import Call, VectorSelector
from promhub.promql.errors import PromQLError
from promhub.promql.value import I64, VectorSeries

if TYPE_CHECKING:
    from promhub.promql.evaluator import Evaluator

IDENTIFYING = ("instance", "job")
DEFAULT_INFO_METRIC = "target_info"


def evaluate_info(ev: Evaluator, node: Call, times: I64) -> VectorSeries:
    base = ev.eval_vector(node.args[0], times)
    matchers: list[Matcher] = []
    if len(node.args) > 1:
        sel = node.args[1]
        while not isinstance(sel, VectorSelector) and hasattr(sel, "expr"):
            sel = sel.expr
        if not isinstance(sel, VectorSelector):
            raise PromQLError("bad_data", "info(): the second argument must be a selector")
        matchers = list(sel.matchers)
    name_m = [m for m in matchers if m.name == METRIC_NAME]
    data_m = [m for m in matchers if m.name != METRIC_NAME]
    if not name_m:
        name_m = [Matcher.new(MatchType.EQUAL, METRIC_NAME, DEFAULT_INFO_METRIC)]
    elif all(m.type in (MatchType.NOT_EQUAL, MatchType.NOT_REGEX) for m in name_m):
        # Negative name matchers alone would pick every other metric: stay with info metrics.
        name_m.append(Matcher.new(MatchType.REGEX, METRIC_NAME, ".+_info"))
    data_names = {m.name for m in data_m}
    empty_ok = all(m.matches_empty() for m in data_m)

    info = _info_series(ev, name_m + data_m, ev.info_times(node.args[0], times))
    by_key: dict[tuple[str, ...], list[int]] = {}
    for j, ls in enumerate(info.labels):
        by_key.setdefault(tuple(ls.get(n) for n in IDENTIFYING), []).append(j)

    t = len(times)
    out_labels: dict[Labels, int] = {}
    out_rows: list[tuple[int, int, np.ndarray]] = []  # (output row, base row, step mask)
    out_drop: list[bool] = []

    def emit(ls: Labels, i: int, mask: np.ndarray) -> None:
        r = out_labels.setdefault(ls, len(out_labels))
        if r == len(out_drop):
            out_drop.append(bool(base.drop_name[i]))
        out_rows.append((r, i, mask))

    for i, ls in enumerate(base.labels):
        if all(m.matches_labels(ls) for m in name_m):
            emit(ls, i, base.present[i])  # info series themselves are not enriched
            continue
        key = tuple(ls.get(n) for n in IDENTIFYING)
        cands = by_key.get(key, [])
        p = info.present[cands] if cands else np.zeros((0, t), dtype=bool)
        patterns, inverse = np.unique(p.T, axis=0, return_inverse=True)
        inverse = np.asarray(inverse).reshape(-1)
        for k, pat in enumerate(patterns):
            mask = base.present[i] & (inverse == k)
            if not mask.any():
                continue
            present_infos = [cands[c] for c in np.flatnonzero(pat)]
            if not present_infos:
                if empty_ok:
                    emit(ls, i, mask)
                continue
            add: dict[str, str] = {}
            for j in present_infos:
                for name, value in info.labels[j]:
                    if name == METRIC_NAME or name in IDENTIFYING:
                        continue
                    if data_names and name not in data_names:
                        continue
                    if name in add and add[name] != value:
                        raise PromQLError(
                            "execution",
                            f"conflicting label: {name} has values {add[name]!r} and {value!r}",
                        )
                    add[name] = value
            d = dict(ls)
            for name, value in add.items():
                d.setdefault(name, value)
            emit(Labels.from_dict(d), i, mask)

    n = len(out_labels)
    values = np.zeros((n, t))
    present = np.zeros((n, t), dtype=bool)
    for r, i, mask in out_rows:
        if (present[r] & mask).any():
            raise PromQLError("execution", "vector cannot contain metrics with the same labelset")
        values[r, mask] = base.values[i, mask]
        present[r] |= mask
    return VectorSeries(list(out_labels), values, present, np.array(out_drop, dtype=bool))


def _info_series(ev: Evaluator, matchers: list[Matcher], times: I64) -> VectorSeries:
    """Info series at ``times``, keeping the newest per identity (a churned info series
    and its successor never both enrich a step)."""
    from promhub.promql import selectors

    f = ev.fetch(matchers, int(times.min()) - ev.lookback_ms + 1, int(times.max()))
    sel = selectors.select_instant(f, times, ev.lookback_ms)
    v = sel.vector
    present = v.present.copy()
    groups: dict[tuple[str, ...], list[int]] = {}
    for j, ls in enumerate(v.labels):
        groups.setdefault((ls.name, *(ls.get(n) for n in IDENTIFYING)), []).append(j)
    for rows in groups.values():
        if len(rows) < 2:
            continue
        ts = np.where(present[rows], sel.sample_ts[rows], np.iinfo(np.int64).min)
        newest = ts.max(axis=0)
        present[rows] &= ts == newest
    return VectorSeries(v.labels, v.values, present, v.drop_name)
