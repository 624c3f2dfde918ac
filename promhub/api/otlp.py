"""``POST /api/v1/otlp/v1/metrics``: HTTP in front of :class:`promhub.ingest.otlp.OTLPReceiver`.

Status codes follow the OTLP/HTTP spec's retry rules: 200 (possibly with a
``partial_success``), 400 for a body that is not valid OTLP (never retried), 415 for an
unknown Content-Type, 503 when the data directory cannot be written (retryable) and 500
for other storage failures. Without ``--web.enable-otlp-receiver`` the answer is
Prometheus' 404.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from promhub.api.web import SERVER_KEY
from promhub.ingest.otlp import (
    JSON,
    PROTOBUF,
    OTLPError,
    encode_response,
    encode_status,
)
from promhub.storage.interface import StorageError, StorageFullError

log = logging.getLogger(__name__)

#: google.rpc.Code values for the Status body of an error response.
_INVALID_ARGUMENT = 3
_UNAVAILABLE = 14
_INTERNAL = 13


def _reply_type(content_type: str) -> str:
    return JSON if content_type.split(";", 1)[0].strip().lower() == JSON else PROTOBUF


def _error(status: int, code: int, msg: str, mtype: str) -> web.Response:
    return web.Response(status=status, body=encode_status(code, msg, mtype), content_type=mtype)


async def otlp_write(request: web.Request) -> web.Response:
    """Store one OTLP metrics export request."""
    srv = request.app[SERVER_KEY]
    receiver = srv.otlp
    if receiver is None and srv.opts.enable_otlp_receiver:
        return web.Response(status=503, text="Service Unavailable: storage is starting\n")
    if receiver is None:
        return web.Response(
            status=404,
            text="otlp write receiver needs to be enabled with --web.enable-otlp-receiver\n",
        )
    ctype = request.headers.get("Content-Type", "")
    mtype = _reply_type(ctype)
    try:
        body = await request.read()  # aiohttp undoes gzip/deflate within the size limit
    except web.HTTPException:
        raise
    except Exception as e:  # a corrupt gzip stream surfaces here
        receiver.count_failure(400)
        return _error(400, _INVALID_ARGUMENT, f"cannot read request body: {e}", mtype)
    try:
        result = await asyncio.get_running_loop().run_in_executor(None, receiver.write, body, ctype)
    except OTLPError as e:
        receiver.count_failure(e.status)
        return _error(e.status, _INVALID_ARGUMENT, str(e), mtype)
    except StorageFullError as e:
        # Retryable per OTLP/HTTP: the client keeps the data and tries again later.
        receiver.count_failure(503)
        log.error("OTLP write failed: %s", e)
        return _error(503, _UNAVAILABLE, f"storage unavailable: {e}", mtype)
    except StorageError as e:
        receiver.count_failure(500)
        log.error("OTLP write failed: %s", e)
        return _error(500, _INTERNAL, f"storage error: {e}", mtype)
    if result.error_message:
        log.debug("OTLP write partially rejected: %s", result.error_message)
    return web.Response(body=encode_response(result, mtype), content_type=mtype)


def register_otlp(app: web.Application) -> None:
    """Add the OTLP route to ``app`` (it answers 404 unless the receiver is enabled)."""
    app.router.add_post("/api/v1/otlp/v1/metrics", otlp_write)
