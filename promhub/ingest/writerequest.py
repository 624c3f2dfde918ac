"""Decoding remote_write 1.0 requests: snappy, then the ``prometheus.WriteRequest`` wire.

The hot path is :func:`scan`: one pass over the protobuf bytes that returns the samples as
NumPy arrays and, per series, either the ref a cache already holds for its raw label
bytes or the raw label bytes themselves (a *miss*), which :func:`decode_labels` turns
into names and values. This is the scrape cache's idea applied to remote_write: a
sender resends the same series every few seconds, and bytes compare faster than labels
decode. The scan is done by a small C extension (``promhub/ingest/_rwscan.c``) when it is
built, else by :func:`scan_python`, its line-for-line twin (same output, same errors).

Message layout (``prompb/remote.proto``, ``prompb/types.proto``)::

    WriteRequest   { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }
    TimeSeries     { repeated Label labels = 1; repeated Sample samples = 2;
                     repeated Exemplar exemplars = 3; repeated Histogram histograms = 4; }
    Label          { string name = 1; string value = 2; }
    Sample         { double value = 1; int64 timestamp = 2; }
    Exemplar       { repeated Label labels = 1; double value = 2; int64 timestamp = 3; }
    MetricMetadata { MetricType type = 1; string metric_family_name = 2;
                     string help = 4; string unit = 5; }
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import cramjam
import numpy as np
from numpy.typing import NDArray

from promhub.model.protowire import encode_varint
from promhub.storage.interface import Metadata

__all__ = [
    "DecodeError",
    "TooLargeError",
    "WriteRequestScan",
    "decode_exemplar",
    "decode_exemplar_v2",
    "decode_metadata_v2",
    "decode_labels",
    "decode_labels_python",
    "decode_metadata",
    "decompress",
    "scan",
    "scan_python",
    "scan_v2",
    "scan_v2_python",
    "symbol",
    "snappy_length",
    "HAVE_EXTENSION",
]

try:
    from promhub.ingest import _rwscan

    HAVE_EXTENSION = True
except ImportError:  # not built (a source checkout without build_ext): use the twin
    _rwscan = None  # type: ignore[assignment]
    HAVE_EXTENSION = False


#: What :func:`scan` reads: any bytes-like object.
Buffer: TypeAlias = bytes | bytearray | memoryview


class DecodeError(ValueError):
    """The request body is not valid snappy or not a valid protobuf WriteRequest."""


class TooLargeError(DecodeError):
    """The body announces a decoded size over the receiver's limit."""


#: Prometheus' MetricType enum values, in order.
METRIC_TYPES = (
    "unknown",
    "counter",
    "gauge",
    "histogram",
    "gaugehistogram",
    "summary",
    "info",
    "stateset",
)


@dataclass(frozen=True, slots=True)
class WriteRequestScan:
    """A scanned WriteRequest: samples as arrays, series as cache refs or raw label bytes."""

    #: Per series (in request order): the ref the cache held for its label bytes, or -1.
    refs: NDArray[np.int64]
    #: ``(series index, raw label bytes)`` of the series the cache did not know.
    misses: list[tuple[int, bytes]]
    #: Per sample: the index of its series.
    sample_series: NDArray[np.int64]
    timestamps: NDArray[np.int64]
    values: NDArray[np.float64]
    #: ``(series index, start, end)`` of each Exemplar message's bytes.
    exemplars: list[tuple[int, int, int]]
    #: ``(series index, start, end)`` of each Histogram message's bytes.
    histograms: list[tuple[int, int, int]]
    #: ``(series index, start, end)`` of each metadata message's bytes (1.0's request-level
    #: MetricMetadata: series index -1; 2.0's per-series Metadata).
    metadata: list[tuple[int, int, int]]
    #: 2.0 only: per series, its created (start) timestamp in ms, 0 = none.
    created: NDArray[np.int64] | None = None
    #: 2.0 only: ``[n, 2]`` start and end offsets of the request's symbols.
    symbols: NDArray[np.int64] | None = None

    @property
    def num_series(self) -> int:
        return len(self.refs)


