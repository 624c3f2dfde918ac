"""What every notifier shares: the rendering context of one notification, the HTTP
client with Alertmanager's status handling, and the base :class:`Integration`.

A notifier builds the request Alertmanager 0.25 sends for its integration and raises
:class:`NotifyError` on failure, saying whether a retry can help (Alertmanager retries
5xx and transport errors, not 4xx) and why (the ``reason`` label of
``alertmanager_notifications_failed_total``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import ssl
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import aiohttp

from promhub.alerting.alert import Alert
from promhub.config.http_client import (
    CredentialError,
    HTTPAuth,
    client_session,
    proxy_for,
    read_secret,
    ssl_context,
)
from promhub.config.model import HTTPClientConfig
from promhub.rules import template_data as td
from promhub.rules.template import Template, TemplateError

__all__ = [
    "USER_AGENT",
    "HTTPClient",
    "Integration",
    "NotifyError",
    "Notification",
    "go_time",
    "group_key_hash",
    "secret",
    "truncate",
]

#: The User-Agent of the Alertmanager whose requests promhub reproduces.
USER_AGENT = "Alertmanager/0.25.0"
_ZERO = "0001-01-01T00:00:00Z"


class NotifyError(Exception):
    """A failed notification attempt; ``retry`` says whether trying again may help."""

    def __init__(self, message: str, *, retry: bool, reason: str = "other") -> None:
        super().__init__(message)
        self.retry = retry
        self.reason = reason


def truncate(s: str, n: int) -> tuple[str, bool]:
    """``s`` cut to ``n`` runes ending in "…" as Alertmanager's ``TruncateInRunes``."""
    if len(s) <= n:
        return s, False
    if n <= 1:
        return s[:n], True
    return s[: n - 1] + "…", True


def go_time(ts: float) -> str:
    """A Unix time as Go's JSON encodes a UTC ``time.Time`` (RFC 3339, trailing zeros of
    the fraction dropped); 0 is Go's zero time."""
    if not ts:
        return _ZERO
    micros = round(ts * 1e6)
    t = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros)
    frac = f"{t.microsecond:06d}".rstrip("0")
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def group_key_hash(group_key: str) -> str:
    """SHA-256 of the group key in hex: PagerDuty's ``dedup_key``, Opsgenie's ``alias``."""
    return hashlib.sha256(group_key.encode()).hexdigest()


def secret(inline: str, path: str, what: str) -> str:
    """A secret given inline or in a file (read at send time, as Alertmanager does, so a
    rotated file is picked up without a reload)."""
    if inline or not path:
        return inline
    try:
        return read_secret(path, what)
    except CredentialError as e:
        raise NotifyError(str(e), retry=False) from None


def _template_alert(a: Alert, now: float) -> td.Alert:
    def when(ts: float) -> dt.datetime:
        if not ts:
            return td._ZERO_TIME  # noqa: SLF001 - Go's zero time, shared with the templates
        return dt.datetime.fromtimestamp(ts, dt.UTC)

    return td.Alert(
        Status="resolved" if a.resolved(now) else "firing",
        Labels=td.KV(a.labels),
        Annotations=td.KV(a.annotations),
        StartsAt=when(a.starts_at),
        EndsAt=when(a.ends_at),
        GeneratorURL=a.generator_url,
        Fingerprint=a.fingerprint_hex,
    )


@dataclass(slots=True)
class Notification:
    """One notification to one integration: the alerts to send (resolved ones already
    dropped when the integration does not send them) and how to render its fields."""

    receiver: str
    group_key: str
    group_labels: dict[str, str]
    alerts: list[Alert]
    now: float
    external_url: str
    template: Template
    _cache: dict[str, Template] = field(default_factory=dict)

    @property
    def firing(self) -> bool:
        """Whether any alert fires (Alertmanager's ``Alerts.Status()``)."""
        return any(not a.resolved(self.now) for a in self.alerts)

    def data(self, alerts: list[Alert] | None = None) -> td.NotificationData:
        """The template data (``.Receiver``, ``.Alerts``, ``.CommonLabels``...)."""
        return td.NotificationData.from_alerts(
            self.receiver,
            [_template_alert(a, self.now) for a in (self.alerts if alerts is None else alerts)],
            self.group_labels,
            self.external_url,
        )

    def render(self, text: str, data: Any) -> str:
        """Render a receiver field; a template error fails the notification for good
        (a retry renders the same error)."""
        if "{{" not in text:
            return text
        t = self._cache.get(text)
        try:
            if t is None:
                t = self._cache[text] = self.template.derive("__field", text)
            return t.execute(data)
        except TemplateError as e:
            raise NotifyError(f"template: {e}", retry=False) from None

    def alert_json(self, alerts: list[Alert]) -> list[dict[str, Any]]:
        """Alerts as Alertmanager's ``template.Alert`` JSON (the webhook's ``alerts``)."""
        return [
            {
                "status": "resolved" if a.resolved(self.now) else "firing",
                "labels": dict(sorted(a.labels.items())),
                "annotations": dict(sorted(a.annotations.items())),
                "startsAt": go_time(a.starts_at),
                "endsAt": go_time(a.ends_at),
                "generatorURL": a.generator_url,
                "fingerprint": a.fingerprint_hex,
            }
            for a in alerts
        ]


