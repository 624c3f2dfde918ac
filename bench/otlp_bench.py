"""OTLP receiver throughput, in process: decode + translate + append + WAL commit.

Builds OTLP export requests shaped like an SDK's periodic export (one resource, gauges,
monotonic sums and 10-bucket histograms with a few attributes each) and feeds them to
:class:`promhub.ingest.otlp.OTLPReceiver` over a real TSDB in a temporary directory.
"Cold" is the first request (every series created), "warm" the following ones (refs
cached). Prints samples/s and data points/s.

    python bench/otlp_bench.py                   # 2,000 points per request, 20 requests
    python bench/otlp_bench.py --points 10000 --requests 10 --json
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import tempfile
import time

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as svc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb
from prometheus_client import CollectorRegistry

from promhub.ingest.otlp import OTLPReceiver
from promhub.tsdb import DB

BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]


def kv(k: str, v: str) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v))


def build(points: int, t_ns: int) -> bytes:
    """One request with ``points`` data points: 45% gauges, 45% sums, 10% histograms."""
    n_hist = points // 10
    n_num = (points - n_hist) // 2
    start = t_ns - 3600 * 10**9

    def attrs(i: int) -> list[common_pb2.KeyValue]:
        return [
            kv("http.request.method", ("GET", "POST")[i % 2]),
            kv("http.route", f"/api/{i}"),
            kv("server.address", "shop.local"),
            kv("network.protocol.version", "1.1"),
        ]

    gauges = pb.Metric(
        name="process.memory.usage",
        unit="By",
        gauge=pb.Gauge(
            data_points=[
                pb.NumberDataPoint(time_unix_nano=t_ns, as_double=i * 1.5, attributes=attrs(i))
                for i in range(n_num)
            ]
        ),
    )
    sums = pb.Metric(
        name="http.server.requests",
        unit="{request}",
        sum=pb.Sum(
            aggregation_temporality=pb.AGGREGATION_TEMPORALITY_CUMULATIVE,
            is_monotonic=True,
            data_points=[
                pb.NumberDataPoint(
                    time_unix_nano=t_ns, start_time_unix_nano=start, as_int=i, attributes=attrs(i)
                )
                for i in range(n_num)
            ],
        ),
    )
    hists = pb.Metric(
        name="http.server.request.duration",
        unit="s",
        histogram=pb.Histogram(
            aggregation_temporality=pb.AGGREGATION_TEMPORALITY_CUMULATIVE,
            data_points=[
                pb.HistogramDataPoint(
                    time_unix_nano=t_ns,
                    start_time_unix_nano=start,
                    count=55,
                    sum=12.5,
                    bucket_counts=list(range(11)),
                    explicit_bounds=BOUNDS,
                    attributes=attrs(i),
                )
                for i in range(n_hist)
            ],
        ),
    )
    res = pb.ResourceMetrics(
        resource={
            "attributes": [
                kv("service.name", "shop"),
                kv("service.instance.id", "pod-1"),
                kv("host.name", "node-1"),
            ]
        },
        scope_metrics=[pb.ScopeMetrics(scope={"name": "bench"}, metrics=[gauges, sums, hists])],
    )
    return svc.ExportMetricsServiceRequest(resource_metrics=[res]).SerializeToString()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=2000, help="data points per request")
    ap.add_argument("--requests", type=int, default=20, help="warm requests to time")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args()
    t0 = time.time_ns()
    bodies = [build(args.points, t0 + i * 15 * 10**9) for i in range(args.requests + 1)]
    with tempfile.TemporaryDirectory() as d:
        db = DB.open(d)
        rx = OTLPReceiver(db, CollectorRegistry())
        times, samples = [], 0
        for i, b in enumerate(bodies):
            s = time.perf_counter()
            r = rx.write(b, "application/x-protobuf")
            times.append(time.perf_counter() - s)
            if i == 0:
                cold_samples = r.appended
            else:
                samples += r.appended
        db.close()
    warm = times[1:]
    per_req = samples / len(warm)
    out = {
        "points_per_request": args.points,
        "samples_per_request": per_req,
        "body_bytes": len(bodies[0]),
        "gzip_body_bytes": len(gzip.compress(bodies[0])),
        "cold_s": round(times[0], 4),
        "cold_samples_per_s": round(cold_samples / times[0]),
        "warm_median_s": round(statistics.median(warm), 4),
        "warm_samples_per_s": round(per_req / statistics.median(warm)),
        "warm_points_per_s": round(args.points / statistics.median(warm)),
    }
    print(json.dumps(out) if args.json else "\n".join(f"{k:22} {v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
