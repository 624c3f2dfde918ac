"""API v1 handlers about series rather than samples: series, label names and values,
metric metadata, target metadata and TSDB status."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from promhub.api.v1 import (
    MAX_TIME_MS,
    MIN_TIME_MS,
    APIError,
    Params,
    blocking,
    go_quote,
    invalid_param,
    parse_selector,
    server_of,
    success_obj,
)
from promhub.model.labels import Labels
from promhub.model.matcher import Matcher, matches_all
from promhub.tsdb import DB, DBQuerier

T = TypeVar("T", str, Labels)

TRUNCATED = "results truncated due to limit"


def _window(p: Params) -> tuple[int, int]:
    return p.time("start", MIN_TIME_MS), p.time("end", MAX_TIME_MS)


def _truncate(items: list[Any], limit: int) -> tuple[list[Any], list[str]]:
    if limit > 0 and len(items) > limit:
        return items[:limit], [TRUNCATED]
    return items, []


def _db(request: web.Request) -> DB:
    db = server_of(request).db
    assert db is not None  # the api() wrapper answers 503 before storage is open
    return db


def _union(
    db: DB,
    mint: int,
    maxt: int,
    sets: list[list[Matcher]],
    fetch: Callable[[DBQuerier, list[Matcher] | None], list[T]],
) -> list[T]:
    """Sorted union of ``fetch`` over every ``match[]`` set (or once, unfiltered, if none)."""
    q = db.querier(mint, maxt)
    try:
        if not sets:
            return sorted(fetch(q, None))
        found: set[T] = set()
        for ms in sets:
            found.update(fetch(q, ms))
        return sorted(found)
    finally:
        q.close()


async def series(request: web.Request) -> web.Response:
    p = await Params.of(request)
    if not p.getall("match[]"):
        raise APIError("bad_data", "no match[] parameter provided")
    limit = p.limit()
    mint, maxt = _window(p)
    sets = p.matcher_sets()
    db = _db(request)

    def read() -> list[Labels]:
        return _union(db, mint, maxt, sets, lambda q, ms: q.series(ms or ()))

    out, warnings = _truncate(await blocking(read), limit)
    return success_obj([dict(ls) for ls in out], warnings, request)


async def label_names(request: web.Request) -> web.Response:
    p = await Params.of(request)
    limit = p.limit()
    mint, maxt = _window(p)
    sets = p.matcher_sets()
    db = _db(request)

    def read() -> list[str]:
        return _union(db, mint, maxt, sets, lambda q, ms: q.label_names(ms or ()))

    out, warnings = _truncate(await blocking(read), limit)
    return success_obj(out, warnings, request)


_ESCAPED = re.compile(r"_([0-9a-fA-F]+)_|__")


def unescape_name(name: str) -> str:
    """Prometheus' ``U__`` value-encoding escape for names in URL paths (``U__a_2e_b``)."""
    if not name.startswith("U__"):
        return name

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "__":
            return "_"
        try:
            return chr(int(m.group(1), 16))
        except (ValueError, OverflowError):
            return m.group(0)

    return _ESCAPED.sub(sub, name[3:])


async def label_values(request: web.Request) -> web.Response:
    name = unescape_name(request.match_info["name"])
    if name == "":
        raise APIError("bad_data", f"invalid label name: {go_quote(name)}")
    p = await Params.of(request)
    limit = p.limit()
    mint, maxt = _window(p)
    sets = p.matcher_sets()
    db = _db(request)

    def read() -> list[str]:
        return _union(db, mint, maxt, sets, lambda q, ms: q.label_values(name, ms or ()))

    out, warnings = _truncate(await blocking(read), limit)
    return success_obj(out, warnings, request)


def _int_param(p: Params, name: str, default: int) -> int:
    s = p.get(name)
    if s == "":
        return default
    try:
        return int(s)
    except ValueError:
        raise APIError("bad_data", f"{name} must be a number") from None


