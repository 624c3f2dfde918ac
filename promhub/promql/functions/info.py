"""The experimental ``info()`` function: enrich series with data labels of info metrics
(``target_info`` by default) that share their identifying labels ``instance`` and ``job``.

info needs storage access the other functions do not have: the engine supplies it as
``FunctionCall.select_timestamps`` (see :data:`SelectTimestamps`), which evaluates an
instant-vector selector at the call's steps and reports, per (series, step), the timestamp
of the sample picked (Prometheus keeps the newest info series per identity and step).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from promhub.model.labels import METRIC_NAME, Labels
from promhub.model.matcher import Matcher, MatchType
from promhub.promql.ast import VectorSelector
from promhub.promql.call import FunctionCall, function
from promhub.promql.functions.labels import merge_same_labels
from promhub.promql.functions.window import FunctionError, unwrap, vector_arg, vector_result
from promhub.promql.value import Value, VectorSeries

TARGET_INFO = "target_info"
IDENTIFYING = ("instance", "job")
#: matchers → VectorSeries whose values are the picked samples' timestamps (ms).
SelectTimestamps = Callable[[list[Matcher]], VectorSeries]


def _quote_meta(s: str) -> str:
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", s)


@function("info")
def info(call: FunctionCall) -> Value:
    base = vector_arg(call)
    data: dict[str, list[Matcher]] = {}
    name_matchers: list[Matcher] = []
    if len(call.node.args) > 1:
        sel = unwrap(call.node.args[1])
        if isinstance(sel, VectorSelector):
            for m in sel.matchers:
                data.setdefault(m.name, []).append(m)
                if m.name == METRIC_NAME:
                    name_matchers.append(m)
    else:
        name_matchers = [Matcher.new(MatchType.EQUAL, METRIC_NAME, TARGET_INFO)]
    if name_matchers and all(
        m.type in (MatchType.NOT_EQUAL, MatchType.NOT_REGEX) for m in name_matchers
    ):
        # Only negative name matchers would select every non-info series: restrict to
        # info metrics by name.
        positive = Matcher.new(MatchType.REGEX, METRIC_NAME, ".+_info")
        name_matchers.append(positive)
        data[METRIC_NAME].append(positive)

    ignored = np.array(
        [
            bool(name_matchers) and all(m.matches(ls.name) for m in name_matchers)
            for ls in base.labels
        ],
        dtype=bool,
    )
    id_values: dict[str, set[str]] = {}
    for i, ls in enumerate(base.labels):
        if ignored[i]:
            continue
        for lname in IDENTIFYING:
            val = ls.get(lname)
            if val:
                id_values.setdefault(lname, set()).add(val)
    has_name = METRIC_NAME in data
    name_free = {k: ms for k, ms in data.items() if k != METRIC_NAME}

    infos: VectorSeries | None = None
    select: SelectTimestamps | None = getattr(call, "select_timestamps", None)
    if id_values:
        if select is None:
            raise FunctionError("info() needs storage access the engine did not provide")
        matchers = [
            Matcher.new(MatchType.REGEX, lname, "|".join(_quote_meta(v) for v in sorted(vals)))
            for lname, vals in sorted(id_values.items())
        ]
        for ms in data.values():
            matchers.extend(ms)
        if not has_name:
            matchers.insert(0, Matcher.new(MatchType.EQUAL, METRIC_NAME, TARGET_INFO))
        infos = select(matchers)
    return _combine(call, base, ignored, infos, name_free)


def _identity(name: str, ls: Labels) -> tuple[str, ...]:
    return (name, *(ls.get(n) for n in IDENTIFYING))


def _combine(
    call: FunctionCall,
    base: VectorSeries,
    ignored: np.ndarray,
    infos: VectorSeries | None,
    data: dict[str, list[Matcher]],
) -> Value:
    steps = base.num_steps
    # For each info identity (name, instance, job): the newest info series per step.
    chosen: dict[tuple[str, ...], np.ndarray] = {}
    info_names: list[str] = []
    if infos is not None and infos.num_series:
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, ls in enumerate(infos.labels):
            groups.setdefault(_identity(ls.name, ls), []).append(i)
            if ls.name not in info_names:
                info_names.append(ls.name)
        for key, rows in groups.items():
            r = np.array(rows)
            ts = np.where(infos.present[r], infos.values[r], -np.inf)
            best = np.argmax(ts, axis=0)
            top = ts[best, np.arange(steps)]
            dup = (ts == top[None, :]).sum(axis=0) > 1
            dup &= np.isfinite(top)
            if dup.any():
                k = int(np.flatnonzero(dup)[0])
                a, b = (int(x) for x in r[ts[:, k] == top[k]][:2])
                raise FunctionError(
                    "found duplicate series for info metric: existing "
                    f"{infos.labels[a]} @ {int(top[k])}, new {infos.labels[b]} @ {int(top[k])}"
                )
            chosen[key] = np.where(np.isfinite(top), r[best], -1)
    need_match = any(not m.matches_empty() for ms in data.values() for m in ms)

    out_labels: list[Labels] = []
    out_rows: list[int] = []
    out_masks: list[np.ndarray] = []
    for i, ls in enumerate(base.labels):
        present = base.present[i]
        if ignored[i] or infos is None or not info_names:
            if ignored[i] or not need_match:
                out_labels.append(ls)
                out_rows.append(i)
                out_masks.append(present)
            continue
        picks = np.stack([chosen.get(_identity(n, ls), np.full(steps, -1)) for n in info_names])
        combos, inverse = np.unique(picks, axis=1, return_inverse=True)
        inverse = inverse.reshape(-1)
        for c in range(combos.shape[1]):
            mask = present & (inverse == c)
            if not mask.any():
                continue
            rows = [int(x) for x in combos[:, c] if x >= 0]
            if not rows and need_match:
                continue
            extra: dict[str, str] = {}
            for row in rows:
                for lname, lval in infos.labels[row]:
                    if lname == METRIC_NAME or (data and lname not in data):
                        continue
                    if extra.get(lname, lval) != lval:
                        raise FunctionError(f"conflicting label: {lname}")
                    if ls.get(lname):
                        continue
                    extra[lname] = lval
            d = ls.to_dict()
            d.update(extra)
            out_labels.append(Labels.from_dict(d))
            out_rows.append(i)
            out_masks.append(mask)
    if not out_labels:
        return vector_result([], np.zeros((0, steps)), np.zeros((0, steps), dtype=bool))
    values = base.values[out_rows]
    present_all = np.vstack(out_masks)
    result = vector_result(out_labels, values, present_all, drop_name=False)
    return merge_same_labels(result)
