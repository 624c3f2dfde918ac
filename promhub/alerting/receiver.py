"""Receiver configs of ``alertmanager.yml``: typed, validated, with Alertmanager's defaults.

One dataclass per integration (webhook, Slack, e-mail, PagerDuty, Microsoft Teams,
Discord, Telegram, Opsgenie). Each is read from its YAML section with the same field
names, defaults (including the default notification templates, kept as template text
for the notifiers to render) and validation as Alertmanager 0.25–0.27; settings left
unset in a receiver come from ``global`` (SMTP, Slack/PagerDuty/Opsgenie/Telegram URLs,
``http_config``). Integrations promhub does not implement yet are named, not "unknown".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from promhub.config.http_client import (
    HTTP_CLIENT_FIELDS,
    TLS_FIELDS,
    read_http_client,
    read_tls,
)
from promhub.config.model import HTTPClientConfig, TLSConfig
from promhub.config.yaml_lines import ANY_KEY, Section

if TYPE_CHECKING:
    from promhub.alerting.config import GlobalConfig

__all__ = [
    "DiscordConfig",
    "EmailConfig",
    "MSTeamsConfig",
    "OpsGenieConfig",
    "PagerDutyConfig",
    "Receiver",
    "SlackConfig",
    "TelegramConfig",
    "WebhookConfig",
    "read_receiver",
]

#: Integrations Alertmanager has and promhub does not (yet).
UNSUPPORTED = (
    "pushover_configs", "sns_configs", "victorops_configs", "wechat_configs",
    "webex_configs",
)  # fmt: skip


def _tmpl(name: str) -> str:
    return '{{ template "' + name + '" . }}'


@dataclass(kw_only=True, slots=True)
class NotifierConfig:
    """Settings every integration has."""

    send_resolved: bool
    http_config: HTTPClientConfig = field(default_factory=HTTPClientConfig)


@dataclass(kw_only=True, slots=True)
class WebhookConfig(NotifierConfig):
    """``webhook_configs`` entry: POSTs Alertmanager's webhook JSON to ``url``."""

    send_resolved: bool = True
    url: str = ""
    url_file: str = ""
    max_alerts: int = 0
    timeout: float = 0.0


@dataclass(kw_only=True, slots=True)
class SlackField:
    """A Slack attachment field."""

    title: str
    value: str
    short: bool | None = None


@dataclass(kw_only=True, slots=True)
class SlackAction:
    """A Slack attachment action (button)."""

    type: str
    text: str
    url: str = ""
    style: str = ""
    name: str = ""
    value: str = ""
    confirm: dict[str, str] | None = None


@dataclass(kw_only=True, slots=True)
class SlackConfig(NotifierConfig):
    """``slack_configs`` entry (incoming webhook or ``chat.postMessage``)."""

    send_resolved: bool = False
    api_url: str = ""
    api_url_file: str = ""
    channel: str = ""
    username: str = _tmpl("slack.default.username")
    color: str = '{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}'
    title: str = _tmpl("slack.default.title")
    title_link: str = _tmpl("slack.default.titlelink")
    pretext: str = _tmpl("slack.default.pretext")
    text: str = _tmpl("slack.default.text")
    fields: list[SlackField] = field(default_factory=list)
    short_fields: bool = False
    footer: str = _tmpl("slack.default.footer")
    fallback: str = _tmpl("slack.default.fallback")
    callback_id: str = _tmpl("slack.default.callbackid")
    icon_emoji: str = _tmpl("slack.default.iconemoji")
    icon_url: str = _tmpl("slack.default.iconurl")
    image_url: str = ""
    thumb_url: str = ""
    link_names: bool = False
    mrkdwn_in: list[str] = field(default_factory=lambda: ["fallback", "pretext", "text"])
    actions: list[SlackAction] = field(default_factory=list)


