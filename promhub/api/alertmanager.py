"""Alertmanager's API v2 on promhub's port, byte-compatible with Alertmanager 0.25.

The JSON is what go-swagger's models marshal (same key order, RFC 3339 times with
milliseconds, empty ``generatorURL`` left out); errors are Alertmanager's: a JSON string
with status 400/404/500 from the handlers, and ``{"code": …, "message": …}`` with 400/422
where go-swagger's own request validation would answer. ``amtool`` and Prometheus'
notifier read these, so the shapes were checked against a running Debian Alertmanager.

Beyond Alertmanager (promhub only): ``GET /api/v2/history`` and
``/api/v2/recurring_silences``.
"""

from __future__ import annotations

import json
import platform
import re
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from promhub import __version__
from promhub.alerting.alert import Alert, format_labelset
from promhub.alerting.matcher import MatcherError, parse_matcher
from promhub.alerting.silence import (
    RecurringSilence,
    Silence,
    SilenceError,
    SilenceNotFound,
    _matchers_doc,
    parse_weekday_names,
)
from promhub.alerting.timeinterval import WEEKDAYS
from promhub.api.web import SERVER_KEY
from promhub.model.matcher import Matcher, MatchType

if TYPE_CHECKING:
    from promhub.alerting.manager import AlertManager

__all__ = ["format_time", "parse_time", "register_alertmanager_api"]

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_TS = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)\Z"
)
# go-openapi's swag.ConvertBool: these are true, anything else false.
_TRUE = {"true", "1", "yes", "ok", "y", "on", "selected", "checked", "t", "enabled"}
_DAY_NAMES = {v: k for k, v in WEEKDAYS.items()}


# -- formats ---------------------------------------------------------------------------


def format_time(t: float) -> str:
    """``strfmt.DateTime``: RFC 3339 in UTC with milliseconds (truncated, as Go)."""
    ms = int(round(t * 1e6)) // 1000
    sec, frac = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:03d}Z"


def parse_time(s: str) -> float:
    """An RFC 3339 time (any fraction digits, ``Z`` or offset) as Unix seconds; Go's
    zero time (year 1) reads as 0 = unset. ``ValueError`` if malformed."""
    m = _TS.match(s)
    if m is None:
        raise ValueError(s)
    y, mo, d, h, mi, sec = (int(m.group(i)) for i in range(1, 7))
    if y <= 1:
        return 0.0
    frac = float("0." + m.group(7)) if m.group(7) else 0.0
    tz = m.group(8)
    off = 0 if tz in ("Z", "z") else (1 if tz[0] == "+" else -1) * (int(tz[1:3]) * 60 + int(tz[4:]))
    dt = datetime(y, mo, d, h, mi, sec, tzinfo=UTC) - timedelta(minutes=off)
    return dt.timestamp() + frac


def _json(obj: Any, status: int = 200) -> web.Response:
    # Go's json.Encoder ends the body with a newline.
    return web.Response(
        text=json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n",
        status=status,
        content_type="application/json",
    )


def _error(status: int, msg: str) -> web.Response:
    return _json(msg, status)


def _swagger_error(status: int, code: int, msg: str) -> web.Response:
    return web.Response(
        text=json.dumps({"code": code, "message": msg}, separators=(",", ":")),
        status=status,
        content_type="application/json",
    )


def _am(request: web.Request) -> AlertManager | None:
    return getattr(request.app[SERVER_KEY], "alertmanager", None)


_NOT_CONFIGURED = (
    "the built-in alert manager is not enabled: name an alertmanager.yml under "
    "alerting.alertmanager_config_file (or alerting.alertmanager_config) in the config"
)


def _flag(request: web.Request, name: str) -> bool:
    v = request.query.get(name)
    return True if v is None else v.lower() in _TRUE


class _BadRequest(Exception):
    def __init__(self, resp: web.Response) -> None:
        self.resp = resp


def _filter(request: web.Request) -> list[Matcher]:
    try:
        return [parse_matcher(f) for f in request.query.getall("filter", [])]
    except MatcherError as e:
        raise _BadRequest(_error(400, str(e))) from None


def _receiver_filter(request: web.Request) -> re.Pattern[str] | None:
    r = request.query.get("receiver")
    if r is None:
        return None
    try:
        return re.compile(f"^(?:{r})$")
    except re.error as e:
        raise _BadRequest(
            _error(400, f"failed to parse receiver param: error parsing regexp: {e}: `^(?:{r})$`")
        ) from None


