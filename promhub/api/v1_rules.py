"""``GET /api/v1/rules`` and ``GET /api/v1/alerts`` with Prometheus' JSON shapes.

Filters as in Prometheus 3.x: ``type=alert|record``, ``rule_name[]``, ``rule_group[]``,
``file[]``, ``match[]`` (on rule labels), ``exclude_alerts``, and pagination with
``group_limit``/``group_next_token``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from promhub.api.v1 import APIError, Params, go_quote, invalid_param, server_of, success_obj
from promhub.model.gofloat import format_e
from promhub.model.labels import Labels
from promhub.model.matcher import Matcher, matches_all
from promhub.promql import format_expr, parse_expr
from promhub.rules.group import Group
from promhub.rules.rule import Alert, AlertingRule, RecordingRule

__all__ = ["ROUTES", "format_time", "go_float_e"]

_ZERO_TIME = "0001-01-01T00:00:00Z"


go_float_e = format_e


def format_time(ms: int) -> str:
    """RFC 3339 with nanosecond precision trimmed, as Go marshals ``time.Time``."""
    if ms <= 0:
        return _ZERO_TIME
    dt = datetime.fromtimestamp(ms // 1000, UTC)
    frac = ms % 1000
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        base += ("." + f"{frac:03d}").rstrip("0")
    return base + "Z"


def _query_text(expr: str) -> str:
    try:
        return format_expr(parse_expr(expr))
    except Exception:
        return expr


def _alert_json(a: Alert) -> dict[str, Any]:
    out: dict[str, Any] = {
        "labels": a.labels.to_dict(),
        "annotations": dict(a.annotations),
        "state": a.state,
        "activeAt": format_time(a.active_at_ms),
        "value": go_float_e(a.value),
    }
    if a.keep_firing_since_ms:
        out["keepFiringSince"] = format_time(a.keep_firing_since_ms)
    return out


def _rule_json(r: AlertingRule | RecordingRule, exclude_alerts: bool) -> dict[str, Any]:
    st = r.status
    common: dict[str, Any] = {"name": r.name, "query": _query_text(r.d.expr)}
    labels = dict(r.group_labels)
    labels.update(r.d.labels)
    tail: dict[str, Any] = {"health": st.health}
    if st.last_error:
        tail["lastError"] = st.last_error
    tail["evaluationTime"] = st.eval_seconds
    tail["lastEvaluation"] = format_time(st.last_eval_ms)
    if isinstance(r, AlertingRule):
        return {
            "state": r.state,
            **common,
            "duration": r.d.for_s,
            "keepFiringFor": r.d.keep_firing_for_s,
            "labels": labels,
            "annotations": dict(r.d.annotations),
            "alerts": None if exclude_alerts else [_alert_json(a) for a in r.alerts()],
            **tail,
            "type": "alerting",
        }
    out = dict(common)
    if labels:
        out["labels"] = labels
    return {**out, **tail, "type": "recording"}


def _token(g: Group) -> str:
    return hashlib.sha1(g.key.encode()).hexdigest()


def _bool(p: Params, name: str) -> bool:
    v = p.get(name)
    if not v:
        return False
    low = v.lower()
    if v in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if v in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise APIError("bad_data", f'error converting {name}: strconv.ParseBool: parsing "{low}"')


async def rules(request: web.Request) -> web.Response:
    p = await Params.of(request)
    mgr = server_of(request).rules
    typ = p.get("type").lower()
    if typ not in ("", "alert", "record"):
        raise invalid_param("type", f"not supported value {go_quote(typ)}")
    names = set(p.getall("rule_name[]"))
    groups_f = set(p.getall("rule_group[]"))
    files_f = set(p.getall("file[]"))
    exclude = _bool(p, "exclude_alerts")
    sets: list[list[Matcher]] = p.matcher_sets() if p.getall("match[]") else []
    limit_s, token = p.get("group_limit"), p.get("group_next_token")
    limit = 0
    if limit_s:
        try:
            limit = int(limit_s)
        except ValueError:
            limit = -1
        if limit <= 0:
            raise APIError("bad_data", "group_limit needs to be greater than 0")
    elif token:
        raise APIError("bad_data", "group_limit needs to be set in order to paginate")
    filtered = bool(typ or names or sets)
    out: list[dict[str, Any]] = []
    next_token = ""
    started = not token
    for g in mgr.rule_groups() if mgr is not None else []:
        if groups_f and g.d.name not in groups_f or files_f and g.d.file not in files_f:
            continue
        if not started:
            started = _token(g) == token
            if not started:
                continue
        if limit and len(out) == limit:
            next_token = _token(g)
            break
        rules_json = []
        for r in g.rules:
            if typ == "alert" and not isinstance(r, AlertingRule):
                continue
            if typ == "record" and not isinstance(r, RecordingRule):
                continue
            if names and r.name not in names:
                continue
            if sets:
                lbls = Labels.from_dict({**dict(r.group_labels), **dict(r.d.labels)})
                if not any(matches_all(ms, lbls) for ms in sets):
                    continue
            rules_json.append(_rule_json(r, exclude))
        if filtered and not rules_json:
            continue
        out.append(
            {
                "name": g.d.name,
                "file": g.d.file,
                "rules": rules_json,
                "interval": g.interval_ms / 1000,
                "limit": g.d.limit,
                "evaluationTime": g.eval_seconds,
                "lastEvaluation": format_time(g.last_eval_ms),
            }
        )
    if token and not started:
        raise APIError("bad_data", "group_next_token is invalid")
    data: dict[str, Any] = {"groups": out}
    if next_token:
        data["groupNextToken"] = next_token
    return success_obj(data, request=request)


async def alerts(request: web.Request) -> web.Response:
    mgr = server_of(request).rules
    out: list[dict[str, Any]] = []
    for g in mgr.rule_groups() if mgr is not None else []:
        for r in g.rules:
            if isinstance(r, AlertingRule):
                out.extend(_alert_json(a) for a in r.alerts())
    return success_obj({"alerts": out}, request=request)


ROUTES = [("/api/v1/rules", rules), ("/api/v1/alerts", alerts)]
