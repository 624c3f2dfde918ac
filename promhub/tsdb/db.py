"""The database: a head (with its WAL) in front of immutable blocks on disk.

``DB.open(path)`` loads the blocks, replays the WAL into the head and is then an
:class:`~promhub.storage.interface.Appendable` and
:class:`~promhub.storage.interface.Queryable`. :meth:`DB.maintain` does the periodic work
synchronously (the server runs it in a worker thread every minute):

1. freeze the head's recent batches into compressed chunks;
2. cut the head into a block once it spans 1.5 × ``min_block_duration`` (as Prometheus
   does with its 2 h chunk range), then checkpoint the WAL;
3. compact adjacent blocks into ranges growing ×3 (30 m, 1.5 h, 4.5 h, ...);
4. delete whole blocks, oldest first, beyond the time or size retention.

Why 30 minutes by default rather than Prometheus' 2 hours: the head is the only part held
in memory, and it peaks at 1.5 block durations. With 30 m blocks a 5 s scrape keeps at
most ~540 samples per series in the head, which keeps RSS per active series under
Prometheus' figure; compaction still produces long blocks on disk.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import re
import shutil
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from promhub.model.labels import Labels
from promhub.model.matcher import Matcher
from promhub.storage.interface import (
    Appender,
    Series,
    SeriesBatch,
    StorageError,
    Timestamps,
    Values,
)
from promhub.tsdb.block import (
    Block,
    CorruptBlockError,
    batch_of_series,
    compact_blocks,
    write_block,
)
from promhub.tsdb.head import NO_TS, Head, HeadSnapshot
from promhub.tsdb.wal import (
    DEFAULT_SEGMENT_SIZE,
    WAL,
    SamplesRecord,
    TombstonesRecord,
    WALReader,
)

log = logging.getLogger(__name__)

MINUTE_MS = 60_000
DEFAULT_MIN_BLOCK_DURATION_MS = 30 * MINUTE_MS
DEFAULT_RETENTION_MS = 15 * 24 * 60 * MINUTE_MS
MAX_BLOCK_DURATION_MS = 31 * 24 * 60 * MINUTE_MS
_ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
#: Series per label-ordered window when cutting the head (bounds memory of the cut).
_CUT_WINDOW = 2048


class DataDirError(StorageError, OSError):
    """The data directory cannot be used (not a directory, not writable, locked)."""


@dataclass(slots=True)
class DBCounters:
    compactions: int = 0
    compactions_failed: int = 0
    compactions_triggered: int = 0
    reloads: int = 0
    reloads_failed: int = 0
    time_retentions: int = 0
    size_retentions: int = 0
    wal_corruptions: int = 0
    head_truncations_failed: int = 0
    corrupt_blocks: int = 0


@dataclass(slots=True)
class Stats:
    """What ``/api/v1/status/tsdb`` and ``tsdb analyze`` report."""

    head_series: int
    head_samples: int
    head_chunks: int
    head_min_time: int | None
    head_max_time: int | None
    num_blocks: int
    blocks_bytes: int
    wal_bytes: int
    #: ``seriesCountByMetricName``, ``labelValueCountByLabelName``,
    #: ``memoryInBytesByLabelName``, ``seriesCountByLabelValuePair`` as (name, count).
    cardinality: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


class DB:
    """The embedded TSDB; see the module docstring. Thread-safe."""

    def __init__(
        self,
        path: Path,
        *,
        retention_time_ms: int,
        retention_size_bytes: int,
        min_block_duration_ms: int,
        max_block_duration_ms: int,
        read_only: bool,
    ) -> None:
        self.path = path
        self.retention_time_ms = retention_time_ms
        self.retention_size_bytes = retention_size_bytes
        self.min_block_duration_ms = min_block_duration_ms
        self.max_block_duration_ms = max_block_duration_ms
        self.read_only = read_only
        self.counters = DBCounters()
        self.head = Head()
        self.wal: WAL | None = None
        self._blocks: list[Block] = []
        self._doomed: list[Block] = []
        self._maintain_lock = threading.Lock()
        self._lock_fd = -1
        self._closed = False

    # -- opening --------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        retention_time_ms: int = DEFAULT_RETENTION_MS,
        retention_size_bytes: int = 0,
        min_block_duration_ms: int = DEFAULT_MIN_BLOCK_DURATION_MS,
        max_block_duration_ms: int | None = None,
        wal_segment_size: int = DEFAULT_SEGMENT_SIZE,
        read_only: bool = False,
    ) -> DB:
        """Open (creating if needed) the database in ``path``.

        ``read_only`` (for ``tsdb analyze``/``dump``) writes nothing: no lock file, no WAL
        repair, no cleanup. Raises :class:`DataDirError` naming the path when the
        directory cannot be used.
        """
        p = Path(path)
        if min_block_duration_ms <= 0:
            raise ValueError(f"min_block_duration_ms must be positive, not {min_block_duration_ms}")
        if max_block_duration_ms is None:
            tenth = retention_time_ms // 10 if retention_time_ms > 0 else MAX_BLOCK_DURATION_MS
            max_block_duration_ms = max(min_block_duration_ms, min(tenth, MAX_BLOCK_DURATION_MS))
        db = cls(
            p,
            retention_time_ms=retention_time_ms,
            retention_size_bytes=retention_size_bytes,
            min_block_duration_ms=min_block_duration_ms,
            max_block_duration_ms=max_block_duration_ms,
            read_only=read_only,
        )
        if read_only:
            if not p.is_dir():
                raise DataDirError(f"data directory {p} does not exist or is not a directory")
        else:
            db._prepare_dir()
        try:
            db._load_blocks()
            db._replay()
            if not read_only:
                db.wal = WAL(p / "wal", segment_size=wal_segment_size)
                db.head.wal = db.wal
            db.head.freeze()
        except PermissionError as e:
            db.close()
            raise DataDirError(f"data directory {p} is not usable: {e}") from e
        except BaseException:
            db.close()
            raise
        return db

    def _prepare_dir(self) -> None:
        p = self.path
        try:
            p.mkdir(parents=True, exist_ok=True)
        except FileExistsError as e:
            raise DataDirError(f"data directory {p} exists and is not a directory") from e
        except OSError as e:
            raise DataDirError(f"cannot create data directory {p}: {e.strerror}") from e
        if not p.is_dir():
            raise DataDirError(f"data directory {p} exists and is not a directory")
        try:
            self._lock_fd = os.open(p / "lock", os.O_RDWR | os.O_CREAT, 0o644)
            probe = p / ".write-probe"
            probe.write_bytes(b"x")
            probe.unlink()
        except OSError as e:
            raise DataDirError(f"data directory {p} is not writable: {e.strerror}") from e
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            raise DataDirError(
                f"data directory {p} is locked by another process (is promhub already running?)"
            ) from e
        for child in p.iterdir():
            if child.is_dir() and (
                child.name.endswith(".tmp") or child.name.endswith(".tmp-for-deletion")
            ):
                log.info("removing leftover directory %s", child)
                shutil.rmtree(child, ignore_errors=True)

    def _load_blocks(self) -> None:
        blocks: list[Block] = []
        for child in sorted(self.path.iterdir()):
            if not (child.is_dir() and _ULID_RE.match(child.name)):
                continue
            try:
                blocks.append(Block.open(child))
            except (CorruptBlockError, OSError, ValueError) as e:
                self.counters.corrupt_blocks += 1
                self.counters.reloads_failed += 1
                log.warning("skipping corrupt block %s: %s", child, e)
        # A compaction interrupted after writing its result but before deleting its
        # sources leaves both: the sources are the parents named in the new block's meta.
        keep = []
        for b in blocks:
            src = set(b.meta.sources)
            if any(a.meta.level > b.meta.level and src <= set(a.meta.sources) for a in blocks):
                log.info("removing block %s already compacted into another", b.meta.ulid)
                b.close()
                if not self.read_only:
                    shutil.rmtree(self.path / b.meta.ulid, ignore_errors=True)
            else:
                keep.append(b)
        self._blocks = sorted(keep, key=lambda b: b.meta.min_time)
        self.counters.reloads += 1
        if self._blocks:
            self.head.min_valid_time = max(b.meta.max_time for b in self._blocks)

    def _replay(self) -> None:
        wal_dir = self.path / "wal"
        if not wal_dir.is_dir():
            return
        reader = WALReader(wal_dir, repair=not self.read_only)
        remap = np.arange(0, dtype=np.int64)
        head = self.head
        created = head.counters.series_created
        for rec in reader:
            if isinstance(rec, SamplesRecord):
                if len(rec.refs) == 0:
                    continue
                top = int(rec.refs.max()) + 1
                if top > len(remap):  # a series whose record was lost: nothing to attach
                    remap = np.concatenate([remap, np.full(top - len(remap), -1, np.int64)])
                refs = remap[rec.refs]
                ok = refs >= 0
                sts = rec.start_timestamps
                if not ok.all():
                    ts = rec.timestamps if len(rec.timestamps) == 1 else rec.timestamps[ok]
                    sts = None if sts is None else sts[ok]
                    head.commit(refs[ok], ts, rec.values[ok], log=False, sts=sts)
                else:
                    head.commit(refs, rec.timestamps, rec.values, log=False, sts=sts)
            elif isinstance(rec, TombstonesRecord):
                known = rec.refs < len(remap)
                refs = np.where(known, remap[np.where(known, rec.refs, 0)], -1)
                head.add_tombstones(refs, rec.mints, rec.maxts)
            else:
                used = head.restore_series(rec.refs, rec.labels)
                top = int(rec.refs.max()) + 1 if len(rec.refs) else 0
                if top > len(remap):
                    remap = np.concatenate([remap, np.full(top - len(remap), -1, np.int64)])
                remap[rec.refs] = used
        self.counters.wal_corruptions += reader.corruptions
        # Replayed samples were counted when first appended; start the counters afresh.
        counters = type(head.counters)()
        counters.series_created = head.counters.series_created - created
        head.counters = counters

    # -- Appendable / Queryable ---------------------------------------------------------

    def appender(self) -> Appender:
        if self.read_only:
            raise StorageError(f"data directory {self.path} was opened read-only")
        return self.head.appender()

    def querier(self, mint: int, maxt: int) -> DBQuerier:
        return DBQuerier(self, mint, maxt)

    @property
    def blocks(self) -> list[Block]:
        with self.head.lock:
            return list(self._blocks)

    # -- maintenance ----------------------------------------------------------------

    def maintain(self) -> None:
        """Freeze, cut, compact, apply retention, checkpoint. Blocking; call from a worker."""
        if self.read_only or self._closed:
            return
        with self._maintain_lock:
            self.head.begin_gc_epoch()
            self._purge_doomed()
            self.head.freeze()
            self._cut_head()
            self._compact()
            self._apply_retention()
            if self.wal is not None:
                with self.head.lock:
                    self.wal.sync()
            _release_free_memory()

    def _cut_head(self) -> None:
        d = self.min_block_duration_ms
        while True:
            with self.head.lock:
                mint, maxt = self.head.min_time, self.head.max_time
            if mint == NO_TS or maxt - mint <= d // 2 * 3:
                return
            end = (mint // d + 1) * d
            self.counters.compactions_triggered += 1
            try:
                self._persist_head(mint, end)
            except OSError as e:
                self.counters.compactions_failed += 1
                self.counters.head_truncations_failed += 1
                log.error("writing head block [%d, %d) failed: %s", mint, end, e)
                return

    def _persist_head(self, mint: int, end: int) -> None:
        snap = self.head.begin_truncate(end)
        series = sorted(self.head.all_series(), key=lambda rl: rl[1])
        block: Block | None = None
        if any(c.mint < end for c in snap.chunks) or any(b.mint < end for b in snap.batches):
            meta = write_block(self.path, _head_series(snap, series, mint, end - 1), mint, end)
            block = Block.open(self.path / meta.ulid)
            self.counters.compactions += 1
        kept = self.head.prepare_truncate(snap, end)
        with self.head.lock:
            if block is not None:
                self._blocks.append(block)
                self._blocks.sort(key=lambda b: b.meta.min_time)
            self.head.truncate(snap, kept)
            if self.wal is None:
                return
            upto = self.wal.rotate()
            snap2 = self.head.snapshot()
            live = self.head.all_series()
        self.wal.write_checkpoint(upto, self.head.checkpoint_records(snap2, live))

    def _ranges(self) -> list[int]:
        out = []
        r = self.min_block_duration_ms * 3
        while r <= self.max_block_duration_ms:
            out.append(r)
            r *= 3
        return out

    def _compact(self) -> None:
        while True:
            group = self._plan()
            if not group:
                return
            self.counters.compactions_triggered += 1
            try:
                meta = compact_blocks(self.path, group)
                new = Block.open(self.path / meta.ulid)
            except (OSError, CorruptBlockError, ValueError) as e:
                self.counters.compactions_failed += 1
                log.error("compacting %s failed: %s", [b.meta.ulid for b in group], e)
                return
            self.counters.compactions += 1
            with self.head.lock:
                self._blocks = sorted(
                    [b for b in self._blocks if b not in group] + [new],
                    key=lambda b: b.meta.min_time,
                )
            self._doom(group)

    def _plan(self) -> list[Block]:
        with self.head.lock:
            blocks = list(self._blocks)
        if len(blocks) < 3:
            return []
        newest_end = max(b.meta.max_time for b in blocks)
        # Like Prometheus, leave the newest block alone: it may still get company.
        candidates = sorted(blocks, key=lambda b: b.meta.max_time)[:-1]
        for r in self._ranges():
            windows: dict[int, list[Block]] = {}
            for b in candidates:
                w = b.meta.min_time // r * r
                if b.meta.max_time <= w + r:
                    windows.setdefault(w, []).append(b)
            for w in sorted(windows):
                g = windows[w]
                if len(g) >= 2 and w + r <= newest_end:
                    return sorted(g, key=lambda b: b.meta.min_time)
        return []

    def _apply_retention(self) -> None:
        with self.head.lock:
            blocks = sorted(self._blocks, key=lambda b: b.meta.max_time, reverse=True)
        if not blocks:
            return
        doomed: list[Block] = []
        if self.retention_time_ms > 0:
            newest = blocks[0].meta.max_time
            old = [b for b in blocks if newest - b.meta.max_time > self.retention_time_ms]
            if old:
                self.counters.time_retentions += 1
                doomed += old
        if self.retention_size_bytes > 0:
            used = self.wal.size_bytes() if self.wal is not None else 0
            for i, b in enumerate(blocks):
                used += b.size_bytes()
                if used > self.retention_size_bytes:
                    extra = [x for x in blocks[i:] if x not in doomed]
                    if extra:
                        self.counters.size_retentions += 1
                        doomed += extra
                    break
        if doomed:
            log.info("retention deletes blocks %s", [b.meta.ulid for b in doomed])
            with self.head.lock:
                self._blocks = [b for b in self._blocks if b not in doomed]
            self._doom(doomed)

    def _doom(self, blocks: Sequence[Block]) -> None:
        """Hide blocks from future opens now; close and delete them at the next maintain.

        Queriers opened before may still be reading them, so the files stay until then.
        """
        for b in blocks:
            src = self.path / b.meta.ulid
            try:
                os.replace(src, self.path / f"{b.meta.ulid}.tmp-for-deletion")
            except OSError as e:
                log.error("cannot retire block %s: %s", src, e)
            self._doomed.append(b)

    def _purge_doomed(self) -> None:
        doomed, self._doomed = self._doomed, []
        for b in doomed:
            b.close()
            shutil.rmtree(self.path / f"{b.meta.ulid}.tmp-for-deletion", ignore_errors=True)

    # -- deletion -------------------------------------------------------------------

    def delete(
        self, matchers: Sequence[Matcher], mint: int = -(2**63), maxt: int = 2**63 - 1
    ) -> int:
        """Delete the samples of the series matching all ``matchers`` in ``[mint, maxt]``.

        As in Prometheus, nothing is rewritten now: blocks get a ``tombstones`` file and
        the head logs the deletion to the WAL, and every read leaves the samples out
        until compaction or :meth:`clean_tombstones` drops them for good (see
        :mod:`promhub.tsdb.tombstones`). Holds the maintenance lock so that a block being
        cut from the head or compacted meanwhile cannot miss the deletion. Returns the
        number of (block or head) series affected. Blocking; call from a worker.
        """
        if self.read_only:
            raise StorageError(f"data directory {self.path} was opened read-only")
        if not matchers:
            raise ValueError("delete needs at least one matcher")
        with self._maintain_lock:
            n = 0
            for b in self.blocks:
                if b.meta.min_time <= maxt and b.meta.max_time > mint:
                    n += b.delete(matchers, mint, maxt)
            return n + self.head.delete(matchers, mint, maxt)

    def clean_tombstones(self) -> int:
        """Rewrite every block that has tombstones without the deleted samples.

        As in Prometheus, each is replaced by a new block of the same time range (level
        +1 and the same sources, so that a crash before the old one is gone is resolved
        on open) or simply deleted when nothing is left. Returns the blocks rewritten.
        """
        if self.read_only:
            raise StorageError(f"data directory {self.path} was opened read-only")
        done = 0
        with self._maintain_lock:
            for old in [b for b in self.blocks if b.tombstones]:
                meta = compact_blocks(self.path, [old])
                new: list[Block] = []
                if meta.num_samples:
                    new.append(Block.open(self.path / meta.ulid))
                else:
                    shutil.rmtree(self.path / meta.ulid, ignore_errors=True)
                with self.head.lock:
                    self._blocks = sorted(
                        [b for b in self._blocks if b is not old] + new,
                        key=lambda b: b.meta.min_time,
                    )
                self._doom([old])
                done += 1
        return done

    # -- introspection --------------------------------------------------------------

    def stats(self, limit: int = 10) -> Stats:
        h = self.head
        with h.lock:
            blocks = list(self._blocks)
            mint, maxt = h.min_time, h.max_time
            st = Stats(
                head_series=h.num_series(),
                head_samples=h.num_samples,
                head_chunks=h.num_chunks(),
                head_min_time=None if mint == NO_TS else mint,
                head_max_time=None if maxt == NO_TS else maxt,
                num_blocks=len(blocks),
                blocks_bytes=0,
                wal_bytes=self.wal.size_bytes() if self.wal is not None else 0,
            )
        st.blocks_bytes = sum(b.size_bytes() for b in blocks)
        st.cardinality = h.cardinality(limit)
        return st

    def snapshot(self, target: str | os.PathLike[str], with_head: bool = True) -> None:
        """Hard-link every block into ``target`` and, ``with_head``, write the head's samples
        there as one more block: a directory ``promhub serve --storage.tsdb.path`` opens.

        Holds the maintenance lock so no block is compacted away while it is linked.
        """
        out = Path(target)
        out.mkdir(parents=True, exist_ok=True)
        with self._maintain_lock:
            with self.head.lock:
                blocks = list(self._blocks)
                snap = self.head.snapshot()
                series = sorted(self.head.all_series(), key=lambda rl: rl[1])
                mint, maxt = self.head.min_time, self.head.max_time
            for b in blocks:
                src = self.path / b.meta.ulid
                for f in src.rglob("*"):
                    dst = out / b.meta.ulid / f.relative_to(src)
                    if f.is_dir():
                        dst.mkdir(parents=True, exist_ok=True)
                    else:
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        os.link(f, dst)
            if with_head and mint != NO_TS:
                write_block(out, _head_series(snap, series, mint, maxt), mint, maxt + 1)

    def lowest_timestamp(self) -> int | None:
        with self.head.lock:
            times = [b.meta.min_time for b in self._blocks]
            if self.head.min_time != NO_TS:
                times.append(self.head.min_time)
        return min(times) if times else None

    def collector(self) -> Any:
        """A prometheus_client Collector exposing Prometheus' ``prometheus_tsdb_*`` metrics."""
        from promhub.tsdb.metrics import TSDBCollector

        return TSDBCollector(self)

    def close(self) -> None:
        """Flush and close the WAL and blocks; the head is rebuilt from the WAL on open."""
        if self._closed:
            return
        self._closed = True
        with self._maintain_lock, self.head.lock:
            if self.wal is not None:
                self.wal.close()
                self.wal = None
                self.head.wal = None
            for b in self._blocks + self._doomed:
                b.close()
            self._purge_doomed_paths()
            self._blocks = []
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1

    def _purge_doomed_paths(self) -> None:
        for b in self._doomed:
            shutil.rmtree(self.path / f"{b.meta.ulid}.tmp-for-deletion", ignore_errors=True)
        self._doomed = []

    def __enter__(self) -> DB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _release_free_memory() -> None:
    """Give freed heap pages back to the OS after maintenance's large temporaries.

    glibc raises its mmap threshold after big frees, so NumPy temporaries of a freeze or
    a head cut end up on the heap and RSS would stay at the peak; ``malloc_trim`` undoes
    that. Elsewhere (musl, macOS) it is simply not available.
    """
    global _TRIM
    if _TRIM is None:
        try:
            _TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _TRIM = False
    if _TRIM:
        _TRIM(0)


