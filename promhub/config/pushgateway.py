"""The ``pushgateway:`` section of ``promhub.yml`` (promhub's own; Prometheus has none).

::

    pushgateway:
      default_ttl: 1h         # pushed groups expire 1h after their last push (0s: never)
      series_limit: 100000    # most series one push may carry (0: no limit)
      body_size_limit: 16MB   # largest push body (0: only --web.max-request-body-bytes)
"""

from __future__ import annotations

from promhub.config.model import PushgatewayConfig
from promhub.config.yaml_lines import Section

__all__ = ["PUSHGATEWAY_FIELDS", "read_pushgateway"]

PUSHGATEWAY_FIELDS = {"default_ttl", "series_limit", "body_size_limit"}


def read_pushgateway(top: Section) -> PushgatewayConfig:
    """Read ``pushgateway:`` from the top-level section; errors name file, line and field."""
    sec = top.section("pushgateway", "config.PushgatewayConfig", PUSHGATEWAY_FIELDS)
    cfg = PushgatewayConfig()
    if sec is None:
        return cfg
    cfg.default_ttl = sec.get_duration("default_ttl", cfg.default_ttl)
    cfg.series_limit = sec.get_uint("series_limit", cfg.series_limit)
    cfg.body_size_limit = sec.get_size("body_size_limit", cfg.body_size_limit)
    return cfg