def match_filter(ms: list[Matcher], labels: Mapping[str, str]) -> bool:
    """Alertmanager 0.25's ``matchFilterLabels``: a missing label reads as "", and a
    matcher with an empty value is skipped when that settles it (``x!=""`` on a present
    ``x``, ``x=""`` on a missing one)."""
    for m in ms:
        v = labels.get(m.name)
        if m.type in (MatchType.NOT_EQUAL, MatchType.NOT_REGEX):
            if m.value == "" and v is not None:
                continue
            if not m.matches(v or ""):
                return False
        else:
            if m.value == "" and v is None:
                continue
            if not m.matches(v or ""):
                return False
    return True


# -- alerts ----------------------------------------------------------------------------


def alert_json(am: AlertManager, a: Alert, now: float) -> dict[str, Any]:
    """One ``gettableAlert`` (key order as go-swagger writes it)."""
    st = am.status(a, now)
    out: dict[str, Any] = {
        "annotations": a.annotations,
        "endsAt": format_time(a.ends_at),
        "fingerprint": a.fingerprint_hex,
        "receivers": [{"name": r} for r in am.receivers(a)],
        "startsAt": format_time(a.starts_at),
        "status": {"inhibitedBy": st.inhibited_by, "silencedBy": st.silenced_by, "state": st.state},
        "updatedAt": format_time(a.updated_at),
    }
    if a.generator_url:
        out["generatorURL"] = a.generator_url
    out["labels"] = a.labels
    return out


def _alert_filter(request: web.Request) -> Any:
    ms = _filter(request)
    silenced, inhibited = _flag(request, "silenced"), _flag(request, "inhibited")
    active, unprocessed = _flag(request, "active"), _flag(request, "unprocessed")

    def keep(am: AlertManager, a: Alert, now: float) -> bool:
        if a.resolved(now):
            return False
        st = am.status(a, now)
        if not active and st.state == "active":
            return False
        if not unprocessed and st.state == "unprocessed":
            return False
        if not silenced and st.silenced_by:
            return False
        if not inhibited and st.inhibited_by:
            return False
        return match_filter(ms, a.labels)

    return keep


async def get_alerts(request: web.Request) -> web.Response:
    am = _am(request)
    if am is None:
        return _error(404, _NOT_CONFIGURED)
    try:
        keep = _alert_filter(request)
        rf = _receiver_filter(request)
    except _BadRequest as e:
        return e.resp
    now = am.clock()
    out = []
    for a in sorted(am.alerts.values(), key=lambda a: a.fingerprint_hex):
        if rf is not None and not any(rf.match(r) for r in am.receivers(a)):
            continue
        if keep(am, a, now):
            out.append(alert_json(am, a, now))
    return _json(out)


async def get_groups(request: web.Request) -> web.Response:
    am = _am(request)
    if am is None:
        return _error(404, _NOT_CONFIGURED)
    try:
        keep = _alert_filter(request)
        rf = _receiver_filter(request)
    except _BadRequest as e:
        return e.resp
    now = am.clock()
    groups = []
    snap = am.dispatcher.groups_snapshot() if am.dispatcher is not None else []
    for route, labels, alerts in snap:
        if rf is not None and not rf.match(route.receiver):
            continue
        shown = []
        for a in alerts:
            cur = am.alerts.get(a.fingerprint, a)
            if keep(am, cur, now):
                shown.append(alert_json(am, cur, now))
        if shown:
            groups.append((format_labelset(labels), route.receiver, labels, shown))
    groups.sort(key=lambda g: (g[0], g[1]))
    return _json([{"alerts": s, "labels": lb, "receiver": {"name": r}} for _, r, lb, s in groups])