@dataclass(kw_only=True, slots=True)
class EmailConfig(NotifierConfig):
    """``email_configs`` entry; SMTP settings default to ``global``'s."""

    send_resolved: bool = False
    to: str = ""
    from_: str = ""
    hello: str = ""
    smarthost: str = ""
    auth_username: str = ""
    auth_password: str = ""
    auth_password_file: str = ""
    auth_secret: str = ""
    auth_identity: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    html: str = _tmpl("email.default.html")
    text: str = ""
    require_tls: bool = True
    tls_config: TLSConfig = field(default_factory=TLSConfig)


@dataclass(kw_only=True, slots=True)
class PagerDutyLink:
    """A link attached to a PagerDuty event."""

    href: str
    text: str


@dataclass(kw_only=True, slots=True)
class PagerDutyImage:
    """An image attached to a PagerDuty event."""

    src: str
    alt: str = ""
    href: str = ""


@dataclass(kw_only=True, slots=True)
class PagerDutyConfig(NotifierConfig):
    """``pagerduty_configs`` entry: Events v2 with ``routing_key``, v1 with ``service_key``."""

    send_resolved: bool = True
    service_key: str = ""
    service_key_file: str = ""
    routing_key: str = ""
    routing_key_file: str = ""
    url: str = ""
    client: str = _tmpl("pagerduty.default.client")
    client_url: str = _tmpl("pagerduty.default.clientURL")
    description: str = _tmpl("pagerduty.default.description")
    details: dict[str, str] = field(
        default_factory=lambda: {
            "firing": '{{ template "pagerduty.default.instances" .Alerts.Firing }}',
            "resolved": '{{ template "pagerduty.default.instances" .Alerts.Resolved }}',
            "num_firing": "{{ .Alerts.Firing | len }}",
            "num_resolved": "{{ .Alerts.Resolved | len }}",
        }
    )
    images: list[PagerDutyImage] = field(default_factory=list)
    links: list[PagerDutyLink] = field(default_factory=list)
    source: str = ""
    severity: str = "error"
    class_: str = ""
    component: str = ""
    group: str = ""


@dataclass(kw_only=True, slots=True)
class MSTeamsConfig(NotifierConfig):
    """``msteams_configs`` entry (Alertmanager 0.26+)."""

    send_resolved: bool = True
    webhook_url: str = ""
    webhook_url_file: str = ""
    title: str = _tmpl("msteams.default.title")
    summary: str = _tmpl("msteams.default.summary")
    text: str = _tmpl("msteams.default.text")


@dataclass(kw_only=True, slots=True)
class DiscordConfig(NotifierConfig):
    """``discord_configs`` entry."""

    send_resolved: bool = True
    webhook_url: str = ""
    webhook_url_file: str = ""
    title: str = _tmpl("discord.default.title")
    message: str = _tmpl("discord.default.message")


@dataclass(kw_only=True, slots=True)
class TelegramConfig(NotifierConfig):
    """``telegram_configs`` entry."""

    send_resolved: bool = True
    api_url: str = ""
    bot_token: str = ""
    bot_token_file: str = ""
    chat_id: int = 0
    message: str = _tmpl("telegram.default.message")
    disable_notifications: bool = False
    parse_mode: str = "HTML"


@dataclass(kw_only=True, slots=True)
class OpsGenieResponder:
    """An Opsgenie responder: one of id, name or username, and a type."""

    id: str = ""
    name: str = ""
    username: str = ""
    type: str = ""


@dataclass(kw_only=True, slots=True)
class OpsGenieConfig(NotifierConfig):
    """``opsgenie_configs`` entry."""

    send_resolved: bool = True
    api_key: str = ""
    api_key_file: str = ""
    api_url: str = ""
    message: str = _tmpl("opsgenie.default.message")
    description: str = _tmpl("opsgenie.default.description")
    source: str = _tmpl("opsgenie.default.source")
    details: dict[str, str] = field(default_factory=dict)
    entity: str = ""
    responders: list[OpsGenieResponder] = field(default_factory=list)
    actions: str = ""
    tags: str = ""
    note: str = ""
    priority: str = ""
    update_alerts: bool = False


