"""Engine behaviour against a real TSDB, with hand-built syntax trees (no parser needed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from promhub.model.labels import Labels
from promhub.model.matcher import Matcher
from promhub.model.value import STALE_NAN
from promhub.promql import ast as A
from promhub.promql.engine import Engine, PromQLError, check_resolution
from promhub.promql.value import RangeSeries, ScalarSeries, VectorSeries
from promhub.tsdb import DB

M = 60_000


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DB]:
    d = DB.open(tmp_path)
    yield d
    d.close()


def load(db: DB, series: dict[str, list[tuple[int, float]]]) -> None:
    app = db.appender()
    for text, samples in series.items():
        name, _, rest = text.partition("{")
        pairs = {"__name__": name}
        for part in filter(None, rest.rstrip("}").split(",")):
            k, _, v = part.partition("=")
            pairs[k.strip()] = v.strip().strip('"')
        ref = app.ref(Labels.from_dict(pairs))
        ts = np.array([t for t, _ in samples], dtype=np.int64)
        vals = np.array([v for _, v in samples], dtype=np.float64)
        app.append(np.full(len(ts), ref, dtype=np.int64), ts, vals)
    app.commit()


def sel(name: str, **kw: object) -> A.VectorSelector:
    return A.VectorSelector(name=name, matchers=[Matcher.new("=", "__name__", name)], **kw)  # type: ignore[arg-type]


def rows(v: object) -> dict[str, list[float]]:
    """Series → values at present steps, with names rendered like Prometheus."""
    assert isinstance(v, VectorSeries)
    return {str(ls): [float(x) for x in v.values[i][v.present[i]]] for i, ls in enumerate(v.labels)}


def test_instant_selector_uses_lookback_and_stops_at_staleness(db: DB) -> None:
    load(db, {"up{job=a}": [(0, 1), (M, 2), (2 * M, STALE_NAN)], "up{job=b}": [(0, 5)]})
    e = Engine()
    r = e.instant(db, sel("up"), M + 30_000)
    assert r.result_type == "vector"
    assert rows(r.value) == {'up{job="a"}': [2.0], 'up{job="b"}': [5.0]}
    # The stale marker ends job=a; job=b is visible until 5m after its last sample.
    assert rows(e.instant(db, sel("up"), 2 * M).value) == {'up{job="b"}': [5.0]}
    assert rows(e.instant(db, sel("up"), 5 * M - 1).value) == {'up{job="b"}': [5.0]}
    assert rows(e.instant(db, sel("up"), 5 * M).value) == {}


def test_range_query_is_sorted_and_step_wise(db: DB) -> None:
    load(db, {"x{i=2}": [(0, 1), (M, 2)], "x{i=1}": [(0, 10)]})
    r = Engine().range(db, sel("x"), 0, 2 * M, M)
    assert r.result_type == "matrix"
    assert isinstance(r.value, VectorSeries)
    assert [str(ls) for ls in r.value.labels] == ['x{i="1"}', 'x{i="2"}']
    assert r.value.values[1].tolist() == [1.0, 2.0, 2.0]
    assert r.step_times.tolist() == [0, M, 2 * M]


def test_offset_and_at_modifiers(db: DB) -> None:
    load(db, {"c": [(i * M, float(i)) for i in range(11)]})
    e = Engine()
    assert rows(e.instant(db, sel("c", offset_ms=2 * M), 5 * M).value) == {"c": [3.0]}
    assert rows(e.instant(db, sel("c", offset_ms=-2 * M), 5 * M).value) == {"c": [7.0]}
    r = e.range(db, sel("c", timestamp_ms=4 * M), 0, 3 * M, M)
    assert r.value.values.tolist() == [[4.0, 4.0, 4.0, 4.0]]  # type: ignore[union-attr]
    end = sel("c", start_or_end=A.AtModifier.END)
    r = e.range(db, end, 0, 3 * M, M)
    assert r.value.values.tolist() == [[3.0, 3.0, 3.0, 3.0]]  # type: ignore[union-attr]


def test_range_selector_window_is_left_open(db: DB) -> None:
    load(db, {"c": [(i * M, float(i)) for i in range(6)]})
    r = Engine().instant(db, A.MatrixSelector(vector_selector=sel("c"), range_ms=2 * M), 4 * M)
    assert r.result_type == "matrix"
    assert isinstance(r.value, RangeSeries)
    assert r.value.timestamps.tolist() == [3 * M, 4 * M]


def test_subquery_steps_are_aligned_to_absolute_multiples(db: DB) -> None:
    load(db, {"c": [(i * 10_000, float(i)) for i in range(60)]})
    sq = A.SubqueryExpr(expr=sel("c"), range_ms=3 * M, step_ms=M)
    r = Engine().instant(db, sq, 5 * M + 30_000)
    assert isinstance(r.value, RangeSeries)
    assert r.value.timestamps.tolist() == [3 * M, 4 * M, 5 * M]
    assert r.value.values.tolist() == [18.0, 24.0, 30.0]


def test_binary_matching_and_name_dropping(db: DB) -> None:
    load(db, {"a{k=1}": [(0, 1)], "a{k=2}": [(0, 2)], "b{k=1}": [(0, 10)], "b{k=2}": [(0, 20)]})
    e = Engine()
    add = A.BinaryExpr(op="+", lhs=sel("a"), rhs=sel("b"), matching=A.VectorMatching())
    assert rows(e.instant(db, add, 0).value) == {'{k="1"}': [11.0], '{k="2"}': [22.0]}
    gt = A.BinaryExpr(op="<", lhs=sel("a"), rhs=sel("b"), matching=A.VectorMatching())
    assert rows(e.instant(db, gt, 0).value) == {'a{k="1"}': [1.0], 'a{k="2"}': [2.0]}
    on = A.VectorMatching(on=True, matching_labels=[])
    bad = A.BinaryExpr(op="+", lhs=sel("a"), rhs=sel("b"), matching=on)
    with pytest.raises(PromQLError, match="found duplicate series for the match group"):
        e.instant(db, bad, 0)


def test_set_operators(db: DB) -> None:
    load(db, {"a{k=1}": [(0, 1)], "a{k=2}": [(0, 2)], "b{k=2}": [(0, 20)], "b{k=3}": [(0, 30)]})
    e = Engine()
    ign = A.VectorMatching(card=A.Cardinality.MANY_TO_MANY)
    for op, want in {
        "and": {'a{k="2"}': [2.0]},
        "unless": {'a{k="1"}': [1.0]},
        "or": {'a{k="1"}': [1.0], 'a{k="2"}': [2.0], 'b{k="3"}': [30.0]},
    }.items():
        node = A.BinaryExpr(op=op, lhs=sel("a"), rhs=sel("b"), matching=ign)
        assert rows(e.instant(db, node, 0).value) == want, op


def test_sum_is_compensated_and_topk_is_ordered(db: DB) -> None:
    load(
        db,
        {"d{p=a}": [(0, 2)], "d{p=b}": [(0, 8)], "d{p=c}": [(0, 1e100)], "d{p=e}": [(0, -1e100)]},
    )
    e = Engine()
    assert rows(e.instant(db, A.AggregateExpr(op="sum", expr=sel("d")), 0).value) == {"{}": [10.0]}
    top = A.AggregateExpr(op="topk", expr=sel("d"), param=A.NumberLiteral(value=3))
    r = e.instant(db, top, 0)
    assert [str(ls) for ls in r.value.labels] == ['d{p="c"}', 'd{p="b"}', 'd{p="a"}']  # type: ignore[union-attr]


def test_duplicate_labelsets_after_name_removal_fail(db: DB) -> None:
    load(db, {"m1{k=1}": [(0, 1)], "m2{k=1}": [(0, 2)]})
    neg = A.UnaryExpr(op="-", expr=A.VectorSelector(matchers=[Matcher.new("=~", "__name__", "m.")]))
    with pytest.raises(PromQLError, match="vector cannot contain metrics with the same labelset"):
        Engine().instant(db, neg, 0)


def test_scalar_results(db: DB) -> None:
    e = Engine()
    two = A.BinaryExpr(op="^", lhs=A.NumberLiteral(value=2), rhs=A.NumberLiteral(value=10))
    r = e.instant(db, two, 0)
    assert r.result_type == "scalar"
    assert isinstance(r.value, ScalarSeries) and float(r.value.values[0]) == 1024.0
    mod = A.BinaryExpr(op="%", lhs=A.NumberLiteral(value=-7), rhs=A.NumberLiteral(value=3))
    assert float(e.instant(db, mod, 0).value.values[0]) == -1.0  # type: ignore[union-attr]


def test_limits_give_errors_not_hangs(db: DB) -> None:
    load(db, {f"s{{i={i}}}": [(t * 1000, 1.0) for t in range(100)] for i in range(20)})
    small = Engine(max_samples=100)
    with pytest.raises(PromQLError, match="too many samples") as ei:
        small.range(db, sel("s"), 0, 99_000, 1000)
    assert ei.value.kind == "execution"
    huge = A.SubqueryExpr(expr=sel("s"), range_ms=10**12, step_ms=1)
    with pytest.raises(PromQLError, match="too many samples"):
        small.instant(db, huge, 0)
    with pytest.raises(PromQLError, match="timed out") as ti:
        Engine(timeout_s=-1).instant(db, sel("s"), 0)
    assert ti.value.kind == "timeout"
    with pytest.raises(PromQLError, match="11,000 points"):
        check_resolution(0, 11_001_000, 1000)


def test_text_queries_report_annotations_and_type_errors(db: DB) -> None:
    load(db, {"foo": [(i * M, float(i)) for i in range(10)]})
    e = Engine()
    r = e.instant(db, "rate(foo[5m])", 9 * M)
    assert r.infos == [
        "PromQL info: metric might not be a counter, name does not end in "
        '_total/_sum/_count/_bucket: "foo" (1:6)'
    ]
    with pytest.raises(PromQLError, match="invalid expression type") as ei:
        e.range(db, "foo[5m]", 0, M, M)
    assert ei.value.kind == "bad_data"
    with pytest.raises(PromQLError, match="parse error") as pe:
        e.instant(db, "sum(", 0)
    assert pe.value.kind == "bad_data"


def test_query_context_functions_and_step_invariance(db: DB) -> None:
    load(db, {"foo": [(i * M, float(i)) for i in range(10)]})
    e = Engine()
    r = e.range(db, "vector(step()) + on() group_left foo @ end()", 0, 2 * M, M)
    assert r.value.values.tolist() == [[62.0, 62.0, 62.0]]  # type: ignore[union-attr]
    r = e.range(db, "timestamp(foo @ 90)", 0, 2 * M, M)
    assert r.value.values.tolist() == [[60.0, 60.0, 60.0]]  # type: ignore[union-attr]


def test_limit_ratio_samples_by_prometheus_label_hash(db: DB) -> None:
    load(db, {f'req{{pod="p{i}"}}': [(0, float(i))] for i in range(200)})
    eng = Engine()
    half = set(rows(eng.instant(db, "limit_ratio(0.5, req)", 0).value))
    other = set(rows(eng.instant(db, "limit_ratio(-0.5, req)", 0).value))
    # r and -(1-r) split the series into complementary sets, as Prometheus documents.
    assert half.isdisjoint(other) and len(half | other) == 200
    assert 60 < len(half) < 140
    # Which half is Prometheus' choice: xxhash64 of `name\xffvalue\xff...` over MaxUint64.
    import xxhash

    def offset(i: int) -> float:
        data = f"__name__\xffreq\xffpod\xffp{i}\xff".encode("latin-1")
        return xxhash.xxh64_intdigest(data) / float(2**64 - 1)

    assert half == {f'req{{pod="p{i}"}}' for i in range(200) if offset(i) < 0.5}
