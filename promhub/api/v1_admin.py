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


def _check_enabled(request: web.Request) -> None:
    if not server_of(request).opts.enable_admin_api:
        # Prometheus answers with errorType "unavailable" (which its API maps to 500).
        raise APIError("unavailable", "admin APIs disabled")


async def delete_series(request: web.Request) -> web.Response:
    _check_enabled(request)
    p = await Params.of(request)
    if not p.getall("match[]"):
        raise APIError("bad_data", "no match[] parameter provided")
    p.time("start", MIN_TIME_MS)
    p.time("end", MAX_TIME_MS)
    p.matcher_sets()
    # promhub's TSDB has no tombstones yet: refuse rather than pretend the data is gone.
    raise APIError("internal", "delete_series is not supported by promhub's TSDB yet")


async def clean_tombstones(request: web.Request) -> web.Response:
    _check_enabled(request)
    # Nothing is ever tombstoned (delete_series is refused), so there is nothing to clean.
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
