"""The configuration as typed values: a superset of ``prometheus.yml``.

Loading and validation live in :mod:`promhub.config.loader`; this module only names the
shape. Durations are float seconds, sizes are int bytes, 0 means "no limit".
Sections later issues own (``storage``, ``tracing``…) are kept as the raw mappings until
their package defines a type for them; ``remote_write`` is
:class:`promhub.config.remote_write.RemoteWriteConfig`, ``alerting`` is
:class:`promhub.config.alerting.AlertingConfig`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from promhub.config.alerting import AlertingConfig
    from promhub.config.remote_write import RemoteWriteConfig


class ConfigError(ValueError):
    """An invalid configuration. ``str()`` names the file, line and field."""

    def __init__(self, msg: str, file: str = "", line: int = 0, field: str = "") -> None:
        self.msg = msg
        self.file = file
        self.line = line
        self.field = field
        where = file
        if line:
            where += f":{line}"
        prefix = f"{where}: " if where else ""
        fld = f"field {field}: " if field else ""
        super().__init__(f"{prefix}{fld}{msg}")


RELABEL_ACTIONS = (
    "replace",
    "keep",
    "drop",
    "keepequal",
    "dropequal",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
)


@dataclass(slots=True)
class RelabelConfig:
    source_labels: list[str] = field(default_factory=list)
    separator: str = ";"
    #: The regex as written; :attr:`pattern` is its fully anchored compiled form.
    regex: str = "(.*)"
    modulus: int = 0
    target_label: str = ""
    replacement: str = "$1"
    action: str = "replace"
    pattern: re.Pattern[str] = field(default_factory=lambda: re.compile(r"(?s:(.*))\Z"))

    def __post_init__(self) -> None:
        # Go (RE2) syntax, as in prometheus.yml; imported here to keep model free of cycles.
        from promhub.model.relabel import compile_regex

        self.pattern = compile_regex(self.regex)


@dataclass(slots=True)
class BasicAuth:
    username: str = ""
    password: str = ""
    password_file: str = ""
    username_file: str = ""


@dataclass(slots=True)
class Authorization:
    type: str = "Bearer"
    credentials: str = ""
    credentials_file: str = ""


@dataclass(slots=True)
class TLSConfig:
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    server_name: str = ""
    insecure_skip_verify: bool = False
    min_version: str = ""
    #: Inline PEM alternatives to the ``*_file`` fields.
    ca: str = ""
    cert: str = ""
    key: str = ""
    max_version: str = ""


@dataclass(slots=True)
class OAuth2:
    client_id: str = ""
    client_secret: str = ""
    client_secret_file: str = ""
    scopes: list[str] = field(default_factory=list)
    token_url: str = ""
    endpoint_params: dict[str, str] = field(default_factory=dict)
    tls_config: TLSConfig = field(default_factory=TLSConfig)
    proxy_url: str = ""


@dataclass(slots=True)
class HTTPClientConfig:
    basic_auth: BasicAuth | None = None
    authorization: Authorization | None = None
    tls_config: TLSConfig = field(default_factory=TLSConfig)
    follow_redirects: bool = True
    proxy_url: str = ""
    enable_http2: bool = True
    oauth2: OAuth2 | None = None
    no_proxy: str = ""
    proxy_from_environment: bool = False
    proxy_connect_header: dict[str, list[str]] = field(default_factory=dict)
    #: ``http_headers`` as written (name -> {values, secrets, files}).
    http_headers: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class StaticConfig:
    targets: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class FileSDConfig:
    files: list[str] = field(default_factory=list)
    refresh_interval: float = 300.0


@dataclass(slots=True)
class HTTPSDConfig:
    url: str = ""
    refresh_interval: float = 60.0
    http: HTTPClientConfig = field(default_factory=HTTPClientConfig)


@dataclass(slots=True)
class ScrapeConfig:
    job_name: str = ""
    scrape_interval: float = 60.0
    scrape_timeout: float = 10.0
    metrics_path: str = "/metrics"
    scheme: str = "http"
    params: dict[str, list[str]] = field(default_factory=dict)
    honor_labels: bool = False
    honor_timestamps: bool = True
    track_timestamps_staleness: bool = False
    enable_compression: bool = True
    scrape_protocols: list[str] = field(default_factory=list)
    http: HTTPClientConfig = field(default_factory=HTTPClientConfig)
    static_configs: list[StaticConfig] = field(default_factory=list)
    file_sd_configs: list[FileSDConfig] = field(default_factory=list)
    http_sd_configs: list[HTTPSDConfig] = field(default_factory=list)
    relabel_configs: list[RelabelConfig] = field(default_factory=list)
    metric_relabel_configs: list[RelabelConfig] = field(default_factory=list)
    sample_limit: int = 0
    label_limit: int = 0
    label_name_length_limit: int = 0
    label_value_length_limit: int = 0
    body_size_limit: int = 0
    target_limit: int = 0
    keep_dropped_targets: int = 0
    fallback_scrape_protocol: str = ""
    scrape_native_histograms: bool = False
    always_scrape_classic_histograms: bool = False
    convert_classic_histograms_to_nhcb: bool = False
    native_histogram_bucket_limit: int = 0
    native_histogram_min_bucket_factor: float = 0.0
    extra_scrape_metrics: bool = False
    scrape_failure_log_file: str = ""
    metric_name_validation_scheme: str = "utf8"
    metric_name_escaping_scheme: str = "allow-utf-8"


@dataclass(slots=True)
class GlobalConfig:
    scrape_interval: float = 60.0
    scrape_timeout: float = 10.0
    evaluation_interval: float = 60.0
    external_labels: dict[str, str] = field(default_factory=dict)
    scrape_protocols: list[str] = field(
        default_factory=lambda: [
            "OpenMetricsText1.0.0",
            "OpenMetricsText0.0.1",
            "PrometheusText0.0.4",
        ]
    )
    rule_query_offset: float = 0.0
    query_log_file: str = ""
    scrape_failure_log_file: str = ""
    #: Scrape limits every job inherits unless it sets its own (0: no limit).
    body_size_limit: int = 0
    sample_limit: int = 0
    target_limit: int = 0
    label_limit: int = 0
    label_name_length_limit: int = 0
    label_value_length_limit: int = 0
    keep_dropped_targets: int = 0
    metric_name_validation_scheme: str = "utf8"
    metric_name_escaping_scheme: str = ""
    scrape_native_histograms: bool = False
    convert_classic_histograms_to_nhcb: bool = False
    always_scrape_classic_histograms: bool = False
    extra_scrape_metrics: bool = False


@dataclass(slots=True)
class RemoteReadConfig:
    """One ``remote_read`` endpoint, with Prometheus' defaults."""

    url: str
    name: str = ""
    remote_timeout: float = 60.0
    headers: dict[str, str] = field(default_factory=dict)
    #: Also ask the remote for ranges local storage covers (Prometheus' default: no).
    read_recent: bool = False
    #: Equality matchers a selector must contain for this remote to be asked at all.
    required_matchers: dict[str, str] = field(default_factory=dict)
    #: Add the external labels as matchers and strip them from the remote's answer.
    filter_external_labels: bool = True
    http: HTTPClientConfig = field(default_factory=HTTPClientConfig)


