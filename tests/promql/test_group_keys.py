"""Aggregation group ids through the per-grouping key cache agree with the direct way."""

from __future__ import annotations

import random

import pytest

from promhub.model.labels import Labels
from promhub.promql import aggregations as agg
from promhub.promql.functions.rate import _distinct_names

_NAMES = ["__name__", "Zeta", "job", "i", "__type__", "a"]


def _labels(rnd: random.Random) -> Labels:
    return Labels.from_dict(
        {n: rnd.choice("xyzw") for n in _NAMES if rnd.random() < 0.6},
    )


def test_cached_group_ids_match_direct() -> None:
    rnd = random.Random(1)
    for _ in range(300):
        labels = [_labels(rnd) for _ in range(rnd.randint(0, 50))]
        grouping = rnd.sample(["__name__", "job", "i", "a", "Zeta", "nope"], rnd.randint(0, 3))
        without = rnd.random() < 0.5
        if not grouping and not without:
            continue
        # Twice: the second call is answered from the cache.
        for _ in range(2):
            gid, glabels = agg.group_ids(labels, grouping, without)
            want_gid, want_labels = agg._group_ids_direct(labels, frozenset(grouping), without)
            assert gid.tolist() == want_gid.tolist()
            assert glabels == want_labels


def test_group_cache_starts_afresh_past_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agg, "_GROUP_CACHE_SERIES", 20)
    monkeypatch.setattr(agg, "_group_caches", {})
    rnd = random.Random(2)
    for _ in range(100):
        labels = [_labels(rnd) for _ in range(rnd.randint(0, 8))]
        gid, glabels = agg.group_ids(labels, ["job"], False)
        want_gid, want_labels = agg._group_ids_direct(labels, frozenset(["job"]), False)
        assert gid.tolist() == want_gid.tolist() and glabels == want_labels
        assert sum(len(c.by_series) for c in agg._group_caches.values()) <= 20 + 8


def test_distinct_names_in_order_of_first_appearance() -> None:
    rnd = random.Random(3)
    for _ in range(300):
        labels = [_labels(rnd) for _ in range(rnd.randint(0, 30))]
        expected: list[str] = []
        for ls in labels:
            if ls.name not in expected:
                expected.append(ls.name)
        assert _distinct_names(labels) == expected
