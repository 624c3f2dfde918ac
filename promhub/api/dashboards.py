"""``/api/v1/dashboards``: the console's Grafana dashboards over HTTP.

- ``GET /api/v1/dashboards``: list (uid, title, tags, panel count, builtin).
- ``GET /api/v1/dashboards/{uid}``: ``{"dashboard": model, "meta": {"uid", "builtin"}}``.
- ``POST /api/v1/dashboards``: import (or replace) a dashboard; the body is the Grafana model
  or Grafana's import wrapper ``{"dashboard": {...}}``; 400 names what is wrong.
- ``DELETE /api/v1/dashboards/{uid}``: remove an imported dashboard.

The write endpoints answer 403 under ``--no-web.enable-dashboard-writes``, and for the
built-in (read-only) starter dashboards. Responses use the API v1 envelope.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from promhub.api.web import SERVER_KEY, api_error, api_success
from promhub.web.dashboards import DashboardError, DashboardStore, ReadOnlyError

_STORE: web.AppKey[DashboardStore] = web.AppKey("dashboard_store")


def _store(request: web.Request) -> DashboardStore:
    return request.app[_STORE]


def _writes_off(request: web.Request) -> web.Response | None:
    if request.app[SERVER_KEY].opts.enable_dashboard_writes:
        return None
    return api_error(
        403, "forbidden", "dashboard writes are disabled (--no-web.enable-dashboard-writes)"
    )


async def list_dashboards(request: web.Request) -> web.Response:
    return api_success(await asyncio.to_thread(_store(request).list))


async def get_dashboard(request: web.Request) -> web.Response:
    uid = request.match_info["uid"]
    hit = await asyncio.to_thread(_store(request).get, uid)
    if hit is None:
        return api_error(404, "not_found", f"no dashboard with uid {uid!r}")
    doc, builtin = hit
    return api_success({"dashboard": doc, "meta": {"uid": uid, "builtin": builtin}})


async def import_dashboard(request: web.Request) -> web.Response:
    denied = _writes_off(request)
    if denied is not None:
        return denied
    body = await request.read()
    try:
        saved = await asyncio.to_thread(_store(request).save, body)
    except ReadOnlyError as e:
        return api_error(403, "forbidden", str(e))
    except DashboardError as e:
        return api_error(400, "bad_data", str(e))
    return api_success(saved)


async def delete_dashboard(request: web.Request) -> web.Response:
    denied = _writes_off(request)
    if denied is not None:
        return denied
    uid = request.match_info["uid"]
    try:
        found = await asyncio.to_thread(_store(request).delete, uid)
    except ReadOnlyError as e:
        return api_error(403, "forbidden", str(e))
    if not found:
        return api_error(404, "not_found", f"no dashboard with uid {uid!r}")
    return api_success(None)


def register_dashboards(app: web.Application) -> None:
    """Add the dashboard endpoints; the store lives under the TSDB directory."""
    opts = app[SERVER_KEY].opts
    app[_STORE] = DashboardStore(Path(opts.storage_path) / "dashboards")
    r = app.router
    r.add_get("/api/v1/dashboards", list_dashboards)
    r.add_post("/api/v1/dashboards", import_dashboard)
    r.add_get("/api/v1/dashboards/{uid}", get_dashboard)
    r.add_delete("/api/v1/dashboards/{uid}", delete_dashboard)
