"""The exemplar ring: wraparound, per-series chains, dedupe, ordering, resize, metrics."""

from __future__ import annotations

import numpy as np
from prometheus_client import CollectorRegistry

from promhub.model.labels import Labels
from promhub.model.matcher import Matcher
from promhub.tsdb.exemplars import AppendOutcome, ExemplarSeries, ExemplarStorage

A = Labels.from_dict({"__name__": "req_total", "job": "a"})
B = Labels.from_dict({"__name__": "req_total", "job": "b"})
C = Labels.from_dict({"__name__": "other", "job": "a"})
ALL = [[Matcher.new("=~", "__name__", ".+")]]


def trace(i: int | str) -> Labels:
    return Labels.from_dict({"trace_id": str(i)})


def add(
    store: ExemplarStorage,
    series: Labels,
    ts: int,
    value: float = 1.0,
    lb: Labels | None = None,
    own_ts: bool = True,
) -> AppendOutcome:
    return store.append(
        [series],
        [lb if lb is not None else trace(ts)],
        np.array([value]),
        np.array([ts], dtype=np.int64),
        np.array([own_ts]),
    )


def summary(result: list[ExemplarSeries]) -> dict[str, list[int]]:
    return {
        s.series_labels.get("job") + s.series_labels.name: s.timestamps.tolist() for s in result
    }


def test_wraparound_overwrites_oldest_across_series() -> None:
    store = ExemplarStorage(4)
    for ts, s in [(1, A), (2, B), (3, A), (4, B), (5, A), (6, A)]:
        assert add(store, s, ts).appended == 1
    # Ring of 4: ts 1 and 2 were overwritten; A keeps 3, 5, 6 and B keeps 4.
    assert summary(store.select(0, 100, ALL)) == {"areq_total": [3, 5, 6], "breq_total": [4]}
    assert len(store) == 4 and store.num_series == 2
    for ts in (7, 8, 9, 10):
        add(store, A, ts)
    # B's last exemplar is gone: the series leaves the index.
    assert summary(store.select(0, 100, ALL)) == {"areq_total": [7, 8, 9, 10]}
    assert store.num_series == 1


def test_capacity_one_and_long_run_keep_chains_consistent() -> None:
    one = ExemplarStorage(1)
    for ts in range(1, 6):
        add(one, A if ts % 2 else B, ts)
    assert summary(one.select(0, 100, ALL)) == {"areq_total": [5]}

    rng = np.random.default_rng(7)
    store = ExemplarStorage(50)
    series = [Labels.from_dict({"__name__": "m", "job": str(k)}) for k in range(7)]
    last: dict[Labels, list[int]] = {s: [] for s in series}
    order: list[tuple[Labels, int]] = []
    for ts in range(1, 400):
        s = series[int(rng.integers(0, 7))]
        add(store, s, ts)
        order.append((s, ts))
    for s, ts in order[-50:]:
        last[s].append(ts)
    want = {s: t for s, t in last.items() if t}
    got = {r.series_labels: r.timestamps.tolist() for r in store.select(0, 1000, ALL)}
    assert got == want


def test_out_of_order_is_rejected_and_counted() -> None:
    store = ExemplarStorage(10)
    registry = CollectorRegistry()
    registry.register(store.collector())
    assert add(store, A, 100).appended == 1
    assert add(store, A, 50).out_of_order == 1
    # Same timestamp: ordered by value, then labels (native histogram buckets share one).
    assert add(store, A, 100, value=0.5).out_of_order == 1
    assert add(store, A, 100, value=2.0).appended == 1
    # Another series has its own order.
    assert add(store, B, 10).appended == 1
    assert summary(store.select(0, 1000, ALL)) == {"areq_total": [100, 100], "breq_total": [10]}
    assert registry.get_sample_value("prometheus_tsdb_exemplar_out_of_order_exemplars_total") == 2
    assert registry.get_sample_value("prometheus_tsdb_exemplar_exemplars_appended_total") == 3


