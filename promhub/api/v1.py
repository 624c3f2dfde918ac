"""Prometheus' HTTP API v1: request parameters, the response envelope, and route wiring.

The handlers live in :mod:`promhub.api.v1_query` (PromQL), :mod:`promhub.api.v1_meta`
(series, labels, metadata, TSDB status) and :mod:`promhub.api.v1_admin`; this module holds
what they share, with Prometheus' exact spellings:

- times are RFC 3339 or Unix seconds with up to millisecond precision (``parse_time``);
- durations are float seconds or Prometheus durations (``parse_duration_ns``);
- every answer is ``{"status":"success","data":...,"warnings":[...],"infos":[...]}`` or
  ``{"status":"error","errorType":...,"error":...}`` with the HTTP status Prometheus maps
  the error type to (``bad_data`` 400, ``execution`` 422, ``canceled`` 499, ``timeout``
  503, ``not_found`` 404, anything else 500).
"""

from __future__ import annotations

import asyncio
import calendar
import logging
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from multidict import MultiDict, MultiMapping

from promhub.api.web import SERVER_KEY
from promhub.config.units import parse_duration_ms
from promhub.model.matcher import Matcher

if TYPE_CHECKING:
    from promhub.server.server import Server

#: Prometheus' API time bounds (``minTime``/``maxTime`` in web/api/v1), in milliseconds.
MIN_TIME_MS = (-(2**63) // 1000 + 1 + 62_135_596_801) * 1000
MAX_TIME_MS = ((2**63 - 1) // 1000 - 62_135_596_801) * 1000 + 999
#: How Go formats those bounds; clients (client_golang, promtool) send these literals.
MIN_TIME_FORMATTED = "-292273086-05-16T16:47:06Z"
MAX_TIME_FORMATTED = "292277025-08-18T07:12:54.999999999Z"

log = logging.getLogger(__name__)

_STATUS = {
    "bad_data": 400,
    "execution": 422,
    "canceled": 499,  # nginx' "client closed request", as Prometheus uses it
    "timeout": 503,
    "internal": 500,
    "not_found": 404,
    "not_acceptable": 406,
}

# Go's strconv.ParseFloat syntax (decimal and special values); Python's float() would also
# take "1_0" and "infinity" spellings Go refuses or spells differently.
_GO_FLOAT = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)\Z", re.IGNORECASE
)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})\Z"
)


class APIError(Exception):
    """An API failure: ``error_type`` is Prometheus' ``errorType``."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def invalid_param(name: str, err: object) -> APIError:
    """Prometheus' ``invalid parameter "name": ...`` bad_data error."""
    return APIError("bad_data", f"invalid parameter {go_quote(name)}: {err}")


def go_quote(s: str) -> str:
    """Go's ``%q`` for the strings that appear in error messages."""
    return orjson.dumps(s).decode()


# -- parameters ---------------------------------------------------------------------------


def parse_go_float(s: str) -> float | None:
    """``strconv.ParseFloat(s, 64)``, or None where Go would refuse the string."""
    if not _GO_FLOAT.match(s):
        return None
    return float(s)


def parse_time(s: str) -> int:
    """A time parameter in milliseconds, as Prometheus' ``parseTime``."""
    f = parse_go_float(s)
    if f is not None and math.isfinite(f):
        sec = math.trunc(f)
        frac = f - sec
        # Go rounds the fraction to milliseconds (half away from zero), then keeps ns.
        frac = math.copysign(math.floor(abs(frac) * 1000 + 0.5), frac) / 1000
        ns = sec * 1_000_000_000 + int(frac * 1e9)
        return ns // 1_000_000
    m = _RFC3339.match(s)
    if m:
        y, mo, d, h, mi, se = (int(g) for g in m.groups()[:6])
        frac_s, tz = m.group(7) or "", m.group(8)
        try:
            secs = calendar.timegm((y, mo, d, h, mi, se, 0, 0, 0))
            if not (1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1]):
                raise ValueError
            if h > 23 or mi > 59 or se > 59:
                raise ValueError
        except ValueError:
            pass
        else:
            if tz != "Z":
                off = int(tz[1:3]) * 3600 + int(tz[4:6]) * 60
                secs -= off if tz[0] == "+" else -off
            ns = int(frac_s.ljust(9, "0")) if frac_s else 0
            return secs * 1000 + ns // 1_000_000
    if s == MIN_TIME_FORMATTED:
        return MIN_TIME_MS
    if s == MAX_TIME_FORMATTED:
        return MAX_TIME_MS
    raise ValueError(f"cannot parse {go_quote(s)} to a valid timestamp")