async def metadata(request: web.Request) -> web.Response:
    """``/api/v1/metadata``: metric family → distinct (type, help, unit) across targets."""
    p = await Params.of(request)
    limit = _int_param(p, "limit", -1)
    per_metric = _int_param(p, "limit_per_metric", -1)
    metric = p.get("metric")
    srv = server_of(request)
    scrape, otlp = srv.scrape, srv.otlp
    families: dict[str, dict[tuple[str, str, str], None]] = {}
    sources = [tm.metadata for tm in scrape.metadata()] if scrape is not None else []
    if otlp is not None:  # what OTLP pushes said about its metrics
        sources.extend(otlp.metadata().values())
    if srv.remote_write_receiver is not None:  # what remote_write senders said
        sources.append(srv.remote_write_receiver.metadata())
    for md_of in sources:
        items = md_of.items() if metric == "" else [(metric, md_of.get(metric))]
        for name, md in items:
            if md is None:
                continue
            seen = families.get(name)
            if seen is not None and per_metric > 0 and len(seen) >= per_metric:
                continue
            families.setdefault(name, {})[(md.type, md.help, md.unit)] = None
    out: dict[str, list[dict[str, str]]] = {}
    for name in sorted(families):
        if limit >= 0 and len(out) >= limit:
            break
        out[name] = [{"type": t, "help": h, "unit": u} for t, h, u in families[name]]
    return success_obj(out, request=request)


async def target_metadata(request: web.Request) -> web.Response:
    """``/api/v1/targets/metadata``: per target, the metadata it exposed."""
    p = await Params.of(request)
    limit = _int_param(p, "limit", -1)
    match_target = p.get("match_target")
    matchers: list[Matcher] = []
    if match_target:
        try:
            matchers = parse_selector(match_target)
        except Exception as e:
            raise invalid_param("match_target", e) from None
    metric = p.get("metric")
    scrape = server_of(request).scrape
    out: list[dict[str, Any]] = []
    for tm in scrape.metadata() if scrape is not None else []:
        if limit >= 0 and len(out) >= limit:
            break
        if matchers and not matches_all(matchers, tm.target):
            continue
        target = dict(tm.target)
        if metric == "":
            for name, md in tm.metadata.items():
                out.append(
                    {
                        "target": target,
                        "metric": name,
                        "type": md.type,
                        "help": md.help,
                        "unit": md.unit,
                    }
                )
            continue
        one = tm.metadata.get(metric)
        if one is not None:
            out.append({"target": target, "type": one.type, "help": one.help, "unit": one.unit})
    return success_obj(out, request=request)


async def tsdb_status(request: web.Request) -> web.Response:
    """``/api/v1/status/tsdb``: head statistics and the top cardinalities."""
    p = await Params.of(request)
    limit = 10
    s = p.get("limit")
    if s != "":
        try:
            limit = int(s)
        except ValueError:
            limit = 0
        if limit < 1:
            raise APIError("bad_data", "limit must be a positive number")
    db = _db(request)

    def read() -> dict[str, Any]:
        st = db.stats(limit)
        head = db.head
        pairs = sum(len(head.label_values(n)) for n in head.label_names())

        def stat(key: str) -> list[dict[str, Any]]:
            return [{"name": n, "value": v} for n, v in st.cardinality.get(key, [])]

        return {
            "headStats": {
                "numSeries": st.head_series,
                "numLabelPairs": pairs,
                "chunkCount": st.head_chunks,
                # An empty head reports Prometheus' inverted bounds.
                "minTime": st.head_min_time if st.head_min_time is not None else 2**63 - 1,
                "maxTime": st.head_max_time if st.head_max_time is not None else -(2**63),
            },
            "seriesCountByMetricName": stat("seriesCountByMetricName"),
            "labelValueCountByLabelName": stat("labelValueCountByLabelName"),
            "memoryInBytesByLabelName": stat("memoryInBytesByLabelName"),
            "seriesCountByLabelValuePair": stat("seriesCountByLabelValuePair"),
        }

    return success_obj(await blocking(read), request=request)


ROUTES = [
    ("/api/v1/series", series),
    ("/api/v1/labels", label_names),
    ("/api/v1/label/{name}/values", label_values),
    ("/api/v1/metadata", metadata),
    ("/api/v1/targets/metadata", target_metadata),
    ("/api/v1/status/tsdb", tsdb_status),
]
#: Routes Prometheus serves for GET only.
GET_ONLY = {
    "/api/v1/label/{name}/values",
    "/api/v1/metadata",
    "/api/v1/targets/metadata",
    "/api/v1/status/tsdb",
}
