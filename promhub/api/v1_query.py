"""API v1 PromQL endpoints: query, query_range, format_query, parse_query, query_exemplars.

Evaluation and JSON rendering run in a worker thread (they are CPU-bound); at most
``--query.max-concurrency`` queries evaluate at once, the rest wait (that wait is the
``execQueueTime`` of ``stats``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import orjson
from aiohttp import web

from promhub.api import jsonfmt
from promhub.api.v1 import (
    MAX_TIME_MS,
    MIN_TIME_MS,
    APIError,
    Params,
    blocking,
    invalid_param,
    parse_duration_ns,
    parse_time,
    server_of,
    success,
)
from promhub.model.matcher import Matcher
from promhub.promql.engine import Engine, QueryResult
from promhub.promql.errors import PromQLError
from promhub.promql.value import RangeSeries, ScalarSeries, StringValue, VectorSeries
from promhub.storage.interface import Queryable
from promhub.tsdb.exemplars import ExemplarSeries

#: Prometheus' cap on points per series of a range query.
MAX_POINTS = 11_000
#: Annotations shown per kind; the rest are counted, as Prometheus' ``AsStrings``.
MAX_ANNOTATIONS = 10

_SEMAPHORE: web.AppKey[asyncio.Semaphore] = web.AppKey("query_semaphore", asyncio.Semaphore)


def setup(app: web.Application, max_concurrency: int) -> None:
    """Per-app state of the query endpoints (set before the app starts)."""
    app[_SEMAPHORE] = asyncio.Semaphore(max(1, max_concurrency))


def _semaphore(request: web.Request) -> asyncio.Semaphore:
    return request.app[_SEMAPHORE]


def _engine(request: web.Request, p: Params) -> Engine:
    """An engine with the server's limits and this request's ``timeout``/``lookback_delta``."""
    opts = server_of(request).opts
    timeout_s = opts.query_timeout_s
    if (s := p.get("timeout")) != "":
        try:
            timeout_s = min(timeout_s, parse_duration_ns(s) / 1e9)
        except ValueError as e:
            raise invalid_param("timeout", e) from None
    lookback_ms = opts.query_lookback_ms
    if (s := p.get("lookback_delta")) != "":
        try:
            ns = parse_duration_ns(s)
        except ValueError as e:
            raise APIError("bad_data", f"error parsing lookback delta duration: {e}") from None
        if ns > 0:
            lookback_ms = ns // 1_000_000
    return Engine(
        lookback_ms=lookback_ms,
        max_samples=opts.query_max_samples,
        timeout_s=timeout_s,
    )


def _api_error(e: PromQLError) -> APIError:
    # Parse and type errors come from creating the query in Prometheus: a bad parameter.
    if e.kind == "bad_data":
        return invalid_param("query", e.message)
    return APIError(e.kind, e.message)


def _limit_annotations(items: list[str], what: str) -> list[str]:
    if len(items) <= MAX_ANNOTATIONS:
        return items
    extra = len(items) - MAX_ANNOTATIONS
    return items[:MAX_ANNOTATIONS] + [f"{extra} more {what} annotations omitted"]


def _truncate(res: QueryResult, limit: int) -> bool:
    """Keep the first ``limit`` series of a vector or matrix (``limit`` parameter)."""
    v = res.value
    if limit <= 0:
        return False
    if isinstance(v, VectorSeries) and len(v.labels) > limit:
        res.value = VectorSeries(
            v.labels[:limit], v.values[:limit], v.present[:limit], v.drop_name[:limit]
        )
        return True
    if isinstance(v, RangeSeries) and len(v.labels) > limit:
        off = v.offsets[: limit + 1]
        res.value = RangeSeries(
            v.labels[:limit],
            off,
            v.timestamps,
            v.values,
            v.lo[:limit],
            v.hi[:limit],
            v.step_times,
            v.range_ms,
            v.drop_name[:limit],
        )
        return True
    return False


def render_result(res: QueryResult, ts_ms: int) -> bytes:
    """``{"resultType":...,"result":...}`` without the closing brace (stats may follow)."""
    v = res.value
    if res.result_type == "vector":
        assert isinstance(v, VectorSeries)
        body = jsonfmt.encode_vector(v.labels, v.values[:, 0], ts_ms, v.drop_name)
    elif res.result_type == "matrix" and isinstance(v, VectorSeries):
        body = jsonfmt.encode_matrix_steps(
            v.labels, v.values, v.present, res.step_times, v.drop_name
        )
    elif res.result_type == "matrix":
        assert isinstance(v, RangeSeries)
        body = jsonfmt.encode_matrix_samples(
            v.labels, v.offsets, v.timestamps, v.values, v.drop_name
        )
    elif res.result_type == "scalar":
        assert isinstance(v, ScalarSeries)
        body = jsonfmt.encode_scalar(ts_ms, float(v.values[0]))
    else:
        assert isinstance(v, StringValue)
        body = jsonfmt.encode_string(ts_ms, v.value)
    return b'{"resultType":"' + res.result_type.encode() + b'","result":' + body


def _stats(res: QueryResult, queue_s: float, total_s: float) -> bytes:
    t = res.timings
    prep, inner, sort = t.get("parse", 0.0), t.get("eval", 0.0), t.get("result", 0.0)
    stats: dict[str, Any] = {
        "timings": {
            "evalTotalTime": inner + sort,
            "resultSortTime": sort,
            "queryPreparationTime": prep,
            "innerEvalTime": inner,
            "execQueueTime": queue_s,
            "execTotalTime": total_s,
        },
        "samples": {"totalQueryableSamples": res.samples_total, "peakSamples": res.peak_samples},
    }
    return orjson.dumps(stats)


async def _execute(
    request: web.Request,
    p: Params,
    run: Any,
    ts_ms: int,
) -> web.Response:
    limit = p.limit()
    stats = p.get("stats") != ""
    sem = _semaphore(request)
    queued = time.monotonic()
    async with sem:
        started = time.monotonic()

        def work() -> tuple[bytes, list[str], list[str]]:
            try:
                res: QueryResult = run()
            except PromQLError as e:
                raise _api_error(e) from None
            warnings = list(res.warnings)
            if _truncate(res, limit):
                warnings.append("results truncated due to limit")
            data = render_result(res, ts_ms)
            if stats:
                data += b',"stats":' + _stats(res, started - queued, time.monotonic() - queued)
            return data + b"}", warnings, res.infos

        data, warnings, infos = await blocking(work)
    return success(
        data,
        _limit_annotations(warnings, "warning"),
        _limit_annotations(infos, "info"),
        request,
    )


async def query(request: web.Request) -> web.Response:
    p = await Params.of(request)
    p.limit()
    ts = p.time("time", int(time.time() * 1000))
    engine = _engine(request, p)
    db = _db(request)
    text = p.get("query")
    return await _execute(request, p, lambda: engine.instant(db, text, ts), ts)


async def query_range(request: web.Request) -> web.Response:
    p = await Params.of(request)
    p.limit()
    try:
        start = parse_time(p.get("start"))
    except ValueError as e:
        raise invalid_param("start", e) from None
    try:
        end = parse_time(p.get("end"))
    except ValueError as e:
        raise invalid_param("end", e) from None
    if end < start:
        raise invalid_param("end", "end timestamp must not be before start time")
    try:
        step_ns = parse_duration_ns(p.get("step"))
    except ValueError as e:
        raise invalid_param("step", e) from None
    step_ms = step_ns // 1_000_000
    if step_ns <= 0 or step_ms <= 0:
        raise invalid_param(
            "step",
            "zero or negative query resolution step widths are not accepted. "
            "Try a positive integer",
        )
    if (end - start) * 1_000_000 // step_ns > MAX_POINTS:
        raise APIError(
            "bad_data",
            "exceeded maximum resolution of 11,000 points per timeseries. "
            "Try decreasing the query resolution (?step=XX)",
        )
    engine = _engine(request, p)
    db = _db(request)
    text = p.get("query")
    return await _execute(request, p, lambda: engine.range(db, text, start, end, step_ms), start)


def _db(request: web.Request) -> Queryable:
    # The fanout: local storage plus remote_read endpoints.
    db = server_of(request).queryable
    assert db is not None  # the api() wrapper answers 503 before storage is open
    return db


def _parser() -> Any:
    import importlib

    return importlib.import_module("promhub.promql.parser")


def _parse(text: str) -> Any:
    try:
        return _parser().parse_expr(text)
    except ImportError as e:
        raise APIError("internal", f"PromQL parser unavailable: {e}") from None
    except Exception as e:  # the parser's ParseError: its message carries the position
        raise invalid_param("query", e) from None


def _printer_fn(name: str) -> Any:
    import importlib

    for mod in ("promhub.promql.printer", "promhub.promql.parser", "promhub.promql"):
        try:
            fn = getattr(importlib.import_module(mod), name, None)
        except ImportError:
            continue
        if fn is not None:
            return fn
    raise APIError("internal", f"PromQL printer has no {name}()")


async def format_query(request: web.Request) -> web.Response:
    p = await Params.of(request)
    expr = _parse(p.get("query"))
    return success(orjson.dumps(_printer_fn("prettify")(expr)), request=request)


async def parse_query(request: web.Request) -> web.Response:
    p = await Params.of(request)
    expr = _parse(p.get("query"))
    return success(orjson.dumps(_printer_fn("to_json")(expr)), request=request)


def vector_selectors(expr: Any) -> list[list[Matcher]]:
    """The matchers of every vector selector in ``expr`` (Prometheus' ``ExtractSelectors``).

    Matrix selectors and subqueries count through the vector selectors inside them; the
    ``__name__`` matcher of ``foo{...}`` is among its selector's matchers.
    """
    from promhub.promql.ast import Expr, VectorSelector

    out: list[list[Matcher]] = []
    stack: list[Any] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, VectorSelector):
            out.append(list(node.matchers))
            continue
        if not dataclasses.is_dataclass(node):
            continue
        children = []
        for f in dataclasses.fields(node):
            v = getattr(node, f.name)
            if isinstance(v, Expr):
                children.append(v)
            elif isinstance(v, list):
                children.extend(x for x in v if isinstance(x, Expr))
        stack.extend(reversed(children))  # depth first, left to right
    return out


def render_exemplars(result: list[ExemplarSeries]) -> bytes:
    """``[{"seriesLabels":{...},"exemplars":[{"labels":{...},"value":"1","timestamp":1.5}]}]``."""
    parts: list[bytes] = []
    for series in result:
        values = jsonfmt.value_tokens(series.values)
        items = [
            b'{"labels":'
            + orjson.dumps(dict(lb))
            + b',"value":"'
            + v
            + b'","timestamp":'
            + jsonfmt.format_timestamp(ts).encode()
            + b"}"
            for lb, v, ts in zip(series.labels, values, series.timestamps.tolist(), strict=True)
        ]
        parts.append(
            b'{"seriesLabels":'
            + orjson.dumps(dict(series.series_labels))
            + b',"exemplars":['
            + b",".join(items)
            + b"]}"
        )
    return b"[" + b",".join(parts) + b"]"


async def query_exemplars(request: web.Request) -> web.Response:
    """Exemplars of the series the query's selectors match, in ``[start, end]``.

    Empty unless the server runs with ``--enable-feature=exemplar-storage``; a query
    without any selector (``1 + 1``) answers without ``data``, as Prometheus.
    """
    p = await Params.of(request)
    start = p.time("start", MIN_TIME_MS)
    end = p.time("end", MAX_TIME_MS)
    if end < start:
        raise APIError("bad_data", "end timestamp must not be before start timestamp")
    selectors = vector_selectors(_parse(p.get("query")))
    if not selectors:
        return web.Response(body=b'{"status":"success"}', content_type="application/json")
    store = server_of(request).exemplars

    def work() -> bytes:
        return render_exemplars(store.select(start, end, selectors))

    data: bytes = await blocking(work)
    return success(data, request=request)


ROUTES = [
    ("/api/v1/query", query),
    ("/api/v1/query_range", query_range),
    ("/api/v1/format_query", format_query),
    ("/api/v1/parse_query", parse_query),
    ("/api/v1/query_exemplars", query_exemplars),
]
