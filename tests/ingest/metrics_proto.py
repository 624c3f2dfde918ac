"""``io.prometheus.client`` messages (metrics.proto, classic fields) built at runtime with the
real protobuf library, so tests encode bodies exactly as Go clients do without generated code.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.internal.encoder import _VarintBytes

_F = descriptor_pb2.FieldDescriptorProto


def _msg(
    fd: descriptor_pb2.FileDescriptorProto, name: str, fields: list[tuple[str, int, int, int, str]]
) -> None:
    m = fd.message_type.add(name=name)
    for fname, num, ftype, label, tname in fields:
        f = m.field.add(name=fname, number=num, type=ftype, label=label)
        if tname:
            f.type_name = tname


def _build() -> dict[str, Any]:
    fd = descriptor_pb2.FileDescriptorProto(
        name="promhub_test_metrics.proto", package="io.prometheus.client", syntax="proto2"
    )
    opt, rep = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    s, d, u64, i64, msg, enum = (
        _F.TYPE_STRING,
        _F.TYPE_DOUBLE,
        _F.TYPE_UINT64,
        _F.TYPE_INT64,
        _F.TYPE_MESSAGE,
        _F.TYPE_ENUM,
    )
    p = ".io.prometheus.client."
    e = fd.enum_type.add(name="MetricType")
    for i, n in enumerate(["COUNTER", "GAUGE", "SUMMARY", "UNTYPED", "HISTOGRAM"]):
        e.value.add(name=n, number=i)
    _msg(fd, "LabelPair", [("name", 1, s, opt, ""), ("value", 2, s, opt, "")])
    _msg(fd, "Gauge", [("value", 1, d, opt, "")])
    _msg(fd, "Counter", [("value", 1, d, opt, "")])
    _msg(fd, "Untyped", [("value", 1, d, opt, "")])
    _msg(fd, "Quantile", [("quantile", 1, d, opt, ""), ("value", 2, d, opt, "")])
    _msg(
        fd,
        "Summary",
        [
            ("sample_count", 1, u64, opt, ""),
            ("sample_sum", 2, d, opt, ""),
            ("quantile", 3, msg, rep, p + "Quantile"),
        ],
    )
    _msg(fd, "Bucket", [("cumulative_count", 1, u64, opt, ""), ("upper_bound", 2, d, opt, "")])
    _msg(
        fd,
        "Histogram",
        [
            ("sample_count", 1, u64, opt, ""),
            ("sample_sum", 2, d, opt, ""),
            ("bucket", 3, msg, rep, p + "Bucket"),
        ],
    )
    _msg(
        fd,
        "Metric",
        [
            ("label", 1, msg, rep, p + "LabelPair"),
            ("gauge", 2, msg, opt, p + "Gauge"),
            ("counter", 3, msg, opt, p + "Counter"),
            ("summary", 4, msg, opt, p + "Summary"),
            ("untyped", 5, msg, opt, p + "Untyped"),
            ("histogram", 7, msg, opt, p + "Histogram"),
            ("timestamp_ms", 6, i64, opt, ""),
        ],
    )
    _msg(
        fd,
        "MetricFamily",
        [
            ("name", 1, s, opt, ""),
            ("help", 2, s, opt, ""),
            ("type", 3, enum, opt, p + "MetricType"),
            ("metric", 4, msg, rep, p + "Metric"),
        ],
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return {
        n: message_factory.GetMessageClass(pool.FindMessageTypeByName("io.prometheus.client." + n))
        for n in ("MetricFamily", "Metric", "LabelPair")
    }


MESSAGES = _build()
MetricFamily = MESSAGES["MetricFamily"]
CONTENT_TYPE = (
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
)
COUNTER, GAUGE, SUMMARY, UNTYPED, HISTOGRAM = range(5)


def delimited(*families: Any) -> bytes:
    """Families as a length-delimited stream (what Go's pbutil.WriteDelimited writes)."""
    out = b""
    for f in families:
        data = f.SerializeToString()
        out += _VarintBytes(len(data)) + data
    return out


def sample_families() -> list[Any]:
    """A counter, a gauge with a label, a summary and a histogram (no +Inf bucket)."""
    c = MetricFamily(name="jobs_done", help="Jobs done.", type=COUNTER)
    c.metric.add().counter.value = 3
    g = MetricFamily(name="queue_depth", type=GAUGE)
    m = g.metric.add()
    m.label.add(name="queue", value="mail")
    m.gauge.value = 1.5e6
    s = MetricFamily(name="latency_seconds", type=SUMMARY)
    sm = s.metric.add().summary
    sm.sample_count, sm.sample_sum = 4, 2.5
    q = sm.quantile.add()
    q.quantile, q.value = 0.5, 0.25
    h = MetricFamily(name="size_bytes", help="Sizes.", type=HISTOGRAM)
    hm = h.metric.add().histogram
    hm.sample_count, hm.sample_sum = 7, 900.0
    for bound, count in ((100.0, 2), (1000.0, 6)):
        b = hm.bucket.add()
        b.upper_bound, b.cumulative_count = bound, count
    return [c, g, s, h]
