"""Loading and validating ``alertmanager.yml`` (Alertmanager 0.25–0.27 format).

The same fields, defaults and checks as Alertmanager's ``config`` package, so a file
``amtool check-config`` accepts loads here and one it refuses is refused: unknown or
repeated fields, bad durations, label names, regexes and matchers, a root route without
a receiver or with matchers, undefined receivers and time intervals, duplicate names,
receiver settings missing both locally and in ``global``. Every error names the file,
the line and the field::

    alertmanager.yml:14: field route.routes[0].receiver: undefined receiver "pager" used in route

Receivers live in :mod:`promhub.alerting.receiver`; the route tree here keeps what the
file says (``None`` = inherit), :mod:`promhub.alerting.dispatch` resolves inheritance.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from promhub.alerting.matcher import MatcherError, parse_matchers, sort_key
from promhub.alerting.receiver import RECEIVER_FIELDS, Receiver, check_host_port, read_receiver
from promhub.alerting.timeinterval import (
    TimeInterval,
    parse_days_of_month,
    parse_location,
    parse_months,
    parse_time_range,
    parse_weekdays,
    parse_years,
)
from promhub.config.http_client import HTTP_CLIENT_FIELDS, read_http_client
from promhub.config.model import ConfigError, HTTPClientConfig
from promhub.config.yaml_lines import Section, compose, node_line
from promhub.model.matcher import Matcher, MatchType
from promhub.model.relabel import compile_regex, is_valid_label_name

__all__ = [
    "AlertmanagerConfig",
    "ConfigError",
    "GlobalConfig",
    "InhibitRule",
    "RouteConfig",
    "load_alertmanager_config",
    "load_alertmanager_config_text",
]

_TOP = {
    "global", "route", "inhibit_rules", "receivers", "templates", "mute_time_intervals",
    "time_intervals",
}  # fmt: skip
_GLOBAL = {
    "resolve_timeout", "http_config", "smtp_from", "smtp_hello", "smtp_smarthost",
    "smtp_auth_username", "smtp_auth_password", "smtp_auth_password_file", "smtp_auth_secret",
    "smtp_auth_identity", "smtp_require_tls", "slack_api_url", "slack_api_url_file",
    "pagerduty_url", "opsgenie_api_url", "opsgenie_api_key", "opsgenie_api_key_file",
    "wechat_api_url", "wechat_api_secret", "wechat_api_corp_id", "victorops_api_url",
    "victorops_api_key", "victorops_api_key_file", "telegram_api_url", "webex_api_url",
}  # fmt: skip
_ROUTE = {
    "receiver", "group_by", "match", "match_re", "matchers", "continue", "routes",
    "group_wait", "group_interval", "repeat_interval", "mute_time_intervals",
    "active_time_intervals",
}  # fmt: skip
_INHIBIT = {
    "source_match", "source_match_re", "source_matchers", "target_match", "target_match_re",
    "target_matchers", "equal",
}  # fmt: skip
_TI = {"times", "weekdays", "days_of_month", "months", "years", "location"}

DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0


@dataclass(slots=True)
class GlobalConfig:
    """``global``: defaults for every receiver, with Alertmanager's own defaults."""

    resolve_timeout: float = 300.0
    http_config: HTTPClientConfig = field(default_factory=HTTPClientConfig)
    smtp_from: str = ""
    smtp_hello: str = "localhost"
    smtp_smarthost: str = ""
    smtp_auth_username: str = ""
    smtp_auth_password: str = ""
    smtp_auth_password_file: str = ""
    smtp_auth_secret: str = ""
    smtp_auth_identity: str = ""
    smtp_require_tls: bool = True
    slack_api_url: str = ""
    slack_api_url_file: str = ""
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    opsgenie_api_url: str = "https://api.opsgenie.com/"
    opsgenie_api_key: str = ""
    opsgenie_api_key_file: str = ""
    telegram_api_url: str = "https://api.telegram.org"
    wechat_api_url: str = "https://qyapi.weixin.qq.com/cgi-bin/"
    victorops_api_url: str = "https://alert.victorops.com/integrations/generic/20131114/alert/"
    webex_api_url: str = "https://webexapis.com/v1/messages"


