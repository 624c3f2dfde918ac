"""Discord: a webhook message with one embed (title, description, status color)."""

from __future__ import annotations

from typing import Any

from promhub.alerting.notify.integration import Integration, Notification, secret, truncate
from promhub.alerting.receiver import DiscordConfig

# Discord refuses longer embeds (HTTP 400), so the notification would be lost: promhub
# truncates as Alertmanager 0.26+ does (0.25 sent them whole).
MAX_TITLE_RUNES = 256
MAX_DESCRIPTION_RUNES = 4096
COLOR_RED = 0x992D22
COLOR_GREEN = 0x2ECC71


class DiscordNotifier(Integration):
    """``discord_configs``."""

    name = "discord"
    conf: DiscordConfig

    def payload(self, n: Notification) -> dict[str, Any]:
        """The JSON document Alertmanager 0.25 sends."""
        data = n.data()
        title, _ = truncate(n.render(self.conf.title, data), MAX_TITLE_RUNES)
        desc, _ = truncate(n.render(self.conf.message, data), MAX_DESCRIPTION_RUNES)
        color = COLOR_RED if n.firing else COLOR_GREEN
        return {"content": "", "embeds": [{"title": title, "description": desc, "color": color}]}

    async def notify(self, n: Notification) -> None:
        """POST the message; 5xx and transport errors are retried."""
        url = secret(self.conf.webhook_url, self.conf.webhook_url_file, "webhook_url_file")
        status, body = await self.client.post_json(url, self.payload(n))
        self.check(status, body)
