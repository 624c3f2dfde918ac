"""Slack: one attachment per notification, to an incoming webhook or ``chat.postMessage``."""

from __future__ import annotations

from typing import Any

from promhub.alerting.notify.integration import Integration, Notification, secret, truncate
from promhub.alerting.receiver import SlackConfig

#: Slack cuts longer attachment titles; Alertmanager truncates first so the link survives.
MAX_TITLE_RUNES = 1024


class SlackNotifier(Integration):
    """``slack_configs``: every text field rendered through the templates."""

    name = "slack"
    conf: SlackConfig

    def payload(self, n: Notification) -> dict[str, Any]:
        """The JSON document Alertmanager 0.25 sends (empty optional fields left out)."""
        c = self.conf
        data = n.data()

        def t(text: str) -> str:
            return n.render(text, data)

        title, _ = truncate(t(c.title), MAX_TITLE_RUNES)
        att: dict[str, Any] = {
            "title": title,
            "title_link": t(c.title_link),
            "pretext": t(c.pretext),
            "text": t(c.text),
            "fallback": t(c.fallback),
            "callback_id": t(c.callback_id),
        }
        if c.fields:
            att["fields"] = [
                {
                    **({"title": title} if (title := t(f.title)) else {}),
                    **({"value": value} if (value := t(f.value)) else {}),
                    "short": f.short if f.short is not None else c.short_fields,
                }
                for f in c.fields
            ]
        if c.actions:
            att["actions"] = [self._action(a, t) for a in c.actions]
        att["image_url"] = t(c.image_url)
        att["thumb_url"] = t(c.thumb_url)
        att["footer"] = t(c.footer)
        att["color"] = t(c.color)
        att["mrkdwn_in"] = c.mrkdwn_in or ["fallback", "pretext", "text"]
        # Go's omitempty: these keys are absent when empty; text/fallback/callback_id/
        # footer are always present.
        for k in ("title", "title_link", "pretext", "image_url", "thumb_url", "color"):
            if not att[k]:
                del att[k]
        req: dict[str, Any] = {
            "channel": t(c.channel),
            "username": t(c.username),
            "icon_emoji": t(c.icon_emoji),
            "icon_url": t(c.icon_url),
            "link_names": c.link_names,
        }
        req = {k: v for k, v in req.items() if v}
        req["attachments"] = [att]
        return req

    @staticmethod
    def _action(a: Any, t: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"type": t(a.type), "text": t(a.text)}
        for k in ("url", "style", "name", "value"):
            v = t(getattr(a, k))
            if v:
                out[k] = v
        if a.confirm is not None:
            conf = {
                "title": t(a.confirm.get("title", "")),
                "text": t(a.confirm.get("text", "")),
                "ok_text": t(a.confirm.get("ok_text", "")),
                "dismiss_text": t(a.confirm.get("dismiss_text", "")),
            }
            out["confirm"] = {k: v for k, v in conf.items() if v or k == "text"}
        return out

    async def notify(self, n: Notification) -> None:
        """POST the message; 5xx and transport errors are retried."""
        url = secret(self.conf.api_url, self.conf.api_url_file, "api_url_file")
        status, body = await self.client.post_json(url, self.payload(n))
        self.check(status, body)