@dataclass(slots=True)
class RouteConfig:
    """One node of the route tree as written; ``None`` means "inherit from the parent"."""

    receiver: str = ""
    group_by: list[str] | None = None
    matchers: list[Matcher] = field(default_factory=list)
    continue_: bool = False
    routes: list[RouteConfig] = field(default_factory=list)
    group_wait: float | None = None
    group_interval: float | None = None
    repeat_interval: float | None = None
    mute_time_intervals: list[str] = field(default_factory=list)
    active_time_intervals: list[str] = field(default_factory=list)
    line: int = 0


@dataclass(slots=True)
class InhibitRule:
    """Alerts matching ``target_matchers`` are muted while one matching
    ``source_matchers`` fires with the same values for the ``equal`` labels."""

    source_matchers: list[Matcher] = field(default_factory=list)
    target_matchers: list[Matcher] = field(default_factory=list)
    equal: list[str] = field(default_factory=list)


@dataclass(slots=True)
class AlertmanagerConfig:
    """A loaded ``alertmanager.yml``."""

    global_: GlobalConfig = field(default_factory=GlobalConfig)
    route: RouteConfig = field(default_factory=RouteConfig)
    inhibit_rules: list[InhibitRule] = field(default_factory=list)
    receivers: dict[str, Receiver] = field(default_factory=dict)
    templates: list[str] = field(default_factory=list)
    #: ``time_intervals`` and the deprecated ``mute_time_intervals``, by name.
    time_intervals: dict[str, list[TimeInterval]] = field(default_factory=dict)
    source_file: str = ""
    source_text: str = ""


def load_alertmanager_config(path: str) -> AlertmanagerConfig:
    """Read and validate ``alertmanager.yml`` at ``path`` (:class:`ConfigError` if bad)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return _Loader(path, os.path.dirname(path) or ".").load(text)


def load_alertmanager_config_text(text: str, filename: str = "") -> AlertmanagerConfig:
    """Validate config ``text``; relative paths resolve against ``filename``'s directory."""
    base = (os.path.dirname(filename) or ".") if filename else ""
    return _Loader(filename, base).load(text)