def snappy_length(body: bytes) -> int:
    """The uncompressed length a snappy block announces in its header (-1 if unreadable)."""
    n = shift = 0
    for i, b in enumerate(body[:5]):
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n if i < 4 or b < 0x10 else -1
    return -1


def decompress(body: bytes, limit: int) -> bytes:
    """Snappy block format (not framed), refusing more than ``limit`` decoded bytes."""
    n = snappy_length(body)
    if n < 0:
        raise DecodeError("snappy: corrupt input (bad length header)")
    if n > limit:
        raise TooLargeError(f"snappy: decoded size {n} bytes exceeds the limit of {limit} bytes")
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except Exception as e:  # cramjam.DecompressionError and friends
        msg = str(e)
        raise DecodeError(msg if msg.startswith("snappy") else f"snappy: {msg}") from None


def scan(
    data: Buffer, cache: dict[bytes, int] | None, *, max_series: int = 0, max_samples: int = 0
) -> WriteRequestScan:
    """Scan a serialized WriteRequest (see the module docstring); raises DecodeError, or
    TooLargeError past ``max_series`` series or ``max_samples`` samples (0: no limit)."""
    fn = _rwscan.scan if _rwscan is not None else _scan
    return _run(fn, data, cache, max_series, max_samples)


def scan_python(
    data: Buffer, cache: dict[bytes, int] | None, *, max_series: int = 0, max_samples: int = 0
) -> WriteRequestScan:
    """:func:`scan` without the C extension (the fallback, and the reference in tests)."""
    return _run(_scan, data, cache, max_series, max_samples)


def scan_v2(
    data: Buffer, cache: dict[bytes, int] | None, *, max_series: int = 0, max_samples: int = 0
) -> WriteRequestScan:
    """Scan a serialized remote-write 2.0 ``io.prometheus.write.v2.Request``.

    Series keys are the 1.0 encoding of their labels (symbols resolved), so
    :func:`decode_labels` reads them; ``created`` and ``symbols`` are set.
    """
    fn = _rwscan.scan_v2 if _rwscan is not None else _scan_v2
    return _run(fn, data, cache, max_series, max_samples)


def scan_v2_python(
    data: Buffer, cache: dict[bytes, int] | None, *, max_series: int = 0, max_samples: int = 0
) -> WriteRequestScan:
    """:func:`scan_v2` without the C extension."""
    return _run(_scan_v2, data, cache, max_series, max_samples)


def _run(
    fn: Callable[..., tuple[Any, ...]],
    data: Buffer,
    cache: dict[bytes, int] | None,
    max_series: int,
    max_samples: int,
) -> WriteRequestScan:
    if fn is _scan or fn is _scan_v2:
        data = bytes(data)
    try:
        raw = fn(data, cache, max_series, max_samples)
    except OverflowError as e:
        raise TooLargeError(str(e)) from None
    except ValueError as e:
        raise DecodeError(str(e)) from None
    return _wrap(raw)


def _wrap(raw: tuple[Any, ...]) -> WriteRequestScan:
    refs, misses, sidx, ts, vals, exemplars, histograms, metadata = raw[:8]
    created = symbols = None
    if len(raw) > 8:
        created = np.frombuffer(raw[8], dtype=np.int64)
        symbols = np.frombuffer(raw[9], dtype=np.int64).reshape(-1, 2)
    return WriteRequestScan(
        np.frombuffer(refs, dtype=np.int64),
        misses,
        np.frombuffer(sidx, dtype=np.int64),
        np.frombuffer(ts, dtype=np.int64),
        np.frombuffer(vals, dtype="<f8").astype(np.float64, copy=False),
        exemplars,
        histograms,
        metadata,
        created,
        symbols,
    )


