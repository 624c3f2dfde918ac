"""The push subsystem: pushed groups into the TSDB, time-to-live, persistence.

Pushed groups become samples the way a Prometheus scraping a Pushgateway with
``honor_labels: true`` would store them: every global ``scrape_interval`` each exposed
series gets one sample at the same timestamp, labelled with the pushed labels plus the
grouping labels (``instance=""`` means no ``instance``), and series that disappeared since
the last write (group deleted or expired, family replaced) get a staleness marker. Like a
scrape loop, the manager keeps every group's series refs between writes, so a steady state
write is a few array concatenations and one append.

:meth:`PushManager.tick` is the one periodic job (registered with the server's scheduler,
run in a worker thread): it expires groups past their time to live, writes to the TSDB when
a scrape interval has passed, and takes a snapshot of the groups when the journal of
changes has grown large or is old (see :mod:`promhub.ingest.persistence`; every accepted
push is in the journal before it is answered, so snapshots only bound replay time).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from prometheus_client import CollectorRegistry, Counter, Gauge

from promhub.config.model import Config
from promhub.ingest.persistence import Journal, load_groups, save_groups
from promhub.ingest.pushgateway import GroupKey, GroupStore, PushLimits
from promhub.model.labels import Labels
from promhub.model.value import STALE_NAN
from promhub.storage.interface import Appendable, Refs, StorageError, StorageFullError, empty_refs

__all__ = ["JOURNAL_SNAPSHOT_BYTES", "SNAPSHOT_INTERVAL", "TICK_INTERVAL", "PushManager"]

log = logging.getLogger("promhub.pushgateway")

#: How often :meth:`PushManager.tick` runs (TTL resolution, snapshot checks).
TICK_INTERVAL = 1.0
#: A snapshot is taken when the journal has grown past this (or twice the last snapshot)...
JOURNAL_SNAPSHOT_BYTES = 64 * 1024 * 1024
#: ... or when there were changes and the last snapshot is this old (Pushgateway's
#: ``--persistence.interval`` default).
SNAPSHOT_INTERVAL = 300.0


@dataclass(slots=True)
class _Refs:
    """A group's TSDB refs, valid for one version of the group."""

    version: int
    table: list[Labels]  # identity: compaction replaces the list
    tsdb: NDArray[np.int64]  # per table index, -1 unresolved
    refs: Refs  # the live series' refs, aligned with ``values``
    values: NDArray[np.float64]


