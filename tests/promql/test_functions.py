"""Unit tests of the function library on hand-built range and instant vectors.

Expected values are computed by hand from Prometheus' definitions, and a few are the
values Prometheus' own functions.test expects for the same data.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import promhub.promql.functions  # noqa: F401  (registers the implementations)
from promhub.model.labels import Labels
from promhub.model.matcher import Matcher, MatchType
from promhub.promql.ast import Call, MatrixSelector, NumberLiteral, VectorSelector
from promhub.promql.call import FUNCTIONS, FunctionCall
from promhub.promql.functions import FunctionError
from promhub.promql.value import (
    RangeSeries,
    ScalarSeries,
    StringValue,
    Value,
    VectorSeries,
)

MIN = 60_000


def labels(text: str) -> Labels:
    """``name{a="b",c="d"}`` → Labels (test helper, no escaping)."""
    name, _, rest = text.partition("{")
    d = {"__name__": name} if name else {}
    for part in filter(None, rest.rstrip("}").split(",")):
        k, _, v = part.partition("=")
        d[k.strip()] = v.strip().strip('"')
    return Labels.from_dict(d)


def range_series(
    data: dict[str, list[tuple[int, float]]], steps: list[int], range_ms: int
) -> RangeSeries:
    """Windows ``(t - range, t]`` over raw samples, as the engine builds them."""
    ls = [labels(k) for k in data]
    offsets = np.zeros(len(data) + 1, dtype=np.int64)
    ts: list[int] = []
    vs: list[float] = []
    for i, samples in enumerate(data.values()):
        ts += [t for t, _ in samples]
        vs += [v for _, v in samples]
        offsets[i + 1] = len(ts)
    t_arr = np.array(ts, dtype=np.int64)
    step_arr = np.array(steps, dtype=np.int64)
    lo = np.zeros((len(data), len(steps)), dtype=np.int64)
    hi = np.zeros_like(lo)
    for i in range(len(data)):
        seg = t_arr[offsets[i] : offsets[i + 1]]
        lo[i] = offsets[i] + np.searchsorted(seg, step_arr - range_ms, side="right")
        hi[i] = offsets[i] + np.searchsorted(seg, step_arr, side="right")
    return RangeSeries(
        ls, offsets, t_arr, np.array(vs, dtype=np.float64), lo, hi, step_arr, range_ms
    )


def vector(data: dict[str, list[float | None]]) -> VectorSeries:
    vals = np.array([[np.nan if x is None else x for x in row] for row in data.values()])
    pres = np.array([[x is not None for x in row] for row in data.values()], dtype=bool)
    n = len(data)
    return VectorSeries(
        [labels(k) for k in data], vals.reshape(n, -1), pres.reshape(n, -1), np.zeros(n, dtype=bool)
    )


def call(
    name: str, *args: Value, steps: list[int] | None = None, nodes: list[object] | None = None
) -> tuple[Value, FunctionCall]:
    if steps is None:
        first = next((a for a in args if isinstance(a, RangeSeries)), None)
        steps = list(first.step_times) if first is not None else [0]
    node_args = nodes if nodes is not None else [NumberLiteral() for _ in args]
    node = Call(func=name, args=node_args)  # type: ignore[arg-type]
    fc = FunctionCall(node, list(args), np.array(steps, dtype=np.int64))
    return FUNCTIONS[name](fc), fc


def scalar(x: float, steps: int = 1) -> ScalarSeries:
    return ScalarSeries(np.full(steps, x))


def result(v: Value) -> dict[Labels, list[float | None]]:
    assert isinstance(v, VectorSeries)
    return {
        ls: [float(x) if p else None for x, p in zip(v.values[i], v.present[i], strict=True)]
        for i, ls in enumerate(v.labels)
    }


def approx(d: dict[Labels, list[float | None]]) -> dict[Labels, list[object]]:
    return {
        k: [None if x is None else pytest.approx(x, rel=1e-9, nan_ok=True) for x in v]
        for k, v in d.items()
    }


# --------------------------------------------------------------------------- rate family


def counter(values: list[float], every: int = 5 * MIN) -> list[tuple[int, float]]:
    return [(i * every, v) for i, v in enumerate(values)]


def test_rate_extrapolates_to_window_boundaries() -> None:
    # functions.test: http_requests_total 0+10x10 every 5m; rate over [50m] at 50m.
    rs = range_series(
        {'http_requests_total{path="/foo"}': counter([10 * i for i in range(11)])},
        [50 * MIN],
        50 * MIN,
    )
    out, fc = call("rate", rs)
    got = result(out)[labels('http_requests_total{path="/foo"}')][0]
    # 100 increase over 45m sampled, extrapolated half an interval at the start only
    # (counter zero point 0 caps it): 100 * (45+0)/45 / 3000s.
    assert got == pytest.approx(100 / 3000)
    assert not fc.annotations
    assert out.drop_name.all()  # type: ignore[union-attr]


def test_increase_handles_counter_resets() -> None:
    rs = range_series({"c_total": counter([0, 10, 20, 5, 15])}, [20 * MIN], 25 * MIN)
    out, _ = call("increase", rs)
    # Raw increase 15 + 20 before the reset = 35 over 20m sampled; start extrapolates by
    # min(avg/2=2.5m, zero point 0m)... first value is 0 → to_zero 0; end at the boundary.
    assert result(out)[labels("c_total")][0] == pytest.approx(35.0)


def test_rate_needs_two_samples_and_warns_on_non_counter_names() -> None:
    rs = range_series({"gauge": counter([1, 2, 3]), "one_total": [(0, 1.0)]}, [10 * MIN], 11 * MIN)
    out, fc = call("rate", rs)
    assert labels("one_total") not in result(out)
    assert [a.message for a in fc.annotations] == [
        'metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "gauge"'
    ]
    assert fc.annotations[0].kind == "info"


def test_delta_extrapolates_both_ways_and_does_not_warn() -> None:
    # Samples at 1m,2m,3m, window (0, 4m]: 2 increase over 2m sampled, extrapolated by one
    # average interval (1m) on each side: 2 * 4/2 = 4.
    rs = range_series({"g": [(MIN, 1.0), (2 * MIN, 2.0), (3 * MIN, 3.0)]}, [4 * MIN], 4 * MIN)
    out, fc = call("delta", rs)
    assert result(out)[labels("g")] == [pytest.approx(4.0)]
    assert not fc.annotations


def test_rate_does_not_extrapolate_over_gaps_wider_than_the_interval() -> None:
    # Samples at 3m and 4m in a (0, 10m] window: gaps of 3m and 6m exceed 1.1 × 1m, so
    # only half an interval is added at each end: 1 × 2/1 = 2 (delta).
    rs = range_series({"g": [(3 * MIN, 1.0), (4 * MIN, 2.0)]}, [10 * MIN], 10 * MIN)
    out, _ = call("delta", rs)
    assert result(out)[labels("g")] == [pytest.approx(2.0)]


def test_irate_and_idelta_use_the_last_two_samples() -> None:
    rs = range_series({"c_total": counter([0, 10, 30, 5], every=MIN)}, [2 * MIN, 3 * MIN], 5 * MIN)
    out, _ = call("irate", rs)
    # At 2m: (30-10)/60; at 3m: reset → last value 5 / 60.
    assert result(out)[labels("c_total")] == [pytest.approx(20 / 60), pytest.approx(5 / 60)]
    out, _ = call("idelta", rs)
    assert result(out)[labels("c_total")] == [20.0, -25.0]


def test_resets_and_changes_count_within_windows() -> None:
    rs = range_series({"x": counter([1, 2, 1, 1, 3, 0], every=MIN)}, [5 * MIN], 10 * MIN)
    assert result(call("resets", rs)[0])[labels("x")] == [2.0]
    assert result(call("changes", rs)[0])[labels("x")] == [4.0]


def test_changes_treats_nan_to_nan_as_no_change() -> None:
    rs = range_series({"x": [(0, math.nan), (MIN, math.nan), (2 * MIN, 1.0)]}, [2 * MIN], 5 * MIN)
    assert result(call("changes", rs)[0])[labels("x")] == [1.0]


def test_deriv_and_predict_linear() -> None:
    # y = 2 + 0.5·t(s): slope 0.5/s exactly.
    samples = [(i * 15_000, 2 + 0.5 * i * 15) for i in range(9)]
    rs = range_series({"g": samples}, [120_000], 120_001)
    assert result(call("deriv", rs)[0])[labels("g")] == [pytest.approx(0.5)]
    # predict_linear(g[2m], 60) at t=120s: value at 180s = 2 + 90.
    out, _ = call("predict_linear", rs, scalar(60.0), steps=[120_000])
    assert result(out)[labels("g")] == [pytest.approx(92.0)]


def test_deriv_of_a_constant_series_is_zero() -> None:
    rs = range_series({"g": [(0, 3.0), (MIN, 3.0)]}, [MIN], 5 * MIN)
    assert result(call("deriv", rs)[0])[labels("g")] == [0.0]


def _anchored_node(smoothed: bool) -> MatrixSelector:
    vs = VectorSelector(name="metric", anchored=not smoothed, smoothed=smoothed)
    return MatrixSelector(vector_selector=vs, range_ms=MIN)


def test_increase_smoothed_interpolates_counters_across_resets() -> None:
    # extended_vectors.test: metric{id="2"} 3 2+2x9 (1m apart); lookback-widened windows.
    samples = counter([3, 2, 4, 6, 8], every=MIN)
    rs = range_series({'metric{id="2"}': samples}, [90_000], MIN + 5 * MIN)
    rs.hi[:] = rs.offsets[0] + np.searchsorted(
        np.array([t for t, _ in samples]), 90_000 + 5 * MIN, side="right"
    )
    rs.range_ms = MIN  # the selector's range; the window was widened by the lookback
    out, _ = call("increase", rs, nodes=[_anchored_node(smoothed=True)])
    assert result(out)[labels('metric{id="2"}')] == [pytest.approx(2.0)]


def test_increase_anchored_takes_the_sample_before_the_window() -> None:
    # extended_vectors.test "complete dataset": metric 1+1x4 9+1x4 every 15s; at 80s the
    # anchored increase over [1m] is 7 (value 5 at 15s ... 9+... with a reset).
    samples = [(i * 15_000, float(v)) for i, v in enumerate([1, 2, 3, 4, 5, 9, 10, 11, 12, 13])]
    rs = range_series({"metric": samples}, [80_000], MIN + 5 * MIN)
    rs.range_ms = MIN
    out, _ = call("increase", rs, nodes=[_anchored_node(smoothed=False)])
    assert result(out)[labels("metric")] == [pytest.approx(7.0)]


# --------------------------------------------------------------------------- over_time


def test_over_time_aggregations() -> None:
    rs = range_series({'m{a="1"}': counter([1, 4, 2, 8], every=MIN)}, [3 * MIN], 10 * MIN)
    key = labels('m{a="1"}')
    expect = {
        "sum_over_time": 15.0,
        "avg_over_time": 3.75,
        "count_over_time": 4.0,
        "min_over_time": 1.0,
        "max_over_time": 8.0,
        "last_over_time": 8.0,
        "first_over_time": 1.0,
        "present_over_time": 1.0,
        "stdvar_over_time": 7.1875,
        "ts_of_max_over_time": 180.0,
        "ts_of_min_over_time": 0.0,
        "ts_of_last_over_time": 180.0,
        "ts_of_first_over_time": 0.0,
        "mad_over_time": 1.5,
    }
    for name, want in expect.items():
        out, _ = call(name, rs)
        assert result(out)[key] == [pytest.approx(want)], name
    out, _ = call("stddev_over_time", rs)
    assert result(out)[key] == [pytest.approx(math.sqrt(7.1875))]


def test_last_and_first_over_time_keep_the_metric_name() -> None:
    rs = range_series({"m": counter([1, 2], every=MIN)}, [MIN], 5 * MIN)
    for name in ("last_over_time", "first_over_time"):
        out, _ = call(name, rs)
        assert isinstance(out, VectorSeries) and not out.drop_name.any()
    out, _ = call("max_over_time", rs)
    assert isinstance(out, VectorSeries) and out.drop_name.all()


def test_sum_over_time_uses_kahan_summation() -> None:
    # functions.test: metric 1 1e100 1 -1e100 → sum_over_time(metric[2m]) at 1m... = 2.
    rs = range_series({"m": counter([1, 1e100, 1, -1e100], every=15_000)}, [MIN], 2 * MIN)
    assert result(call("sum_over_time", rs)[0])[labels("m")] == [2.0]


def test_avg_over_time_survives_overflowing_sums() -> None:
    big = 9.988465674311579e307
    rs = range_series({"m": counter([big, big], every=10_000)}, [MIN], 2 * MIN)
    assert result(call("avg_over_time", rs)[0])[labels("m")] == [pytest.approx(big)]


def test_max_over_time_skips_nan_unless_all_nan() -> None:
    rs = range_series(
        {"m": counter([math.nan, 1, 3, math.nan], every=MIN), "n": counter([math.nan], every=MIN)},
        [3 * MIN],
        10 * MIN,
    )
    out = result(call("max_over_time", rs)[0])
    assert out[labels("m")] == [3.0]
    assert math.isnan(out[labels("n")][0])  # type: ignore[arg-type]


def test_quantile_over_time_and_invalid_quantile_warning() -> None:
    rs = range_series({"m": counter([0, 1, 2, 3, 4], every=MIN)}, [4 * MIN], 10 * MIN)
    out, _ = call("quantile_over_time", scalar(0.25), rs)
    assert result(out)[labels("m")] == [1.0]
    out, fc = call("quantile_over_time", scalar(2.0), rs)
    assert result(out)[labels("m")] == [math.inf]
    assert [a.message for a in fc.annotations] == [
        "quantile value should be between 0 and 1, got 2"
    ]


def test_windows_walk_many_series_and_steps_at_once() -> None:
    data = {
        f'm{{i="{i}"}}': counter([float(i * j) for j in range(10)], every=MIN) for i in range(5)
    }
    steps = [k * MIN for k in range(10)]
    rs = range_series(data, steps, 3 * MIN)
    out = result(call("sum_over_time", rs)[0])
    for i in range(5):
        want = [float(sum(i * j for j in range(max(0, k - 2), k + 1))) for k in range(10)]
        assert out[labels(f'm{{i="{i}"}}')] == want


def test_double_exponential_smoothing() -> None:
    rs = range_series({"m": counter([0, 10, 20, 30], every=MIN)}, [3 * MIN], 10 * MIN)
    out, _ = call("double_exponential_smoothing", rs, scalar(0.5), scalar(0.5))
    # A perfect line is tracked exactly.
    assert result(out)[labels("m")] == [pytest.approx(30.0)]
    with pytest.raises(FunctionError, match="invalid smoothing factor"):
        call("double_exponential_smoothing", rs, scalar(1.0), scalar(0.5))


def test_absent_over_time_reports_steps_without_samples() -> None:
    node = MatrixSelector(
        vector_selector=VectorSelector(
            name="x",
            matchers=[
                Matcher.new(MatchType.EQUAL, "job", "a"),
                Matcher.new(MatchType.EQUAL, "__name__", "x"),
                Matcher.new(MatchType.REGEX, "i", ".*"),
            ],
        ),
        range_ms=MIN,
    )
    rs = range_series({'x{job="a"}': [(2 * MIN, 1.0)]}, [MIN, 2 * MIN, 3 * MIN, 4 * MIN], MIN)
    out, _ = call("absent_over_time", rs, nodes=[node])
    # The window (2m, 3m] no longer holds the sample at 2m.
    assert result(out) == {labels('{job="a"}'): [1.0, None, 1.0, 1.0]}


# --------------------------------------------------------------------------- instant


def test_elementwise_math_keeps_presence_and_drops_name() -> None:
    v = vector({"m": [-1.5, None, 4.0]})
    out, _ = call("abs", v, steps=[0, 1, 2])
    assert result(out) == {labels("m"): [1.5, None, 4.0]}
    assert out.drop_name.all()  # type: ignore[union-attr]
    assert result(call("sqrt", vector({"m": [4.0]}))[0]) == {labels("m"): [2.0]}
    assert result(call("sgn", vector({"m": [-3.0]}))[0]) == {labels("m"): [-1.0]}


def test_clamp_and_round() -> None:
    v = vector({"m": [-5.0, 0.5, 9.0]})
    out, _ = call("clamp", v, scalar(0, 3), scalar(1, 3), steps=[0, 1, 2])
    assert result(out) == {labels("m"): [0.0, 0.5, 1.0]}
    out, _ = call("clamp", v, scalar(2, 3), scalar(1, 3), steps=[0, 1, 2])
    assert result(out) == {}
    out, _ = call("round", vector({"m": [2.5, -2.5, 1.26]}), scalar(1, 3), steps=[0, 1, 2])
    assert result(out) == {labels("m"): [3.0, -2.0, 1.0]}
    out, _ = call("round", vector({"m": [1.26]}), scalar(0.1))
    assert result(out)[labels("m")] == [pytest.approx(1.3)]


def test_scalar_vector_time() -> None:
    out, _ = call("scalar", vector({'m{a="1"}': [1.0, 1.0], 'm{a="2"}': [None, 2.0]}), steps=[0, 1])
    assert isinstance(out, ScalarSeries)
    assert out.values[0] == 1.0 and math.isnan(out.values[1])
    out, _ = call("vector", scalar(7.0, 2), steps=[0, 1])
    assert result(out) == {Labels(()): [7.0, 7.0]}
    out, _ = call("time", steps=[1500, 3000])
    assert isinstance(out, ScalarSeries) and list(out.values) == [1.5, 3.0]


def test_calendar_functions() -> None:
    # 2024-02-29T13:45:00Z
    t = 1709214300.0
    v = vector({"m": [t]})
    want = {
        "year": 2024,
        "month": 2,
        "day_of_month": 29,
        "day_of_week": 4,
        "day_of_year": 60,
        "days_in_month": 29,
        "hour": 13,
        "minute": 45,
    }
    for name, w in want.items():
        assert result(call(name, v)[0]) == {labels("m"): [float(w)]}, name
    out, _ = call("year", steps=[0])  # no argument: the evaluation time
    assert result(out) == {Labels(()): [1970.0]}


def test_absent_uses_equality_matchers_of_the_selector() -> None:
    node = VectorSelector(
        name="nope",
        matchers=[
            Matcher.new(MatchType.EQUAL, "__name__", "nope"),
            Matcher.new(MatchType.EQUAL, "a", "b"),
            Matcher.new(MatchType.EQUAL, "c", "d"),
            Matcher.new(MatchType.EQUAL, "c", "e"),
        ],
    )
    empty = VectorSeries([], np.zeros((0, 1)), np.zeros((0, 1), bool), np.zeros(0, bool))
    out, _ = call("absent", empty, nodes=[node])
    assert result(out) == {labels('{a="b"}'): [1.0]}
    out, _ = call("absent", vector({"x": [1.0]}), nodes=[node])
    assert result(out) == {}


def test_sort_orders_instant_results_with_nan_last() -> None:
    v = vector({'m{i="a"}': [3.0], 'm{i="b"}': [math.nan], 'm{i="c"}': [1.0]})
    out, _ = call("sort", v)
    assert [ls.get("i") for ls in out.labels] == ["c", "a", "b"]  # type: ignore[union-attr]
    out, _ = call("sort_desc", v)
    assert [ls.get("i") for ls in out.labels] == ["a", "c", "b"]  # type: ignore[union-attr]
    _, fc = call("sort", vector({"m": [1.0, 2.0]}), steps=[0, 1])
    assert "sort is ineffective for range queries" in fc.annotations[0].message


def test_sort_by_label_is_natural() -> None:
    v = vector({'m{i="10"}': [1.0], 'm{i="9"}': [1.0], 'm{i="a"}': [1.0]})
    out, _ = call("sort_by_label", v, StringValue("i"))
    assert [ls.get("i") for ls in out.labels] == ["9", "10", "a"]  # type: ignore[union-attr]
    out, _ = call("sort_by_label_desc", v, StringValue("i"))
    assert [ls.get("i") for ls in out.labels] == ["a", "10", "9"]  # type: ignore[union-attr]


# --------------------------------------------------------------------------- labels


def test_label_replace() -> None:
    v = vector(
        {'m{src="source-value-10",dst="x"}': [0.0], 'm{src="source-value-20",dst="x"}': [1.0]}
    )
    args = (
        StringValue("dst"),
        StringValue("destination-value-$1"),
        StringValue("src"),
        StringValue("source-value-(.*)"),
    )
    out, _ = call("label_replace", v, *args)
    assert set(result(out)) == {
        labels('m{src="source-value-10",dst="destination-value-10"}'),
        labels('m{src="source-value-20",dst="destination-value-20"}'),
    }
    # No substring match: unchanged.
    out, _ = call("label_replace", v, args[0], args[1], args[2], StringValue("value-(.*)"))
    assert set(result(out)) == set(v.labels)


def test_label_replace_errors() -> None:
    v = vector({'m{src="a"}': [0.0], 'm{src="b"}': [1.0]})
    with pytest.raises(FunctionError, match="invalid regular expression in label_replace"):
        call(
            "label_replace",
            v,
            StringValue("d"),
            StringValue(""),
            StringValue("src"),
            StringValue("(.*"),
        )
    with pytest.raises(FunctionError, match="vector cannot contain metrics with the same"):
        call(
            "label_replace",
            v,
            StringValue("src"),
            StringValue(""),
            StringValue(""),
            StringValue(""),
        )


def test_label_replace_merges_series_that_do_not_overlap() -> None:
    v = vector({'s{idx="1"}': [2.0, None], 's{idx="2"}': [None, 4.0]})
    out, _ = call(
        "label_replace",
        v,
        StringValue("idx"),
        StringValue("r"),
        StringValue("idx"),
        StringValue(".*"),
        steps=[0, 1],
    )
    assert result(out) == {labels('s{idx="r"}'): [2.0, 4.0]}


def test_label_join() -> None:
    v = vector({'m{src="a",src1="b"}': [0.0]})
    out, _ = call(
        "label_join",
        v,
        StringValue("dst"),
        StringValue("-"),
        StringValue("src"),
        StringValue("nope"),
        StringValue("src1"),
    )
    assert set(result(out)) == {labels('m{src="a",src1="b",dst="a--b"}')}


# --------------------------------------------------------------------------- histograms


def buckets(bounds_counts: dict[str, float], extra: str = "") -> VectorSeries:
    return vector({f'h_bucket{{le="{le}"{extra}}}': [c] for le, c in bounds_counts.items()})


def test_histogram_quantile_interpolates_within_buckets() -> None:
    h = buckets({"0.1": 50.0, "0.2": 70.0, "+Inf": 100.0})
    out, _ = call("histogram_quantile", scalar(0.5), h)
    # The name stays until the engine's delayed __name__ removal drops it.
    assert out.drop_name.all()  # type: ignore[union-attr]
    assert result(out) == {labels("h_bucket"): [pytest.approx(0.1)]}
    out, _ = call("histogram_quantile", scalar(0.6), h)
    assert result(out) == {labels("h_bucket"): [pytest.approx(0.15)]}
    # In the +Inf bucket: the second highest bound.
    out, _ = call("histogram_quantile", scalar(0.9), h)
    assert result(out) == {labels("h_bucket"): [pytest.approx(0.2)]}


def test_histogram_quantile_edge_cases() -> None:
    no_inf = buckets({"0.1": 50.0, "0.2": 70.0})
    out, _ = call("histogram_quantile", scalar(0.5), no_inf)
    assert math.isnan(result(out)[labels("h_bucket")][0])  # type: ignore[arg-type]
    out, fc = call("histogram_quantile", scalar(-1.0), no_inf)
    assert result(out) == {labels("h_bucket"): [-math.inf]}
    assert fc.annotations[0].message == "quantile value should be between 0 and 1, got -1"
    bad = vector({'h_bucket{le="x"}': [1.0]})
    _, fc = call("histogram_quantile", scalar(0.5), bad)
    assert fc.annotations[0].message == (
        'bucket label "le" is missing or has a malformed value of "x" for metric name "h_bucket"'
    )


def test_histogram_quantile_forces_monotonicity_with_an_info() -> None:
    h = buckets({"1": 10.0, "2": 5.0, "+Inf": 20.0})
    out, fc = call("histogram_quantile", scalar(0.25), h)
    assert result(out) == {labels("h_bucket"): [pytest.approx(0.5)]}
    assert fc.annotations[0].kind == "info"
    assert "needed to be fixed for monotonicity" in fc.annotations[0].message


def test_histogram_quantile_groups_by_labels_other_than_le_per_step() -> None:
    v = vector(
        {
            'h_bucket{le="1",a="x"}': [1.0, 2.0],
            'h_bucket{le="+Inf",a="x"}': [2.0, None],
            'h_bucket{le="1",a="y"}': [4.0, 4.0],
            'h_bucket{le="+Inf",a="y"}': [4.0, 8.0],
        }
    )
    out, _ = call("histogram_quantile", scalar(0.5, 2), v, steps=[0, 1])
    got = result(out)
    assert got[labels('h_bucket{a="x"}')][0] == pytest.approx(1.0)
    assert math.isnan(got[labels('h_bucket{a="x"}')][1])  # type: ignore[arg-type]  # no +Inf
    assert got[labels('h_bucket{a="y"}')] == [pytest.approx(0.5), pytest.approx(1.0)]


def test_histogram_fraction_on_classic_buckets() -> None:
    # histograms.test: testhistogram2 buckets 0, 2, 4, 6, +Inf with counts 0..
    h = buckets({"0": 0.0, "2": 1.0, "4": 2.0, "6": 3.0, "+Inf": 3.0})
    out, _ = call("histogram_fraction", scalar(0.0), scalar(4.0), h)
    assert result(out) == {labels("h_bucket"): [pytest.approx(2 / 3)]}
    out, _ = call("histogram_fraction", scalar(0.0), scalar(3.5), h)
    assert result(out) == {labels("h_bucket"): [pytest.approx(1.75 / 3)]}


def test_histogram_quantiles_labels_each_quantile() -> None:
    h = buckets({"0.1": 50.0, "0.2": 70.0, "+Inf": 100.0})
    out, _ = call(
        "histogram_quantiles",
        h,
        StringValue("q"),
        scalar(0.5),
        scalar(1.0),
        nodes=[NumberLiteral()] * 4,
    )
    assert set(result(out)) == {labels('h_bucket{q="0.5"}'), labels('h_bucket{q="1.0"}')}


def test_native_histogram_functions_return_nothing_for_floats() -> None:
    for name in ("histogram_count", "histogram_sum", "histogram_avg"):
        assert result(call(name, vector({"m": [1.0]}))[0]) == {}
