"""remote_write 1.0 on the wire: ``prometheus.WriteRequest`` encoded by hand.

The messages (``prompb/remote.proto``, ``prompb/types.proto``)::

    WriteRequest { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }
    MetricMetadata { MetricType type = 1; string metric_family_name = 2; string help = 4;
                     string unit = 5; }
    TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
    Label        { string name = 1; string value = 2; }
    Sample       { double value = 1; int64 timestamp = 2; }

A series' labels are encoded once (:func:`encode_labels`) and cached by the queue; the
samples of a whole batch are encoded in one pass of NumPy column operations (each sample is
a 13-22 byte row: tag, length, the double's 8 bytes, the timestamp's varint), so the only
Python-level loop is per series, to splice each series' labels in front of its samples.
Stale markers keep their NaN bit pattern: the double is copied byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence

import cramjam
import numpy as np
from numpy.typing import NDArray

from promhub.model.labels import Labels
from promhub.model.protowire import encode_varint, fields

__all__ = [
    "compress",
    "decode_metadata",
    "decode_write_request",
    "decompress",
    "encode_labels",
    "encode_metadata",
    "encode_write_request",
]

# Row layout of one encoded sample inside a TimeSeries:
# 0x12 (field 2, bytes) | len | 0x09 (field 1, fixed64) | 8 value bytes | 0x10 | varint ts
_HEAD = 12
#: ``_BOUNDS[k]`` is the smallest value whose varint takes more than ``k + 1`` bytes.
_BOUNDS = [np.uint64(1 << (7 * k)) for k in range(1, 10)]


_TABLE = 1 << 14
#: ``0x0a`` (WriteRequest field 1, length-delimited) + varint(n) for every n < _TABLE.
_HEADERS = [b"\x0a" + encode_varint(n) for n in range(_TABLE)]


def encode_labels(labels: Labels) -> bytes:
    """The ``labels`` fields of a TimeSeries (sorted, as the protocol requires)."""
    out = bytearray()
    for name, value in labels:
        n, v = name.encode(), value.encode()
        body = b"\x0a" + encode_varint(len(n)) + n + b"\x12" + encode_varint(len(v)) + v
        out += b"\x0a" + encode_varint(len(body)) + body
    return bytes(out)


def _encode_samples(
    ts: NDArray[np.int64], vals: NDArray[np.float64]
) -> tuple[bytes, NDArray[np.int64]]:
    """All samples' encodings concatenated, and each sample's encoded length."""
    n = len(ts)
    u = np.ascontiguousarray(ts, dtype=np.int64).view(np.uint64)
    vlen = np.ones(n, dtype=np.int64)
    for bound in _BOUNDS:
        vlen += u >= bound
    # Rows only as wide as the longest varint: timestamps in ms take 6 bytes, and only a
    # negative one needs all 10.
    width = int(vlen.max()) if n else 1
    rows = np.empty((n, _HEAD + width), dtype=np.uint8)
    rows[:, 0] = 0x12
    rows[:, 1] = 10 + vlen
    rows[:, 2] = 0x09
    rows[:, 3:11] = np.ascontiguousarray(vals, dtype="<f8").view(np.uint8).reshape(n, 8)
    rows[:, 11] = 0x10
    more = vlen - 1
    for j in range(width):
        group = ((u >> np.uint64(7 * j)) & np.uint64(0x7F)).astype(np.uint8)
        rows[:, _HEAD + j] = group | ((more > j).astype(np.uint8) << 7)
    rowlen = _HEAD + vlen
    if bool((vlen == width).all()):
        # Every row is full (the usual case: timestamps of one era): no gaps to drop.
        return rows.tobytes(), rowlen
    keep = np.arange(_HEAD + width)[None, :] < rowlen[:, None]
    return rows[keep].tobytes(), rowlen


def encode_write_request(
    labels: Sequence[bytes],
    counts: NDArray[np.int64],
    ts: NDArray[np.int64],
    vals: NDArray[np.float64],
) -> bytes:
    """A serialized WriteRequest (not compressed).

    ``labels[i]`` is :func:`encode_labels` of series ``i``; its ``counts[i]`` samples are
    the next ones of ``ts``/``vals`` (series-major, each series in time order).
    """
    if len(ts) == 0:
        return b""
    flat, rowlen = _encode_samples(ts, vals)
    # A series with no samples (a remote read answer may hold one) ends where the
    # previous one did: index a cumsum that starts at 0.
    ends = np.concatenate(([0], np.cumsum(rowlen)))[np.cumsum(counts)]
    parts: list[bytes] = []
    add = parts.append
    hdr = _HEADERS
    start = 0
    # The one per-series loop: kept to list appends and a table lookup, because with one
    # sample per series (a caught-up queue) it is most of the cost.
    for lb, end in zip(labels, ends.tolist(), strict=True):
        body_len = len(lb) + end - start
        add(hdr[body_len] if body_len < _TABLE else b"\x0a" + encode_varint(body_len))
        add(lb)
        add(flat[start:end])
        start = end
    return b"".join(parts)


_METRIC_TYPES = {
    "unknown": 0, "counter": 1, "gauge": 2, "histogram": 3, "gaugehistogram": 4,
    "summary": 5, "info": 6, "stateset": 7,
}  # fmt: skip


def encode_metadata(entries: Sequence[tuple[str, str, str, str]]) -> bytes:
    """A WriteRequest holding only ``metadata`` (field 3): one ``MetricMetadata`` per
    ``(family, type, help, unit)``, as Prometheus' metadata sender builds it."""
    out = bytearray()
    for family, mtype, help_, unit in entries:
        body = bytearray()
        t = _METRIC_TYPES.get(mtype, 0)
        if t:
            body += b"\x08" + encode_varint(t)
        for tag, text in ((b"\x12", family), (b"\x22", help_), (b"\x2a", unit)):
            if text:
                raw = text.encode()
                body += tag + encode_varint(len(raw)) + raw
        out += b"\x1a" + encode_varint(len(body)) + body
    return bytes(out)