def status_error(integration: str, status: int, body: str) -> NotifyError:
    """Alertmanager's default retrier: 5xx retry, anything else (4xx) does not."""
    text = body.strip()[:512]
    msg = f"unexpected status code {status}" + (f": {text}" if text else "")
    if status >= 500:
        return NotifyError(msg, retry=True, reason="serverError")
    return NotifyError(msg, retry=False, reason="clientError")


class HTTPClient:
    """One integration's HTTP client: its ``http_config`` (TLS, proxy, auth) applied to
    every request, a session kept for the life of the config."""

    def __init__(self, http: HTTPClientConfig) -> None:
        self.http = http
        self._auth = HTTPAuth(http)
        self._ssl: ssl.SSLContext | None = None
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            if self._ssl is None:
                self._ssl = ssl_context(self.http.tls_config)
            self._session = client_session(self.http, connector=aiohttp.TCPConnector(ssl=self._ssl))
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout: float = 0.0,
    ) -> tuple[int, str]:
        """Send one request; returns status and body text. Transport errors and
        unreadable credentials become a retryable :class:`NotifyError`."""
        session = self._get_session()
        try:
            h = await self._auth.headers(session)
        except CredentialError as e:
            raise NotifyError(str(e), retry=True) from None
        h.update(headers)
        h.setdefault("User-Agent", USER_AGENT)
        to = aiohttp.ClientTimeout(total=timeout or None)
        try:
            async with session.request(
                method, url, data=body, headers=h, proxy=proxy_for(self.http, url), timeout=to
            ) as resp:
                return resp.status, await resp.text(errors="replace")
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as e:
            raise NotifyError(
                f"{method} {_redact(url)}: {e or type(e).__name__}", retry=True
            ) from None

    async def post_json(
        self, url: str, doc: Any, headers: Mapping[str, str] | None = None, timeout: float = 0.0
    ) -> tuple[int, str]:
        """POST ``doc`` as JSON (compact, as Go's encoder writes it)."""
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        h = {"Content-Type": "application/json", **(headers or {})}
        return await self.request("POST", url, body, h, timeout)

    async def close(self) -> None:
        """Close the session (on reload or shutdown)."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _redact(url: str) -> str:
    # Webhook URLs often embed tokens (Slack, Discord, Telegram): log scheme and host only.
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/<redacted>"


class Integration(ABC):
    """One configured integration of a receiver (e.g. its second ``webhook_configs``)."""

    #: Alertmanager's integration name: the ``integration`` label of its metrics.
    name: ClassVar[str]

    def __init__(self, conf: Any, index: int, receiver: str) -> None:
        self.conf = conf
        self.index = index
        self.receiver = receiver
        self.send_resolved: bool = conf.send_resolved
        http: HTTPClientConfig | None = getattr(conf, "http_config", None)
        self.client = HTTPClient(http or HTTPClientConfig())

    @property
    def key(self) -> str:
        """The notification log's key: receiver, integration and index."""
        return f"{self.receiver}/{self.name}/{self.index}"

    @abstractmethod
    async def notify(self, n: Notification) -> None:
        """Send ``n``; raise :class:`NotifyError` on failure."""

    def check(self, status: int, body: str) -> None:
        """Raise unless ``status`` is 2xx (Alertmanager's default retrier)."""
        if not 200 <= status < 300:
            raise status_error(self.name, status, body)

    async def close(self) -> None:
        """Release the HTTP session."""
        await self.client.close()