def parse_duration_ns(s: str) -> int:
    """A duration parameter in nanoseconds, as Prometheus' ``parseDuration``."""
    f = parse_go_float(s)
    if f is not None:
        ns = f * 1e9
        if math.isnan(ns) or ns > 2**63 - 1 or ns < -(2**63):
            raise ValueError(f"cannot parse {go_quote(s)} to a valid duration. It overflows int64")
        return int(ns)
    try:
        return parse_duration_ms(s) * 1_000_000
    except ValueError:
        raise ValueError(f"cannot parse {go_quote(s)} to a valid duration") from None


def parse_limit(s: str) -> int:
    """Prometheus' ``parseLimitParam``: 0 (no limit) when absent."""
    if s == "":
        return 0
    try:
        n = int(s, 10) if re.fullmatch(r"[+-]?\d+", s) else int("x")
    except ValueError:
        raise ValueError(f"strconv.Atoi: parsing {go_quote(s)}: invalid syntax") from None
    if n < 0:
        raise ValueError("limit must be non-negative")
    return n


class Params:
    """Form values as Go's ``r.FormValue``/``r.Form``: the POST body's first, then the URL's."""

    def __init__(self, query: MultiMapping[str], form: MultiDict[str] | None = None) -> None:
        self._query = query
        self._form = form

    @classmethod
    async def of(cls, request: web.Request) -> Params:
        form: MultiDict[str] | None = None
        if request.method in ("POST", "PUT") and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            try:
                posted = await request.post()
            except ValueError as e:
                raise APIError("bad_data", f"error parsing form values: {e}") from None
            form = MultiDict((k, v) for k, v in posted.items() if isinstance(v, str))
        return cls(request.query, form)

    def get(self, name: str) -> str:
        if self._form is not None and name in self._form:
            return self._form[name]
        return self._query.get(name, "")

    def getall(self, name: str) -> list[str]:
        out: list[str] = []
        if self._form is not None:
            out.extend(self._form.getall(name, []))
        out.extend(self._query.getall(name, []))
        return out

    def time(self, name: str, default: int) -> int:
        """``parseTimeParam``: the default when absent; errors name the parameter."""
        s = self.get(name)
        if s == "":
            return default
        try:
            return parse_time(s)
        except ValueError as e:
            raise invalid_param(name, f"invalid time value for '{name}': {e}") from None

    def limit(self) -> int:
        try:
            return parse_limit(self.get("limit"))
        except ValueError as e:
            raise invalid_param("limit", e) from None

    def matcher_sets(self, name: str = "match[]") -> list[list[Matcher]]:
        """Every ``match[]`` selector; at least one matcher of each must not match ""."""
        return parse_matcher_sets(self.getall(name), name)


def parse_selector(text: str) -> list[Matcher]:
    """A series selector (``match[]``) parsed by the PromQL parser."""
    from promhub.promql.parser import parse_metric_selector

    return parse_metric_selector(text)


def parse_matcher_sets(texts: Sequence[str], name: str = "match[]") -> list[list[Matcher]]:
    sets = []
    for t in texts:
        try:
            ms = parse_selector(t)
        except Exception as e:  # the parser's own error type: message is the point
            raise invalid_param(name, e) from None
        sets.append(ms)
    for ms in sets:
        if all(m.matches_empty() for m in ms):
            raise invalid_param(name, "match[] must contain at least one non-empty matcher")
    return sets


# -- responses ----------------------------------------------------------------------------


