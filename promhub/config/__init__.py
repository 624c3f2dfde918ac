"""promhub.config: loading and validating ``promhub.yml`` (a superset of ``prometheus.yml``).

>>> from promhub.config import load_config_text
>>> cfg = load_config_text("scrape_configs: [{job_name: a, static_configs: [{targets: [h:1]}]}]")
>>> cfg.scrape_configs[0].scrape_interval
60.0
"""

from promhub.config.loader import (
    ConfigCheck,
    check_config,
    default_config,
    load_config,
    load_config_text,
)
from promhub.config.model import (
    Authorization,
    BasicAuth,
    Config,
    ConfigError,
    FileSDConfig,
    GlobalConfig,
    HTTPClientConfig,
    HTTPSDConfig,
    OAuth2,
    RelabelConfig,
    ScrapeConfig,
    StaticConfig,
    TLSConfig,
)
from promhub.config.units import format_duration, parse_duration, parse_size

__all__ = [
    "Authorization",
    "BasicAuth",
    "Config",
    "ConfigCheck",
    "ConfigError",
    "FileSDConfig",
    "GlobalConfig",
    "HTTPClientConfig",
    "HTTPSDConfig",
    "OAuth2",
    "RelabelConfig",
    "ScrapeConfig",
    "StaticConfig",
    "TLSConfig",
    "check_config",
    "default_config",
    "format_duration",
    "load_config",
    "load_config_text",
    "parse_duration",
    "parse_size",
]