def test_duplicates_are_dropped_silently() -> None:
    store = ExemplarStorage(10)
    add(store, A, 100, lb=trace("x"))
    # An exporter repeats its last exemplar each scrape: with its own timestamp it is
    # identical; without one it gets each scrape's time but is still the same exemplar.
    out = add(store, A, 100, lb=trace("x"))
    assert (out.appended, out.duplicate, out.out_of_order) == (0, 1, 0)
    add(store, B, 100, lb=trace("y"), own_ts=False)
    out = add(store, B, 115, lb=trace("y"), own_ts=False)
    assert (out.appended, out.duplicate) == (0, 1)
    # A new value or labels is a new exemplar.
    assert add(store, B, 130, value=2.0, lb=trace("y"), own_ts=False).appended == 1
    assert len(store) == 3


def test_select_filters_by_matchers_and_time_and_sorts_series() -> None:
    store = ExemplarStorage(20)
    for ts in (10, 20, 30):
        add(store, C, ts)
        add(store, B, ts)
        add(store, A, ts)
    res = store.select(15, 30, [[Matcher.new("=", "__name__", "req_total")]])
    assert [r.series_labels for r in res] == [A, B]
    assert [r.timestamps.tolist() for r in res] == [[20, 30], [20, 30]]
    assert res[0].labels == [trace(20), trace(30)]
    # Several selectors: a series matching any of them.
    two = store.select(
        0, 100, [[Matcher.new("=", "job", "b")], [Matcher.new("=", "__name__", "other")]]
    )
    assert [r.series_labels for r in two] == [C, B]
    assert store.select(31, 100, ALL) == []
    assert store.select(0, 100, [[Matcher.new("=", "job", "zzz")]]) == []


def test_label_set_over_128_runes_is_rejected() -> None:
    store = ExemplarStorage(10)
    ok = Labels.from_dict({"trace_id": "é" * 120})  # 8 + 120 code points
    too_long = Labels.from_dict({"trace_id": "é" * 121})
    assert add(store, A, 1, lb=ok).appended == 1
    assert add(store, A, 2, lb=too_long).too_long == 1
    assert len(store) == 1


def test_resize_keeps_newest_and_zero_disables() -> None:
    store = ExemplarStorage(6)
    for ts in range(1, 9):  # wrapped: holds 3..8
        add(store, A if ts % 2 else B, ts)
    assert store.resize(4) == 4
    assert summary(store.select(0, 100, ALL)) == {"areq_total": [5, 7], "breq_total": [6, 8]}
    # Chains still link after the move: appending continues each series.
    add(store, A, 9)
    assert summary(store.select(0, 100, ALL)) == {"areq_total": [7, 9], "breq_total": [6, 8]}
    assert store.resize(10) == 4
    assert store.resize(10) == 0
    add(store, B, 10)
    assert summary(store.select(0, 100, ALL)) == {"areq_total": [7, 9], "breq_total": [6, 8, 10]}
    assert store.resize(0) == 0
    assert not store.enabled and store.select(0, 100, ALL) == []
    assert add(store, A, 11).appended == 0
    store.resize(-5)
    assert store.max_exemplars == 0


def test_metrics() -> None:
    store = ExemplarStorage(3)
    registry = CollectorRegistry()
    registry.register(store.collector())

    def value(name: str) -> float | None:
        return registry.get_sample_value("prometheus_tsdb_exemplar_" + name)

    assert value("max_exemplars") == 3
    assert value("exemplars_in_storage") == 0
    assert value("last_exemplars_timestamp_seconds") == 0
    add(store, A, 1000)
    add(store, B, 2000)
    assert value("exemplars_in_storage") == 2
    assert value("series_with_exemplars_in_storage") == 2
    assert value("last_exemplars_timestamp_seconds") == 1.0
    for ts in (3000, 4000, 5000):
        add(store, A, ts)
    # Full: the oldest stored is now 3000 ms, and B's only exemplar was overwritten.
    assert value("exemplars_in_storage") == 3
    assert value("last_exemplars_timestamp_seconds") == 3.0
    assert value("series_with_exemplars_in_storage") == 1
    assert value("exemplars_appended_total") == 5
    store.resize(7)
    assert value("max_exemplars") == 7
