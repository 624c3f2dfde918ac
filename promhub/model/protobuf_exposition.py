"""Reading the protobuf exposition format: length-delimited ``io.prometheus.client.MetricFamily``.

This is what Pushgateway accepts with ``Content-Type: application/vnd.google.protobuf;
proto=io.prometheus.client.MetricFamily; encoding=delimited`` (and what Go clients push by
default). Each message is preceded by its length as a varint. The decoder is hand-written
against the wire format of ``metrics.proto`` so that promhub needs no generated code; it
reads the classic fields only (gauge, counter, untyped, summary, histogram buckets and
timestamps) and skips everything else (exemplars, created timestamps, native histogram
fields) by wire type, as any protobuf reader must.

>>> fams = decode_delimited(body)            # doctest: +SKIP
>>> fams[0].name, fams[0].type, fams[0].metrics[0].value
('jobs_done', 'counter', 3.0)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = [
    "PROTOBUF_MEDIA_TYPE",
    "ProtoFamily",
    "ProtoMetric",
    "ProtobufError",
    "decode_delimited",
    "is_delimited_protobuf",
]

PROTOBUF_MEDIA_TYPE = "application/vnd.google.protobuf"

#: MetricType enum of metrics.proto -> the type names the text format uses.
_TYPES = {
    0: "counter",
    1: "gauge",
    2: "summary",
    3: "untyped",
    4: "histogram",
    5: "gaugehistogram",
}

_DOUBLE = struct.Struct("<d")


class ProtobufError(ValueError):
    """A malformed protobuf body; the message names the message index and field."""


@dataclass(slots=True)
class ProtoMetric:
    """One ``Metric``: its labels and, by type, a value or summary/histogram parts."""

    labels: list[tuple[str, str]] = field(default_factory=list)
    value: float = 0.0
    timestamp_ms: int | None = None
    count: float = 0.0
    sum: float = 0.0
    #: (quantile, value) for summaries, (upper bound, cumulative count) for histograms.
    points: list[tuple[float, float]] = field(default_factory=list)


@dataclass(slots=True)
class ProtoFamily:
    name: str = ""
    help: str = ""
    type: str = "counter"  # proto3 default enum value
    unit: str = ""
    metrics: list[ProtoMetric] = field(default_factory=list)


def is_delimited_protobuf(content_type: str) -> bool:
    """Whether a Content-Type asks for delimited MetricFamily protobuf (Pushgateway's test)."""
    media, _, rest = content_type.partition(";")
    if media.strip().lower() != PROTOBUF_MEDIA_TYPE:
        return False
    params = {}
    for p in rest.split(";"):
        k, _, v = p.partition("=")
        params[k.strip().lower()] = v.strip().strip('"')
    return (
        params.get("proto") == "io.prometheus.client.MetricFamily"
        and params.get("encoding") == "delimited"
    )


class _Reader:
    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: bytes, pos: int, end: int) -> None:
        self.buf = buf
        self.pos = pos
        self.end = end

    def varint(self) -> int:
        result = shift = 0
        buf, pos = self.buf, self.pos
        while True:
            if pos >= self.end:
                raise ProtobufError("truncated varint")
            b = buf[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                self.pos = pos
                return result
            shift += 7
            if shift >= 70:
                raise ProtobufError("varint too long")

    def tag(self) -> tuple[int, int]:
        key = self.varint()
        return key >> 3, key & 7

    def sub(self) -> _Reader:
        n = self.varint()
        if self.pos + n > self.end:
            raise ProtobufError("length-delimited field runs past its message")
        r = _Reader(self.buf, self.pos, self.pos + n)
        self.pos += n
        return r

    def string(self) -> str:
        r = self.sub()
        try:
            return self.buf[r.pos : r.end].decode("utf-8")
        except UnicodeDecodeError:
            raise ProtobufError("string field is not valid UTF-8") from None

    def double(self) -> float:
        if self.pos + 8 > self.end:
            raise ProtobufError("truncated double")
        v: float = _DOUBLE.unpack_from(self.buf, self.pos)[0]
        self.pos += 8
        return v

    def skip(self, wire: int) -> None:
        if wire == 0:
            self.varint()
        elif wire == 1:
            self.pos += 8
        elif wire == 2:
            self.sub()
        elif wire == 5:
            self.pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        if self.pos > self.end:
            raise ProtobufError("field runs past its message")

    def more(self) -> bool:
        return self.pos < self.end


def _int64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def decode_delimited(body: bytes) -> list[ProtoFamily]:
    """Decode a stream of varint-length-prefixed ``MetricFamily`` messages.

    Raises :class:`ProtobufError` naming the (1-based) message that is malformed.
    """
    out: list[ProtoFamily] = []
    top = _Reader(body, 0, len(body))
    while top.more():
        index = len(out) + 1
        try:
            out.append(_family(top.sub()))
        except ProtobufError as e:
            raise ProtobufError(f"MetricFamily message {index}: {e}") from None
    return out


def _family(r: _Reader) -> ProtoFamily:
    fam = ProtoFamily()
    while r.more():
        num, wire = r.tag()
        if num == 1 and wire == 2:
            fam.name = r.string()
        elif num == 2 and wire == 2:
            fam.help = r.string()
        elif num == 3 and wire == 0:
            t = r.varint()
            if t not in _TYPES:
                raise ProtobufError(f"unknown metric type {t}")
            fam.type = _TYPES[t]
        elif num == 4 and wire == 2:
            fam.metrics.append(_metric(r.sub()))
        elif num == 5 and wire == 2:
            fam.unit = r.string()
        else:
            r.skip(wire)
    return fam


def _metric(r: _Reader) -> ProtoMetric:
    m = ProtoMetric()
    while r.more():
        num, wire = r.tag()
        if num == 1 and wire == 2:
            m.labels.append(_label(r.sub()))
        elif num in (2, 3, 5) and wire == 2:  # gauge, counter, untyped: value is field 1
            m.value = _value(r.sub())
        elif num == 4 and wire == 2:
            _summary(r.sub(), m)
        elif num == 7 and wire == 2:
            _histogram(r.sub(), m)
        elif num == 6 and wire == 0:
            m.timestamp_ms = _int64(r.varint())
        else:
            r.skip(wire)
    return m


def _label(r: _Reader) -> tuple[str, str]:
    name = value = ""
    while r.more():
        num, wire = r.tag()
        if num == 1 and wire == 2:
            name = r.string()
        elif num == 2 and wire == 2:
            value = r.string()
        else:
            r.skip(wire)
    return name, value


def _value(r: _Reader) -> float:
    v = 0.0
    while r.more():
        num, wire = r.tag()
        if num == 1 and wire == 1:
            v = r.double()
        else:
            r.skip(wire)
    return v


def _summary(r: _Reader, m: ProtoMetric) -> None:
    while r.more():
        num, wire = r.tag()
        if num == 1 and wire == 0:
            m.count = float(r.varint())
        elif num == 2 and wire == 1:
            m.sum = r.double()
        elif num == 3 and wire == 2:
            q = r.sub()
            quantile = value = 0.0
            while q.more():
                qn, qw = q.tag()
                if qn == 1 and qw == 1:
                    quantile = q.double()
                elif qn == 2 and qw == 1:
                    value = q.double()
                else:
                    q.skip(qw)
            m.points.append((quantile, value))
        else:
            r.skip(wire)


def _histogram(r: _Reader, m: ProtoMetric) -> None:
    while r.more():
        num, wire = r.tag()
        if num == 1 and wire == 0:
            m.count = float(r.varint())
        elif num == 4 and wire == 1:  # sample_count_float
            m.count = r.double()
        elif num == 2 and wire == 1:
            m.sum = r.double()
        elif num == 3 and wire == 2:
            b = r.sub()
            bound = count = 0.0
            while b.more():
                bn, bw = b.tag()
                if bn == 1 and bw == 0:
                    count = float(b.varint())
                elif bn == 4 and bw == 1:  # cumulative_count_float
                    count = b.double()
                elif bn == 2 and bw == 1:
                    bound = b.double()
                else:
                    b.skip(bw)
            m.points.append((bound, count))
        else:
            r.skip(wire)