class PushManager:
    """Owns the :class:`GroupStore` and everything periodic about it."""

    def __init__(
        self,
        storage: Appendable,
        data_dir: Path,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.storage = storage
        self.dir = data_dir
        self.store = GroupStore()
        self.interval = 60.0
        self.default_ttl = 0.0
        self._lock = threading.Lock()  # one tick at a time (ticks vs. stop)
        self._refs: dict[GroupKey, _Refs] = {}
        self._previous: Refs = empty_refs()
        self._last_write = 0.0
        self._saved_version = 0
        self._saved_at = 0.0
        self._snapshot_bytes = 0
        self.journal: Journal | None = None
        self.groups_gauge = Gauge(
            "promhub_pushgateway_groups",
            "Pushed groups currently held.",
            registry=registry,
        )
        self.pushes = Counter(
            "promhub_pushgateway_requests_total",
            "Push API write requests by method and HTTP status code.",
            ["method", "code"],
            registry=registry,
        )
        self.expired = Counter(
            "promhub_pushgateway_expired_groups_total",
            "Groups removed because their time to live ran out.",
            registry=registry,
        )
        self.samples = Counter(
            "promhub_pushgateway_samples_written_total",
            "Samples of pushed series written into the TSDB (staleness markers included).",
            registry=registry,
        )
        self.groups_gauge.set_function(lambda: len(self.store))

    def load(self) -> int:
        """Read the persisted groups (call once, before serving)."""
        n, seq = load_groups(self.store, self.dir)
        self.journal = Journal(self.dir, seq)
        self.store.journal = self.journal
        # Fold the replayed journals into a fresh snapshot at the first tick.
        self._saved_version = -1 if seq > 1 else self.store.version
        self._saved_at = time.time()
        self._snapshot_bytes = self.journal.bytes
        if n:
            log.info("restored %d pushed groups from %s", n, self.dir)
        return n

    def apply_config(self, cfg: Config) -> None:
        pg = cfg.pushgateway
        self.interval = cfg.global_.scrape_interval
        self.default_ttl = pg.default_ttl
        self.store.limits = PushLimits(series=pg.series_limit, body_bytes=pg.body_size_limit)

    # -- the periodic job ---------------------------------------------------------------

    def tick(self, now: float | None = None) -> None:
        """Expire, write to the TSDB when due, save when changed. Blocking."""
        now = time.time() if now is None else now
        with self._lock:
            gone = self.store.expire(now)
            if gone:
                self.expired.inc(len(gone))
                log.info("%d pushed groups expired", len(gone))
            if now - self._last_write >= self.interval - 0.05:
                self._last_write = now
                self.write(int(now * 1000))
            self._maybe_save(now)

    def _maybe_save(self, now: float) -> None:
        if self.store.version == self._saved_version:
            return
        journal = self.journal.bytes if self.journal is not None else 0
        big = journal >= max(JOURNAL_SNAPSHOT_BYTES, 2 * self._snapshot_bytes)
        if big or now - self._saved_at >= SNAPSHOT_INTERVAL or self._saved_version < 0:
            self.save(now)

    def save(self, now: float | None = None) -> None:
        """Write a snapshot and start a new journal."""
        v = self.store.version
        try:
            self._snapshot_bytes = save_groups(self.store, self.dir, self.journal)
        except OSError as e:
            log.error("saving pushed groups to %s failed: %s", self.dir, e)
            return
        self._saved_version = v
        self._saved_at = time.time() if now is None else now

    def stop(self) -> None:
        """Save the groups if anything changed since the last save. Blocking."""
        with self._lock:
            if self.store.version != self._saved_version:
                self.save()
            if self.journal is not None:
                self.journal.close()
                self.store.journal = self.journal = None

    # -- TSDB ----------------------------------------------------------------------------

    def write(self, ts: int) -> int:
        """Append one sample per exposed series at ``ts`` (ms), plus staleness markers.

        Returns the number of samples appended.
        """
        try:
            return self._write(ts)
        except StorageError as e:
            if isinstance(e, StorageFullError):
                log.error("writing pushed series failed: %s", e)
                return 0
            # The TSDB forgot a series we hold a ref for (head GC): resolve all again.
            log.info("writing pushed series: %s; resolving all series again", e)
            self._refs.clear()
            self._previous = empty_refs()
            return self._write(ts)

    def _write(self, ts: int) -> int:
        app = self.storage.appender()
        refs_parts: list[Refs] = []
        vals_parts: list[NDArray[np.float64]] = []
        with self.store.lock:
            groups = [(g.key, g.version, g.table, g.families) for g in self.store.groups()]
        cache: dict[GroupKey, _Refs] = {}
        for key, version, table, families in groups:
            st = self._refs.get(key)
            if st is None or st.version != version:
                tsdb = st.tsdb if st is not None and st.table is table else None
                idx_parts = [f.idx for f in families.values()]
                idx = np.concatenate(idx_parts) if idx_parts else empty_refs()
                values = (
                    np.concatenate([f.values for f in families.values()])
                    if idx_parts
                    else np.empty(0, dtype=np.float64)
                )
                n = len(table)
                if tsdb is None:
                    tsdb = np.full(n, -1, dtype=np.int64)
                elif len(tsdb) < n:
                    tsdb = np.concatenate([tsdb, np.full(n - len(tsdb), -1, dtype=np.int64)])
                for i in np.unique(idx[tsdb[idx] < 0]).tolist():
                    tsdb[i] = app.ref(table[i])
                st = _Refs(version, table, tsdb, tsdb[idx], values)
            cache[key] = st
            refs_parts.append(st.refs)
            vals_parts.append(st.values)
        self._refs = cache
        refs = np.concatenate(refs_parts) if refs_parts else empty_refs()
        n = len(refs)
        if n:
            app.append(refs, np.array([ts], dtype=np.int64), np.concatenate(vals_parts))
        current = np.unique(refs)
        stale = np.setdiff1d(self._previous, current, assume_unique=True)
        if len(stale):
            app.append(stale, np.array([ts], dtype=np.int64), np.full(len(stale), STALE_NAN))
        app.commit()
        self._previous = current
        self.samples.inc(n + len(stale))
        return n