_TRIM: Any = None


def _head_series(
    snap: HeadSnapshot, series: list[tuple[int, Labels]], mint: int, maxt: int
) -> Iterator[tuple[Labels, Timestamps, Values, Timestamps | None]]:
    """Head samples in ``[mint, maxt]`` in label order, decoded one window at a time."""
    for lo in range(0, len(series), _CUT_WINDOW):
        window = series[lo : lo + _CUT_WINDOW]
        want = np.sort(np.fromiter((r for r, _ in window), dtype=np.int64, count=len(window)))
        cols = snap.collect(want, mint, maxt)
        pos = dict(zip(cols.refs.tolist(), range(len(cols.refs)), strict=True))
        for r, ls in window:
            i = pos.get(r)
            if i is not None:
                ts, vals = cols.series(i)
                yield ls, ts, vals, cols.start_timestamps(i)


def _concat_sts(parts: Sequence[Series]) -> Timestamps | None:
    """The parts' start timestamps concatenated (0 where a part has none), or None."""
    if all(p.start_timestamps is None for p in parts):
        return None
    return np.concatenate(
        [
            np.zeros(len(p.timestamps), np.int64)
            if p.start_timestamps is None
            else p.start_timestamps
            for p in parts
        ]
    )


def _ranges(starts: Timestamps, lens: Timestamps) -> Timestamps:
    """``concat(arange(s, s + n) for s, n in zip(starts, lens))`` without a Python loop."""
    total = int(lens.sum())
    before = np.cumsum(lens) - lens
    out: Timestamps = np.repeat(starts - before, lens) + np.arange(total, dtype=np.int64)
    return out


