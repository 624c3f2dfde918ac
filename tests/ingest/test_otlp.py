"""The OTLP receiver end to end: real OpenTelemetry SDK exporters and hand-made OTLP bodies
posted to a real ``promhub serve --web.enable-otlp-receiver``, checked through the HTTP API."""

from __future__ import annotations

import gzip
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as svc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from promhub.model.matcher import parse_selector
from promhub.tsdb import DB
from tests.conftest import PromhubProcess, run_promhub

PATH = "/api/v1/otlp/v1/metrics"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromhubProcess]:
    p = PromhubProcess(tmp_path_factory.mktemp("otlp") / "data", None, "--web.enable-otlp-receiver")
    try:
        p.wait_ready()
        yield p
    finally:
        p.stop()


def post(url: str, body: bytes, content_type: str, encoding: str = "") -> tuple[int, bytes, str]:
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers.get("Content-Type", "")


def query(srv: PromhubProcess, expr: str, at: float | None = None) -> list[dict[str, Any]]:
    qs = {"query": expr}
    if at is not None:
        qs["time"] = f"{at:.3f}"
    status, body = srv.get("/api/v1/query?" + urllib.parse.urlencode(qs))
    assert status == 200, body
    result: list[dict[str, Any]] = json.loads(body)["data"]["result"]
    return result


def values(srv: PromhubProcess, expr: str, at: float | None = None) -> dict[str, float]:
    """Result of an instant query keyed by the series' labels (without __name__) as text."""
    out = {}
    for r in query(srv, expr, at):
        m = {k: v for k, v in r["metric"].items() if k != "__name__"}
        out[json.dumps(m, sort_keys=True)] = float(r["value"][1])
    return out


def kv(key: str, value: str) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))


def request(service: str, metrics: list[pb.Metric]) -> svc.ExportMetricsServiceRequest:
    return svc.ExportMetricsServiceRequest(
        resource_metrics=[
            pb.ResourceMetrics(
                resource={"attributes": [kv("service.name", service), kv("region", "eu")]},
                scope_metrics=[pb.ScopeMetrics(scope={"name": "test"}, metrics=metrics)],
            )
        ]
    )


def gauge(name: str, value: float, t_ns: int, flags: int = 0) -> pb.Metric:
    point = pb.NumberDataPoint(time_unix_nano=t_ns, as_double=value, flags=flags)
    return pb.Metric(name=name, gauge=pb.Gauge(data_points=[point]))


# -- the OpenTelemetry SDK as the client ---------------------------------------------------------


