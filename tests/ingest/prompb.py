"""Prometheus' remote_write 1.0 messages (and remote_read's ReadResponse), built with the
protobuf runtime (not our scanner).

The message classes come from descriptors declared here (the same fields and numbers as
``prompb/remote.proto`` and ``prompb/types.proto``), so tests encode requests with an
independent, real protobuf implementation.
"""

from __future__ import annotations

from typing import Any

import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto


def _declarer(fdp: descriptor_pb2.FileDescriptorProto) -> Any:
    """``msg(name, (field, number, type, label, type_name), ...)`` declaring into ``fdp``."""

    def msg(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        m = fdp.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = type_name

    return msg


def _build() -> dict[str, Any]:
    fdp = descriptor_pb2.FileDescriptorProto(
        name="promhub_test_prompb.proto", package="prometheus", syntax="proto3"
    )
    msg = _declarer(fdp)

    opt, rep = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    msg("Label", ("name", 1, _F.TYPE_STRING, opt, ""), ("value", 2, _F.TYPE_STRING, opt, ""))
    msg("Sample", ("value", 1, _F.TYPE_DOUBLE, opt, ""), ("timestamp", 2, _F.TYPE_INT64, opt, ""))
    msg(
        "Exemplar",
        ("labels", 1, _F.TYPE_MESSAGE, rep, ".prometheus.Label"),
        ("value", 2, _F.TYPE_DOUBLE, opt, ""),
        ("timestamp", 3, _F.TYPE_INT64, opt, ""),
    )
    # Only the fields a test needs; the receiver does not decode histograms.
    msg(
        "Histogram",
        ("count_int", 1, _F.TYPE_UINT64, opt, ""),
        ("sum", 3, _F.TYPE_DOUBLE, opt, ""),
        ("timestamp", 15, _F.TYPE_INT64, opt, ""),
    )
    msg(
        "TimeSeries",
        ("labels", 1, _F.TYPE_MESSAGE, rep, ".prometheus.Label"),
        ("samples", 2, _F.TYPE_MESSAGE, rep, ".prometheus.Sample"),
        ("exemplars", 3, _F.TYPE_MESSAGE, rep, ".prometheus.Exemplar"),
        ("histograms", 4, _F.TYPE_MESSAGE, rep, ".prometheus.Histogram"),
    )
    msg(
        "MetricMetadata",
        ("type", 1, _F.TYPE_INT32, opt, ""),
        ("metric_family_name", 2, _F.TYPE_STRING, opt, ""),
        ("help", 4, _F.TYPE_STRING, opt, ""),
        ("unit", 5, _F.TYPE_STRING, opt, ""),
    )
    msg(
        "WriteRequest",
        ("timeseries", 1, _F.TYPE_MESSAGE, rep, ".prometheus.TimeSeries"),
        ("metadata", 3, _F.TYPE_MESSAGE, rep, ".prometheus.MetricMetadata"),
    )
    # remote_read's answer: the same TimeSeries, per query.
    msg("QueryResult", ("timeseries", 1, _F.TYPE_MESSAGE, rep, ".prometheus.TimeSeries"))
    msg("ReadResponse", ("results", 1, _F.TYPE_MESSAGE, rep, ".prometheus.QueryResult"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"prometheus.{name}"))
        for name in (
            "WriteRequest",
            "TimeSeries",
            "Label",
            "Sample",
            "Exemplar",
            "Histogram",
            "ReadResponse",
        )  # fmt: skip
    }


MESSAGES = _build()
WriteRequest = MESSAGES["WriteRequest"]
ReadResponse = MESSAGES["ReadResponse"]


def write_request(
    series: list[tuple[dict[str, str] | list[tuple[str, str]], list[tuple[int, float]]]],
    *,
    sort: bool = True,
) -> Any:
    """A WriteRequest message: per series its labels and ``(timestamp_ms, value)`` samples."""
    req = WriteRequest()
    for labels, samples in series:
        pairs = list(labels.items()) if isinstance(labels, dict) else list(labels)
        if sort:
            pairs.sort()
        ts = req.timeseries.add()
        for n, v in pairs:
            ts.labels.add(name=n, value=v)
        for t, v in samples:
            ts.samples.add(timestamp=t, value=v)
    return req


def encode(req: Any) -> bytes:
    """Serialize and snappy-compress (block format), as a remote_write sender does."""
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


def _build_v2() -> dict[str, Any]:
    fdp = descriptor_pb2.FileDescriptorProto(
        name="promhub_test_writev2.proto", package="io.prometheus.write.v2", syntax="proto3"
    )
    opt, rep = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    p = ".io.prometheus.write.v2."
    msg = _declarer(fdp)

    msg("Sample", ("value", 1, _F.TYPE_DOUBLE, opt, ""), ("timestamp", 2, _F.TYPE_INT64, opt, ""))
    msg(
        "Exemplar",
        ("labels_refs", 1, _F.TYPE_UINT32, rep, ""),
        ("value", 2, _F.TYPE_DOUBLE, opt, ""),
        ("timestamp", 3, _F.TYPE_INT64, opt, ""),
    )
    msg(
        "Metadata",
        ("type", 1, _F.TYPE_INT32, opt, ""),
        ("help_ref", 3, _F.TYPE_UINT32, opt, ""),
        ("unit_ref", 4, _F.TYPE_UINT32, opt, ""),
    )
    msg(
        "Histogram",
        ("count_int", 1, _F.TYPE_UINT64, opt, ""),
        ("sum", 3, _F.TYPE_DOUBLE, opt, ""),
        ("timestamp", 15, _F.TYPE_INT64, opt, ""),
    )
    msg(
        "TimeSeries",
        ("labels_refs", 1, _F.TYPE_UINT32, rep, ""),
        ("samples", 2, _F.TYPE_MESSAGE, rep, p + "Sample"),
        ("histograms", 3, _F.TYPE_MESSAGE, rep, p + "Histogram"),
        ("exemplars", 4, _F.TYPE_MESSAGE, rep, p + "Exemplar"),
        ("metadata", 5, _F.TYPE_MESSAGE, opt, p + "Metadata"),
        ("created_timestamp", 6, _F.TYPE_INT64, opt, ""),
    )
    msg(
        "Request",
        ("symbols", 4, _F.TYPE_STRING, rep, ""),
        ("timeseries", 5, _F.TYPE_MESSAGE, rep, p + "TimeSeries"),
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {
        name: message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"io.prometheus.write.v2.{name}")
        )
        for name in ("Request", "TimeSeries")
    }


MESSAGES_V2 = _build_v2()


class Symbols:
    """A 2.0 symbol table under construction (starts with "", as the spec requires)."""

    def __init__(self) -> None:
        self.table: list[str] = [""]
        self._index: dict[str, int] = {"": 0}

    def ref(self, s: str) -> int:
        if s not in self._index:
            self._index[s] = len(self.table)
            self.table.append(s)
        return self._index[s]


def write_request_v2(
    series: list[tuple[dict[str, str], list[tuple[int, float]]]],
    *,
    created: int = 0,
    symbols: Symbols | None = None,
) -> tuple[Any, Symbols]:
    """A 2.0 Request: per series its labels and ``(timestamp_ms, value)`` samples."""
    syms = symbols or Symbols()
    req = MESSAGES_V2["Request"]()
    for labels, samples in series:
        ts = req.timeseries.add()
        for n, v in sorted(labels.items()):
            ts.labels_refs.extend([syms.ref(n), syms.ref(v)])
        for t, v in samples:
            ts.samples.add(timestamp=t, value=v)
        ts.created_timestamp = created
    req.symbols.extend(syms.table)
    return req, syms
