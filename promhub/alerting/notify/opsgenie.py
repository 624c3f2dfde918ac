"""Opsgenie: Alert API v2. A firing group creates (or, with ``update_alerts``, also
updates) the alert whose alias is the group key's hash; a resolved group closes it."""

from __future__ import annotations

import json
from typing import Any

from promhub.alerting.notify.integration import (
    Integration,
    Notification,
    group_key_hash,
    secret,
    truncate,
)
from promhub.alerting.receiver import OpsGenieConfig

MAX_MESSAGE_RUNES = 130  # Opsgenie's limit for an alert message


def _split(s: str) -> list[str]:
    # Alertmanager drops blank items but keeps the spaces around the others.
    return [p for p in s.split(",") if p.strip()]


class OpsGenieNotifier(Integration):
    """``opsgenie_configs``."""

    name = "opsgenie"
    conf: OpsGenieConfig

    def requests(self, n: Notification) -> list[tuple[str, str, dict[str, Any]]]:
        """(method, URL, JSON) of each request Alertmanager 0.25 makes, in order."""
        c = self.conf
        data = n.data()

        def t(text: str) -> str:
            return n.render(text, data)

        alias = group_key_hash(n.group_key)
        base = c.api_url if c.api_url.endswith("/") else c.api_url + "/"
        q = "?identifierType=alias"
        if not n.firing:
            return [("POST", f"{base}v2/alerts/{alias}/close{q}", {"source": t(c.source)})]
        details = dict(data.CommonLabels)
        details.update({k: t(v) for k, v in c.details.items()})
        responders: list[dict[str, str]] = []
        for r in c.responders:
            resp = {"id": t(r.id), "name": t(r.name), "username": t(r.username)}
            rtype = t(r.type)
            if r.type == "teams":
                # "teams" is a comma-separated list of team names, one responder each.
                responders.extend({"name": tm, "type": "team"} for tm in _split(resp["name"]))
                continue
            responders.append({**{k: v for k, v in resp.items() if v}, "type": rtype})
        message, _ = truncate(t(c.message), MAX_MESSAGE_RUNES)
        doc: dict[str, Any] = {
            "alias": alias,
            "message": message,
            "description": t(c.description),
            "details": details,
            "source": t(c.source),
            "responders": responders,
            "tags": _split(t(c.tags)),
            "note": t(c.note),
            "priority": t(c.priority),
            "entity": t(c.entity),
            "actions": _split(t(c.actions)),
        }
        # Go's omitempty on everything but alias, message, details and source.
        keep = ("alias", "message", "details", "source")
        doc = {k: v for k, v in doc.items() if v or k in keep}
        out = [("POST", f"{base}v2/alerts", doc)]
        if c.update_alerts:
            msg = {"message": message} if message else {}
            out.append(("PUT", f"{base}v2/alerts/{alias}/message{q}", msg))
            desc = {"description": doc["description"]} if doc.get("description") else {}
            out.append(("PUT", f"{base}v2/alerts/{alias}/description{q}", desc))
        return out

    async def notify(self, n: Notification) -> None:
        """Make the requests; the first failure stops (and is retried if 5xx)."""
        key = secret(self.conf.api_key, self.conf.api_key_file, "api_key_file")
        headers = {"Authorization": f"GenieKey {key}"}
        for method, url, doc in self.requests(n):
            if method == "POST":
                status, body = await self.client.post_json(url, doc, headers)
            else:
                raw = _json(doc)
                h = {"Content-Type": "application/json", **headers}
                status, body = await self.client.request(method, url, raw, h)
            self.check(status, body)


def _json(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