def test_sdk_exporter_counter_updown_gauge_histogram(server: PromhubProcess) -> None:
    exporter = OTLPMetricExporter(endpoint=server.url + PATH, timeout=10)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    resource = Resource.create(
        {
            "service.namespace": "shop",
            "service.name": "checkout",
            "service.instance.id": "pod-7",
            "host.name": "node-1",
            "deployment.environment": "staging",
        }
    )
    view = View(
        instrument_name="http.server.request.duration",
        aggregation=ExplicitBucketHistogramAggregation([0.005, 0.1, 1.0]),
    )
    provider = MeterProvider(resource=resource, metric_readers=[reader], views=[view])
    meter = provider.get_meter("checkout.instrumentation", "1.0.0")
    requests = meter.create_counter(
        "http.server.requests", unit="{request}", description="Requests."
    )
    inflight = meter.create_up_down_counter("http.server.active_requests", unit="{request}")
    util = meter.create_gauge("system.cpu.utilization", unit="1")
    duration = meter.create_histogram(
        "http.server.request.duration", unit="s", description="Duration of HTTP requests."
    )
    requests.add(3, {"http.request.method": "GET", "http.route": "/cart"})
    requests.add(1, {"http.request.method": "POST", "http.route": "/cart"})
    inflight.add(5)
    inflight.add(-2)
    util.set(0.75, {"cpu": "1"})
    for v in (0.002, 0.05, 0.05, 0.4, 2.5):
        duration.record(v, {"http.request.method": "GET"})
    try:
        assert provider.force_flush(10_000)
        requests.add(2, {"http.request.method": "GET", "http.route": "/cart"})
        assert provider.force_flush(10_000)  # a second export: cumulative values grow
    finally:
        provider.shutdown()

    job = {"instance": "pod-7", "job": "shop/checkout"}

    def key(**extra: str) -> str:
        return json.dumps({**job, **extra}, sort_keys=True)

    assert values(server, "http_server_requests_total") == {
        key(http_request_method="GET", http_route="/cart"): 5.0,
        key(http_request_method="POST", http_route="/cart"): 1.0,
    }
    assert values(server, "http_server_active_requests") == {key(): 3.0}
    assert values(server, "system_cpu_utilization_ratio") == {key(cpu="1"): 0.75}
    assert values(server, "http_server_request_duration_seconds_bucket") == {
        key(http_request_method="GET", le="0.005"): 1.0,
        key(http_request_method="GET", le="0.1"): 3.0,
        key(http_request_method="GET", le="1"): 4.0,
        key(http_request_method="GET", le="+Inf"): 5.0,
    }
    assert values(server, "http_server_request_duration_seconds_count") == {
        key(http_request_method="GET"): 5.0
    }
    total = values(server, "http_server_request_duration_seconds_sum")
    assert list(total.values()) == [pytest.approx(3.002)]
    # The histogram is usable by PromQL as a classic one.
    q = values(
        server, "histogram_quantile(0.5, sum by (le) (http_server_request_duration_seconds_bucket))"
    )
    assert 0.005 < list(q.values())[0] <= 0.1

    info = query(server, 'target_info{job="shop/checkout"}')
    assert len(info) == 1
    labels = info[0]["metric"]
    assert labels["instance"] == "pod-7"
    assert labels["host_name"] == "node-1"
    assert labels["deployment_environment"] == "staging"
    assert labels["telemetry_sdk_language"] == "python"
    # Identifying attributes become job/instance, not target_info labels.
    assert "service_name" not in labels and "service_instance_id" not in labels

    status, body = server.get("/api/v1/metadata")
    md = json.loads(body)["data"]
    assert md["http_server_requests_total"] == [
        {"type": "counter", "help": "Requests.", "unit": ""}
    ]
    assert md["http_server_request_duration_seconds"] == [
        {"type": "histogram", "help": "Duration of HTTP requests.", "unit": "seconds"}
    ]
    assert md["http_server_active_requests"][0]["type"] == "gauge"
    assert md["system_cpu_utilization_ratio"][0]["type"] == "gauge"

    # Start times are stored with the samples (read back from the data directory).
    db = DB.open(server.data_dir, read_only=True)
    try:
        q_ = db.querier(0, 2**62)
        (series,) = q_.select(
            parse_selector('http_server_requests_total{http_request_method="GET"}')
        )
        q_.close()
    finally:
        db.close()
    assert series.start_timestamps is not None
    assert (series.start_timestamps > 0).all()
    assert (series.start_timestamps <= series.timestamps).all()


# -- bodies by hand: JSON, gzip, bad input ------------------------------------------------------


def test_json_body_with_otlp_json_conventions(server: PromhubProcess) -> None:
    now_ns = time.time_ns()
    doc = {
        "resourceMetrics": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "json-svc"}},
                        {"key": "replicas", "value": {"intValue": "3"}},
                    ]
                },
                "scopeMetrics": [
                    {
                        "scope": {"name": "j"},
                        "metrics": [
                            {
                                "name": "jobs.done",
                                "unit": "1",
                                "sum": {
                                    "aggregationTemporality": 2,  # enums as ints
                                    "isMonotonic": True,
                                    "dataPoints": [
                                        {
                                            "startTimeUnixNano": str(now_ns - 10**10),
                                            "timeUnixNano": str(now_ns),  # int64 as strings
                                            "asInt": "42",
                                            "attributes": [
                                                {"key": "queue", "value": {"stringValue": "a"}},
                                                {"key": "ok", "value": {"boolValue": True}},
                                            ],
                                            "exemplars": [
                                                {
                                                    "timeUnixNano": str(now_ns),
                                                    "asInt": "1",
                                                    "traceId": "5b8efff798038103d269b633813fc60c",
                                                    "spanId": "eee19b7ec3c1b174",
                                                }
                                            ],
                                        }
                                    ],
                                },
                                "someFutureField": {"ignored": True},
                            }
                        ],
                    }
                ],
            }
        ]
    }
    status, body, ctype = post(server.url + PATH, json.dumps(doc).encode(), "application/json")
    assert status == 200, body
    assert ctype.startswith("application/json")
    assert json.loads(body) == {}
    got = query(server, "jobs_done_total")
    assert [(r["metric"], r["value"][1]) for r in got] == [
        (
            {"__name__": "jobs_done_total", "job": "json-svc", "queue": "a", "ok": "true"},
            "42",
        )
    ]
    # No instance: target_info still comes, keyed by job.
    info = query(server, 'target_info{job="json-svc"}')
    assert info[0]["metric"]["replicas"] == "3"


