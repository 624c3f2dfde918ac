"""Prometheus' remote read protocol (``prometheus.ReadRequest``/``ReadResponse``, response
type SAMPLES), encoded and decoded by hand, and an HTTP client for it.

Wire shapes (``prompb/remote.proto`` and ``types.proto``)::

    ReadRequest  { repeated Query queries = 1; repeated ResponseType accepted = 2; }
    Query        { int64 start_ms = 1; int64 end_ms = 2; repeated LabelMatcher m = 3;
                   ReadHints hints = 4; }
    LabelMatcher { Type type = 1 (EQ, NEQ, RE, NRE); string name = 2; string value = 3; }
    ReadResponse { repeated QueryResult results = 1; }
    QueryResult  { repeated TimeSeries timeseries = 1; }
    TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; ... }
    Sample       { double value = 1; int64 timestamp = 2; }

Bodies are snappy block-compressed (``cramjam.snappy.*_raw``). A ``QueryResult`` is the
same wire shape as a remote_write ``WriteRequest`` (``repeated TimeSeries = 1``), so
responses are decoded by remote_write's wire scanner (:func:`promhub.ingest.writerequest.scan`,
C with a Python twin) and encoded by the sender's codec
(:mod:`promhub.storage.remote.codec`): samples live in NumPy arrays both ways, and Python
work is per series (labels) and per query, never per sample. Requests are small and are
read field by field here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
import cramjam
import numpy as np
from numpy.typing import NDArray

from promhub.config.http_client import USER_AGENT, HTTPAuth, proxy_for, ssl_context
from promhub.config.model import RemoteReadConfig
from promhub.ingest.writerequest import DecodeError, decode_labels, scan
from promhub.model.labels import Labels
from promhub.model.matcher import Matcher, MatchType
from promhub.model.protowire import WireError, encode_varint, fields, len_field, read_varint
from promhub.storage.interface import SeriesBatch
from promhub.storage.remote.codec import encode_labels, encode_write_request

__all__ = [
    "RemoteReadError",
    "ReadQuery",
    "RemoteReadClient",
    "decode_read_request",
    "decode_read_response",
    "encode_read_request",
    "encode_read_response",
    "empty_batch",
]

#: ``ReadRequest.ResponseType.SAMPLES``; the only one promhub speaks.
SAMPLES = 0
_MATCH_TYPES = {
    MatchType.EQUAL: 0,
    MatchType.NOT_EQUAL: 1,
    MatchType.REGEX: 2,
    MatchType.NOT_REGEX: 3,
}
_MATCH_FROM_WIRE = {v: k for k, v in _MATCH_TYPES.items()}


class RemoteReadError(Exception):
    """A remote read failed: transport, HTTP status or a malformed body."""


@dataclass(frozen=True, slots=True)
class ReadQuery:
    """One ``Query`` of a ``ReadRequest``: a selector over ``[start_ms, end_ms]``."""

    start_ms: int
    end_ms: int
    matchers: Sequence[Matcher]


# -- protobuf primitives --------------------------------------------------------------------


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    try:
        return read_varint(buf, pos)
    except WireError as e:
        raise RemoteReadError(str(e)) from None


def _fields(buf: bytes, pos: int, end: int) -> list[tuple[int, int, int, int]]:
    try:
        return fields(buf, pos, end)
    except WireError as e:
        raise RemoteReadError(str(e)) from None


def _int64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


# -- requests -------------------------------------------------------------------------------


def encode_read_request(queries: Sequence[ReadQuery]) -> bytes:
    """A serialized ``ReadRequest`` accepting only SAMPLES (not yet snappy-compressed)."""
    out = bytearray()
    for q in queries:
        body = bytearray(b"\x08" + encode_varint(q.start_ms) + b"\x10" + encode_varint(q.end_ms))
        for m in q.matchers:
            mb = b"\x08" + encode_varint(_MATCH_TYPES[m.type])
            mb += len_field(2, m.name.encode()) + len_field(3, m.value.encode())
            body += len_field(3, mb)
        # Hints carry the range so a store can prune; promhub's querier knows no more.
        hints = b"\x18" + encode_varint(q.start_ms) + b"\x20" + encode_varint(q.end_ms)
        body += len_field(4, hints)
        out += len_field(1, bytes(body))
    out += len_field(2, bytes([SAMPLES]))
    return bytes(out)


def decode_read_request(data: bytes) -> tuple[list[ReadQuery], list[int]]:
    """A ``ReadRequest``'s queries and accepted response types; raises
    :class:`RemoteReadError` (with the reason) on malformed input or a bad regex."""
    queries: list[ReadQuery] = []
    accepted: list[int] = []
    for field, wt, a, b in _fields(data, 0, len(data)):
        if field == 1 and wt == 2:
            start = end = 0
            matchers: list[Matcher] = []
            for f2, w2, a2, b2 in _fields(data, a, b):
                if f2 == 1 and w2 == 0:
                    start = _int64(a2)
                elif f2 == 2 and w2 == 0:
                    end = _int64(a2)
                elif f2 == 3 and w2 == 2:
                    matchers.append(_decode_matcher(data, a2, b2))
            queries.append(ReadQuery(start, end, matchers))
        elif field == 2 and wt == 0:
            accepted.append(a)
        elif field == 2 and wt == 2:  # packed
            pos = a
            while pos < b:
                v, pos = _read_varint(data, pos)
                accepted.append(v)
    return queries, accepted


def _decode_matcher(data: bytes, a: int, b: int) -> Matcher:
    mtype, name, value = 0, "", ""
    for f, w, x, y in _fields(data, a, b):
        if f == 1 and w == 0:
            mtype = x
        elif f == 2 and w == 2:
            name = data[x:y].decode("utf-8", "replace")
        elif f == 3 and w == 2:
            value = data[x:y].decode("utf-8", "replace")
    if mtype not in _MATCH_FROM_WIRE:
        raise RemoteReadError(f"invalid matcher type {mtype}")
    try:
        return Matcher.new(_MATCH_FROM_WIRE[mtype], name, value)
    except Exception as e:  # the regex compiler's error: its message is the point
        raise RemoteReadError(f"invalid matcher {name}: {e}") from None


# -- responses ------------------------------------------------------------------------------


def empty_batch() -> SeriesBatch:
    z = np.zeros(0, dtype=np.int64)
    return SeriesBatch([], np.zeros(1, dtype=np.int64), z, np.zeros(0, dtype=np.float64))


def encode_read_response(results: Sequence[SeriesBatch]) -> bytes:
    """A serialized ``ReadResponse`` with one ``QueryResult`` per batch.

    A ``QueryResult`` body is byte for byte a WriteRequest holding only its TimeSeries
    (both are ``repeated TimeSeries = 1``), so the remote_write sender's codec encodes it:
    samples in NumPy column operations, Python work only per series.
    """
    out = bytearray()
    for batch in results:
        body = encode_write_request(
            [encode_labels(ls) for ls in batch.labels],
            np.diff(batch.offsets),
            batch.timestamps,
            batch.values,
        )
        out += len_field(1, body)
    return bytes(out)


def decode_read_response(data: bytes) -> list[SeriesBatch]:
    """The ``QueryResult``s of a serialized ``ReadResponse`` as :class:`SeriesBatch`es
    (series sorted by labels, samples by time; series without float samples, such as
    native histograms, are left out).

    Raises :class:`RemoteReadError` on a malformed body.
    """
    view = memoryview(data)
    out: list[SeriesBatch] = []
    for field, wt, a, b in _fields(data, 0, len(data)):
        if field == 1 and wt == 2:
            try:
                out.append(_decode_query_result(view[a:b]))
            except DecodeError as e:
                raise RemoteReadError(f"{e} of query result {len(out)}") from None
    return out


def _decode_query_result(body: memoryview) -> SeriesBatch:
    # A QueryResult is a WriteRequest's TimeSeries list, so remote_write's wire scanner
    # reads it. No limits: a query's answer may hold millions of samples, and the querier's
    # own sample limit is what bounds it.
    sc = scan(body, None)
    # Samples come out grouped by series, in series order.
    counts = np.bincount(sc.sample_series, minlength=sc.num_series)
    keep = np.flatnonzero(counts)
    if not len(keep):
        return empty_batch()
    keys = [key for _, key in sc.misses]  # no cache: every series is a miss, in order
    labels = [_labels(decode_labels(keys[i])) for i in keep.tolist()]
    return _sorted_batch(labels, counts[keep], sc.timestamps, sc.values)


def _labels(pairs: list[tuple[str, str]]) -> Labels:
    """:meth:`Labels.from_pairs`, with a shortcut for what senders write: names sorted and
    unique, no empty values (checked by C-level calls; this runs once per series)."""
    d = dict(pairs)
    if len(d) == len(pairs) and "" not in d.values() and pairs == sorted(pairs):
        return Labels(pairs)
    return Labels.from_dict(d)


def _sorted_batch(
    labels: list[Labels],
    counts: NDArray[np.int64],
    ts: NDArray[np.int64],
    vals: NDArray[np.float64],
) -> SeriesBatch:
    """A CSR batch with series sorted by labels and samples by time within each."""
    offsets = np.zeros(len(labels) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    order = sorted(range(len(labels)), key=labels.__getitem__)
    if order != list(range(len(labels))):
        o = np.array(order, dtype=np.int64)
        moved = counts[o]
        new_offsets = np.zeros_like(offsets)
        np.cumsum(moved, out=new_offsets[1:])
        # Sample j of new series k sits at offsets[o[k]] + (j - new_offsets[k]).
        idx = np.arange(len(ts), dtype=np.int64) - np.repeat(new_offsets[:-1] - offsets[o], moved)
        labels = [labels[i] for i in order]
        counts, offsets = moved, new_offsets
        ts, vals = ts[idx], vals[idx]
    sid = np.repeat(np.arange(len(labels), dtype=np.int64), counts)
    if len(ts) > 1 and bool(((sid[1:] == sid[:-1]) & (ts[1:] <= ts[:-1])).any()):
        o = np.lexsort((ts, sid))
        ts, vals, sid = ts[o], vals[o], sid[o]
        keep = np.append((sid[1:] != sid[:-1]) | (ts[1:] != ts[:-1]), True)
        ts, vals, sid = ts[keep], vals[keep], sid[keep]
        np.cumsum(np.bincount(sid, minlength=len(labels)), out=offsets[1:])
    return SeriesBatch(labels, offsets, ts, vals)


# -- the client -----------------------------------------------------------------------------


class RemoteReadClient:
    """Reads from one ``remote_read`` endpoint with its HTTP client settings.

    Use from the event loop (``await client.read(...)``); the session is created lazily
    on that loop and closed by :meth:`close`.
    """

    def __init__(self, cfg: RemoteReadConfig, name: str) -> None:
        self.cfg = cfg
        self.name = name
        self._auth = HTTPAuth(cfg.http, f"remote_read[{name}]")
        self._ssl = ssl_context(cfg.http.tls_config)
        self._session: aiohttp.ClientSession | None = None

    async def read(self, queries: Sequence[ReadQuery]) -> list[SeriesBatch]:
        """One round trip; the results are aligned with ``queries``."""
        from promhub.config.http_client import client_session

        if self._session is None:
            self._session = client_session(self.cfg.http)
        body = cramjam.snappy.compress_raw(encode_read_request(queries))
        headers = await self._auth.headers(self._session)
        headers.update(self.cfg.headers)
        headers["Content-Encoding"] = "snappy"
        headers["Accept-Encoding"] = "snappy"
        headers["Content-Type"] = "application/x-protobuf"
        headers["User-Agent"] = USER_AGENT
        headers["X-Prometheus-Remote-Read-Version"] = "0.1.0"
        try:
            async with self._session.post(
                self.cfg.url,
                data=bytes(body),
                headers=headers,
                ssl=self._ssl,
                proxy=proxy_for(self.cfg.http, self.cfg.url),
                allow_redirects=self.cfg.http.follow_redirects,
                timeout=aiohttp.ClientTimeout(total=self.cfg.remote_timeout),
            ) as resp:
                data = await resp.read()
                status = resp.status
                reason = resp.reason or ""
                ctype = resp.headers.get("Content-Type", "")
        except (aiohttp.ClientError, OSError) as e:
            raise RemoteReadError(f"error sending request: {e}") from e
        except TimeoutError as e:
            raise RemoteReadError(
                f"error sending request: timeout after {self.cfg.remote_timeout:g}s"
            ) from e
        if status // 100 != 2:
            text = data[:512].decode("utf-8", "replace").strip()
            raise RemoteReadError(
                f"remote server {self.cfg.url} returned HTTP status {status} {reason}: {text}"
            )
        if ctype and not ctype.startswith("application/x-protobuf"):
            raise RemoteReadError(f"unsupported content type {ctype!r} from {self.cfg.url}")
        try:
            raw = bytes(cramjam.snappy.decompress_raw(data))
        except Exception as e:  # cramjam's DecompressionError
            raise RemoteReadError(f"error reading response: snappy: {e}") from e
        results = decode_read_response(raw)
        if len(results) != len(queries):
            raise RemoteReadError(
                f"responses: want {len(queries)}, got {len(results)} from {self.cfg.url}"
            )
        return results

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
