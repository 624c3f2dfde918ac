"""Webhook: POSTs Alertmanager's version-4 JSON (the template data plus ``version``,
``groupKey`` and ``truncatedAlerts``) to ``url``."""

from __future__ import annotations

from typing import Any

from promhub.alerting.notify.integration import Integration, Notification, secret
from promhub.alerting.receiver import WebhookConfig


class WebhookNotifier(Integration):
    """``webhook_configs``; ``max_alerts`` keeps the first N alerts and counts the rest."""

    name = "webhook"
    conf: WebhookConfig

    def payload(self, n: Notification) -> dict[str, Any]:
        """The JSON document Alertmanager 0.25 sends."""
        alerts = n.alerts
        dropped = 0
        if self.conf.max_alerts and len(alerts) > self.conf.max_alerts:
            dropped = len(alerts) - self.conf.max_alerts
            alerts = alerts[: self.conf.max_alerts]
        data = n.data(alerts)
        return {
            "receiver": data.Receiver,
            "status": data.Status,
            "alerts": n.alert_json(alerts),
            "groupLabels": dict(sorted(data.GroupLabels.items())),
            "commonLabels": dict(sorted(data.CommonLabels.items())),
            "commonAnnotations": dict(sorted(data.CommonAnnotations.items())),
            "externalURL": data.ExternalURL,
            "version": "4",
            "groupKey": n.group_key,
            "truncatedAlerts": dropped,
        }

    async def notify(self, n: Notification) -> None:
        """POST the payload; 5xx and transport errors are retried."""
        url = secret(self.conf.url, self.conf.url_file, "url_file")
        status, body = await self.client.post_json(url, self.payload(n), timeout=self.conf.timeout)
        self.check(status, body)