def compress(data: bytes) -> bytes:
    """Snappy block format, as remote_write's ``Content-Encoding: snappy`` means."""
    return bytes(cramjam.snappy.compress_raw(data))


def decompress(data: bytes) -> bytes:
    """The inverse of :func:`compress`."""
    return bytes(cramjam.snappy.decompress_raw(data))


# -- decoding (for tests and tools; the receiver has its own vectorised path) ------------


def _fields(b: bytes) -> list[tuple[int, int | bytes]]:
    return [(f, x if wt == 0 else b[x:y]) for f, wt, x, y in fields(b)]


def decode_write_request(data: bytes) -> list[tuple[Labels, list[tuple[int, float]]]]:
    """Decode an uncompressed WriteRequest into ``(labels, [(t, v), ...])`` per series."""
    out: list[tuple[Labels, list[tuple[int, float]]]] = []
    for f, ts_msg in _fields(data):
        if f != 1 or not isinstance(ts_msg, bytes):
            continue
        pairs: list[tuple[str, str]] = []
        samples: list[tuple[int, float]] = []
        for g, sub in _fields(ts_msg):
            if not isinstance(sub, bytes):
                continue
            if g == 1:
                kv = dict(_fields(sub))
                name, value = kv.get(1, b""), kv.get(2, b"")
                assert isinstance(name, bytes) and isinstance(value, bytes)
                pairs.append((name.decode(), value.decode()))
            elif g == 2:
                t, v = 0, 0.0
                for h, x in _fields(sub):
                    if h == 1 and isinstance(x, bytes):
                        v = float(np.frombuffer(x, "<f8")[0])
                    elif h == 2 and isinstance(x, int):
                        t = x - (1 << 64) if x >= 1 << 63 else x
                samples.append((t, v))
        out.append((Labels(pairs), samples))
    return out


def decode_metadata(data: bytes) -> list[tuple[str, str, str, str]]:
    """The ``(family, type, help, unit)`` entries of an uncompressed WriteRequest."""
    names = {v: k for k, v in _METRIC_TYPES.items()}
    out = []
    for f, msg in _fields(data):
        if f != 3 or not isinstance(msg, bytes):
            continue
        kv = dict(_fields(msg))
        t = kv.get(1, 0)
        texts = [kv.get(k, b"") for k in (2, 4, 5)]
        fam, help_, unit = (x.decode() if isinstance(x, bytes) else "" for x in texts)
        out.append((fam, names.get(t if isinstance(t, int) else 0, "unknown"), help_, unit))
    return out
