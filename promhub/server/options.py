"""Server options: what the command-line flags set (Prometheus' flag names)."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

DAY_MS = 86_400_000

#: ``--enable-feature`` values promhub implements; others are logged and ignored.
KNOWN_FEATURES = frozenset({"exemplar-storage", "remote-write-receiver"})


def parse_features(values: Iterable[str]) -> tuple[frozenset[str], list[str]]:
    """Split repeated, comma-separated ``--enable-feature`` values: (known, unknown)."""
    names = [f.strip() for v in values for f in v.split(",") if f.strip()]
    return frozenset(n for n in names if n in KNOWN_FEATURES), [
        n for n in names if n not in KNOWN_FEATURES
    ]


@dataclass(slots=True)
class Options:
    #: ``--config.file``; empty means the embedded default configuration.
    config_file: str = ""
    storage_path: str = "data"
    retention_time_ms: int = 15 * DAY_MS
    retention_size_bytes: int = 0
    min_block_duration_ms: int = 0  # 0: the TSDB's own default
    listen_address: str = "0.0.0.0:9090"
    enable_lifecycle: bool = False
    enable_admin_api: bool = False
    #: ``--web.enable-otlp-receiver``: accept OTLP metrics on /api/v1/otlp/v1/metrics.
    enable_otlp_receiver: bool = False
    #: ``--web.enable-remote-write-receiver``: accept ``POST /api/v1/write``.
    enable_remote_write_receiver: bool = False
    #: ``--[no-]web.enable-push-api``: accept Pushgateway pushes (PUT/POST/DELETE /metrics/job/...).
    enable_push_api: bool = True
    #: ``--[no-]web.enable-dashboard-writes``: import and delete dashboards over the API.
    enable_dashboard_writes: bool = True
    external_url: str = ""
    max_body_bytes: int = 64 * 1024 * 1024
    #: ``--web.config.file``: TLS and basic auth (exporter-toolkit web.yml); empty: none.
    web_config_file: str = ""
    #: ``--web.cors.origin``: regex of origins allowed to read the API from a browser.
    cors_origin: str = ".*"
    query_lookback_ms: int = 300_000
    query_max_samples: int = 50_000_000
    query_timeout_s: float = 120.0
    query_max_concurrency: int = 20
    log_level: str = "info"
    #: How often the TSDB's maintenance job (head cut, compaction, retention) runs.
    maintenance_interval: float = 60.0
    #: ``--enable-feature`` names that promhub implements (see KNOWN_FEATURES).
    enable_features: frozenset[str] = frozenset()
    flags: dict[str, str] = field(default_factory=dict)
    #: ``--agent``: scrape and forward only (WAL-only storage, no local querying).
    agent: bool = False
    #: ``--storage.agent.path``: where agent mode keeps its WAL.
    agent_storage_path: str = "data-agent/"
    #: ``--storage.agent.retention.max-time``: series idle this long are forgotten at the
    #: next WAL truncation.
    agent_max_wal_time_ms: int = 4 * 3_600_000
    #: ``--storage.agent.wal-truncate-frequency``: seconds between agent WAL truncations.
    #: Each one closes the segment and checkpoints every live series, and remote_write
    #: queues re-read the series from the checkpoint: doing that every minute churns
    #: memory for nothing, so this follows Prometheus' 2 h.
    agent_truncate_frequency: float = 7200.0
    #: ``--rules.alert.for-outage-tolerance``: how long an outage may last for ``for``
    #: state to be restored; ``--rules.alert.for-grace-period``: least time left to wait
    #: after a restore; ``--rules.alert.resend-delay``: how often firing alerts are re-sent.
    rules_outage_tolerance_s: float = 3600.0
    rules_grace_period_s: float = 600.0
    rules_resend_delay_s: float = 60.0
    #: ``--alertmanager.notification-queue-capacity``, ``--alertmanager.notification-batch-size``,
    #: ``--[no-]alertmanager.drain-notification-queue-on-shutdown`` (Prometheus 3's defaults).
    notification_queue_capacity: int = 10_000
    notification_batch_size: int = 256
    drain_notification_queue: bool = True

    @property
    def exemplar_storage(self) -> bool:
        """``--enable-feature=exemplar-storage``: keep scraped exemplars in memory."""
        return "exemplar-storage" in self.enable_features

    @property
    def external_url_or_default(self) -> str:
        """``--web.external-url``, or ``http://<hostname>:<port>`` as Prometheus derives
        it; without a trailing slash."""
        if self.external_url:
            return self.external_url.rstrip("/")
        return f"http://{socket.gethostname()}:{self.host_port[1]}"

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen_address.rpartition(":")
        return (host.strip("[]") or "0.0.0.0", int(port))
