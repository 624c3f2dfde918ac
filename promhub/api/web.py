"""promhub's HTTP surface for this stage: lifecycle endpoints, its own metrics, the host
collector, and the status/targets parts of Prometheus' API v1 that scraping feeds.

Handlers only translate HTTP to calls on the server's components; they hold no state.
"""

from __future__ import annotations

import json
import platform
import ssl
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from promhub import __version__

if TYPE_CHECKING:
    from promhub.server.server import Server

SERVER_KEY: web.AppKey[Server] = web.AppKey("server")
#: The TLS context web.yml asks for (None: plain HTTP); the server hands it to its site.
SSL_CONTEXT_KEY: web.AppKey[ssl.SSLContext | None] = web.AppKey("ssl_context")


def _server(request: web.Request) -> Server:
    return request.app[SERVER_KEY]


def api_success(data: Any) -> web.Response:
    return web.json_response({"status": "success", "data": data}, dumps=_dumps)


def api_error(status: int, error_type: str, msg: str) -> web.Response:
    return web.json_response(
        {"status": "error", "errorType": error_type, "error": msg}, status=status, dumps=_dumps
    )


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="Prometheus Server is Healthy.\n")


async def ready(request: web.Request) -> web.Response:
    if _server(request).ready:
        return web.Response(text="Prometheus Server is Ready.\n")
    return web.Response(status=503, text="Service Unavailable\n")


async def reload(request: web.Request) -> web.Response:
    srv = _server(request)
    if not srv.opts.enable_lifecycle:
        return web.Response(status=403, text="Lifecycle API is not enabled.\n")
    if not srv.ready:
        return web.Response(status=503, text="Service Unavailable\n")
    try:
        await srv.reload()
    except Exception as e:
        return web.Response(status=500, text=f"failed to reload config: {e}\n")
    return web.Response(text="")


async def quit_(request: web.Request) -> web.Response:
    srv = _server(request)
    if not srv.opts.enable_lifecycle:
        return web.Response(status=403, text="Lifecycle API is not enabled.\n")
    srv.request_stop()
    return web.Response(text="Requesting termination... Goodbye!\n")


def _expose(registry: CollectorRegistry, request: web.Request) -> web.Response:
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(registry)
    resp = web.Response(body=body)
    resp.headers["Content-Type"] = content_type
    return resp


async def metrics(request: web.Request) -> web.Response:
    return _expose(_server(request).registry, request)


async def host_metrics(request: web.Request) -> web.Response:
    return _expose(_server(request).host_registry, request)


def _fmt_duration(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    if ms == 0:
        return "0s"
    out = ""
    for unit, size in (
        ("y", 31_536_000_000),
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ):
        if ms >= size:
            out += f"{ms // size}{unit}"
            ms %= size
    return out


async def targets(request: web.Request) -> web.Response:
    srv = _server(request)
    if srv.scrape is None:
        return api_success({"activeTargets": [], "droppedTargets": []})
    state = request.query.get("state", "any")
    data: dict[str, Any] = dict(srv.scrape.targets())
    if state == "active":
        data["droppedTargets"] = []
    elif state == "dropped":
        data["activeTargets"] = []
    pools = request.query.getall("scrapePool", [])
    if pools:
        data["activeTargets"] = [t for t in data["activeTargets"] if t["scrapePool"] in pools]
        data["droppedTargets"] = [
            t for t in data["droppedTargets"] if t.get("scrapePool", "") in pools
        ]
    return api_success(data)


async def buildinfo(request: web.Request) -> web.Response:
    return api_success(
        {
            "version": __version__,
            "revision": "",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": f"python{platform.python_version()}",
        }
    )


async def runtimeinfo(request: web.Request) -> web.Response:
    srv = _server(request)
    cfg = srv.config
    return api_success(
        {
            "startTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(srv.start_time)),
            "CWD": __import__("os").getcwd(),
            "reloadConfigSuccess": True,
            "lastConfigTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "corruptionCount": 0,
            "goroutineCount": 0,
            "GOMAXPROCS": __import__("os").cpu_count() or 1,
            "GOGC": "",
            "GODEBUG": "",
            "storageRetention": _fmt_duration(srv.opts.retention_time_ms / 1000),
            "scrapeConfigs": len(cfg.scrape_configs) if cfg else 0,
        }
    )


async def flags(request: web.Request) -> web.Response:
    return api_success(_server(request).opts.flags)


async def status_config(request: web.Request) -> web.Response:
    cfg = _server(request).config
    return api_success({"yaml": cfg.source_text if cfg else ""})


def build_app(server: Server) -> web.Application:
    from promhub.api import remote_read
    from promhub.api.federate import federate
    from promhub.api.otlp import register_otlp
    from promhub.api.pushgateway import register_pushgateway
    from promhub.api.security import WebSecurity, cors_middleware
    from promhub.api.v1 import register_v1
    from promhub.api.v1_write import remote_write

    middlewares = [cors_middleware(server.opts.cors_origin or ".*")]
    security = None
    if server.opts.web_config_file:
        # Auth first, so a 401 is answered before any handler runs.
        security = WebSecurity(server.opts.web_config_file)
        middlewares.insert(0, security.middleware)
    app = web.Application(client_max_size=server.opts.max_body_bytes, middlewares=middlewares)
    app[SERVER_KEY] = server
    app[SSL_CONTEXT_KEY] = security.ssl_context() if security is not None else None
    r = app.router
    r.add_get("/-/healthy", healthy)
    r.add_get("/-/ready", ready)
    r.add_route("POST", "/-/reload", reload)
    r.add_route("PUT", "/-/reload", reload)
    r.add_route("POST", "/-/quit", quit_)
    r.add_route("PUT", "/-/quit", quit_)
    r.add_get("/metrics", metrics)
    r.add_get("/host/metrics", host_metrics)
    r.add_get("/api/v1/targets", targets)
    r.add_get("/api/v1/status/buildinfo", buildinfo)
    r.add_get("/api/v1/status/runtimeinfo", runtimeinfo)
    r.add_get("/api/v1/status/flags", flags)
    r.add_get("/api/v1/status/config", status_config)
    r.add_get("/federate", federate)
    r.add_post("/api/v1/write", remote_write)
    r.add_post("/api/v1/read", remote_read.read)
    register_v1(app)
    from promhub.api.v1 import api
    from promhub.api.v1_alertmanagers import ROUTES as AM_ROUTES
    from promhub.api.v1_rules import ROUTES as RULE_ROUTES

    for path, fn in RULE_ROUTES + AM_ROUTES:
        r.add_get(path, api(fn), allow_head=False)
    register_otlp(app)
    register_pushgateway(app)
    from promhub.api.alertmanager import register_alertmanager_api

    register_alertmanager_api(app)
    from promhub.api.dashboards import register_dashboards

    register_dashboards(app)
    from promhub.web import register_console

    # The console at "/" (clients such as prometheus-api-client probe "/" for a 2xx).
    register_console(app)
    return app