# -- the pure-Python twin of _rwscan.c ----------------------------------------------------


class _Fail(ValueError):
    def __init__(self, what: str, at: int) -> None:
        super().__init__(f"malformed protobuf: {what} at byte {at}")


def _varint(d: bytes, pos: int, end: int) -> tuple[int, int]:
    at = pos
    v = 0
    for i in range(10):
        if pos >= end:
            raise _Fail("truncated varint", at)
        b = d[pos]
        pos += 1
        if i == 9 and b > 1:
            raise _Fail("varint overflows 64 bits", at)
        v |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            return v, pos
    raise _Fail("varint overflows 64 bits", at)  # pragma: no cover (i == 9 raises)


def _tag(d: bytes, pos: int, end: int) -> tuple[int, int, int]:
    at = pos
    tag, pos = _varint(d, pos, end)
    field = tag >> 3
    if field == 0 or field > 536870911:
        raise _Fail("invalid field number", at)
    return field, tag & 7, pos


def _len(d: bytes, pos: int, end: int) -> tuple[int, int]:
    at = pos
    n, pos = _varint(d, pos, end)
    if n > end - pos:
        raise _Fail("length exceeds its message", at)
    return pos, pos + n


def _skip(d: bytes, pos: int, end: int, wire: int, at: int) -> int:
    if wire == 0:
        return _varint(d, pos, end)[1]
    if wire == 1:
        if end - pos < 8:
            raise _Fail("truncated fixed64", pos)
        return pos + 8
    if wire == 2:
        return _len(d, pos, end)[1]
    if wire == 5:
        if end - pos < 4:
            raise _Fail("truncated fixed32", pos)
        return pos + 4
    raise _Fail("unsupported wire type", at)


def _expect(wire: int, want: int, at: int) -> None:
    if wire != want:
        raise _Fail("wrong wire type", at)


_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")


def _limit(what: str, have: int, limit: int) -> None:
    if limit > 0 and have >= limit:
        raise OverflowError(f"more than {limit} {what} in one request")


def _scan(
    d: bytes, cache: dict[bytes, int] | None, max_series: int = 0, max_samples: int = 0
) -> tuple[Any, ...]:
    refs: list[int] = []
    misses: list[tuple[int, bytes]] = []
    sidx: list[int] = []
    tss: list[int] = []
    vals: list[float] = []
    exemplars: list[tuple[int, int, int]] = []
    histograms: list[tuple[int, int, int]] = []
    metadata: list[tuple[int, int, int]] = []
    pos, end = 0, len(d)
    while pos < end:
        at = pos
        field, wire, pos = _tag(d, pos, end)
        if field in (1, 3):
            _expect(wire, 2, at)
            a, pos = _len(d, pos, end)
            if field == 3:
                metadata.append((-1, a, pos))
                continue
            _limit("series", len(refs), max_series)
            series = len(refs)
            spans: list[tuple[int, int]] = []
            p, e = a, pos
            while p < e:
                at = p
                f, w, p = _tag(d, p, e)
                if 1 <= f <= 4:
                    _expect(w, 2, at)
                    sa, p = _len(d, p, e)
                    if f == 1:
                        spans.append((at, p))
                    elif f == 2:
                        _limit("samples", len(tss), max_samples)
                        ts, v = _sample(d, sa, p)
                        sidx.append(series)
                        tss.append(ts)
                        vals.append(v)
                    elif f == 3:
                        exemplars.append((series, sa, p))
                    else:
                        histograms.append((series, sa, p))
                else:
                    p = _skip(d, p, e, w, at)
            key = b"".join(d[x:y] for x, y in spans)
            ref = cache.get(key, -1) if cache is not None else -1
            if ref < 0:
                misses.append((series, key))
                ref = -1
            refs.append(ref)
        else:
            pos = _skip(d, pos, end, wire, at)
    return (
        np.array(refs, dtype=np.int64).tobytes(),
        misses,
        np.array(sidx, dtype=np.int64).tobytes(),
        np.array(tss, dtype=np.int64).tobytes(),
        np.array(vals, dtype=np.float64).tobytes(),
        exemplars,
        histograms,
        metadata,
    )