@dataclass(slots=True)
class Receiver:
    """A named receiver and its integrations (a receiver with none is valid: it drops)."""

    name: str
    webhook_configs: list[WebhookConfig] = field(default_factory=list)
    slack_configs: list[SlackConfig] = field(default_factory=list)
    email_configs: list[EmailConfig] = field(default_factory=list)
    pagerduty_configs: list[PagerDutyConfig] = field(default_factory=list)
    msteams_configs: list[MSTeamsConfig] = field(default_factory=list)
    discord_configs: list[DiscordConfig] = field(default_factory=list)
    telegram_configs: list[TelegramConfig] = field(default_factory=list)
    opsgenie_configs: list[OpsGenieConfig] = field(default_factory=list)


# -- reading

_N = {"send_resolved", "http_config"}
_FIELDS: dict[str, set[str]] = {
    "webhook_configs": _N | {"url", "url_file", "max_alerts", "timeout"},
    "slack_configs": _N | {
        "api_url", "api_url_file", "channel", "username", "color", "title", "title_link",
        "pretext", "text", "fields", "short_fields", "footer", "fallback", "callback_id",
        "icon_emoji", "icon_url", "image_url", "thumb_url", "link_names", "mrkdwn_in",
        "actions",
    },
    "email_configs": {
        "send_resolved", "to", "from", "hello", "smarthost", "auth_username",
        "auth_password", "auth_password_file", "auth_secret", "auth_identity", "headers",
        "html", "text", "require_tls", "tls_config",
    },
    "pagerduty_configs": _N | {
        "service_key", "service_key_file", "routing_key", "routing_key_file", "url",
        "client", "client_url", "description", "details", "images", "links", "source",
        "severity", "class", "component", "group",
    },
    "msteams_configs": _N | {"webhook_url", "webhook_url_file", "title", "summary", "text"},
    "discord_configs": _N | {"webhook_url", "webhook_url_file", "title", "message"},
    "telegram_configs": _N | {
        "api_url", "bot_token", "bot_token_file", "chat_id", "message",
        "disable_notifications", "parse_mode",
    },
    "opsgenie_configs": _N | {
        "api_key", "api_key_file", "api_url", "message", "description", "source", "details",
        "entity", "responders", "actions", "tags", "note", "priority", "update_alerts",
    },
}  # fmt: skip
RECEIVER_FIELDS = {"name", *_FIELDS, *UNSUPPORTED}
_OPSGENIE_TYPES = re.compile(r"^(team|teams|user|escalation|schedule)$|\{\{", re.I)
_TELEGRAM_PARSE_MODES = ("", "Markdown", "MarkdownV2", "HTML")