def test_gzip_protobuf_body(server: PromhubProcess) -> None:
    now = time.time_ns()
    req = request("gz-svc", [gauge("queue.depth", 17, now)])
    status, body, ctype = post(
        server.url + PATH, gzip.compress(req.SerializeToString()), "application/x-protobuf", "gzip"
    )
    assert status == 200, body
    assert ctype.startswith("application/x-protobuf")
    resp = svc.ExportMetricsServiceResponse.FromString(body)
    assert not resp.HasField("partial_success")
    assert values(server, 'queue_depth{job="gz-svc"}') == {json.dumps({"job": "gz-svc"}): 17.0}


@pytest.mark.parametrize(
    ("body", "ctype", "encoding", "status", "needle"),
    [
        (b"\xff\xff\xff\xff", "application/x-protobuf", "", 400, "protobuf"),
        (b"{not json", "application/json", "", 400, "invalid JSON"),
        (b'{"resourceMetrics": 5}', "application/json", "", 400, "OTLP/JSON"),
        (b"not gzip at all", "application/x-protobuf", "gzip", 400, "body"),
        (b"x", "text/plain", "", 415, "unsupported content type"),
    ],
)
def test_bad_input_is_refused_and_stored_data_stays(
    server: PromhubProcess, body: bytes, ctype: str, encoding: str, status: int, needle: str
) -> None:
    now = time.time_ns()
    good = request("bad-input", [gauge("survivor", 1, now)])
    assert post(server.url + PATH, good.SerializeToString(), "application/x-protobuf")[0] == 200
    before = values(server, "survivor")
    got, resp, _ = post(server.url + PATH, body, ctype, encoding)
    assert got == status
    assert needle.encode() in resp, resp
    assert values(server, "survivor") == before
    assert server.get("/-/healthy")[0] == 200


def test_unsupported_points_are_reported_in_partial_success(server: PromhubProcess) -> None:
    now = time.time_ns()
    delta = pb.Metric(
        name="delta.requests",
        sum=pb.Sum(
            aggregation_temporality=pb.AGGREGATION_TEMPORALITY_DELTA,
            is_monotonic=True,
            data_points=[pb.NumberDataPoint(time_unix_nano=now, as_int=1)] * 2,
        ),
    )
    exp = pb.Metric(
        name="latency",
        exponential_histogram=pb.ExponentialHistogram(
            aggregation_temporality=pb.AGGREGATION_TEMPORALITY_CUMULATIVE,
            data_points=[pb.ExponentialHistogramDataPoint(time_unix_nano=now, count=1, scale=2)],
        ),
    )
    req = request("partial", [delta, exp, gauge("kept.gauge", 9, now)])
    status, body, _ = post(server.url + PATH, req.SerializeToString(), "application/x-protobuf")
    assert status == 200
    ps = svc.ExportMetricsServiceResponse.FromString(body).partial_success
    assert ps.rejected_data_points == 3
    assert "delta.requests" in ps.error_message and "latency" in ps.error_message
    assert values(server, 'kept_gauge{job="partial"}') == {json.dumps({"job": "partial"}): 9.0}
    assert query(server, "delta_requests_total") == []

    # The same in JSON: the response comes back in the request's encoding.
    from google.protobuf import json_format

    status, body, _ = post(
        server.url + PATH, json_format.MessageToJson(req).encode(), "application/json"
    )
    assert status == 200
    assert json.loads(body)["partialSuccess"]["rejectedDataPoints"] == "3"