def _sample(d: bytes, pos: int, end: int) -> tuple[int, float]:
    ts, value = 0, 0.0
    while pos < end:
        at = pos
        field, wire, pos = _tag(d, pos, end)
        if field == 1:
            _expect(wire, 1, at)
            if end - pos < 8:
                raise _Fail("truncated fixed64", pos)
            value = _F64.unpack_from(d, pos)[0]
            pos += 8
        elif field == 2:
            _expect(wire, 0, at)
            v, pos = _varint(d, pos, end)
            ts = _I64.unpack(v.to_bytes(8, "little"))[0]
        else:
            pos = _skip(d, pos, end, wire, at)
    return ts, value


def _label_field(name: bytes, value: bytes) -> bytes:
    inner = b"\x0a" + encode_varint(len(name)) + name + b"\x12" + encode_varint(len(value)) + value
    return b"\x0a" + encode_varint(len(inner)) + inner


def _scan_v2(
    d: bytes, cache: dict[bytes, int] | None, max_series: int = 0, max_samples: int = 0
) -> tuple[Any, ...]:
    refs: list[int] = []
    misses: list[tuple[int, bytes]] = []
    sidx: list[int] = []
    tss: list[int] = []
    vals: list[float] = []
    exemplars: list[tuple[int, int, int]] = []
    histograms: list[tuple[int, int, int]] = []
    metadata: list[tuple[int, int, int]] = []
    created: list[int] = []
    syms: list[tuple[int, int]] = []
    end = len(d)
    for pass_ in (0, 1):
        pos = 0
        while pos < end:
            at = pos
            field, wire, pos = _tag(d, pos, end)
            if field not in (4, 5):
                pos = _skip(d, pos, end, wire, at)
                continue
            _expect(wire, 2, at)
            a, pos = _len(d, pos, end)
            if pass_ == 0 and field == 4:
                syms.append((a, pos))
            elif pass_ == 1 and field == 5:
                _limit("series", len(refs), max_series)
                series = len(refs)
                lrefs: list[int] = []
                ct = 0
                p, e = a, pos
                while p < e:
                    at = p
                    f, w, p = _tag(d, p, e)
                    if f == 1 and w == 2:
                        sa, p = _len(d, p, e)
                        while sa < p:
                            v, sa = _varint(d, sa, p)
                            lrefs.append(v)
                    elif f == 1:
                        _expect(w, 0, at)
                        v, p = _varint(d, p, e)
                        lrefs.append(v)
                    elif 2 <= f <= 5:
                        _expect(w, 2, at)
                        sa, p = _len(d, p, e)
                        if f == 2:
                            _limit("samples", len(tss), max_samples)
                            ts, val = _sample(d, sa, p)
                            sidx.append(series)
                            tss.append(ts)
                            vals.append(val)
                        else:
                            (histograms, exemplars, metadata)[f - 3].append((series, sa, p))
                    elif f == 6:
                        _expect(w, 0, at)
                        v, p = _varint(d, p, e)
                        ct = _I64.unpack(v.to_bytes(8, "little"))[0]
                    else:
                        p = _skip(d, p, e, w, at)
                if len(lrefs) % 2:
                    raise _Fail("odd number of label references in a series", a)
                if any(r >= len(syms) for r in lrefs):
                    raise _Fail("label reference out of the symbol table in a series", a)
                key = b"".join(
                    _label_field(d[slice(*syms[n])], d[slice(*syms[v])])
                    for n, v in zip(lrefs[::2], lrefs[1::2], strict=True)
                )
                created.append(ct)
                ref = cache.get(key, -1) if cache is not None else -1
                if ref < 0:
                    misses.append((series, key))
                    ref = -1
                refs.append(ref)
    return (
        np.array(refs, dtype=np.int64).tobytes(),
        misses,
        np.array(sidx, dtype=np.int64).tobytes(),
        np.array(tss, dtype=np.int64).tobytes(),
        np.array(vals, dtype=np.float64).tobytes(),
        exemplars,
        histograms,
        metadata,
        np.array(created, dtype=np.int64).tobytes(),
        np.array(syms, dtype=np.int64).reshape(-1, 2).tobytes(),
    )


