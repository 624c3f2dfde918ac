"""Pushgateway's HTTP API on promhub's port.

- ``PUT|POST|DELETE /metrics/job/<job>{/<label>/<value>}`` (``<label>@base64`` and
  ``job@base64`` take URL-safe base64 values, ``=`` alone being the empty value);
- ``GET /api/v1/metrics`` and ``GET /api/v1/status`` shaped like Pushgateway 1.x;
- ``PUT /api/v1/admin/wipe`` behind ``--web.enable-admin-api``.

Beyond Pushgateway, a push may set its group's time to live with the ``ttl`` query
parameter or the ``Promhub-Push-TTL`` header (a Prometheus duration such as ``10m``;
``0s`` means forever); without either, ``pushgateway.default_ttl`` from the config applies.
Status codes are Pushgateway's: 200 for a successful push, 202 for a delete or a wipe,
400 with the reason as plain text for a rejected push.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from promhub import __version__
from promhub.api.web import SERVER_KEY, api_error, api_success
from promhub.config.units import parse_duration
from promhub.ingest.pushgateway import Family, Group, PushError
from promhub.model.exposition_grammar import format_openmetrics_float
from promhub.model.labels import LABEL_NAME_RE, METRIC_NAME

if TYPE_CHECKING:
    from promhub.ingest.pushmanager import PushManager

__all__ = ["TTL_HEADER", "go_float", "register_pushgateway"]

TTL_HEADER = "Promhub-Push-TTL"
_BASE64 = "@base64"


class _BadRequest(Exception):
    pass


def go_float(v: float) -> str:
    """A float as Go's ``%v`` prints it (Pushgateway's JSON values): ``1e+06``, ``0.5``."""
    s = format_openmetrics_float(v)
    return s[:-2] if s.endswith(".0") else s


def _b64(s: str) -> str:
    # Pushgateway: RawURLEncoding after trimming '=' padding; "=" alone is "".
    s = s.rstrip("=")
    try:
        raw = base64.b64decode(s + "=" * (-len(s) % 4), altchars=b"-_", validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError) as e:
        raise _BadRequest(str(e)) from None


def grouping_key(job: str, job_base64: bool, labels: str) -> dict[str, str]:
    """The grouping labels of a push URL; raises _BadRequest with Pushgateway's reasons."""
    if job_base64:
        try:
            job = _b64(job)
        except _BadRequest as e:
            raise _BadRequest(f"invalid base64 encoding in job name {job!r}: {e}") from None
    if not job:
        raise _BadRequest("job name is required")
    out: dict[str, str] = {}
    if len(labels) > 1:
        parts = labels.split("/")
        if len(parts) % 2 == 0:
            raise _BadRequest(f'odd number of components in label string "{labels}"')
        for i in range(1, len(parts) - 1, 2):
            name, value = parts[i], parts[i + 1]
            plain = name.removesuffix(_BASE64)
            if not LABEL_NAME_RE.match(plain) or plain.startswith("__"):
                raise _BadRequest(f'improper label name "{plain}"')
            if plain != name:
                try:
                    value = _b64(value)
                except _BadRequest as e:
                    raise _BadRequest(
                        f"invalid base64 encoding for label {plain}={value!r}: {e}"
                    ) from None
            out[plain] = value
    out["job"] = job
    return out


def _manager(request: web.Request) -> PushManager:
    srv = request.app[SERVER_KEY]
    if srv.push is None:
        raise web.HTTPServiceUnavailable(text="push API is starting up\n")
    return srv.push


def _ttl(request: web.Request, default: float) -> float:
    raw = request.query.get("ttl", request.headers.get(TTL_HEADER))
    if raw is None:
        return default
    try:
        return parse_duration(raw.strip())
    except ValueError as e:
        raise _BadRequest(f"invalid ttl {raw!r}: {e}") from None


async def _push(request: web.Request, method: str, job_base64: bool) -> web.Response:
    srv = request.app[SERVER_KEY]
    if not srv.opts.enable_push_api:
        return web.Response(status=403, text="push API is disabled (--no-web.enable-push-api)\n")
    mgr = _manager(request)
    code = 200
    try:
        grouping = grouping_key(
            request.match_info["job"],
            job_base64,
            request.match_info["labels"],
        )
        if method == "DELETE":
            await asyncio.to_thread(mgr.store.delete, grouping)
            code = 202
            return web.Response(status=code)
        ttl = _ttl(request, mgr.default_ttl)
        limit = mgr.store.limits.body_bytes
        if limit and (request.content_length or 0) > limit:
            raise _BadRequest(
                f"request body of {request.content_length} bytes exceeds the limit of "
                f"{limit} bytes (pushgateway.body_size_limit)"
            )
        body = await request.read()
        await asyncio.to_thread(
            mgr.store.push,
            grouping,
            body,
            request.headers.get("Content-Type", ""),
            replace=method == "PUT",
            ttl=ttl,
        )
        return web.Response(status=code)
    except (_BadRequest, PushError) as e:
        code = 400
        return web.Response(status=400, text=f"{e}\n")
    except OSError as e:  # the journal cannot be written (full disk): not applied
        code = 503
        return web.Response(status=503, text=f"cannot store the push: {e}\n")
    except web.HTTPRequestEntityTooLarge:
        code = 413
        raise
    finally:
        mgr.pushes.labels(method.lower(), str(code)).inc()