class _Reader:
    def __init__(self, g: GlobalConfig, join: Callable[[str], str]) -> None:
        self.g = g
        self.join = join

    def url(self, sec: Section, key: str, default: str = "") -> str:
        u = sec.get_str(key, default)
        if key in sec:
            scheme, sep, rest = u.partition("://")
            if scheme.lower() not in ("http", "https"):
                raise sec.error(key, f'unsupported scheme "{scheme if sep else ""}" for URL')
            if not rest.split("/", 1)[0]:
                raise sec.error(key, f'unsupported URL "{u}": missing host')
        return u

    def http(self, sec: Section) -> HTTPClientConfig:
        h = sec.section("http_config", "config.HTTPClientConfig", HTTP_CLIENT_FIELDS)
        return self.g.http_config if h is None else read_http_client(h, self.join)

    def one_of(self, sec: Section, a: str, b: str, required: str = "") -> None:
        if a in sec and b in sec:
            raise sec.error(b, f"at most one of {a} & {b} must be configured")
        if required and a not in sec and b not in sec:
            raise sec.error("", required)

    def webhook(self, sec: Section) -> WebhookConfig:
        self.one_of(sec, "url", "url_file", "one of url or url_file must be configured")
        return WebhookConfig(
            send_resolved=sec.get_bool("send_resolved", True),
            http_config=self.http(sec),
            url=self.url(sec, "url"),
            url_file=self.join(sec.get_str("url_file")),
            max_alerts=sec.get_uint("max_alerts"),
            timeout=sec.get_duration("timeout"),
        )

    def slack(self, sec: Section) -> SlackConfig:
        self.one_of(sec, "api_url", "api_url_file")
        c = SlackConfig(send_resolved=sec.get_bool("send_resolved", False))
        c.http_config = self.http(sec)
        c.api_url = self.url(sec, "api_url", self.g.slack_api_url)
        c.api_url_file = self.join(sec.get_str("api_url_file")) or self.g.slack_api_url_file
        if not c.api_url and not c.api_url_file:
            raise sec.error("api_url", "no global Slack API URL set either inline or in a file")
        for key in (
            "channel", "username", "color", "title", "title_link", "pretext", "text",
            "footer", "fallback", "callback_id", "icon_emoji", "icon_url", "image_url",
            "thumb_url",
        ):  # fmt: skip
            setattr(c, key, sec.get_str(key, getattr(c, key)))
        c.short_fields = sec.get_bool("short_fields", False)
        c.link_names = sec.get_bool("link_names", False)
        if "mrkdwn_in" in sec:
            c.mrkdwn_in = sec.str_list("mrkdwn_in")
        for f in sec.sections("fields", "config.SlackField", {"title", "value", "short"}):
            if not f.get_str("title"):
                raise f.error("title", "missing title in Slack field configuration")
            if not f.get_str("value"):
                raise f.error("value", "missing value in Slack field configuration")
            short = f.get_bool("short", False) if "short" in f else None
            c.fields.append(
                SlackField(title=f.get_str("title"), value=f.get_str("value"), short=short)
            )
        allowed = {"type", "text", "url", "style", "name", "value", "confirm"}
        for a in sec.sections("actions", "config.SlackAction", allowed):
            if not a.get_str("type"):
                raise a.error("type", "missing type in Slack action configuration")
            if not a.get_str("text"):
                raise a.error("text", "missing text in Slack action configuration")
            if not a.get_str("url") and not a.get_str("name"):
                raise a.error("", "missing name or url in Slack action configuration")
            conf = a.section("confirm", "config.SlackConfirmationField", ANY_KEY)
            c.actions.append(
                SlackAction(
                    type=a.get_str("type"), text=a.get_str("text"), url=a.get_str("url"),
                    style=a.get_str("style"), name=a.get_str("name"), value=a.get_str("value"),
                    confirm=None if conf is None else a.str_map("confirm"),
                )
            )  # fmt: skip
        return c

    def email(self, sec: Section) -> EmailConfig:
        g = self.g
        c = EmailConfig(send_resolved=sec.get_bool("send_resolved", False))
        c.to = sec.get_str("to")
        if not c.to:
            raise sec.error("to", "missing to address in email config")
        c.smarthost = sec.get_str("smarthost") or g.smtp_smarthost
        if "smarthost" in sec:
            check_host_port(sec, "smarthost", c.smarthost)
        if not c.smarthost:
            raise sec.error("smarthost", "no global SMTP smarthost set")
        c.from_ = sec.get_str("from") or g.smtp_from
        if not c.from_:
            raise sec.error("from", "no global mail from address set")
        c.hello = sec.get_str("hello") or g.smtp_hello
        c.auth_username = sec.get_str("auth_username") or g.smtp_auth_username
        c.auth_password = sec.get_str("auth_password") or g.smtp_auth_password
        c.auth_password_file = self.join(sec.get_str("auth_password_file"))
        c.auth_password_file = c.auth_password_file or g.smtp_auth_password_file
        c.auth_secret = sec.get_str("auth_secret") or g.smtp_auth_secret
        c.auth_identity = sec.get_str("auth_identity") or g.smtp_auth_identity
        c.require_tls = sec.get_bool("require_tls", g.smtp_require_tls)
        c.html = sec.get_str("html", c.html)
        c.text = sec.get_str("text")
        # Header names are case-insensitive: store them canonical, refuse duplicates.
        for name, (_line, value) in sec.str_map_lines("headers").items():
            canon = "-".join(p.capitalize() for p in name.split("-"))
            if canon in c.headers:
                raise sec.error("headers", f'duplicate header "{canon}" in email config')
            c.headers[canon] = value
        # Alertmanager's e-mail notifier fills these in when the config does not.
        c.headers.setdefault("Subject", _tmpl("email.default.subject"))
        c.headers.setdefault("To", c.to)
        c.headers.setdefault("From", c.from_)
        tls = sec.section("tls_config", "config.TLSConfig", TLS_FIELDS)
        if tls is not None:
            c.tls_config = read_tls(tls, self.join)
        return c

    def pagerduty(self, sec: Section) -> PagerDutyConfig:
        self.one_of(sec, "routing_key", "routing_key_file")
        self.one_of(sec, "service_key", "service_key_file")
        c = PagerDutyConfig(send_resolved=sec.get_bool("send_resolved", True))
        c.http_config = self.http(sec)
        for key in ("service_key", "routing_key"):
            setattr(c, key, sec.get_str(key))
            setattr(c, key + "_file", self.join(sec.get_str(key + "_file")))
        if not (c.service_key or c.service_key_file or c.routing_key or c.routing_key_file):
            raise sec.error("", "missing service or routing key in PagerDuty config")
        c.url = self.url(sec, "url", self.g.pagerduty_url)
        for key in (
            "client",
            "client_url",
            "description",
            "source",
            "severity",
            "component",
            "group",
        ):
            setattr(c, key, sec.get_str(key, getattr(c, key)))
        c.class_ = sec.get_str("class")
        if "details" in sec:
            c.details = sec.str_map("details")
        for i in sec.sections("images", "config.PagerdutyImage", {"src", "alt", "href"}):
            c.images.append(
                PagerDutyImage(src=i.get_str("src"), alt=i.get_str("alt"), href=i.get_str("href"))
            )
        for ln in sec.sections("links", "config.PagerdutyLink", {"href", "text"}):
            c.links.append(PagerDutyLink(href=ln.get_str("href"), text=ln.get_str("text")))
        return c

    def msteams(self, sec: Section) -> MSTeamsConfig:
        self.one_of(
            sec, "webhook_url", "webhook_url_file",
            "one of webhook_url or webhook_url_file must be configured",
        )  # fmt: skip
        c = MSTeamsConfig(send_resolved=sec.get_bool("send_resolved", True))
        c.http_config = self.http(sec)
        c.webhook_url = self.url(sec, "webhook_url")
        c.webhook_url_file = self.join(sec.get_str("webhook_url_file"))
        for key in ("title", "summary", "text"):
            setattr(c, key, sec.get_str(key, getattr(c, key)))
        return c

    def discord(self, sec: Section) -> DiscordConfig:
        self.one_of(
            sec, "webhook_url", "webhook_url_file",
            "one of webhook_url or webhook_url_file must be configured",
        )  # fmt: skip
        c = DiscordConfig(send_resolved=sec.get_bool("send_resolved", True))
        c.http_config = self.http(sec)
        c.webhook_url = self.url(sec, "webhook_url")
        c.webhook_url_file = self.join(sec.get_str("webhook_url_file"))
        c.title = sec.get_str("title", c.title)
        c.message = sec.get_str("message", c.message)
        return c

    def telegram(self, sec: Section) -> TelegramConfig:
        self.one_of(
            sec, "bot_token", "bot_token_file",
            "missing bot_token or bot_token_file on telegram_config",
        )  # fmt: skip
        c = TelegramConfig(send_resolved=sec.get_bool("send_resolved", True))
        c.http_config = self.http(sec)
        c.api_url = self.url(sec, "api_url", self.g.telegram_api_url)
        c.bot_token = sec.get_str("bot_token")
        c.bot_token_file = self.join(sec.get_str("bot_token_file"))
        node = sec.node("chat_id")
        try:
            c.chat_id = int(str(node.value)) if node is not None else 0
        except ValueError:
            raise sec.error("chat_id", f"cannot unmarshal {node.value!r} into int64") from None  # type: ignore[union-attr]
        if c.chat_id == 0:
            raise sec.error("chat_id", "missing chat_id on telegram_config")
        c.message = sec.get_str("message", c.message)
        c.disable_notifications = sec.get_bool("disable_notifications", False)
        c.parse_mode = sec.get_str("parse_mode", "HTML")
        if c.parse_mode not in _TELEGRAM_PARSE_MODES:
            raise sec.error(
                "parse_mode",
                "unknown parse_mode on telegram_config, must be Markdown, MarkdownV2, HTML "
                "or empty string",
            )
        return c

    def opsgenie(self, sec: Section) -> OpsGenieConfig:
        self.one_of(sec, "api_key", "api_key_file")
        c = OpsGenieConfig(send_resolved=sec.get_bool("send_resolved", True))
        c.http_config = self.http(sec)
        c.api_key = sec.get_str("api_key") or self.g.opsgenie_api_key
        c.api_key_file = self.join(sec.get_str("api_key_file")) or self.g.opsgenie_api_key_file
        if not c.api_key and not c.api_key_file:
            raise sec.error("api_key", "no global OpsGenie API Key set either inline or in a file")
        c.api_url = self.url(sec, "api_url", self.g.opsgenie_api_url)
        for key in (
            "message", "description", "source", "entity", "actions", "tags", "note", "priority",
        ):  # fmt: skip
            setattr(c, key, sec.get_str(key, getattr(c, key)))
        c.details = sec.str_map("details")
        c.update_alerts = sec.get_bool("update_alerts", False)
        for r in sec.sections(
            "responders", "config.OpsGenieConfigResponder", {"id", "name", "username", "type"}
        ):
            resp = OpsGenieResponder(
                id=r.get_str("id"), name=r.get_str("name"), username=r.get_str("username"),
                type=r.get_str("type"),
            )  # fmt: skip
            if not (resp.id or resp.name or resp.username):
                raise r.error(
                    "",
                    "opsGenieConfig responder must have at least an id, a name or a username "
                    "defined",
                )
            if not _OPSGENIE_TYPES.search(resp.type):
                raise r.error(
                    "type",
                    f"opsGenieConfig responder {resp.type} type does not match valid options "
                    "team,teams,user,escalation,schedule",
                )
            c.responders.append(resp)
        return c


