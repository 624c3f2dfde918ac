"""API v1 admin endpoints (``--web.enable-admin-api``): TSDB snapshots and deletion."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from aiohttp import web

from promhub.api.v1 import (
    MAX_TIME_MS,
    MIN_TIME_MS,
    APIError,
    Params,
    blocking,
    invalid_param,
    server_of,
    success_obj,
)
from promhub.storage.interface import StorageError


def _check_enabled(request: web.Request) -> None:
    if not server_of(request).opts.enable_admin_api:
        # Prometheus answers with errorType "unavailable" (which its API maps to 500).
        raise APIError("unavailable", "admin APIs disabled")


async def delete_series(request: web.Request) -> web.Response:
    """Prometheus' ``deleteSeries``: tombstone the matching series in [start, end]; 204."""
    _check_enabled(request)
    p = await Params.of(request)
    if not p.getall("match[]"):
        raise APIError("bad_data", "no match[] parameter provided")
    start = p.time("start", MIN_TIME_MS)
    end = p.time("end", MAX_TIME_MS)
    sets = p.matcher_sets()
    db = server_of(request).db
    assert db is not None
    for matchers in sets:
        try:
            await blocking(db.delete, matchers, start, end)
        except (OSError, StorageError) as e:
            raise APIError("internal", f"delete series: {e}") from None
    return web.Response(status=204)


async def clean_tombstones(request: web.Request) -> web.Response:
    """Prometheus' ``cleanTombstones``: rewrite blocks without their deleted data; 204."""
    _check_enabled(request)
    db = server_of(request).db
    assert db is not None
    try:
        await blocking(db.clean_tombstones)
    except (OSError, StorageError, ValueError) as e:
        raise APIError("internal", f"clean tombstones: {e}") from None
    return web.Response(status=204)


async def snapshot(request: web.Request) -> web.Response:
    _check_enabled(request)
    p = await Params.of(request)
    skip_head = False
    s = p.get("skip_head")
    if s != "":
        if s.lower() in ("1", "t", "true"):
            skip_head = True
        elif s.lower() in ("0", "f", "false"):
            skip_head = False
        else:
            raise invalid_param(
                "skip_head",
                f'unable to parse boolean: strconv.ParseBool: parsing "{s}": invalid syntax',
            )
    srv = server_of(request)
    db = srv.db
    assert db is not None
    name = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(8)
    target = Path(srv.opts.storage_path) / "snapshots" / name
    try:
        os.makedirs(target, exist_ok=False)
    except OSError as e:
        raise APIError("internal", f"create snapshot directory: {e}") from None
    try:
        await blocking(db.snapshot, target, not skip_head)
    except OSError as e:
        raise APIError("internal", f"create snapshot: {e}") from None
    return success_obj({"name": name}, request=request)


ROUTES = [
    ("/api/v1/admin/tsdb/delete_series", delete_series),
    ("/api/v1/admin/tsdb/clean_tombstones", clean_tombstones),
    ("/api/v1/admin/tsdb/snapshot", snapshot),
]
