"""``prometheus_tsdb_*`` metrics of a :class:`~promhub.tsdb.db.DB`, named as Prometheus names them.

A custom collector reads the DB's counters at scrape time instead of updating
prometheus_client objects on every append, so the ingestion path pays nothing for them.
Names, help texts and the ``type="float"`` label follow Prometheus 2.42+ so that existing
dashboards work unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from promhub.tsdb.db import DB

_P = "prometheus_tsdb_"


class TSDBCollector(Collector):
    """Collects the TSDB's gauges and counters at scrape time."""

    def __init__(self, db: DB) -> None:
        self._db = db

    def describe(self) -> list[Metric]:
        # Returning no descriptions makes registration skip an eager collect() and
        # avoids name-clash checks against metrics we expose dynamically.
        return []

    def collect(self) -> Iterator[Metric]:
        db = self._db
        head = db.head
        with head.lock:
            hc = head.counters
            series = head.num_series()
            mint, maxt = head.min_time, head.max_time
            chunks = head.num_chunks()
            blocks = list(db._blocks)
            wal = db.wal
            wal_stats = (
                (
                    wal.segment,
                    wal.truncations,
                    wal.truncations_failed,
                    wal.checkpoints,
                    wal.writes_failed,
                )
                if wal is not None
                else (0, 0, 0, 0, 0)
            )
        dc = db.counters

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(_P + name, doc, value=value)

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(_P + name, doc, value=value)

        def typed(name: str, doc: str, value: float) -> CounterMetricFamily:
            c = CounterMetricFamily(_P + name, doc, labels=["type"])
            c.add_metric(["float"], value)
            return c

        yield gauge("head_series", "Total number of series in the head block.", series)
        yield typed(
            "head_samples_appended", "Total number of appended samples.", hc.samples_appended
        )
        yield counter(
            "head_series_created", "Total number of series created in the head", hc.series_created
        )
        yield counter(
            "head_series_removed", "Total number of series removed in the head", hc.series_removed
        )
        yield gauge("head_chunks", "Total number of chunks in the head block.", chunks)
        yield counter(
            "head_chunks_created", "Total number of chunks created in the head", hc.chunks_created
        )
        # Prometheus reports math.MaxInt64 / MinInt64 for an empty head; keep that.
        yield gauge(
            "head_min_time",
            "Minimum time bound of the head block. The unit is decided by the library consumer.",
            mint if mint != -(2**63) else 2**63 - 1,
        )
        yield gauge(
            "head_max_time",
            "Maximum timestamp of the head block. The unit is decided by the library consumer.",
            maxt,
        )
        yield typed(
            "out_of_order_samples",
            "Total number of out of order samples ingestion failed attempts due to out of "
            "order being disabled.",
            hc.out_of_order,
        )
        yield typed(
            "out_of_bound_samples",
            "Total number of out of bound samples ingestion failed attempts with out of "
            "order support disabled.",
            hc.too_old,
        )
        yield counter(
            "head_truncations",
            "Total number of head truncations attempted.",
            hc.truncations + dc.head_truncations_failed,
        )
        yield counter(
            "head_truncations_failed",
            "Total number of head truncations that failed.",
            dc.head_truncations_failed,
        )
        yield gauge("blocks_loaded", "Number of currently loaded data blocks", len(blocks))
        yield counter(
            "compactions",
            "Total number of compactions that were executed for the partition.",
            dc.compactions,
        )
        yield counter(
            "compactions_failed",
            "Total number of compactions that failed for the partition.",
            dc.compactions_failed,
        )
        yield counter(
            "compactions_triggered",
            "Total number of triggered compactions for the partition.",
            dc.compactions_triggered,
        )
        yield counter(
            "reloads", "Number of times the database reloaded block data from disk.", dc.reloads
        )
        yield counter(
            "reloads_failures",
            "Number of times the database failed to reloadBlocks block data from disk.",
            dc.reloads_failed,
        )
        yield counter("wal_corruptions", "Total number of WAL corruptions.", dc.wal_corruptions)
        seg, trunc, trunc_failed, cps, wfail = wal_stats
        yield gauge(
            "wal_segment_current", "Write log segment index that TSDB is currently writing to.", seg
        )
        yield counter("wal_truncations", "Total number of write log truncations attempted.", trunc)
        yield counter(
            "wal_truncations_failed",
            "Total number of write log truncations that failed.",
            trunc_failed,
        )
        yield counter(
            "checkpoint_creations", "Total number of checkpoint creations attempted.", cps
        )
        yield counter("wal_writes_failed", "Total number of write log writes that failed.", wfail)
        yield gauge(
            "wal_storage_size_bytes",
            "Size of the write log directory.",
            wal.size_bytes() if wal is not None else 0,
        )
        yield gauge(
            "storage_blocks_bytes",
            "The number of bytes that are currently used for local storage by all blocks.",
            sum(b.size_bytes() for b in blocks),
        )
        lowest = db.lowest_timestamp()
        yield gauge(
            "lowest_timestamp",
            "Lowest timestamp value stored in the database. The unit is decided by the "
            "library consumer.",
            lowest if lowest is not None else 2**63 - 1,
        )
        yield gauge(
            "retention_limit_bytes",
            "Max number of bytes to be retained in the tsdb blocks, configured 0 means disabled",
            db.retention_size_bytes,
        )
        yield counter(
            "size_retentions",
            "The number of times that blocks were deleted because the maximum number of bytes "
            "was exceeded.",
            dc.size_retentions,
        )
        yield counter(
            "time_retentions",
            "The number of times that blocks were deleted because the maximum time limit was "
            "exceeded.",
            dc.time_retentions,
        )
