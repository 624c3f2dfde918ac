"""PagerDuty: Events API v2 with ``routing_key`` (to ``url``), v1 with ``service_key``.

The dedup key is the SHA-256 of the group key, so a group's trigger and resolve events
address the same incident; resolve events are sent when every alert of the group ended.
"""

from __future__ import annotations

from typing import Any

from promhub.alerting.notify.integration import (
    Integration,
    Notification,
    NotifyError,
    group_key_hash,
    secret,
    truncate,
)
from promhub.alerting.receiver import PagerDutyConfig

#: Events v1 has one endpoint; Alertmanager does not let ``url`` move it.
V1_URL = "https://events.pagerduty.com/generic/2010-04-15/create_event.json"
MAX_SUMMARY_RUNES = 1024  # v2 payload.summary
MAX_V1_DESCRIPTION_RUNES = 1024


class PagerDutyNotifier(Integration):
    """``pagerduty_configs``."""

    name = "pagerduty"
    conf: PagerDutyConfig

    def payload(self, n: Notification) -> tuple[str, dict[str, Any]]:
        """The endpoint and JSON document Alertmanager 0.25 sends."""
        c = self.conf
        data = n.data()

        def t(text: str) -> str:
            return n.render(text, data)

        action = "trigger" if n.firing else "resolve"
        details = {k: t(v) for k, v in sorted(c.details.items())}
        key = group_key_hash(n.group_key)
        if c.service_key or c.service_key_file:
            description, _ = truncate(t(c.description), MAX_V1_DESCRIPTION_RUNES)
            doc: dict[str, Any] = {
                "service_key": secret(c.service_key, c.service_key_file, "service_key_file"),
                "incident_key": key,
                "event_type": action,
                "description": description,
                # One Go struct serves both API versions: v1 requests carry its empty
                # v2 fields too.
                "event_action": "",
                "payload": None,
            }
            if action == "trigger":
                doc["client"] = t(c.client)
                doc["client_url"] = t(c.client_url)
                doc["details"] = details
            return V1_URL, doc
        summary, _ = truncate(t(c.description), MAX_SUMMARY_RUNES)
        payload: dict[str, Any] = {
            "summary": summary,
            "source": t(c.source or c.client),
            "severity": t(c.severity),
            "custom_details": details,
            "class": t(c.class_),
            "component": t(c.component),
            "group": t(c.group),
        }
        payload = {k: v for k, v in payload.items() if v}
        doc = {
            "routing_key": secret(c.routing_key, c.routing_key_file, "routing_key_file"),
            "dedup_key": key,
            "event_action": action,
            "payload": payload,
            "client": t(c.client),
            "client_url": t(c.client_url),
        }
        images = [
            {k: v for k, v in (("src", t(i.src)), ("alt", t(i.alt)), ("href", t(i.href))) if v}
            for i in c.images
        ]
        links = [{"href": t(ln.href), "text": t(ln.text)} for ln in c.links]
        if images := [i for i in images if i.get("src")]:
            doc["images"] = images
        if links := [ln for ln in links if ln["href"]]:
            doc["links"] = links
        doc = {k: v for k, v in doc.items() if v != ""}
        return c.url, doc

    async def notify(self, n: Notification) -> None:
        """Send the event; PagerDuty's 429 (rate limit) is retried like a 5xx."""
        url, doc = self.payload(n)
        status, body = await self.client.post_json(url, doc)
        if status == 429:
            raise NotifyError("PagerDuty rate limit (429)", retry=True, reason="clientError")
        self.check(status, body)
