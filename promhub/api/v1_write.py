"""``POST /api/v1/write``: the remote_write 1.0 receiver's HTTP side.

Answers as Prometheus' handler does, so that senders' retry logic does the right thing:
204 when stored; 404 with Prometheus' message when ``--web.enable-remote-write-receiver``
is off; 415 for a protocol other than remote-write 1.0 (``prometheus.WriteRequest``) and
2.0 (``io.prometheus.write.v2.Request``, answered with the
``X-Prometheus-Remote-Write-*-Written`` headers) or a compression other than snappy; 413
for a body over ``--web.max-request-body-bytes``; 400 for bad input (not retried); 500
when storage fails and 503 while starting or overloaded (both retried). Errors are plain
text, as Go's ``http.Error`` writes them. The decoding and storing is in
:mod:`promhub.ingest.remote_write`, run in a worker thread.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from promhub.api.web import SERVER_KEY

__all__ = ["MAX_IN_FLIGHT", "remote_write"]

#: Requests decoded at once; more are answered 503 (retried by the sender, with backoff).
MAX_IN_FLIGHT = 32

_V1 = "prometheus.WriteRequest"
_V2 = "io.prometheus.write.v2.Request"


def _error(status: int, msg: str) -> web.Response:
    return web.Response(status=status, text=msg + "\n")


def _protocol(content_type: str) -> str | None:
    """The protobuf message a Content-Type names, or None if it is not protobuf."""
    parts = [p.strip() for p in content_type.split(";")]
    if parts[0] and parts[0] != "application/x-protobuf":
        return None
    for p in parts[1:]:
        k, _, v = p.partition("=")
        if k.strip() == "proto":
            return v.strip()
    return _V1


async def remote_write(request: web.Request) -> web.Response:
    srv = request.app[SERVER_KEY]
    if not srv.opts.enable_remote_write_receiver:
        return _error(
            404,
            "remote write receiver needs to be enabled with --web.enable-remote-write-receiver",
        )
    receiver = srv.remote_write_receiver
    if receiver is None:
        return _error(503, "remote write receiver is starting (storage not open yet)")
    proto = _protocol(request.headers.get("Content-Type", ""))
    if proto is None:
        return _error(
            415,
            f"unsupported content type {request.headers.get('Content-Type')!r}: expected "
            f"application/x-protobuf (remote write 1.0, {_V1})",
        )
    if proto not in (_V1, _V2):
        return _error(
            415,
            f"{proto} protobuf message is not accepted by this server; accepted {_V1}, {_V2}",
        )
    enc = request.headers.get("Content-Encoding", "")
    if enc and enc.lower() != "snappy":
        return _error(
            415, f"{enc} encoding (compression) is not accepted by this server; only snappy is"
        )
    # Counted on the event loop thread only, so a plain integer is enough.
    if receiver.in_flight >= MAX_IN_FLIGHT:
        return _error(503, f"too many concurrent remote write requests (limit {MAX_IN_FLIGHT})")
    receiver.in_flight += 1
    try:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge as e:
            return _error(413, f"request body too large: {e.text}")
        out = await asyncio.to_thread(receiver.write, body, v2=proto == _V2)
    finally:
        receiver.in_flight -= 1
    resp = web.Response(status=204) if out.status == 204 else _error(out.status, out.message)
    if proto == _V2:
        # 2.0 senders check these to see what was written (also after a partial write).
        resp.headers["X-Prometheus-Remote-Write-Samples-Written"] = str(out.samples_written)
        resp.headers["X-Prometheus-Remote-Write-Histograms-Written"] = "0"
        resp.headers["X-Prometheus-Remote-Write-Exemplars-Written"] = str(out.exemplars_written)
    return resp
