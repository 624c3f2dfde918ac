"""Label functions: label_replace, label_join, sort_by_label and sort_by_label_desc.

These work per series (labels, not samples): the value matrix passes through unchanged,
then series that ended up with the same label set are merged as Prometheus'
mergeSeriesWithSameLabelset does, which is an error only where they overlap in time.
"""

from __future__ import annotations

import functools
import re

import numpy as np

from promhub.model.labels import METRIC_NAME, Labels
from promhub.model.relabel import compile_regex, expand_template
from promhub.promql.call import FunctionCall, function
from promhub.promql.functions.math import _reorder
from promhub.promql.functions.window import (
    FunctionError,
    string_arg,
    vector_arg,
)
from promhub.promql.value import Value, VectorSeries


def _valid_label_name(name: str) -> bool:
    """Prometheus 3 accepts any non-empty valid UTF-8 label name."""
    if not name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: bytes that were not UTF-8
        return False
    return "\ufffd" not in name


def _relabelled(v: VectorSeries, labels: list[Labels], dst: str) -> Value:
    flags = v.drop_name if len(v.drop_name) == v.num_series else np.zeros(v.num_series, bool)
    flags = flags.copy()
    if dst == METRIC_NAME:
        flags[:] = False  # a name set by the query itself stays
    return merge_same_labels(VectorSeries(labels, v.values, v.present, flags))


def merge_same_labels(v: VectorSeries) -> VectorSeries:
    """Merge series with identical labels; fail if two have a value at the same step."""
    index: dict[Labels, int] = {}
    groups: list[list[int]] = []
    for i, ls in enumerate(v.labels):
        g = index.get(ls)
        if g is None:
            index[ls] = len(groups)
            groups.append([i])
        else:
            groups[g].append(i)
    if len(groups) == v.num_series:
        return v
    values = np.zeros((len(groups), v.num_steps))
    present = np.zeros((len(groups), v.num_steps), dtype=bool)
    flags = np.zeros(len(groups), dtype=bool)
    labels: list[Labels] = []
    for g, rows in enumerate(groups):
        labels.append(v.labels[rows[0]])
        flags[g] = v.drop_name[rows[0]] if len(v.drop_name) else False
        sub = v.present[rows]
        if (sub.sum(axis=0) > 1).any():
            raise FunctionError("vector cannot contain metrics with the same labelset")
        present[g] = sub.any(axis=0)
        values[g] = np.where(sub, v.values[rows], 0.0).sum(axis=0)
    return VectorSeries(labels, values, present, flags)


@function("label_replace")
def label_replace(call: FunctionCall) -> Value:
    """Set ``dst`` to the expansion of ``replacement`` where ``regex`` fully matches the
    value of ``src``; series the regex does not match pass unchanged."""
    v = vector_arg(call)
    dst = string_arg(call, 1)
    replacement = string_arg(call, 2)
    src = string_arg(call, 3)
    regex = string_arg(call, 4)
    try:
        rx: re.Pattern[str] = compile_regex(regex)
    except ValueError:
        raise FunctionError(f"invalid regular expression in label_replace(): {regex}") from None
    if not _valid_label_name(dst):
        raise FunctionError(f"invalid destination label name in label_replace(): {dst}")
    out: list[Labels] = []
    cache: dict[str, str | None] = {}
    for ls in v.labels:
        value = ls.get(src)
        if value not in cache:
            m = rx.match(value)
            cache[value] = expand_template(replacement, m) if m is not None else None
        new = cache[value]
        if new is None:
            out.append(ls)
            continue
        d = ls.to_dict()
        d[dst] = new
        out.append(Labels.from_dict(d))
    return _relabelled(v, out, dst)


@function("label_join")
def label_join(call: FunctionCall) -> Value:
    """Set ``dst`` to the values of the source labels joined by ``separator``."""
    v = vector_arg(call)
    dst = string_arg(call, 1)
    sep = string_arg(call, 2)
    sources = [string_arg(call, i) for i in range(3, len(call.node.args))]
    for src in sources:
        if not _valid_label_name(src):
            raise FunctionError(f"invalid source label name in label_join(): {src}")
    if not _valid_label_name(dst):
        raise FunctionError(f"invalid destination label name in label_join(): {dst}")
    out: list[Labels] = []
    for ls in v.labels:
        d = ls.to_dict()
        d[dst] = sep.join(ls.get(s) for s in sources)
        out.append(Labels.from_dict(d))
    return _relabelled(v, out, dst)


_CHUNK = re.compile(r"(\d+|\D+)")


def _natural_less(a: str, b: str) -> bool:
    """facette/natsort's Compare: digit runs compare as integers, other runs as strings."""
    ca, cb = _CHUNK.findall(a), _CHUNK.findall(b)
    for i, x in enumerate(ca):
        if i >= len(cb):
            return False
        y = cb[i]
        if x.isdigit() and y.isdigit() and x.isascii() and y.isascii():
            xi, yi = int(x), int(y)
            if xi != yi:
                return bool(xi < yi)
        elif x != y:
            return bool(x < y)
        if i == len(ca) - 1:
            return True
        if i == len(cb) - 1:
            return False
    return False


def _sort_by_label(call: FunctionCall, descending: bool) -> Value:
    v = vector_arg(call)
    names = [string_arg(call, i) for i in range(1, len(call.node.args))]
    if v.num_steps != 1:
        call.annotate(
            "warning",
            "sort is ineffective for range queries since results are always ordered by labels",
        )
        return v
    sign = -1 if descending else 1

    def compare(i: int, j: int) -> int:
        a, b = v.labels[i], v.labels[j]
        for name in names:
            x, y = a.get(name), b.get(name)
            if x == y:
                continue
            return -sign if _natural_less(x, y) else sign
        return sign * ((a > b) - (a < b))

    rows = [i for i in range(v.num_series) if v.present[i, 0]]
    rows.sort(key=functools.cmp_to_key(compare))
    rest = [i for i in range(v.num_series) if not v.present[i, 0]]
    return _reorder(v, np.array(rows + rest, dtype=np.int64))


@function("sort_by_label")
def sort_by_label(call: FunctionCall) -> Value:
    return _sort_by_label(call, descending=False)


@function("sort_by_label_desc")
def sort_by_label_desc(call: FunctionCall) -> Value:
    return _sort_by_label(call, descending=True)