def symbol(data: bytes, symbols: NDArray[np.int64], ref: int) -> str:
    """Symbol ``ref`` of a 2.0 request (``symbols`` from :attr:`WriteRequestScan.symbols`)."""
    if not 0 <= ref < len(symbols):
        raise DecodeError(f"malformed protobuf: symbol reference {ref} out of range")
    try:
        return data[int(symbols[ref, 0]) : int(symbols[ref, 1])].decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("malformed protobuf: symbol is not valid UTF-8") from None


# -- the rarer parts, decoded in Python ---------------------------------------------------


def _strings(d: bytes, pos: int, end: int, want: dict[int, str]) -> dict[str, str]:
    """Decode the string fields ``want`` (field number -> key) of one message."""
    out: dict[str, str] = {}
    while pos < end:
        at = pos
        field, wire, pos = _tag(d, pos, end)
        if field in want:
            _expect(wire, 2, at)
            a, pos = _len(d, pos, end)
            out[want[field]] = _utf8(d, a, pos)
        else:
            pos = _skip(d, pos, end, wire, at)
    return out


def _utf8(d: bytes, a: int, b: int) -> str:
    try:
        return d[a:b].decode("utf-8")
    except UnicodeDecodeError:
        raise _Fail("string is not valid UTF-8", a) from None


_LABEL = {1: "name", 2: "value"}


def decode_labels(key: bytes) -> list[tuple[str, str]]:
    """The ``(name, value)`` pairs, in wire order, of a series' raw label bytes."""
    try:
        if _rwscan is not None:
            return _rwscan.decode_labels(key)
        return _decode_labels(key)
    except ValueError as e:
        raise DecodeError(f"{e} (of the series' labels)") from None


def decode_labels_python(key: bytes) -> list[tuple[str, str]]:
    """:func:`decode_labels` without the C extension."""
    try:
        return _decode_labels(key)
    except ValueError as e:
        raise DecodeError(f"{e} (of the series' labels)") from None


def _decode_labels(key: bytes) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    pos, end = 0, len(key)
    while pos < end:
        at = pos
        _field, wire, pos = _tag(key, pos, end)  # always field 1 (scan collected them)
        _expect(wire, 2, at)
        a, pos = _len(key, pos, end)
        lb = _strings(key, a, pos, _LABEL)
        pairs.append((lb.get("name", ""), lb.get("value", "")))
    return pairs


def _exemplar(
    data: bytes, start: int, end: int, labels: Callable[[int, int, int], int]
) -> tuple[float, int]:
    """Value and timestamp of an Exemplar message (1.0 and 2.0 share fields 2 and 3);
    ``labels(wire, pos, at)`` reads field 1, which the two protocols encode differently,
    and returns the position after it."""
    value, ts = 0.0, 0
    try:
        pos = start
        while pos < end:
            at = pos
            field, wire, pos = _tag(data, pos, end)
            if field == 1:
                pos = labels(wire, pos, at)
            elif field == 2:
                _expect(wire, 1, at)
                if end - pos < 8:
                    raise _Fail("truncated fixed64", pos)
                value = _F64.unpack_from(data, pos)[0]
                pos += 8
            elif field == 3:
                _expect(wire, 0, at)
                v, pos = _varint(data, pos, end)
                ts = _I64.unpack(v.to_bytes(8, "little"))[0]
            else:
                pos = _skip(data, pos, end, wire, at)
    except ValueError as e:
        raise DecodeError(f"{e} (in an exemplar)") from None
    return value, ts


