"""Telegram: the Bot API's ``sendMessage`` as Alertmanager's client (telebot) calls it:
every parameter a JSON string, web page previews off."""

from __future__ import annotations

import json
from typing import Any

from promhub.alerting.notify.integration import (
    Integration,
    Notification,
    NotifyError,
    secret,
    truncate,
)
from promhub.alerting.receiver import TelegramConfig

MAX_MESSAGE_RUNES = 4096  # the Bot API's limit for a message text
#: telebot's own HTTP client sends Go's default User-Agent, not Alertmanager's.
USER_AGENT = "Go-http-client/1.1"


class TelegramNotifier(Integration):
    """``telegram_configs``."""

    name = "telegram"
    conf: TelegramConfig

    def payload(self, n: Notification) -> tuple[str, dict[str, Any]]:
        """The endpoint and JSON document Alertmanager 0.25 sends."""
        c = self.conf
        text, _ = truncate(n.render(c.message, n.data()), MAX_MESSAGE_RUNES)
        doc: dict[str, Any] = {"chat_id": str(c.chat_id), "text": text}
        if c.parse_mode:
            doc["parse_mode"] = c.parse_mode
        doc["disable_web_page_preview"] = "true"
        if c.disable_notifications:
            doc["disable_notification"] = "true"
        token = secret(c.bot_token, c.bot_token_file, "bot_token_file")
        return f"{c.api_url.rstrip('/')}/bot{token}/sendMessage", dict(sorted(doc.items()))

    async def notify(self, n: Notification) -> None:
        """Send the message; the Bot API reports failure in its JSON (``ok``: false)."""
        url, doc = self.payload(n)
        status, body = await self.client.post_json(url, doc, {"User-Agent": USER_AGENT})
        try:
            ok = bool(json.loads(body).get("ok"))
        except (ValueError, AttributeError):
            ok = False
        if not ok:
            # Alertmanager retries every Telegram failure.
            reason = "serverError" if status >= 500 else "clientError"
            raise NotifyError(f"telegram: status {status}: {body[:256]}", retry=True, reason=reason)
