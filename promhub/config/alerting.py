"""The ``alerting:`` section of ``prometheus.yml`` as typed values.

Prometheus' part (``alert_relabel_configs`` and the ``alertmanagers`` to send alerts to)
is read and validated as Prometheus 3 does it::

    alerting:
      alert_relabel_configs: [...]          # applied to every alert before queueing
      alertmanagers:
        - static_configs: [{targets: ["am:9093"]}]   # or file_sd_configs / http_sd_configs
          scheme: http                      # defaults: scheme http, timeout 10s,
          path_prefix: /                    #   api_version v2 (v1 is refused)
          timeout: 10s
          relabel_configs: [...]            # on the discovered Alertmanager targets
          alert_relabel_configs: [...]      # only for alerts sent to this set
          basic_auth / authorization / oauth2 / tls_config / proxy_url ...

promhub's own built-in alert manager is configured in the same section
(``alertmanager_config_file: PATH`` or ``alertmanager_config: {...}`` inline); this module
only carries those through for :mod:`promhub.alerting`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from promhub.config.http_client import HTTP_CLIENT_FIELDS, read_http_client
from promhub.config.model import (
    ConfigError,
    FileSDConfig,
    HTTPClientConfig,
    HTTPSDConfig,
    RelabelConfig,
    StaticConfig,
)
from promhub.config.yaml_lines import Section, construct

__all__ = ["AlertingConfig", "AlertmanagerConfig", "read_alerting"]

_ALERTING = {
    "alert_relabel_configs", "alertmanagers", "alertmanager_config_file", "alertmanager_config",
}  # fmt: skip
_SD = ("static_configs", "file_sd_configs", "http_sd_configs")
_UNSUPPORTED = ("sigv4",)
_ALERTMANAGER = {
    "scheme", "path_prefix", "timeout", "api_version", "relabel_configs",
    "alert_relabel_configs", *_SD, *_UNSUPPORTED,
} | HTTP_CLIENT_FIELDS  # fmt: skip
#: Alertmanager API versions Prometheus 3 can send to.
SUPPORTED_API_VERSIONS = ("v2",)


@dataclass(slots=True)
class AlertmanagerConfig:
    """One entry of ``alerting.alertmanagers``: a set of Alertmanagers sharing settings."""

    static_configs: list[StaticConfig] = field(default_factory=list)
    file_sd_configs: list[FileSDConfig] = field(default_factory=list)
    http_sd_configs: list[HTTPSDConfig] = field(default_factory=list)
    scheme: str = "http"
    path_prefix: str = ""
    #: Seconds one POST to one Alertmanager may take.
    timeout: float = 10.0
    api_version: str = "v2"
    relabel_configs: list[RelabelConfig] = field(default_factory=list)
    alert_relabel_configs: list[RelabelConfig] = field(default_factory=list)
    http: HTTPClientConfig = field(default_factory=HTTPClientConfig)
    #: SHA-256 of the entry as written: an unchanged set keeps its discovered
    #: Alertmanagers across a reload (Prometheus' ``configHash``).
    hash: str = ""


@dataclass(slots=True)
class AlertingConfig:
    """The whole ``alerting:`` section."""

    alert_relabel_configs: list[RelabelConfig] = field(default_factory=list)
    alertmanagers: list[AlertmanagerConfig] = field(default_factory=list)
    #: promhub's built-in alert manager: an ``alertmanager.yml`` path (resolved against
    #: the config's directory) or the same content inline; read by promhub.alerting.
    alertmanager_config_file: str = ""
    alertmanager_config: dict[str, Any] | None = None


class SDReader(Protocol):
    """The parts of the config loader this section reuses, so discovery and relabel
    settings are validated exactly as in ``scrape_configs``."""

    def join(self, path: str, base_dir: str | None = None) -> str: ...

    def relabel_configs(self, sec: Section, key: str) -> list[RelabelConfig]: ...

    def static_config(self, sec: Section) -> StaticConfig: ...

    def file_sd(self, sec: Section, base_dir: str) -> FileSDConfig: ...

    def http_sd(self, sec: Section, base_dir: str) -> HTTPSDConfig: ...


def read_alerting(top: Section, loader: SDReader, base_dir: str) -> AlertingConfig:
    """Read ``alerting:`` from the top-level section ``top`` (an empty config if absent).

    Raises :class:`ConfigError` naming the file, line and field.
    """
    out = AlertingConfig()
    sec = top.section("alerting", "config.AlertingConfig", _ALERTING)
    if sec is None:
        return out
    out.alert_relabel_configs = loader.relabel_configs(sec, "alert_relabel_configs")
    for am in sec.sections("alertmanagers", "config.AlertmanagerConfig", _ALERTMANAGER):
        out.alertmanagers.append(_alertmanager(am, loader, base_dir))
    out.alertmanager_config_file = loader.join(sec.get_str("alertmanager_config_file"))
    inline = sec.raw("alertmanager_config")
    if inline is not None and not isinstance(inline, dict):
        raise sec.error("alertmanager_config", "alertmanager_config must be a mapping")
    out.alertmanager_config = inline
    if out.alertmanager_config_file and inline is not None:
        raise sec.error(
            "alertmanager_config",
            "at most one of alertmanager_config and alertmanager_config_file must be set",
        )
    return out


def _alertmanager(sec: Section, loader: SDReader, base_dir: str) -> AlertmanagerConfig:
    for key in _UNSUPPORTED:
        if key in sec:
            raise sec.error(key, f"{key} is not supported by promhub yet")
    c = AlertmanagerConfig()
    c.api_version = sec.get_str("api_version", "v2") or "v2"
    if c.api_version == "v1":
        raise sec.error("api_version", "alertmanager api v1 is no longer supported")
    if c.api_version not in SUPPORTED_API_VERSIONS:
        raise sec.error(
            "api_version",
            f"expected Alertmanager api version to be one of [v2] but got {c.api_version}",
        )
    c.scheme = sec.get_str("scheme", "http") or "http"
    if c.scheme not in ("http", "https"):
        raise sec.error("scheme", f'invalid scheme "{c.scheme}": must be "http" or "https"')
    c.path_prefix = sec.get_str("path_prefix")
    c.timeout = sec.get_duration("timeout", 10.0)
    if c.timeout <= 0:
        raise sec.error("timeout", "timeout must be positive")
    c.http = read_http_client(sec, lambda p: loader.join(p, base_dir))
    c.static_configs = [
        loader.static_config(s)
        for s in sec.sections("static_configs", "targetgroup.Group", {"targets", "labels"})
    ]
    c.file_sd_configs = [
        loader.file_sd(s, base_dir)
        for s in sec.sections("file_sd_configs", "file.SDConfig", {"files", "refresh_interval"})
    ]
    c.http_sd_configs = [
        loader.http_sd(s, base_dir)
        for s in sec.sections(
            "http_sd_configs", "http.SDConfig", {"url", "refresh_interval"} | HTTP_CLIENT_FIELDS
        )
    ]
    # Prometheus checks static Alertmanager addresses up front: a URL pasted into
    # ``targets`` would otherwise only fail at the first send.
    for i, st in enumerate(c.static_configs):
        for t in st.targets:
            if "/" in t:
                raise ConfigError(
                    f'"{t}" is not a valid hostname',
                    sec.file,
                    sec.line_of("static_configs"),
                    f"{sec.child('static_configs')}[{i}].targets",
                )
    c.relabel_configs = loader.relabel_configs(sec, "relabel_configs")
    c.alert_relabel_configs = loader.relabel_configs(sec, "alert_relabel_configs")
    raw = {k: construct(v) for k, (_, v) in sorted(sec.keys.items())}
    c.hash = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
    return c
