"""``/federate``: the latest sample of each selected series, in the text format 0.0.4.

Prometheus' federation semantics: for every series matching any ``match[]`` selector, the
newest sample within the lookback window (5 m) before now, unless it is a staleness marker
(the exposition formats cannot carry those); series grouped by metric name (one
``# TYPE name untyped`` line each); the configuration's external labels appended where the
series does not already have that label, with ``instance=""`` when there is no external
``instance``; every sample with its timestamp.
"""

from __future__ import annotations

import math
import time

from aiohttp import web

from promhub.api.v1 import Params, blocking, parse_selector, server_of
from promhub.model.labels import LABEL_NAME_RE, METRIC_NAME, METRIC_NAME_RE, Labels
from promhub.model.value import stale_mask

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LOOKBACK_MS = 300_000


def format_go_g(v: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'g', -1, 64)``, the text format's value spelling."""
    if v != v:
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    sign = "-" if v < 0 else ""
    r = repr(abs(v))
    if "e" in r:
        mant, _, e = r.partition("e")
        digits = mant.replace(".", "")
        dp = int(e) + 1
    else:
        ip, _, fp = r.partition(".")
        if ip == "0":
            stripped = fp.lstrip("0")
            digits, dp = stripped, -(len(fp) - len(stripped))
        else:
            digits, dp = ip + fp, len(ip)
    digits = digits.rstrip("0") or "0"
    nd = len(digits)
    exp = dp - 1
    if exp < -4 or exp >= 6:  # Go uses %e past these for the shortest form
        frac = "." + digits[1:] if nd > 1 else ""
        return f"{sign}{digits[0]}{frac}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= nd:
        return f"{sign}{digits}{'0' * (dp - nd)}"
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _name(n: str) -> str:
    return n if METRIC_NAME_RE.match(n) else '"' + _escape(n) + '"'


def render(samples: list[tuple[Labels, int, float]], external: dict[str, str]) -> str:
    """The exposition text for ``(labels, ts, value)`` samples, sorted by metric name."""
    ext = dict(external)
    ext.setdefault("instance", "")
    ext_names = sorted(ext)
    out: list[str] = []
    last = None
    for ls, ts, v in sorted(samples, key=lambda s: s[0].get(METRIC_NAME)):
        name = ls.get(METRIC_NAME)
        if not name:
            continue  # Prometheus ignores nameless series here
        if name != last:
            out.append(f"# TYPE {_name(name)} untyped\n")
            last = name
        pairs = [(k, val) for k, val in ls if k != METRIC_NAME]
        have = {k for k, _ in pairs}
        pairs += [(k, ext[k]) for k in ext_names if k not in have]
        labels = ",".join(
            f'{k if LABEL_NAME_RE.match(k) else chr(34) + _escape(k) + chr(34)}="{_escape(val)}"'
            for k, val in pairs
        )
        if METRIC_NAME_RE.match(name):
            head = f"{name}{{{labels}}}"
        else:
            head = "{" + _name(name) + ("," + labels if labels else "") + "}"
        out.append(f"{head} {format_go_g(v)} {ts}\n")
    return "".join(out)


async def federate(request: web.Request) -> web.Response:
    srv = server_of(request)
    if srv.opts.agent:  # as Prometheus Agent's WAL-only storage answers a querier request
        return web.Response(status=500, text="unsupported operation with WAL-only storage\n")
    if not srv.ready or srv.db is None:
        return web.Response(status=503, text="Service Unavailable")
    p = await Params.of(request)
    try:
        sets = [parse_selector(s) for s in p.getall("match[]")]
    except Exception as e:
        return web.Response(status=400, text=f"{e}\n")
    db = srv.db
    lookback = srv.opts.query_lookback_ms or LOOKBACK_MS
    external = dict(srv.config.global_.external_labels) if srv.config is not None else {}

    def work() -> str:
        maxt = int(time.time() * 1000)
        q = db.querier(maxt - lookback, maxt)
        try:
            latest: dict[Labels, tuple[int, float]] = {}
            for ms in sets:
                for s in q.select(ms):
                    if len(s.timestamps) == 0 or s.labels in latest:
                        continue
                    if bool(stale_mask(s.values[-1:])[0]):
                        continue  # a staleness marker cannot be exposed
                    latest[s.labels] = (int(s.timestamps[-1]), float(s.values[-1]))
        finally:
            q.close()
        samples = [(ls, t, v) for ls, (t, v) in sorted(latest.items())]
        return render(samples, external)

    text = await blocking(work)
    resp = web.Response(body=text.encode())
    resp.headers["Content-Type"] = CONTENT_TYPE
    if len(text) > 1024 and "gzip" in request.headers.get("Accept-Encoding", ""):
        resp.enable_compression()
    return resp
