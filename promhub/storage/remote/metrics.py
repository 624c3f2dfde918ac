"""The remote_write sender's metrics, with Prometheus 2.42's names, help and labels.

Per-queue series carry ``remote_name`` and ``url`` (``storage/remote/queue_manager.go``);
the ``*_in_total`` and ``highest_timestamp_in_seconds`` series describe what came into
remote storage as a whole and carry none (``storage/remote/write.go``). The WAL watcher's
series carry ``consumer`` (``tsdb/wlog/watcher.go``).
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["RemoteMetrics"]

_NS = "prometheus_remote_storage"
_Q = ("remote_name", "url")
#: prometheus.DefBuckets plus the long tail Prometheus adds for slow remote ends.
_DURATION_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120, 300,
)  # fmt: skip


class RemoteMetrics:
    """All sender metrics of one registry (queues share it and label their own series)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def c(name: str, doc: str, labels: tuple[str, ...] = _Q) -> Counter:
            return Counter(f"{_NS}_{name}", doc, labels, registry=registry)

        def g(name: str, doc: str, labels: tuple[str, ...] = _Q) -> Gauge:
            return Gauge(f"{_NS}_{name}", doc, labels, registry=registry)

        self.samples = c("samples", "Total number of samples sent to remote storage.")
        self.samples_failed = c(
            "samples_failed",
            "Total number of samples which failed on send to remote storage, "
            "non-recoverable errors.",
        )
        self.samples_retried = c(
            "samples_retried",
            "Total number of samples which failed on send to remote storage but were "
            "retried because the send error was recoverable.",
        )
        self.samples_dropped = c(
            "samples_dropped",
            "Total number of samples which were dropped after being read from the WAL "
            "before being sent via remote write, either via relabelling or unintentionally "
            "because of an unknown reference ID.",
        )
        self.metadata = c("metadata", "Total number of metadata entries sent to remote storage.")
        self.metadata_failed = c(
            "metadata_failed",
            "Total number of metadata entries which failed on send to remote storage, "
            "non-recoverable errors.",
        )
        self.metadata_retried = c(
            "metadata_retried",
            "Total number of metadata entries which failed on send to remote storage but "
            "were retried because the send error was recoverable.",
        )
        self.metadata_bytes = c(
            "metadata_bytes",
            "The total number of bytes of metadata sent by the queue after compression.",
        )
        self.samples_pending = g(
            "samples_pending", "The number of samples pending in the queues shards to be sent."
        )
        self.bytes = c(
            "bytes",
            "The total number of bytes of data (not metadata) sent by the queue after compression.",
        )
        self.enqueue_retries = c(
            "enqueue_retries",
            "Total number of times enqueue has failed because a shards queue was full.",
        )
        self.sent_batch_duration = Histogram(
            f"{_NS}_sent_batch_duration_seconds",
            "Duration of send calls to the remote storage.",
            _Q,
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.highest_sent = g(
            "queue_highest_sent_timestamp_seconds",
            "Timestamp from a WAL sample, the highest timestamp successfully sent by this "
            "queue, in seconds since epoch.",
        )
        self.shards = g("shards", "The number of shards used for parallel sending to the remote.")
        self.shards_desired = g(
            "shards_desired",
            "The number of shards that the queues shard calculation wants to run based on "
            "the rate of samples in vs. samples out.",
        )
        self.shards_max = g(
            "shards_max", "The maximum number of shards that the queue is allowed to run."
        )
        self.shards_min = g(
            "shards_min", "The minimum number of shards that the queue is allowed to run."
        )
        self.max_samples_per_send = g(
            "max_samples_per_send",
            "The maximum number of samples to be sent, in a single request, to the remote storage.",
        )
        self.segments_lost = c(
            "wal_segments_lost",
            "promhub: WAL segments deleted by head checkpointing before this queue read "
            "them (their samples were never sent).",
        )
        self.samples_in = Counter(
            f"{_NS}_samples_in",
            "Samples in to remote storage, compare to samples out for queue managers.",
            registry=registry,
        )
        self.highest_in = Gauge(
            f"{_NS}_highest_timestamp_in_seconds",
            "Highest timestamp that has come into the remote storage via the Appender "
            "interface, in seconds since epoch.",
            registry=registry,
        )
        self.watcher_records = Counter(
            "prometheus_wal_watcher_records_read",
            "Number of records read by the WAL watcher from the WAL.",
            ("consumer", "type"),
            registry=registry,
        )
        self.watcher_decode_failures = Counter(
            "prometheus_wal_watcher_record_decode_failures",
            "Number of records read by the WAL watcher that resulted in an error when decoding.",
            ("consumer",),
            registry=registry,
        )
        self.watcher_segment = Gauge(
            "prometheus_wal_watcher_current_segment",
            "Current segment the WAL watcher is reading records from.",
            ("consumer",),
            registry=registry,
        )
        self._queue_metrics = (
            self.samples, self.samples_failed, self.samples_retried, self.samples_dropped,
            self.samples_pending, self.bytes, self.enqueue_retries, self.sent_batch_duration,
            self.highest_sent, self.shards, self.shards_desired, self.shards_max,
            self.shards_min, self.max_samples_per_send, self.segments_lost, self.metadata,
            self.metadata_failed, self.metadata_retried, self.metadata_bytes,
        )  # fmt: skip

    def remove_queue(self, name: str, url: str) -> None:
        """Drop a removed queue's series so they stop being exported."""
        for m in self._queue_metrics:
            with contextlib.suppress(KeyError):
                m.remove(name, url)
        for m2 in (self.watcher_decode_failures, self.watcher_segment):
            with contextlib.suppress(KeyError):
                m2.remove(name)
        for kind in ("series", "samples", "tombstones", "unknown"):
            with contextlib.suppress(KeyError):
                self.watcher_records.remove(name, kind)