class _Loader:
    def __init__(self, file: str, base_dir: str) -> None:
        self.file = file
        self.base_dir = base_dir

    def join(self, path: str) -> str:
        if not path or not self.base_dir or os.path.isabs(path):
            return path
        return os.path.normpath(os.path.join(self.base_dir, path))

    def load(self, text: str) -> AlertmanagerConfig:
        cfg = AlertmanagerConfig(source_file=self.file, source_text=text)
        root = compose(text, self.file)
        if root is None:
            raise ConfigError("no routes provided", self.file)
        top = Section(root, self.file, "", "config.Config", _TOP)
        cfg.global_ = self.global_config(top.section("global", "config.GlobalConfig", _GLOBAL))
        cfg.templates = [self.join(t) for t in top.str_list("templates")]
        for key in ("mute_time_intervals", "time_intervals"):
            what = "mute time interval" if key == "mute_time_intervals" else "time interval"
            for sec in top.sections(key, "config.TimeInterval", {"name", "time_intervals"}):
                name = sec.get_str("name")
                if not name:
                    raise sec.error("name", f"missing name in {what}")
                if name in cfg.time_intervals:
                    raise sec.error("name", f'{what} "{name}" is not unique')
                cfg.time_intervals[name] = [
                    self.time_interval(s)
                    for s in sec.sections("time_intervals", "timeinterval.TimeInterval", _TI)
                ]
        for sec in top.sections("receivers", "config.Receiver", RECEIVER_FIELDS):
            r = read_receiver(sec, cfg.global_, self.join)
            if r.name in cfg.receivers:
                raise sec.error("name", f'notification config name "{r.name}" is not unique')
            cfg.receivers[r.name] = r
        cfg.inhibit_rules = [
            self.inhibit_rule(s)
            for s in top.sections("inhibit_rules", "config.InhibitRule", _INHIBIT)
        ]
        route = top.section("route", "config.Route", _ROUTE)
        if route is None:
            raise top.error("route", "no routes provided")
        cfg.route = self.route(route)
        if not cfg.route.receiver:
            raise route.error("receiver", "root route must specify a default receiver")
        if cfg.route.matchers:
            key = next(k for k in ("matchers", "match", "match_re") if k in route)
            raise route.error(key, "root route must not have any matchers")
        if cfg.route.continue_:
            raise route.error("continue", "cannot have continue in root route")
        if cfg.route.mute_time_intervals:
            raise route.error(
                "mute_time_intervals", "root route must not have any mute time intervals"
            )
        if cfg.route.active_time_intervals:
            raise route.error(
                "active_time_intervals", "root route must not have any active time intervals"
            )
        self.check_route(route, cfg)
        return cfg

    # -- global

    def global_config(self, sec: Section | None) -> GlobalConfig:
        g = GlobalConfig()
        if sec is None:
            return g
        g.resolve_timeout = sec.get_duration("resolve_timeout", g.resolve_timeout)
        h = sec.section("http_config", "config.HTTPClientConfig", HTTP_CLIENT_FIELDS)
        if h is not None:
            g.http_config = read_http_client(h, self.join)
        for key in (
            "smtp_from", "smtp_hello", "smtp_auth_username", "smtp_auth_password",
            "smtp_auth_secret", "smtp_auth_identity", "opsgenie_api_key",
        ):  # fmt: skip
            setattr(g, key, sec.get_str(key, getattr(g, key)))
        g.smtp_smarthost = sec.get_str("smtp_smarthost")
        check_host_port(sec, "smtp_smarthost", g.smtp_smarthost)
        g.smtp_require_tls = sec.get_bool("smtp_require_tls", True)
        for key in ("smtp_auth_password_file", "slack_api_url_file", "opsgenie_api_key_file"):
            setattr(g, key, self.join(sec.get_str(key)))
        for a, b in (
            ("slack_api_url", "slack_api_url_file"),
            ("opsgenie_api_key", "opsgenie_api_key_file"),
            ("smtp_auth_password", "smtp_auth_password_file"),
        ):
            if a in sec and b in sec:
                raise sec.error(b, f"at most one of {a} & {b} must be configured")
        for key in (
            "slack_api_url", "pagerduty_url", "opsgenie_api_url", "telegram_api_url",
            "wechat_api_url", "victorops_api_url", "webex_api_url",
        ):  # fmt: skip
            value = sec.get_str(key, getattr(g, key))
            if key in sec:
                scheme, sep, rest = value.partition("://")
                if scheme.lower() not in ("http", "https") or not rest.split("/", 1)[0]:
                    raise sec.error(key, f'unsupported scheme "{scheme if sep else ""}" for URL')
            setattr(g, key, value)
        return g

    # -- matchers

    def matchers(self, sec: Section, eq: str, rx: str, new: str) -> list[Matcher]:
        """Legacy ``match``/``match_re`` maps plus the ``matchers`` list, sorted."""
        out: list[Matcher] = []
        for key, typ in ((eq, MatchType.EQUAL), (rx, MatchType.REGEX)):
            for name, (line, value) in sec.str_map_lines(key).items():
                if not is_valid_label_name(name):
                    raise ConfigError(
                        f'invalid label name "{name}"', self.file, line, sec.child(key)
                    )
                if typ is MatchType.REGEX:
                    try:
                        compile_regex(value)
                    except ValueError as e:
                        raise ConfigError(
                            f"error parsing regexp: {e}", self.file, line, sec.child(key)
                        ) from None
                # Legacy regexes are anchored in the value itself, which shows in
                # route keys: {owner=~"^(?:team-(B|C))$"}.
                if typ is MatchType.REGEX:
                    value = f"^(?:{value})$"
                out.append(Matcher.new(typ, name, value))
        for i, s in enumerate(sec.str_list(new)):
            try:
                out.extend(parse_matchers(s))
            except MatcherError as e:
                node = sec.node(new)
                line = node_line(node.value[i]) if node is not None else sec.line
                raise ConfigError(str(e), self.file, line, f"{sec.child(new)}[{i}]") from None
        return sorted(out, key=sort_key)

    # -- route tree

    def route(self, sec: Section) -> RouteConfig:
        r = RouteConfig(line=sec.line)
        r.receiver = sec.get_str("receiver")
        r.matchers = self.matchers(sec, "match", "match_re", "matchers")
        if "group_by" in sec:  # absent or null inherits; an empty list does not
            r.group_by = sec.str_list("group_by")
        if r.group_by is not None:
            seen: set[str] = set()
            for name in r.group_by:
                if name != "..." and not is_valid_label_name(name):
                    raise sec.error("group_by", f'invalid label name "{name}" in group_by list')
                if name in seen:
                    raise sec.error("group_by", f'duplicated label "{name}" in group_by')
                seen.add(name)
            if "..." in seen and len(seen) > 1:
                raise sec.error(
                    "group_by",
                    "cannot have wildcard group_by (`...`) and other other labels at the same time",
                )
        r.continue_ = sec.get_bool("continue", False)
        for key in ("group_wait", "group_interval", "repeat_interval"):
            if key in sec:
                v = sec.get_duration(key)
                if v == 0 and key != "group_wait":
                    raise sec.error(key, f"{key} cannot be zero")
                setattr(r, key, v)
        r.mute_time_intervals = sec.str_list("mute_time_intervals")
        r.active_time_intervals = sec.str_list("active_time_intervals")
        r.routes = [self.route(s) for s in sec.sections("routes", "config.Route", _ROUTE)]
        return r

    def check_route(self, sec: Section, cfg: AlertmanagerConfig) -> None:
        """Receivers and time intervals a route names must exist (checked per node,
        so the error points at the route that names them)."""
        receiver = sec.get_str("receiver")
        if receiver and receiver not in cfg.receivers:
            raise sec.error("receiver", f'undefined receiver "{receiver}" used in route')
        for key in ("mute_time_intervals", "active_time_intervals"):
            for name in sec.str_list(key):
                if name not in cfg.time_intervals:
                    raise sec.error(key, f'undefined time interval "{name}" used in route')
        for child in sec.sections("routes", "config.Route", _ROUTE):
            self.check_route(child, cfg)

    # -- inhibition

    def inhibit_rule(self, sec: Section) -> InhibitRule:
        rule = InhibitRule()
        rule.source_matchers = self.matchers(
            sec, "source_match", "source_match_re", "source_matchers"
        )
        rule.target_matchers = self.matchers(
            sec, "target_match", "target_match_re", "target_matchers"
        )
        for name in sec.str_list("equal"):
            if not is_valid_label_name(name):
                raise sec.error("equal", f'"{name}" is not a valid label name')
            rule.equal.append(name)
        return rule

    # -- time intervals

    def time_interval(self, sec: Section) -> TimeInterval:
        ti = TimeInterval()
        try:
            if "times" in sec:
                ti.times = [
                    parse_time_range(t.get_str("start_time"), t.get_str("end_time"))
                    for t in sec.sections(
                        "times", "timeinterval.TimeRange", {"start_time", "end_time"}
                    )
                ]
        except ConfigError:
            raise
        except ValueError as e:
            raise sec.error("times", str(e)) from None
        for key, parse in (
            ("weekdays", parse_weekdays),
            ("days_of_month", parse_days_of_month),
            ("months", parse_months),
            ("years", parse_years),
        ):
            if key not in sec:
                continue
            try:
                setattr(ti, key, [parse(s) for s in sec.str_list(key)])
            except ValueError as e:
                raise sec.error(key, str(e)) from None
        if "location" in sec:
            ti.location_name = sec.get_str("location")
            try:
                ti.location = parse_location(ti.location_name)
            except ValueError as e:
                raise sec.error("location", str(e)) from None
        return ti