def _parse_body(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as e:
        raise _BadRequest(
            _swagger_error(400, 400, f'parsing {what} body from "" failed, because {e}')
        ) from None


def _time_field(d: Mapping[str, Any], key: str, prefix: str) -> float:
    v = d.get(key)
    if v is None:
        return 0.0
    try:
        if not isinstance(v, str):
            raise ValueError(v)
        return parse_time(v)
    except ValueError:
        raise _BadRequest(
            _swagger_error(
                422, 601, f"{prefix}{key} in body must be of type date-time: {json.dumps(v)}"
            )
        ) from None


def _string_map(v: Any, what: str) -> dict[str, str]:
    if v is None:
        return {}
    if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
        raise _BadRequest(
            _swagger_error(400, 400, f"parsing alerts body: {what} must map names to strings")
        )
    return {str(k): x for k, x in v.items()}


def _validate(a: Alert) -> str | None:
    # model.Alert.Validate's checks, in its order.
    if a.ends_at and a.ends_at < a.starts_at:
        return "start time must be before end time"
    for k in a.labels:
        if not _LABEL_NAME.match(k):
            return f"invalid label set: invalid name {json.dumps(k)}"
    if not a.labels:
        return "at least one label pair required"
    for k in a.annotations:
        if not _LABEL_NAME.match(k):
            return f"invalid annotations: invalid name {json.dumps(k)}"
    return None


async def post_alerts(request: web.Request) -> web.Response:
    am = _am(request)
    if am is None:
        return _error(404, _NOT_CONFIGURED)
    try:
        body = _parse_body(await request.read(), "alerts")
        if not isinstance(body, list):
            return _swagger_error(
                400, 400, 'parsing alerts body from "" failed, because expected a JSON array'
            )
        parsed = []
        for i, d in enumerate(body):
            if not isinstance(d, dict) or d.get("labels") is None:
                return _swagger_error(422, 602, f"{i}.labels in body is required")
            labels = {k: v for k, v in _string_map(d["labels"], "labels").items() if v != ""}
            parsed.append(
                Alert(
                    labels=labels,
                    annotations=_string_map(d.get("annotations"), "annotations"),
                    starts_at=_time_field(d, "startsAt", f"{i}."),
                    ends_at=_time_field(d, "endsAt", f"{i}."),
                    generator_url=str(d.get("generatorURL") or ""),
                )
            )
    except _BadRequest as e:
        return e.resp
    now = am.clock()
    errors, valid = [], []
    for a in parsed:
        # Alertmanager fills the start before validating: none means the end, or now.
        if not a.starts_at:
            a.starts_at = a.ends_at or now
        err = _validate(a)
        if err is not None:
            errors.append(err)
            am.invalid.labels("v2").inc()
        else:
            valid.append(a)
    am.put_alerts(valid)
    if errors:
        return _error(400, "; ".join(errors))
    return web.Response(status=200)


# -- silences --------------------------------------------------------------------------


def silence_json(s: Silence, now: float) -> dict[str, Any]:
    """One ``gettableSilence`` (key order as go-swagger writes it)."""
    return {
        "id": s.id,
        "status": {"state": s.state(now)},
        "updatedAt": format_time(s.updated_at),
        "comment": s.comment,
        "createdBy": s.created_by,
        "endsAt": format_time(s.ends_at),
        "matchers": _matchers_doc(s.matchers),
        "startsAt": format_time(s.starts_at),
    }


def _silence_order(s: Silence, now: float) -> tuple[int, float]:
    # Alertmanager's SortSilences: active by end, pending by start, expired latest first.
    st = s.state(now)
    if st == "active":
        return (0, s.ends_at)
    if st == "pending":
        return (1, s.starts_at)
    return (2, -s.ends_at)


def _silence_matches_filter(s: Silence, ms: list[Matcher]) -> bool:
    # As Alertmanager: the filter applies to the silence's matchers read as labels.
    return match_filter(ms, {m.name: m.value for m in s.matchers})


async def get_silences(request: web.Request) -> web.Response:
    am = _am(request)
    if am is None:
        return _error(404, _NOT_CONFIGURED)
    try:
        ms = _filter(request)
    except _BadRequest as e:
        return e.resp
    now = am.clock()
    sil = [s for s in am.silences.silences.values() if _silence_matches_filter(s, ms)]
    sil.sort(key=lambda s: _silence_order(s, now))
    return _json([silence_json(s, now) for s in sil])


def _api_matchers(docs: Any, prefix: str = "") -> list[Matcher]:
    if not isinstance(docs, list) or not docs:
        raise _BadRequest(
            _swagger_error(422, 612, f"{prefix}matchers in body should have at least 1 items")
        )
    out = []
    for i, d in enumerate(docs):
        if not isinstance(d, dict):
            raise _BadRequest(_swagger_error(422, 602, f"matchers.{i} in body must be an object"))
        for key in ("isRegex", "name", "value"):
            if d.get(key) is None:
                raise _BadRequest(
                    _swagger_error(422, 602, f"matchers.{i}.{key} in body is required")
                )
        regex, equal = bool(d["isRegex"]), d.get("isEqual", True) is not False
        op = ("=~" if equal else "!~") if regex else ("=" if equal else "!=")
        try:
            out.append(Matcher.new(op, str(d["name"]), str(d["value"])))
        except ValueError as e:
            raise _BadRequest(
                _error(
                    400,
                    f"silence invalid: invalid label matcher {i}: invalid regular expression "
                    f"{json.dumps(d['value'])}: {e}",
                )
            ) from None
    return out


async def post_silences(request: web.Request) -> web.Response:
    am = _am(request)
    if am is None:
        return _error(404, _NOT_CONFIGURED)
    try:
        d = _parse_body(await request.read(), "silence")
        if not isinstance(d, dict):
            return _swagger_error(
                400, 400, 'parsing silence body from "" failed, because not an object'
            )
        for key in ("comment", "createdBy", "endsAt", "matchers", "startsAt"):
            if d.get(key) is None:
                return _swagger_error(422, 602, f"{key} in body is required")
        ends = _time_field(d, "endsAt", "")
        matchers = _api_matchers(d["matchers"])
        starts = _time_field(d, "startsAt", "")
    except _BadRequest as e:
        return e.resp
    sid = str(d.get("id") or "")
    if starts >= ends:
        return _error(400, "Failed to create silence: start time must be before end time")
    if ends < am.clock():
        return _error(400, "Failed to create silence: end time can't be in the past")
    sil = Silence(matchers, starts, ends, str(d["createdBy"]), str(d["comment"]), sid)
    try:
        new_id = am.silences.set(sil)
    except SilenceNotFound:
        return _error(404, "silence not found")
    except SilenceError as e:
        return _error(400, f"silence invalid: {e}")
    am.silences_changed()
    return _json({"silenceID": new_id})


def _silence_id(request: web.Request) -> str:
    sid = request.match_info["id"]
    try:
        uuid.UUID(sid)
    except ValueError:
        raise _BadRequest(
            _swagger_error(422, 601, f"silenceID in path must be of type uuid: {json.dumps(sid)}")
        ) from None
    return sid


async def get_silence(request: web.Request) -> web.Response:
    am = _am(request)
    if am is None:
        return _error(404, _NOT_CONFIGURED)
    try:
        sid = _silence_id(request)
    except _BadRequest as e:
        return e.resp
    s = am.silences.silences.get(sid)
    if s is None:
        return web.Response(status=404)
    return _json(silence_json(s, am.clock()))


async def delete_silence(request: web.Request) -> web.Response:
    am = _am(request)
    if am is None:
        return _error(404, _NOT_CONFIGURED)
    try:
        sid = _silence_id(request)
    except _BadRequest as e:
        return e.resp
    s = am.silences.silences.get(sid)
    if s is None:
        # Alertmanager 0.25 answers an unknown id with 500 and this message.
        return _error(500, "silence not found")
    if s.state(am.clock()) != "expired":
        am.silences.expire(sid)
        am.silences_changed()
    return web.Response(status=200)


# -- status and receivers ----------------------------------------------------------------


async def get_status(request: web.Request) -> web.Response:
    am = _am(request)
    if am is None:
        return _error(404, _NOT_CONFIGURED)
    return _json(
        {
            "cluster": {"peers": [], "status": "disabled"},
            # An inline block's text starts with blank lines that keep the Prometheus
            # config's line numbers for errors; a reader wants the block itself.
            "config": {"original": am.config.source_text.lstrip("\n") if am.config else ""},
            "uptime": format_time(am.start_time),
            "versionInfo": {
                "branch": "",
                "buildDate": "",
                "buildUser": "",
                "goVersion": f"python{platform.python_version()}",
                "revision": "",
                "version": __version__,
            },  # fmt: skip
        }
    )


async def get_receivers(request: web.Request) -> web.Response:
    am = _am(request)
    if am is None:
        return _error(404, _NOT_CONFIGURED)
    names = list(am.config.receivers) if am.config else []
    return _json([{"name": n} for n in names])


# -- promhub extensions: history, recurring silences --------------------------------------


def _time_param(request: web.Request, name: str) -> float | None:
    v = request.query.get(name)
    if v is None or v == "":
        return None
    try:
        return float(v)
    except ValueError:
        pass
    try:
        return parse_time(v)
    except ValueError:
        raise _BadRequest(
            _error(400, f"invalid {name} {json.dumps(v)}: want RFC 3339 or Unix seconds")
        ) from None


async def get_history(request: web.Request) -> web.Response:
    """``GET /api/v2/history?start=&end=&matcher=…``: state changes and notifications
    (oldest first), ``matcher`` in Alertmanager's syntax, repeatable."""
    am = _am(request)
    if am is None:
        return _error(404, _NOT_CONFIGURED)
    try:
        start, end = _time_param(request, "start"), _time_param(request, "end")
        ms = [parse_matcher(m) for m in request.query.getall("matcher", [])]
    except _BadRequest as e:
        return e.resp
    except MatcherError as e:
        return _error(400, str(e))
    out = []
    for event in am.history.query(start, end, ms):
        ev = dict(event)
        ev["time"] = format_time(event["time"])
        out.append(ev)
    return _json(out)


def recurring_json(r: RecurringSilence, now: float) -> dict[str, Any]:
    """A recurring silence as the API shows it (weekdays by name)."""
    return {
        "id": r.id, "status": {"state": "active" if r.active(now) else "inactive"},
        "comment": r.comment, "createdBy": r.created_by,
        "matchers": _matchers_doc(r.matchers),
        "weekdays": [_DAY_NAMES[d] for d in r.weekdays], "start": r.start, "end": r.end,
        "timezone": r.timezone,
    }  # fmt: skip


async def get_recurring(request: web.Request) -> web.Response:
    am = _am(request)
    if am is None:
        return _error(404, _NOT_CONFIGURED)
    now = am.clock()
    return _json([recurring_json(r, now) for r in am.silences.recurring.values()])


async def post_recurring(request: web.Request) -> web.Response:
    """Body: ``{"matchers": [...API matchers...], "weekdays": ["saturday", "sunday"],
    "start": "02:00", "end": "04:00", "timezone": "Europe/Berlin", "createdBy", "comment"}``."""
    am = _am(request)
    if am is None:
        return _error(404, _NOT_CONFIGURED)
    try:
        d = _parse_body(await request.read(), "recurring silence")
        if not isinstance(d, dict):
            return _error(400, "recurring silence must be a JSON object")
        for key in ("matchers", "weekdays", "start", "end"):
            if d.get(key) is None:
                return _swagger_error(422, 602, f"{key} in body is required")
        matchers = _api_matchers(d["matchers"])
        wd = d["weekdays"]
        if not isinstance(wd, list):
            return _error(400, "weekdays must be a list")
        days = [x for x in wd if isinstance(x, int)]
        days += parse_weekday_names([x for x in wd if isinstance(x, str)])
        r = RecurringSilence(
            matchers, sorted(set(days)), str(d["start"]), str(d["end"]),
            str(d.get("timezone") or "UTC"), str(d.get("createdBy") or ""),
            str(d.get("comment") or ""),
        )  # fmt: skip
        rid = am.silences.add_recurring(r)
    except _BadRequest as e:
        return e.resp
    except SilenceError as e:
        return _error(400, f"recurring silence invalid: {e}")
    am.silences_changed()
    return _json({"id": rid})


async def delete_recurring(request: web.Request) -> web.Response:
    am = _am(request)
    if am is None:
        return _error(404, _NOT_CONFIGURED)
    try:
        am.silences.delete_recurring(request.match_info["id"])
    except SilenceNotFound:
        return _error(404, "recurring silence not found")
    am.silences_changed()
    return web.Response(status=200)


def register_alertmanager_api(app: web.Application) -> None:
    """Add Alertmanager's API v2 (and promhub's history and recurring silences)."""
    r = app.router
    r.add_get("/api/v2/alerts", get_alerts)
    r.add_post("/api/v2/alerts", post_alerts)
    r.add_get("/api/v2/alerts/groups", get_groups)
    r.add_get("/api/v2/silences", get_silences)
    r.add_post("/api/v2/silences", post_silences)
    r.add_get("/api/v2/silence/{id}", get_silence)
    r.add_delete("/api/v2/silence/{id}", delete_silence)
    r.add_get("/api/v2/status", get_status)
    r.add_get("/api/v2/receivers", get_receivers)
    r.add_get("/api/v2/history", get_history)
    r.add_get("/api/v2/recurring_silences", get_recurring)
    r.add_post("/api/v2/recurring_silences", post_recurring)
    r.add_delete("/api/v2/recurring_silences/{id}", delete_recurring)