def decode_exemplar(data: bytes, start: int, end: int) -> tuple[list[tuple[str, str]], float, int]:
    """An Exemplar message: its label pairs, value and timestamp (ms)."""
    pairs: list[tuple[str, str]] = []

    def label(wire: int, pos: int, at: int) -> int:
        _expect(wire, 2, at)
        a, pos = _len(data, pos, end)
        lb = _strings(data, a, pos, _LABEL)
        pairs.append((lb.get("name", ""), lb.get("value", "")))
        return pos

    value, ts = _exemplar(data, start, end, label)
    return pairs, value, ts


def decode_metadata(data: bytes, start: int, end: int) -> tuple[str, Metadata]:
    """A MetricMetadata message: the metric family name and its metadata."""
    kind = 0
    strings: dict[str, str] = {}
    try:
        pos = start
        while pos < end:
            at = pos
            field, wire, pos = _tag(data, pos, end)
            if field == 1:
                _expect(wire, 0, at)
                kind, pos = _varint(data, pos, end)
            elif field in (2, 4, 5):
                _expect(wire, 2, at)
                a, pos = _len(data, pos, end)
                strings[str(field)] = _utf8(data, a, pos)
            else:
                pos = _skip(data, pos, end, wire, at)
    except ValueError as e:
        raise DecodeError(f"{e} (in metric metadata)") from None
    mtype = METRIC_TYPES[kind] if kind < len(METRIC_TYPES) else "unknown"
    return strings.get("2", ""), Metadata(mtype, strings.get("4", ""), strings.get("5", ""))


def _refs(d: bytes, pos: int, end: int, wire: int, at: int, out: list[int]) -> int:
    """Append a (packed or single) repeated uint32 field's values to ``out``."""
    if wire == 2:
        a, pos = _len(d, pos, end)
        while a < pos:
            v, a = _varint(d, a, pos)
            out.append(v)
        return pos
    _expect(wire, 0, at)
    v, pos = _varint(d, pos, end)
    out.append(v)
    return pos


def decode_exemplar_v2(
    data: bytes, start: int, end: int, symbols: NDArray[np.int64]
) -> tuple[list[tuple[str, str]], float, int]:
    """A 2.0 Exemplar message: its label pairs (symbols resolved), value and timestamp."""
    refs: list[int] = []
    value, ts = _exemplar(
        data, start, end, lambda wire, pos, at: _refs(data, pos, end, wire, at, refs)
    )
    names = [symbol(data, symbols, r) for r in refs]
    return list(zip(names[::2], names[1::2], strict=False)), value, ts


def decode_metadata_v2(data: bytes, start: int, end: int, symbols: NDArray[np.int64]) -> Metadata:
    """A 2.0 per-series Metadata message (type, help_ref, unit_ref)."""
    kind = help_ref = unit_ref = 0
    try:
        pos = start
        while pos < end:
            at = pos
            field, wire, pos = _tag(data, pos, end)
            if field in (1, 3, 4):
                _expect(wire, 0, at)
                v, pos = _varint(data, pos, end)
                if field == 1:
                    kind = v
                elif field == 3:
                    help_ref = v
                else:
                    unit_ref = v
            else:
                pos = _skip(data, pos, end, wire, at)
    except ValueError as e:
        raise DecodeError(f"{e} (in metadata)") from None
    mtype = METRIC_TYPES[kind] if kind < len(METRIC_TYPES) else "unknown"
    help_text = symbol(data, symbols, help_ref) if len(symbols) else ""
    unit = symbol(data, symbols, unit_ref) if len(symbols) else ""
    return Metadata(mtype, help_text, unit)
