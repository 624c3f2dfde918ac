"""The scrape subsystem's own metrics, under Prometheus' names.

Dashboards and alerts written for Prometheus (``prometheus_target_interval_length_seconds``,
``prometheus_target_scrapes_exceeded_sample_limit_total`` …) work unchanged against promhub.
prometheus_client's ``Summary`` has no quantiles, while Prometheus exposes them for the
interval and sync summaries, so :class:`QuantileSummary` keeps a bounded, time-limited
window of observations and computes them at collection time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics_core import Metric

#: Prometheus' objectives for its scrape summaries.
QUANTILES = (0.01, 0.05, 0.5, 0.9, 0.99)


class QuantileSummary:
    """A labelled summary with quantiles over the last ``max_age`` seconds.

    At most ``max_samples`` recent observations are kept per label set, so memory is
    bounded no matter how often it is observed.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        label_names: Sequence[str],
        *,
        registry: CollectorRegistry,
        max_age: float = 600.0,
        max_samples: int = 1024,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.label_names = tuple(label_names)
        self._max_age = max_age
        self._max_samples = max_samples
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, ...], deque[tuple[float, float]]] = {}
        self._totals: dict[tuple[str, ...], list[float]] = {}
        registry.register(self)

    def observe(self, value: float, *label_values: str) -> None:
        now = time.monotonic()
        with self._lock:
            win = self._windows.get(label_values)
            if win is None:
                win = self._windows[label_values] = deque(maxlen=self._max_samples)
                self._totals[label_values] = [0.0, 0.0]
            win.append((now, value))
            tot = self._totals[label_values]
            tot[0] += 1
            tot[1] += value

    def remove(self, *label_values: str) -> None:
        with self._lock:
            self._windows.pop(label_values, None)
            self._totals.pop(label_values, None)

    def describe(self) -> list[Metric]:
        return [Metric(self.name, self.documentation, "summary")]

    def collect(self) -> Iterator[Metric]:
        m = Metric(self.name, self.documentation, "summary")
        cutoff = time.monotonic() - self._max_age
        with self._lock:
            for lv, win in self._windows.items():
                while win and win[0][0] < cutoff:
                    win.popleft()
                labels = dict(zip(self.label_names, lv, strict=True))
                vals = np.fromiter((v for _, v in win), dtype=np.float64, count=len(win))
                for q in QUANTILES:
                    qv = float(np.quantile(vals, q, method="inverted_cdf")) if len(vals) else np.nan
                    m.add_sample(self.name, {**labels, "quantile": str(q)}, qv)
                count, total = self._totals[lv]
                m.add_sample(self.name + "_sum", labels, total)
                m.add_sample(self.name + "_count", labels, count)
        yield m


class ScrapeMetrics:
    """All scrape metrics, registered once per manager on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.pools = Counter(
            "prometheus_target_scrape_pools_total",
            "Total number of scrape pool creation attempts.",
            registry=r,
        )
        self.pools_failed = Counter(
            "prometheus_target_scrape_pools_failed_total",
            "Total number of scrape pool creations that failed.",
            registry=r,
        )
        self.pool_reloads = Counter(
            "prometheus_target_scrape_pool_reloads_total",
            "Total number of scrape pool reloads.",
            registry=r,
        )
        self.pool_reloads_failed = Counter(
            "prometheus_target_scrape_pool_reloads_failed_total",
            "Total number of failed scrape pool reloads.",
            registry=r,
        )
        self.exceeded_target_limit = Counter(
            "prometheus_target_scrape_pool_exceeded_target_limit_total",
            "Total number of times scrape pools hit the target limit, during sync or config "
            "reload.",
            registry=r,
        )
        self.target_limit = Gauge(
            "prometheus_target_scrape_pool_target_limit",
            "Maximum number of targets allowed in this scrape pool.",
            ["scrape_job"],
            registry=r,
        )
        self.pool_targets = Gauge(
            "prometheus_target_scrape_pool_targets",
            "Current number of targets in this scrape pool.",
            ["scrape_job"],
            registry=r,
        )
        self.pool_syncs = Counter(
            "prometheus_target_scrape_pool_sync_total",
            "Total number of syncs that were executed on a scrape pool.",
            ["scrape_job"],
            registry=r,
        )
        self.sync_failed = Counter(
            "prometheus_target_sync_failed_total",
            "Total number of target sync failures.",
            ["scrape_job"],
            registry=r,
        )
        self.sync_length = QuantileSummary(
            "prometheus_target_sync_length_seconds",
            "Actual interval to sync the scrape pool.",
            ["scrape_job"],
            registry=r,
        )
        self.reload_length = QuantileSummary(
            "prometheus_target_reload_length_seconds",
            "Actual interval to reload the scrape pool with a given configuration.",
            ["interval"],
            registry=r,
        )
        self.interval_length = QuantileSummary(
            "prometheus_target_interval_length_seconds",
            "Actual intervals between scrapes.",
            ["interval"],
            registry=r,
        )
        self.exceeded_body_size_limit = Counter(
            "prometheus_target_scrapes_exceeded_body_size_limit_total",
            "Total number of scrapes that hit the body size limit",
            registry=r,
        )
        self.cache_flush_forced = Counter(
            "prometheus_target_scrapes_cache_flush_forced_total",
            "How many times a scrape cache was flushed due to getting big while scrapes "
            "are failing.",
            registry=r,
        )
        self.exceeded_sample_limit = Counter(
            "prometheus_target_scrapes_exceeded_sample_limit_total",
            "Total number of scrapes that hit the sample limit and were rejected.",
            registry=r,
        )
        self.sample_duplicate = Counter(
            "prometheus_target_scrapes_sample_duplicate_timestamp_total",
            "Total number of samples rejected due to duplicate timestamps but different values.",
            registry=r,
        )
        self.sample_out_of_order = Counter(
            "prometheus_target_scrapes_sample_out_of_order_total",
            "Total number of samples rejected due to not being out of the expected order.",
            registry=r,
        )
        self.sample_out_of_bounds = Counter(
            "prometheus_target_scrapes_sample_out_of_bounds_total",
            "Total number of samples rejected due to timestamp falling outside of the time bounds.",
            registry=r,
        )
        self.exceeded_label_limits = Counter(
            "prometheus_target_scrape_pool_exceeded_label_limits_total",
            "Total number of times scrape pools hit the label limits, during sync or "
            "config reload.",
            registry=r,
        )
