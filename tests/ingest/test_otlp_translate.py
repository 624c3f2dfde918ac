"""OTLP translation details through :class:`OTLPReceiver` into a real TSDB (in process)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as svc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb
from prometheus_client import CollectorRegistry

from promhub.config.otlp import parse_settings
from promhub.ingest.otlp import OTLPReceiver
from promhub.model.matcher import parse_selector
from promhub.model.value import is_stale
from promhub.tsdb import DB

T0 = 1_700_000_000_000  # ms
NS = 1_000_000


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DB]:
    d = DB.open(tmp_path / "data")
    yield d
    d.close()


@pytest.fixture
def receiver(db: DB) -> OTLPReceiver:
    return OTLPReceiver(db, CollectorRegistry())


def any_value(v: object) -> common_pb2.AnyValue:
    if isinstance(v, bool):
        return common_pb2.AnyValue(bool_value=v)
    if isinstance(v, int):
        return common_pb2.AnyValue(int_value=v)
    if isinstance(v, float):
        return common_pb2.AnyValue(double_value=v)
    if isinstance(v, list):
        return common_pb2.AnyValue(array_value={"values": [any_value(x) for x in v]})
    return common_pb2.AnyValue(string_value=str(v))


def attrs(**kw: object) -> list[common_pb2.KeyValue]:
    return [
        common_pb2.KeyValue(key=k.replace("__", "."), value=any_value(v)) for k, v in kw.items()
    ]


def kv(key: str, value: object) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=any_value(value))


def body(*metrics: pb.Metric, resource: dict[str, object] | None = None) -> bytes:
    res = resource if resource is not None else {"service.name": "svc", "service.instance.id": "i1"}
    req = svc.ExportMetricsServiceRequest(
        resource_metrics=[
            pb.ResourceMetrics(
                resource={"attributes": [kv(k, v) for k, v in res.items()]},
                scope_metrics=[pb.ScopeMetrics(metrics=list(metrics))],
            )
        ]
    )  # fmt: skip
    return req.SerializeToString()


def select(db: DB, selector: str) -> dict[str, list[tuple[int, float]]]:
    q = db.querier(0, 2**62)
    try:
        return {
            str(s.labels): list(zip(s.timestamps.tolist(), s.values.tolist(), strict=True))
            for s in q.select(parse_selector(selector))
        }
    finally:
        q.close()


def gauge(name: str, value: float, t_ms: int = T0, **kw: object) -> pb.Metric:
    dp = pb.NumberDataPoint(time_unix_nano=t_ms * NS, as_double=value, attributes=attrs(**kw))
    return pb.Metric(name=name, gauge=pb.Gauge(data_points=[dp]))


def test_summary_becomes_quantiles_sum_and_count(receiver: OTLPReceiver, db: DB) -> None:
    dp = pb.SummaryDataPoint(
        time_unix_nano=T0 * NS,
        start_time_unix_nano=(T0 - 60_000) * NS,
        count=10,
        sum=4.5,
        quantile_values=[
            pb.SummaryDataPoint.ValueAtQuantile(quantile=0.5, value=0.3),
            pb.SummaryDataPoint.ValueAtQuantile(quantile=0.99, value=1.2),
        ],
    )
    m = pb.Metric(name="rpc.latency", unit="ms", summary=pb.Summary(data_points=[dp]))
    r = receiver.write(body(m), "application/x-protobuf")
    assert (r.appended, r.rejected_points) == (4, 0)
    got = select(db, '{__name__=~"rpc_latency_milliseconds.*"}')
    base = 'instance="i1", job="svc"'
    assert got == {
        f'rpc_latency_milliseconds{{{base}, quantile="0.5"}}': [(T0, 0.3)],
        f'rpc_latency_milliseconds{{{base}, quantile="0.99"}}': [(T0, 1.2)],
        f"rpc_latency_milliseconds_count{{{base}}}": [(T0, 10.0)],
        f"rpc_latency_milliseconds_sum{{{base}}}": [(T0, 4.5)],
    }
    assert receiver.metadata()[("svc", "i1")]["rpc_latency_milliseconds"].type == "summary"


def test_histogram_without_sum_or_buckets(receiver: OTLPReceiver, db: DB) -> None:
    no_sum = pb.HistogramDataPoint(
        time_unix_nano=T0 * NS, count=4, bucket_counts=[1, 2, 1], explicit_bounds=[0.5, 2.0]
    )
    no_buckets = pb.HistogramDataPoint(time_unix_nano=T0 * NS, count=7, sum=3.0)
    cumulative = pb.AGGREGATION_TEMPORALITY_CUMULATIVE
    m1 = pb.Metric(
        name="a", histogram=pb.Histogram(data_points=[no_sum], aggregation_temporality=cumulative)
    )
    m2 = pb.Metric(
        name="b",
        histogram=pb.Histogram(data_points=[no_buckets], aggregation_temporality=cumulative),
    )
    receiver.write(body(m1, m2), "application/x-protobuf")
    assert sorted(select(db, '{__name__=~"a_.*"}')) == [
        'a_bucket{instance="i1", job="svc", le="+Inf"}',
        'a_bucket{instance="i1", job="svc", le="0.5"}',
        'a_bucket{instance="i1", job="svc", le="2"}',
        'a_count{instance="i1", job="svc"}',
    ]
    want = {'a_bucket{instance="i1", job="svc", le="2"}': [(T0, 3.0)]}
    assert select(db, 'a_bucket{le="2"}') == want
    assert sorted(select(db, '{__name__=~"b_.*"}')) == [
        'b_bucket{instance="i1", job="svc", le="+Inf"}',
        'b_count{instance="i1", job="svc"}',
        'b_sum{instance="i1", job="svc"}',
    ]


def test_attribute_values_and_colliding_names(receiver: OTLPReceiver, db: DB) -> None:
    m = gauge("g", 1, **{"a__b": "dot", "a_b": "underscore", "n": 3, "f": 2.0, "h": 1.5,
                          "ok": False, "list": ["x", 1]})  # fmt: skip
    receiver.write(body(m), "application/x-protobuf")
    ((labels, _),) = select(db, "g").items()
    # Keys colliding after sanitising are joined with ";" in key order ("a.b" < "a_b").
    assert 'a_b="dot;underscore"' in labels
    assert 'n="3"' in labels and 'f="2"' in labels and 'h="1.5"' in labels
    assert 'ok="false"' in labels and 'list="[\\"x\\",1]"' in labels


def test_target_info_covers_the_span_of_the_request(receiver: OTLPReceiver, db: DB) -> None:
    later = T0 + 600_000
    receiver.write(body(gauge("g", 1, T0), gauge("h", 1, later), resource={
        "service.name": "svc", "service.instance.id": "i1", "host.name": "box"}),
        "application/x-protobuf")  # fmt: skip
    ((labels, samples),) = select(db, "target_info").items()
    assert labels == 'target_info{host_name="box", instance="i1", job="svc"}'
    # Every lookback/2 from the earliest to the latest timestamp, so it is never stale.
    assert [t for t, _ in samples] == [T0, T0 + 150_000, T0 + 300_000, T0 + 450_000, later]


def test_no_target_info_without_extra_attributes(receiver: OTLPReceiver, db: DB) -> None:
    receiver.write(body(gauge("g", 1)), "application/x-protobuf")
    assert select(db, "target_info") == {}


def test_keep_identifying_resource_attributes(receiver: OTLPReceiver, db: DB) -> None:
    receiver.apply_config({"keep_identifying_resource_attributes": True})
    receiver.write(body(gauge("g", 1), resource={"service.name": "svc", "host.name": "box"}),
                   "application/x-protobuf")  # fmt: skip
    assert list(select(db, "target_info")) == [
        'target_info{host_name="box", job="svc", service_name="svc"}'
    ]


def test_invalid_names_reject_only_their_points(receiver: OTLPReceiver, db: DB) -> None:
    r = receiver.write(
        body(gauge("@#$", 1), gauge("fine", 2), gauge("badattr", 3, **{"ようこそ": "x"})),
        "application/x-protobuf",
    )
    assert r.rejected_points == 2
    assert "'@#$' gives no valid Prometheus name" in r.error_message
    assert "'ようこそ' gives no valid label name" in r.error_message
    assert list(select(db, '{__name__=~".+"}')) == ['fine{instance="i1", job="svc"}']


def test_nan_is_a_value_and_no_recorded_value_is_stale(receiver: OTLPReceiver, db: DB) -> None:
    flagged = pb.NumberDataPoint(
        time_unix_nano=(T0 + 1000) * NS,
        as_double=7,
        flags=pb.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK,
    )
    m = gauge("g", math.nan)
    m2 = pb.Metric(name="g", gauge=pb.Gauge(data_points=[flagged]))
    receiver.write(body(m, m2), "application/x-protobuf")
    ((_, samples),) = select(db, "g").items()
    (t1, v1), (t2, v2) = samples
    assert math.isnan(v1) and not is_stale(v1)
    assert is_stale(v2)


def test_series_are_resolved_once_across_requests(receiver: OTLPReceiver, db: DB) -> None:
    receiver.write(body(gauge("g", 1, T0, k="v")), "application/x-protobuf")
    created = db.head.counters.series_created
    for i in range(1, 5):
        r = receiver.write(body(gauge("g", i, T0 + i * 1000, k="v")), "application/x-protobuf")
        assert r.appended == 1
    assert db.head.counters.series_created == created
    ((_, samples),) = select(db, "g").items()
    assert [v for _, v in samples] == [1.0, 1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"translation_strategy": "NoTranslation"}, "not supported"),
        ({"ignore_resource_attributes": ["a"]}, "cannot be configured unless"),
        ({"promote_resource_attributes": ["a", " a "]}, "duplicated promoted"),
        ({"promote_resource_attributes": [""]}, "empty promoted"),
        ({"promote_scope_metadata": "yes"}, "true or false"),
        ({"bogus": 1}, "field bogus not found"),
    ],
)
def test_settings_are_validated(raw: dict[str, object], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_settings(raw)


def test_series_forgotten_by_the_head_are_resolved_again(receiver: OTLPReceiver, db: DB) -> None:
    receiver.write(body(gauge("g", 1, T0, k="v")), "application/x-protobuf")
    # The head drops everything before T0 + 1 and garbage-collects the now empty series,
    # so the receiver's cached ref for g{k="v"} points at nothing.
    head = db.head
    snap = head.begin_truncate(T0 + 1)
    head.truncate(snap, head.prepare_truncate(snap, T0 + 1))
    assert head.num_series() == 0
    r = receiver.write(body(gauge("g", 2, T0 + 1000, k="v")), "application/x-protobuf")
    assert r.appended == 1
    assert select(db, "g") == {'g{instance="i1", job="svc", k="v"}': [(T0 + 1000, 2.0)]}


def test_start_times_kept_for_sums_not_for_gauges(receiver: OTLPReceiver, db: DB) -> None:
    start = (T0 - 60_000) * NS
    g = pb.NumberDataPoint(time_unix_nano=T0 * NS, start_time_unix_nano=start, as_double=1)
    s = pb.NumberDataPoint(time_unix_nano=T0 * NS, start_time_unix_nano=start, as_int=2)
    cumulative = pb.AGGREGATION_TEMPORALITY_CUMULATIVE
    receiver.write(
        body(
            pb.Metric(name="g", gauge=pb.Gauge(data_points=[g])),
            pb.Metric(
                name="updown", sum=pb.Sum(data_points=[s], aggregation_temporality=cumulative)
            ),
        ),
        "application/x-protobuf",
    )
    q = db.querier(0, 2**62)
    try:
        sts = {s.labels.name: s.start_timestamps for s in q.select(parse_selector('{job="svc"}'))}
    finally:
        q.close()
    assert sts["g"] is None
    assert sts["updown"] is not None and sts["updown"].tolist() == [T0 - 60_000]
