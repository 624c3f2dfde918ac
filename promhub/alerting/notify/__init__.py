"""Receivers' integrations (webhook, Slack, e-mail, PagerDuty, Microsoft Teams, Discord,
Telegram, Opsgenie) and the pipeline that notifies them: :class:`Notifier`."""

from promhub.alerting.notify.integration import Integration, Notification, NotifyError
from promhub.alerting.notify.pipeline import Backoff, Notifier, NotifyMetrics

__all__ = ["Backoff", "Integration", "Notification", "Notifier", "NotifyError", "NotifyMetrics"]
