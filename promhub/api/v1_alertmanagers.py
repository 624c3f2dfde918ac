"""``GET /api/v1/alertmanagers``: the Alertmanagers alerts are sent to, as Prometheus."""

from __future__ import annotations

from aiohttp import web

from promhub.api.v1 import server_of, success_obj

__all__ = ["ROUTES"]


async def alertmanagers(request: web.Request) -> web.Response:
    n = server_of(request).notifier
    active = n.alertmanagers() if n is not None else []
    dropped = n.dropped_alertmanagers() if n is not None else []
    return success_obj(
        {
            "activeAlertmanagers": [{"url": u} for u in active],
            "droppedAlertmanagers": [{"url": u} for u in dropped],
        },
        request=request,
    )


ROUTES = [("/api/v1/alertmanagers", alertmanagers)]
