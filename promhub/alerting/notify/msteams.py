"""Microsoft Teams: an Office 365 connector ``MessageCard`` (Alertmanager 0.26's format)."""

from __future__ import annotations

from typing import Any

from promhub.alerting.notify.integration import Integration, Notification, secret
from promhub.alerting.receiver import MSTeamsConfig

COLOR_FIRING = "8C1A1A"
COLOR_RESOLVED = "2DC72D"


class MSTeamsNotifier(Integration):
    """``msteams_configs``."""

    name = "msteams"
    conf: MSTeamsConfig

    def payload(self, n: Notification) -> dict[str, Any]:
        """The JSON document Alertmanager 0.26 sends."""
        data = n.data()
        return {
            "@context": "http://schema.org/extensions",
            "type": "MessageCard",
            "title": n.render(self.conf.title, data),
            "summary": n.render(self.conf.summary, data),
            "text": n.render(self.conf.text, data),
            "themeColor": COLOR_FIRING if n.firing else COLOR_RESOLVED,
        }

    async def notify(self, n: Notification) -> None:
        """POST the card; 5xx and transport errors are retried."""
        url = secret(self.conf.webhook_url, self.conf.webhook_url_file, "webhook_url_file")
        status, body = await self.client.post_json(url, self.payload(n))
        self.check(status, body)