def _handler(method: str, job_base64: bool) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        return await _push(request, method, job_base64)

    return handle


# ----------------------------------------------------------------------------- reading


def _rfc3339(ns: int) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    return base + (f".{frac:09d}".rstrip("0") if frac else "") + "Z"


def _json_labels(lbl: Any, group: Group, drop: tuple[str, ...] = ()) -> dict[str, str]:
    d = {k: v for k, v in lbl if k != METRIC_NAME and k not in drop}
    d.update(group.key)  # grouping labels, empty values included, as Pushgateway shows
    d.setdefault("instance", "")
    return dict(sorted(d.items()))


def _family_json(f: Family, group: Group) -> dict[str, Any]:
    out: dict[str, Any] = {"time_stamp": _rfc3339(f.time_ns), "type": f.type.upper()}
    if f.help:
        out["help"] = f.help
    table = group.table
    metrics: list[dict[str, Any]] = []
    if f.type in ("summary", "histogram"):
        inner = "quantile" if f.type == "summary" else "le"
        key_name = "quantiles" if f.type == "summary" else "buckets"
        by_labels: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        for i, v in zip(f.idx.tolist(), f.values.tolist(), strict=True):
            lbl = table[i]
            name = lbl.name
            ident = tuple(p for p in lbl if p[0] not in (METRIC_NAME, inner))
            m = by_labels.get(ident)
            if m is None:
                m = by_labels[ident] = {key_name: {}, "labels": _json_labels(lbl, group, (inner,))}
            if name.endswith("_sum") and name == f.name + "_sum":
                m["sum"] = go_float(v)
            elif name == f.name + "_count":
                m["count"] = go_float(v)
            else:
                bound = lbl.get(inner)
                if f.implicit_inf and bound == "+Inf":
                    continue
                with contextlib.suppress(ValueError):
                    bound = go_float(float(bound))
                m[key_name][bound] = go_float(v)
        metrics = list(by_labels.values())
    else:
        for i, v in zip(f.idx.tolist(), f.values.tolist(), strict=True):
            metrics.append({"labels": _json_labels(table[i], group), "value": go_float(v)})
    out["metrics"] = metrics
    return out


def group_json(group: Group) -> dict[str, Any]:
    """One group as Pushgateway's ``/api/v1/metrics`` shows it (plus ``ttl_seconds``)."""
    out: dict[str, Any] = {"labels": dict(group.key)}
    for name, f in group.families.items():
        out[name] = _family_json(f, group)
    out["last_push_successful"] = group.push_time >= group.failure_time
    if group.ttl > 0:
        out["ttl_seconds"] = group.ttl
    return out


async def api_metrics(request: web.Request) -> web.Response:
    mgr = _manager(request)

    def render() -> list[dict[str, Any]]:
        with mgr.store.lock:
            return [group_json(g) for g in mgr.store.groups()]

    return api_success(await asyncio.to_thread(render))


async def api_status(request: web.Request) -> web.Response:
    srv = request.app[SERVER_KEY]
    return api_success(
        {
            "build_information": {
                "version": __version__,
                "revision": "",
                "branch": "",
                "buildUser": "",
                "buildDate": "",
                "goVersion": "python",
            },
            "flags": srv.opts.flags,
            "start_time": _rfc3339(int(srv.start_time * 1e9)),
        }
    )


async def admin_wipe(request: web.Request) -> web.Response:
    srv = request.app[SERVER_KEY]
    if not srv.opts.enable_admin_api:
        return api_error(500, "unavailable", "admin APIs disabled")
    mgr = _manager(request)
    await asyncio.to_thread(mgr.store.wipe)
    return web.Response(status=202)


def register_pushgateway(app: web.Application) -> None:
    """Add the Pushgateway routes to promhub's application."""
    r = app.router
    for b64 in ("", _BASE64):
        path = "/metrics/job" + b64 + "/{job}{labels:(/.*)?}"
        for method in ("PUT", "POST", "DELETE"):
            r.add_route(method, path, _handler(method, bool(b64)))
    r.add_get("/api/v1/metrics", api_metrics)
    r.add_get("/api/v1/status", api_status)
    r.add_put("/api/v1/admin/wipe", admin_wipe)