def test_no_recorded_value_writes_a_stale_marker(server: PromhubProcess) -> None:
    t0 = time.time_ns() - 20 * 10**9
    first = request("stale", [gauge("flappy", 5, t0)])
    assert post(server.url + PATH, first.SerializeToString(), "application/x-protobuf")[0] == 200
    assert values(server, "flappy", at=t0 / 1e9 + 1)
    gone = request(
        "stale", [gauge("flappy", 0, t0 + 10**10, flags=pb.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK)]
    )
    assert post(server.url + PATH, gone.SerializeToString(), "application/x-protobuf")[0] == 200
    # Before the marker the value is there; from the marker on the series is gone at once
    # (not 5 minutes later, as without a marker).
    assert list(values(server, "flappy", at=t0 / 1e9 + 5).values()) == [5.0]
    assert values(server, "flappy", at=t0 / 1e9 + 11) == {}


def test_out_of_order_samples_are_counted_not_stored(server: PromhubProcess) -> None:
    now = time.time_ns()
    req = request("ooo", [gauge("ooo.gauge", 1, now)])
    assert post(server.url + PATH, req.SerializeToString(), "application/x-protobuf")[0] == 200
    older = request("ooo", [gauge("ooo.gauge", 2, now - 10**10)])
    status, body, _ = post(server.url + PATH, older.SerializeToString(), "application/x-protobuf")
    assert status == 200
    ps = svc.ExportMetricsServiceResponse.FromString(body).partial_success
    # The gauge's sample and the resource's target_info sample are both too old.
    assert ps.rejected_data_points == 2
    assert ps.error_message == "2 samples refused by storage (2 out of order)"
    assert list(values(server, "ooo_gauge").values()) == [1.0]


# -- switched off, and configured ------------------------------------------------------------


def test_receiver_is_off_by_default(promhub_factory: type[PromhubProcess]) -> None:
    p = promhub_factory()
    p.wait_ready()
    status, body, _ = post(p.url + PATH, b"", "application/x-protobuf")
    assert status == 404
    assert b"--web.enable-otlp-receiver" in body
    assert json.loads(p.get("/api/v1/status/flags")[1])["data"]["web.enable-otlp-receiver"] == (
        "false"
    )


def test_otlp_config_section(promhub_factory: type[PromhubProcess], tmp_path: Path) -> None:
    cfg = tmp_path / "promhub.yml"
    cfg.write_text(
        "global:\n  scrape_interval: 1h\n"
        "otlp:\n  promote_resource_attributes: [host.name]\n  promote_scope_metadata: true\n"
    )
    p = promhub_factory(
        None,
        cfg,
        "--web.enable-otlp-receiver",
        "--web.enable-lifecycle",
        "--web.max-request-body-bytes=4KB",
    )
    p.wait_ready()
    now = time.time_ns()
    req = request("cfg", [gauge("promoted", 1, now)])
    req.resource_metrics[0].resource.attributes.append(kv("host.name", "h1"))
    assert post(p.url + PATH, req.SerializeToString(), "application/x-protobuf")[0] == 200
    (r,) = query(p, "promoted")
    assert r["metric"] == {
        "__name__": "promoted",
        "job": "cfg",
        "host_name": "h1",
        "otel_scope_name": "test",
    }

    # Reloading a config without the section turns promotion off for new points.
    cfg.write_text("global:\n  scrape_interval: 1h\n")
    assert post(p.url + "/-/reload", b"", "text/plain")[0] == 200
    req.resource_metrics[0].scope_metrics[0].metrics[0].name = "after_reload"
    assert post(p.url + PATH, req.SerializeToString(), "application/x-protobuf")[0] == 200
    (r,) = query(p, "after_reload")
    assert r["metric"] == {"__name__": "after_reload", "job": "cfg"}

    # The body limit applies after decompression: a small gzip of a big body is refused.
    big = request("cfg", [gauge("x" * 10_000, 1, now)]).SerializeToString()
    status, _, _ = post(p.url + PATH, gzip.compress(big), "application/x-protobuf", "gzip")
    assert len(gzip.compress(big)) < 4000 and status == 413
    assert query(p, '{__name__=~"x+"}') == []

    bad = tmp_path / "bad.yml"
    bad.write_text(
        "otlp:\n  promote_all_resource_attributes: true\n  promote_resource_attributes: [a]\n"
    )
    out = run_promhub("check", "config", str(bad))
    assert out.returncode == 1
    assert "bad.yml:1" in out.stdout and "cannot be configured simultaneously" in out.stdout
