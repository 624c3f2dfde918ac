"""Agent storage: a WAL and nothing else, for ``promhub serve --agent``.

What Prometheus' ``tsdb/agent`` does: samples are appended to the write-ahead log so the
remote_write sender can forward them (its WAL watcher tails the segments), and nothing is
kept to query. In memory there is only what appending needs: the series registry
(``labels -> ref``) and the newest timestamp per ref (an older sample is out of order and
rejected). No chunks, no blocks, no index.

The log is the TSDB's own format (:mod:`promhub.tsdb.wal`: :class:`RecordCodec` records in
``<path>/wal`` segments and checkpoints), so a WAL reader or watcher written for the TSDB
reads an agent's WAL unchanged. On start the WAL is replayed to rebuild the registry with
the same refs, so records written before and after a restart agree.

:meth:`AgentStorage.truncate` writes a checkpoint holding the series records still
needed and deletes older segments; :meth:`AgentStorage.gc` forgets series that have not
been appended to since a given time (they stay in checkpoints while a kept segment still
has samples of theirs, as in Prometheus' agent).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from promhub.model.labels import Labels

# The TSDB's rules for a new series (sorted unique names, no empty values, a metric name).
from promhub.storage.batching import QueuedAppender
from promhub.storage.interface import (
    Appender,
    AppendResult,
    Refs,
    StorageError,
    Timestamps,
    Values,
)
from promhub.tsdb.head import _validate
from promhub.tsdb.wal import (
    DEFAULT_SEGMENT_SIZE,
    WAL,
    RecordCodec,
    SamplesRecord,
    SeriesRecord,
    WALReader,
    list_segments,
)

__all__ = ["KEEP_SEGMENTS", "AgentAppender", "AgentStorage", "UnsupportedError"]

log = logging.getLogger(__name__)

_NO_TS = np.iinfo(np.int64).min
#: Series per SERIES record in a checkpoint (keeps each record's zstd frame modest).
_CHECKPOINT_CHUNK = 10_000
#: Without remote_write queues (nothing to forward to), :meth:`AgentStorage.maintain`
#: keeps this many newest WAL segments.
KEEP_SEGMENTS = 3


class UnsupportedError(StorageError):
    """Reading from WAL-only storage (Prometheus' ``ErrUnsupported``)."""

    def __init__(self) -> None:
        super().__init__("unsupported operation with WAL-only storage")


@dataclass(slots=True)
class AgentCounters:
    samples_appended: int = 0
    out_of_order: int = 0
    series_created: int = 0
    series_removed: int = 0
    checkpoints: int = 0
    truncations: int = 0
    wal_corruptions: int = 0


class AgentStorage:
    """WAL-only storage implementing :class:`~promhub.storage.interface.Appendable`.

    >>> agent = AgentStorage.open("data-agent")
    >>> app = agent.appender()
    >>> r = app.ref(Labels.from_dict({"__name__": "up", "job": "a"}))
    >>> app.append(np.array([r]), np.array([1_700_000_000_000]), np.array([1.0]))
    >>> app.commit().appended
    1
    """

    def __init__(self, path: Path, wal: WAL) -> None:
        self.path = path
        self.wal = wal
        self.lock = threading.RLock()
        self.counters = AgentCounters()
        self._labels: list[Labels | None] = []
        self._by_labels: dict[Labels, int] = {}
        self._last_ts = np.full(0, _NO_TS, dtype=np.int64)
        #: The WAL segment holding each series' newest record: a forgotten series must
        #: stay in checkpoints while a kept segment still refers to it.
        self._last_seg = np.zeros(0, dtype=np.int64)
        #: Whether each ref is a live series (False: never handed out, or forgotten by gc).
        self._alive = np.zeros(0, dtype=bool)
        self._unlogged: list[int] = []
        #: Forgotten series still referenced by segments: ref -> (labels, last segment).
        self._deleted: dict[int, tuple[Labels, int]] = {}
        self._closed = False

    @classmethod
    def open(cls, path: str | Path, *, segment_size: int = DEFAULT_SEGMENT_SIZE) -> AgentStorage:
        """Open (creating if needed) ``path`` and replay ``path/wal``."""
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        wal_dir = p / "wal"
        replay = wal_dir.is_dir()
        reader = WALReader(wal_dir, repair=True) if replay else None
        records = list(_replayable(reader)) if reader is not None else []
        # The WAL opens a fresh segment, so replay reads everything written before.
        agent = cls(p, WAL(wal_dir, segment_size=segment_size))
        t0 = time.monotonic()
        agent._replay(records)
        if reader is not None:
            agent.counters.wal_corruptions = reader.corruptions
            log.info(
                "agent WAL replayed: %d series in %.2fs", agent.num_series(), time.monotonic() - t0
            )
        return agent

    # -- Appendable ----------------------------------------------------------------------

    def appender(self) -> AgentAppender:
        if self._closed:
            raise StorageError(f"agent storage {self.path} is closed")
        return AgentAppender(self)

    def querier(self, mint: int, maxt: int) -> Any:
        """Agent storage keeps nothing to read: always raises :class:`UnsupportedError`."""
        raise UnsupportedError()

    # -- series --------------------------------------------------------------------------

    def ref(self, labels: Labels) -> int:
        """The ref of ``labels``, creating the series (logged at the next commit)."""
        r = self._by_labels.get(labels)
        if r is not None:
            return r
        _validate(labels)
        with self.lock:
            r = self._by_labels.get(labels)
            if r is None:
                r = self._create(len(self._labels), labels)
                self._unlogged.append(r)
                self.counters.series_created += 1
            return r

    def _create(self, ref: int, labels: Labels) -> int:
        while len(self._labels) < ref:
            self._labels.append(None)
        if ref < len(self._labels):
            self._labels[ref] = labels
        else:
            self._labels.append(labels)
        self._by_labels[labels] = ref
        if ref >= len(self._last_ts):
            n = max(ref + 1, 2 * len(self._last_ts), 1024)
            grow = n - len(self._last_ts)
            self._last_ts = np.concatenate([self._last_ts, np.full(grow, _NO_TS, np.int64)])
            self._last_seg = np.concatenate([self._last_seg, np.zeros(grow, np.int64)])
            self._alive = np.concatenate([self._alive, np.zeros(grow, bool)])
        self._alive[ref] = True
        self._last_ts[ref] = _NO_TS
        self._last_seg[ref] = self.wal.segment
        return ref

    def num_series(self) -> int:
        return len(self._by_labels)

    def labels_of(self, ref: int) -> Labels | None:
        """The labels of a live series, or None."""
        return self._labels[ref] if 0 <= ref < len(self._labels) else None

    # -- appending -----------------------------------------------------------------------

    def commit(
        self,
        refs: Refs,
        ts: Timestamps,
        vals: Values,
        sts: Timestamps | None = None,
    ) -> AppendResult:
        """Reject out-of-order samples, log the rest (and new series) to the WAL."""
        refs = np.asarray(refs, dtype=np.int64)
        vals = np.asarray(vals, dtype=np.float64)
        ts = np.asarray(ts, dtype=np.int64)
        n = len(refs)
        if len(vals) != n or len(ts) not in (1, n) or (n == 0 and len(ts) > 1):
            raise ValueError(
                f"append: {n} refs, {len(ts)} timestamps and {len(vals)} values do not match"
            )
        res = AppendResult()
        with self.lock:
            if n and (int(refs.min()) < 0 or int(refs.max()) >= len(self._labels)):
                raise StorageError("append: unknown series ref")
            if n and not self._alive[refs].all():
                raise StorageError("append: series ref was garbage-collected")
            full_ts = np.broadcast_to(ts, refs.shape) if len(ts) == 1 else ts
            accept, unique = self._judge(refs, full_ts) if n else (np.zeros(0, bool), True)
            res.out_of_order = int(n - accept.sum())
            a_refs = refs[accept]
            a_ts = ts if len(ts) == 1 else ts[accept]
            a_vals = vals[accept]
            a_sts = None
            if sts is not None and len(a_refs):
                s = np.broadcast_to(np.asarray(sts, dtype=np.int64), refs.shape)[accept]
                a_sts = s if s.any() else None
            unlogged = self._unlogged
            if unlogged or len(a_refs):
                self._write(unlogged, a_refs, a_ts, a_vals, a_sts)
                self._unlogged = []
            if len(a_refs):
                a_full = np.broadcast_to(a_ts, a_refs.shape)
                if unique:
                    self._last_ts[a_refs] = a_full  # accepted => not older than before
                else:
                    np.maximum.at(self._last_ts, a_refs, a_full)
                self._last_seg[a_refs] = self.wal.segment
            if unlogged:
                self._last_seg[np.array(unlogged, dtype=np.int64)] = self.wal.segment
            res.appended = len(a_refs)
            self.counters.samples_appended += res.appended
            self.counters.out_of_order += res.out_of_order
        return res

    def _judge(self, refs: Refs, ts: NDArray[np.int64]) -> tuple[NDArray[np.bool_], bool]:
        """Accept a sample iff it is not older than its series' newest accepted sample
        (Prometheus' agent allows an equal timestamp), in arrival order within a batch."""
        last = self._last_ts[refs]
        accept: NDArray[np.bool_] = ts >= last
        # A scrape's refs are distinct: one sort tells, and then nothing else is needed.
        sr = np.sort(refs)
        if not bool((sr[1:] == sr[:-1]).any()):
            return accept, True
        uniq, counts = np.unique(sr, return_counts=True)
        # A ref repeated within the batch: walk just those samples in order.
        for r in uniq[counts > 1].tolist():
            idx = np.flatnonzero(refs == r)
            base = int(self._last_ts[r])
            for i in idx.tolist():
                t = int(ts[i])
                ok = t >= base
                accept[i] = ok
                if ok:
                    base = t
        return accept, False

    def _write(
        self,
        unlogged: list[int],
        refs: Refs,
        ts: Timestamps,
        vals: Values,
        sts: Timestamps | None,
    ) -> None:
        wal = self.wal
        series = b""
        if unlogged:
            series = wal.codec.encode_series(
                unlogged,
                [self._labels[r] for r in unlogged],  # type: ignore[misc]
            )
        samples = b""
        state = None
        if len(refs):
            samples, s_refs, s_bits = wal.codec.encode_samples(refs, ts, vals, sts)
            state = (s_refs, s_bits)
        if wal.needs_rotation(len(series) + len(samples)):
            wal.rotate()
            # The XOR state restarted with the segment: encode again against it.
            if len(refs):
                samples, s_refs, s_bits = wal.codec.encode_samples(refs, ts, vals, sts)
                state = (s_refs, s_bits)
        wal.write(series + samples)  # raises StorageFullError; nothing applied yet
        if state is not None:
            wal.codec.advance(*state)

    # -- replay --------------------------------------------------------------------------

    def _replay(self, records: list[SeriesRecord | SamplesRecord]) -> None:
        seg = self.wal.segment
        for rec in records:
            if isinstance(rec, SeriesRecord):
                for r, ls in zip(rec.refs.tolist(), rec.labels, strict=True):
                    old = self._by_labels.get(ls)
                    if old is not None and old != r:
                        # Same labels under a newer ref (after a GC): the newer one wins.
                        self._labels[old] = None
                        self._alive[old] = False
                    self._create(r, ls)
            elif len(rec.refs):
                known = rec.refs < len(self._labels)
                refs = rec.refs[known]
                t = np.broadcast_to(rec.timestamps, rec.refs.shape)[known]
                np.maximum.at(self._last_ts, refs, t)
        # Every replayed series may have samples in any old segment: keep them in
        # checkpoints until segments written from now on are truncated.
        self._last_seg[: len(self._labels)] = seg
        for ls, r in list(self._by_labels.items()):
            if self._labels[r] != ls:
                del self._by_labels[ls]

    # -- truncation and GC ---------------------------------------------------------------

    def gc(self, mint: int) -> int:
        """Forget series whose newest sample is older than ``mint`` (or that never got
        one since ``mint``); returns how many. A later append with their labels creates
        a new series with a new ref."""
        with self.lock:
            n = len(self._labels)
            if n == 0:
                return 0
            stale = np.flatnonzero(self._last_ts[:n] < mint).tolist()
            unlogged = set(self._unlogged)
            removed = 0
            for r in stale:
                ls = self._labels[r]
                if ls is None or r in unlogged:
                    continue
                self._labels[r] = None
                self._alive[r] = False
                del self._by_labels[ls]
                self._deleted[r] = (ls, int(self._last_seg[r]))
                removed += 1
            self.counters.series_removed += removed
            return removed

    def truncate(self, keep_from_segment: int) -> int | None:
        """Checkpoint and delete the WAL segments before ``keep_from_segment``.

        The checkpoint holds a SERIES record for every live series and for forgotten
        series still referenced by a kept segment, so a reader starting from it knows
        every ref it will meet. Returns the last segment deleted, or None if there was
        nothing to do. The current segment is never deleted.
        """
        with self.lock:
            segs = list_segments(self.wal.dir)
            upto = min(keep_from_segment - 1, self.wal.segment - 1)
            if not segs or upto < segs[0]:
                return None
            live = [(r, ls) for r, ls in enumerate(self._labels) if ls is not None]
            kept = [(r, ls) for r, (ls, s) in self._deleted.items() if s > upto]
            records = sorted(live + kept)
            self.wal.write_checkpoint(upto, _series_records(records))
            self._deleted = {r: v for r, v in self._deleted.items() if v[1] > upto}
            self.counters.checkpoints += 1
            self.counters.truncations += 1
            return upto

    def maintain(self, gc_before_ms: int, needed_segment: int | None) -> int | None:
        """The periodic WAL upkeep of agent mode: forget series idle since
        ``gc_before_ms``, close the current segment, and truncate below
        ``needed_segment`` (the oldest one a remote_write queue has not sent; None when
        no queue needs any: then the newest :data:`KEEP_SEGMENTS` stay).

        The segment is closed first, as Prometheus' agent does, so that a slow agent
        (whose segment would take days to fill) can drop what it has sent: otherwise
        the one live segment, never truncatable, would hold everything. Returns the last
        segment deleted, or None.
        """
        self.gc(gc_before_ms)
        with self.lock:
            if self._closed:
                return None
            with contextlib.suppress(OSError):
                if (self.wal.dir / f"{self.wal.segment:08d}").stat().st_size > 0:
                    self.wal.rotate()
            keep = self.wal.segment - KEEP_SEGMENTS + 1
            if needed_segment is not None:
                keep = min(needed_segment, self.wal.segment)
            return self.truncate(keep)

    # -- lifecycle -----------------------------------------------------------------------

    def collector(self) -> Collector:
        """Prometheus' ``prometheus_agent_*`` metrics, read at scrape time."""
        return _AgentCollector(self)

    def close(self) -> None:
        with self.lock:
            if self._closed:
                return
            self._closed = True
            self.wal.close()


class AgentAppender(QueuedAppender):
    """An :class:`~promhub.storage.interface.Appender` into :class:`AgentStorage`."""

    def __init__(self, agent: AgentStorage) -> None:
        super().__init__(agent)


_check: type[Appender] = AgentAppender  # AgentAppender satisfies the Appender protocol


def _replayable(reader: WALReader) -> Iterator[SeriesRecord | SamplesRecord]:
    for rec in reader:
        if isinstance(rec, SeriesRecord | SamplesRecord):
            yield rec


def _series_records(items: Sequence[tuple[int, Labels]]) -> Iterator[bytes]:
    codec = RecordCodec()
    for i in range(0, len(items), _CHECKPOINT_CHUNK):
        part = items[i : i + _CHECKPOINT_CHUNK]
        yield codec.encode_series([r for r, _ in part], [ls for _, ls in part])


class _AgentCollector(Collector):
    def __init__(self, agent: AgentStorage) -> None:
        self._agent = agent

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        a = self._agent
        c = a.counters
        yield GaugeMetricFamily(
            "prometheus_agent_active_series",
            "Number of active series being tracked by the WAL storage",
            value=a.num_series(),
        )
        yield GaugeMetricFamily(
            "prometheus_agent_deleted_series",
            "Number of series pending deletion from the WAL",
            value=len(a._deleted),
        )
        counters = (
            ("samples_appended", "Total number of samples appended to the storage",
             c.samples_appended),
            ("out_of_order_samples",
             "Total number of out of order samples ingestion failed attempts.", c.out_of_order),
            ("checkpoint_creations", "Number of checkpoint creations attempted.", c.checkpoints),
            ("corruptions", "Total number of WAL corruptions.", c.wal_corruptions),
        )  # fmt: skip
        for name, help_, v in counters:
            yield CounterMetricFamily(f"prometheus_agent_{name}", help_, value=v)
        yield GaugeMetricFamily(
            "prometheus_agent_wal_bytes",
            "Size of the agent's WAL directory in bytes (promhub).",
            value=a.wal.size_bytes(),
        )
