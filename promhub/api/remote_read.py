"""``POST /api/v1/read``: the server side of Prometheus' remote read (SAMPLES responses),
so another Prometheus (or promhub) can use promhub as a ``remote_read`` endpoint.

As Prometheus' read handler does, an equality matcher on an external label with that
label's value becomes ``name=""`` (local series do not carry external labels), and the
external labels are added to every returned series (a series' own label wins). Only
local storage is read, so two servers reading from each other cannot loop.
"""

from __future__ import annotations

import cramjam
from aiohttp import web

from promhub.api.v1 import blocking, server_of
from promhub.model.labels import Labels
from promhub.model.matcher import Matcher, MatchType
from promhub.storage.interface import SeriesBatch
from promhub.storage.remote_read import (
    SAMPLES,
    ReadQuery,
    RemoteReadError,
    decode_read_request,
    empty_batch,
    encode_read_response,
)

__all__ = ["read"]


async def read(request: web.Request) -> web.Response:
    srv = server_of(request)
    if srv.opts.agent:
        return web.Response(status=500, text="unsupported operation with WAL-only storage\n")
    db = srv.db
    if not srv.ready or db is None:
        return web.Response(status=503, text="Service Unavailable")
    body = await request.read()
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except Exception as e:  # cramjam's DecompressionError
        return web.Response(status=400, text=f"snappy: corrupt input: {e}\n")
    try:
        queries, accepted = decode_read_request(raw)
    except RemoteReadError as e:
        return web.Response(status=400, text=f"{e}\n")
    if accepted and SAMPLES not in accepted:
        return web.Response(
            status=400,
            text=f"server does not support any of the requested response types: {accepted}; "
            "supported: [SAMPLES]\n",
        )
    ext = dict(srv.config.global_.external_labels) if srv.config is not None else {}

    limit = srv.opts.query_max_samples

    def work() -> bytes:
        results: list[SeriesBatch] = []
        total = 0
        for q in queries:
            b = _select(db, q, ext)
            total += len(b.timestamps)
            if limit and total > limit:
                raise _SampleLimitError(f"exceeded sample limit ({limit})")
            results.append(b)
        return bytes(cramjam.snappy.compress_raw(encode_read_response(results)))

    try:
        data = await blocking(work)
    except _SampleLimitError as e:
        return web.Response(status=400, text=f"{e}\n")
    except Exception as e:  # a storage failure: the reader should see why
        return web.Response(status=500, text=f"{e}\n")
    return web.Response(
        body=data,
        headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"},
    )


class _SampleLimitError(Exception):
    """The answer would hold more samples than ``--query.max-samples``."""


def _select(db: object, q: ReadQuery, ext: dict[str, str]) -> SeriesBatch:
    from promhub.tsdb import DB

    assert isinstance(db, DB)
    matchers = [
        Matcher.new(MatchType.EQUAL, m.name, "")
        if m.type is MatchType.EQUAL and m.name in ext and ext[m.name] == m.value
        else m
        for m in q.matchers
    ]
    if not matchers:
        return empty_batch()
    querier = db.querier(q.start_ms, q.end_ms)
    try:
        b = querier.select_batch(matchers)
    finally:
        querier.close()
    if not ext or not b.labels:
        return b
    labels = [Labels.from_pairs([*ext.items(), *ls]) for ls in b.labels]
    return SeriesBatch(labels, b.offsets, b.timestamps, b.values)