def _take(b: SeriesBatch, which: Timestamps) -> SeriesBatch:
    """The series ``which`` (indices, in that order) of a batch."""
    counts = np.diff(b.offsets)[which]
    idx = _ranges(b.offsets[:-1][which], counts)
    offsets = np.zeros(len(which) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    sts = None if b.start_timestamps is None else b.start_timestamps[idx]
    labels = [b.labels[i] for i in which.tolist()]
    return SeriesBatch(labels, offsets, b.timestamps[idx], b.values[idx], sts)


def _merge_batches(parts: Sequence[SeriesBatch]) -> SeriesBatch:
    """Merge batches from several sources (oldest first) into one, by labels.

    A series in several parts gets their samples in part order; where sources overlap in
    time (a backfill), samples are sorted and the later source wins a tie, as
    :meth:`DBQuerier.select` does.
    """
    labels = [ls for p in parts for ls in p.labels]
    bases = np.cumsum([0] + [len(p.timestamps) for p in parts])
    starts = np.concatenate([p.offsets[:-1] + bases[k] for k, p in enumerate(parts)])
    counts = np.concatenate([np.diff(p.offsets) for p in parts])
    # Each part is sorted, so this stable sort merges runs; ties keep the part order.
    order = sorted(range(len(labels)), key=labels.__getitem__)
    idx = _ranges(starts[order], counts[order])
    ts = np.concatenate([p.timestamps for p in parts])[idx]
    vals = np.concatenate([p.values for p in parts])[idx]
    sts = None
    if any(p.start_timestamps is not None for p in parts):
        sts = np.concatenate(
            [
                np.zeros(len(p.timestamps), np.int64)
                if p.start_timestamps is None
                else p.start_timestamps
                for p in parts
            ]
        )[idx]
    merged = [labels[order[0]]]
    first = [0]
    for j in range(1, len(order)):
        ls = labels[order[j]]
        if ls != merged[-1]:
            merged.append(ls)
            first.append(j)
    counts_sorted = counts[order]
    group_counts = np.add.reduceat(counts_sorted, np.array(first, dtype=np.int64))
    offsets = np.zeros(len(merged) + 1, dtype=np.int64)
    np.cumsum(group_counts, out=offsets[1:])
    sid = np.repeat(np.arange(len(merged), dtype=np.int64), group_counts)
    same = sid[1:] == sid[:-1]
    if bool((same & (ts[1:] <= ts[:-1])).any()):
        o = np.lexsort((np.arange(len(ts)), ts, sid))
        ts, vals, sid = ts[o], vals[o], sid[o]
        keep = np.append((sid[1:] != sid[:-1]) | (ts[1:] != ts[:-1]), True)
        ts, vals, sid = ts[keep], vals[keep], sid[keep]
        if sts is not None:
            sts = sts[o][keep]
        np.cumsum(np.bincount(sid, minlength=len(merged)), out=offsets[1:])
    if sts is not None and not sts.any():
        sts = None
    return SeriesBatch(merged, offsets, ts, vals, sts)


class DBQuerier:
    """Reads blocks and head as of its creation; see :class:`Querier`."""

    def __init__(self, db: DB, mint: int, maxt: int) -> None:
        self._head = db.head
        self.mint = mint
        self.maxt = maxt
        with db.head.lock:
            self._blocks = [
                b for b in db._blocks if b.meta.max_time > mint and b.meta.min_time <= maxt
            ]
            self._snap = db.head.snapshot()

    def _head_series(self, matchers: Sequence[Matcher]) -> list[Series]:
        refs, labels = self._head.select_refs(matchers)
        if len(refs) == 0:
            return []
        cols = self._snap.collect(refs, self.mint, self.maxt)
        pos = np.searchsorted(refs, cols.refs)
        out = []
        for i, p in enumerate(pos.tolist()):
            ts, vals = cols.series(i)
            out.append(Series(labels[p], ts, vals, cols.start_timestamps(i)))
        return out

    def select(self, matchers: Sequence[Matcher]) -> list[Series]:
        parts: dict[Labels, list[Series]] = {}
        for b in self._blocks:
            for s in b.select(matchers, self.mint, self.maxt):
                parts.setdefault(s.labels, []).append(s)
        for s in self._head_series(matchers):
            parts.setdefault(s.labels, []).append(s)
        out = []
        for ls in sorted(parts):
            ps = parts[ls]
            if len(ps) == 1:
                if len(ps[0].timestamps):
                    out.append(ps[0])
                continue
            ts = np.concatenate([p.timestamps for p in ps])
            vals = np.concatenate([p.values for p in ps])
            sts = _concat_sts(ps)
            if len(ts) > 1 and (np.diff(ts) <= 0).any():
                # Overlapping blocks (e.g. a backfill): sort, the later source wins a tie.
                order = np.argsort(ts, kind="stable")
                ts, vals = ts[order], vals[order]
                keep = np.append(ts[1:] != ts[:-1], True)
                ts, vals = ts[keep], vals[keep]
                if sts is not None:
                    sts = sts[order][keep]
                    sts = sts if sts.any() else None
            if len(ts):
                out.append(Series(ls, ts, vals, sts))
        return out

    def select_batch(self, matchers: Sequence[Matcher]) -> SeriesBatch:
        """What :meth:`select` returns, as one CSR batch (see ``BatchQuerier``).

        No :class:`Series` per series: blocks gather their samples with index arrays and
        the head hands over its columnar collection; only when several sources hold
        series are they merged, by one sort over the label sets.
        """
        parts = [b.select_batch(matchers, self.mint, self.maxt) for b in self._blocks]
        parts.append(self._head_batch(matchers))
        parts = [p for p in parts if p.labels]
        if not parts:
            return batch_of_series([])
        if len(parts) == 1:
            return parts[0]
        return _merge_batches(parts)

    def _head_batch(self, matchers: Sequence[Matcher]) -> SeriesBatch:
        refs, labels = self._head.select_refs(matchers)
        if len(refs) == 0:
            return batch_of_series([])
        cols = self._snap.collect(refs, self.mint, self.maxt)
        if len(cols.refs) == len(refs):
            found = labels
        else:
            found = [labels[p] for p in np.searchsorted(refs, cols.refs).tolist()]
        order, ordered = self._head.label_order(cols.refs, found)
        counts = np.diff(cols.offsets)[order]
        idx = _ranges(cols.offsets[:-1][order], counts)
        offsets = np.zeros(len(order) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        sts = None if cols.sts is None or not cols.sts.any() else cols.sts[idx]
        keep = counts > 0
        batch = SeriesBatch(ordered, offsets, cols.ts[idx], cols.vals[idx], sts)
        return batch if keep.all() else _take(batch, np.flatnonzero(keep))

    def series(self, matchers: Sequence[Matcher]) -> list[Labels]:
        return [s.labels for s in self.select(matchers)]

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        names: set[str] = set()
        for b in self._blocks:
            names.update(b.label_names(matchers))
        if matchers:
            for s in self._head_series(matchers):
                names.update(n for n, _ in s.labels)
        else:
            names.update(self._head.label_names())
        return sorted(names)

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        values: set[str] = set()
        for b in self._blocks:
            values.update(b.label_values(name, matchers))
        if matchers:
            for s in self._head_series(matchers):
                v = s.labels.get(name)
                if v:
                    values.add(v)
        else:
            values.update(self._head.label_values(name))
        return sorted(values)

    def close(self) -> None:
        self._blocks = []