@dataclass(slots=True)
class PushgatewayConfig:
    """promhub's own ``pushgateway:`` section (not in prometheus.yml): push API limits."""

    #: Time to live of a pushed group when the push does not set one (0: forever).
    default_ttl: float = 0.0
    #: Most series one push may carry (0: no limit).
    series_limit: int = 100_000
    #: Largest push body in bytes (0: only ``--web.max-request-body-bytes``).
    body_size_limit: int = 16 * 1024 * 1024


@dataclass(slots=True)
class Config:
    global_: GlobalConfig = field(default_factory=GlobalConfig)
    scrape_configs: list[ScrapeConfig] = field(default_factory=list)
    scrape_config_files: list[str] = field(default_factory=list)
    rule_files: list[str] = field(default_factory=list)
    alerting: AlertingConfig = field(default_factory=lambda: _alerting_config())
    remote_write: list[RemoteWriteConfig] = field(default_factory=list)
    remote_read: list[RemoteReadConfig] = field(default_factory=list)
    storage: dict[str, Any] = field(default_factory=dict)
    tracing: dict[str, Any] = field(default_factory=dict)
    otlp: dict[str, Any] = field(default_factory=dict)
    runtime: dict[str, Any] = field(default_factory=dict)
    pushgateway: PushgatewayConfig = field(default_factory=PushgatewayConfig)
    #: Where it came from ("" for the embedded default) and its text, for /status/config.
    source_file: str = ""
    source_text: str = ""


def _alerting_config() -> AlertingConfig:
    # Imported here: promhub.config.alerting builds on this module's types.
    from promhub.config.alerting import AlertingConfig

    return AlertingConfig()