def check_host_port(sec: Section, key: str, value: str) -> None:
    """``host:port`` as Alertmanager's HostPort requires (an IPv6 host in brackets)."""
    if not value:
        return
    host, sep, port = value.rpartition(":")
    if not sep:
        raise sec.error(key, f"address {value}: missing port in address")
    if not port:
        raise sec.error(key, f'address "{value}": port cannot be empty')
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        raise sec.error(key, f"address {value}: too many colons in address")


def read_receiver(sec: Section, g: GlobalConfig, join: Callable[[str], str]) -> Receiver:
    """One entry of ``receivers``, its integrations validated and defaulted from ``g``."""
    name = sec.get_str("name")
    if not name:
        raise sec.error("name", "missing name in receiver")
    for key in UNSUPPORTED:
        if key in sec:
            raise sec.error(key, "this integration is not supported by promhub yet")
    rd = _Reader(g, join)
    r = Receiver(name)
    readers = {
        "webhook_configs": rd.webhook, "slack_configs": rd.slack, "email_configs": rd.email,
        "pagerduty_configs": rd.pagerduty, "msteams_configs": rd.msteams,
        "discord_configs": rd.discord, "telegram_configs": rd.telegram,
        "opsgenie_configs": rd.opsgenie,
    }  # fmt: skip
    for key, read in readers.items():
        type_name = "config." + key.removesuffix("_configs").capitalize() + "Config"
        getattr(r, key).extend(read(s) for s in sec.sections(key, type_name, _FIELDS[key]))
    return r