def success(
    data_json: bytes,
    warnings: Sequence[str] = (),
    infos: Sequence[str] = (),
    request: web.Request | None = None,
) -> web.Response:
    """The success envelope around already-encoded ``data``."""
    parts = [b'{"status":"success","data":', data_json]
    if warnings:
        parts += [b',"warnings":', orjson.dumps(list(warnings))]
    if infos:
        parts += [b',"infos":', orjson.dumps(list(infos))]
    parts.append(b"}")
    resp = web.Response(body=b"".join(parts), content_type="application/json")
    if request is not None:
        _maybe_compress(resp, request)
    return resp


def success_obj(
    data: Any, warnings: Sequence[str] = (), request: web.Request | None = None
) -> web.Response:
    return success(orjson.dumps(data), warnings, request=request)


def error_response(err: APIError) -> web.Response:
    body = orjson.dumps({"status": "error", "errorType": err.error_type, "error": err.message})
    return web.Response(
        body=body, status=_STATUS.get(err.error_type, 500), content_type="application/json"
    )


def _maybe_compress(resp: web.Response, request: web.Request) -> None:
    # Prometheus gzips API answers for clients that accept it; small ones are not worth it.
    body = resp.body
    if (
        isinstance(body, bytes)
        and len(body) > 1024
        and "gzip" in request.headers.get("Accept-Encoding", "")
    ):
        resp.enable_compression()


# -- wiring -------------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.Response]]


def server_of(request: web.Request) -> Server:
    return request.app[SERVER_KEY]


#: Endpoints that need local storage; Prometheus Agent refuses them with this error.
AGENT_REFUSED = frozenset(
    {
        "/api/v1/query", "/api/v1/query_range", "/api/v1/query_exemplars", "/api/v1/series",
        "/api/v1/labels", "/api/v1/label/{name}/values", "/api/v1/status/tsdb",
        "/api/v1/admin/tsdb/delete_series", "/api/v1/admin/tsdb/clean_tombstones",
        "/api/v1/admin/tsdb/snapshot",
    }
)  # fmt: skip
AGENT_ERROR = "unavailable with Prometheus Agent"


def api(handler: Handler, agent_refused: bool = False) -> Handler:
    """Wrap an API handler: answer 503 until the server is ready, map APIError; in agent
    mode, refuse ``agent_refused`` handlers as Prometheus Agent does."""

    async def wrapped(request: web.Request) -> web.Response:
        srv = server_of(request)
        if srv.opts.agent and srv.ready:
            if agent_refused:
                return error_response(APIError("execution", AGENT_ERROR))
        elif not srv.ready or srv.db is None:
            return web.Response(status=503, text="Service Unavailable")
        try:
            return await handler(request)
        except APIError as e:
            return error_response(e)
        except web.HTTPException:
            raise
        except Exception as e:  # a bug must still answer in the API's envelope
            log.exception("API handler %s failed", request.path)
            return error_response(APIError("internal", str(e) or type(e).__name__))

    return wrapped


async def blocking(fn: Callable[..., Any], *args: Any) -> Any:
    """Run storage reads and query evaluation off the event loop."""
    return await asyncio.to_thread(fn, *args)


def register_v1(app: web.Application) -> None:
    """Add Prometheus' API v1 query, metadata, status and admin routes to ``app``."""
    from promhub.api import v1_admin, v1_meta, v1_query

    v1_query.setup(app, app[SERVER_KEY].opts.query_max_concurrency)
    r = app.router
    for path, fn in v1_query.ROUTES + v1_meta.ROUTES:
        r.add_get(path, api(fn, path in AGENT_REFUSED), allow_head=False)
        if path not in v1_meta.GET_ONLY:
            r.add_post(path, api(fn, path in AGENT_REFUSED))
    for path, fn in v1_admin.ROUTES:
        r.add_post(path, api(fn, path in AGENT_REFUSED))
        r.add_put(path, api(fn, path in AGENT_REFUSED))
    r.add_route("OPTIONS", "/api/v1/{path:.*}", _options)


async def _options(request: web.Request) -> web.Response:
    # CORS preflight: the headers are added by the CORS middleware.
    return web.Response(status=204)
