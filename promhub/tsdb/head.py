"""The head: the in-memory, writable part of the TSDB.

Layout, chosen for memory and for NumPy:

- a series registry: ``ref -> Labels`` (a list), ``Labels -> ref`` (a dict), the inverted
  index (:class:`MemPostings`) and NumPy arrays per ref for the last timestamp and the
  bit pattern of the last value (what the out-of-order and duplicate rules look at);
- committed samples as *batches* ``(refs, timestamps, values)``: a scrape is one batch
  with one shared timestamp (stored once) and, when a target sends the same series
  again, the very same refs array object (so a batch costs ~8 bytes per sample);
- batches are *frozen* (by :meth:`Head.freeze`, every maintenance run) into
  :class:`_Chunk` s: grouped per series (a stable sort, so each series stays in time
  order), laid out in label order (the order a block is written in) and compressed in
  frames of ``FRAME_SERIES`` series. Chunks of the same tier are merged four at a time so
  that frames grow long enough to compress well (~2 B/sample instead of 8).

Start timestamps (see :mod:`promhub.storage.interface`) ride along as an optional column:
a batch keeps an ``sts`` array only if one of its samples has a start timestamp, and a
frame stores them (flagged in its header) only if one of its series has any. Without
start timestamps nothing is stored and no work is done.

The head's frame codec (:mod:`promhub.tsdb.headchunk`) is deliberately simpler than
the block format (:mod:`promhub.tsdb.encoding`): it runs every minute over every active
series, so it is one vectorised pass per frame with no per-series Python work.

A sample belongs to the head until :meth:`Head.truncate` drops it (after the DB wrote it
into a block); :meth:`Head.begin_truncate` first raises the lower bound so that nothing
older is accepted meanwhile. The head never holds two copies of a sample.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import xxhash
from numpy.typing import NDArray

from promhub.model.labels import METRIC_NAME, METRIC_NAME_RE, Labels
from promhub.model.matcher import Matcher
from promhub.storage.batching import QueuedAppender, normalize_start_timestamps
from promhub.storage.interface import AppendResult, Refs, StorageError, Timestamps, Values
from promhub.tsdb.headchunk import decode_frame, encode_frame
from promhub.tsdb.postings import MemPostings
from promhub.tsdb.tombstones import (
    Tombstones,
    shrink_csr,
    visible_label_names,
    visible_label_values,
)
from promhub.tsdb.wal import WAL

#: Series per compressed frame of a frozen chunk.
FRAME_SERIES = 512
#: Chunks of one tier merged into the next tier once there are this many.
MERGE_FANIN = 4
MAX_TIER = 3
#: Series (summed over entries) whose label order :meth:`Head.label_order` remembers.
_ORDER_CACHE_SERIES = 400_000
#: No sample yet.
NO_TS = np.iinfo(np.int64).min
_EMPTY_I = np.empty(0, dtype=np.int64)
_EMPTY_F = np.empty(0, dtype=np.float64)


class UnknownSeriesError(StorageError):
    """An append used a ref this head never handed out, or one garbage-collected since."""


@dataclass(frozen=True, slots=True, eq=False)
class _Batch:
    refs: Refs
    ts: Timestamps  # length 1 when shared by all samples
    vals: Values
    mint: int
    maxt: int
    #: Start timestamps aligned with ``refs`` (0 = none); None if no sample has one.
    sts: Timestamps | None = None

    def full_ts(self) -> Timestamps:
        return np.broadcast_to(self.ts, self.refs.shape) if len(self.ts) == 1 else self.ts


@dataclass(frozen=True, slots=True, eq=False)
class _Chunk:
    """Frozen head samples of a time span, compressed in frames.

    Series are laid out in *label order*, the order a block is written in, so that cutting
    the head into a block reads each frame once; ``sorted_refs``/``sorted_pos`` find a ref.
    """

    mint: int
    maxt: int
    refs: Refs  # in frame (label) order
    frame_starts: Refs  # index in ``refs`` of each frame's first series, then len(refs)
    frames: tuple[bytes, ...]
    nsamples: int
    tier: int
    sorted_refs: Refs
    sorted_pos: Refs

    def nbytes(self) -> int:
        arrays = self.refs.nbytes + self.sorted_refs.nbytes + self.sorted_pos.nbytes
        return sum(len(f) for f in self.frames) + arrays

    def positions(self, want: Refs) -> Refs:
        """Positions in :attr:`refs` of the (sorted) refs ``want`` present here."""
        idx = np.searchsorted(self.sorted_refs, want)
        found = self.sorted_refs[np.minimum(idx, len(self.sorted_refs) - 1)] == want
        pos: Refs = self.sorted_pos[idx[found]]
        return pos


class _ChunkBuilder:
    """Accumulates label-ordered series into frames of at most FRAME_SERIES series."""

    def __init__(self) -> None:
        self.refs: list[Refs] = []
        self.starts: list[int] = []
        self.frames: list[bytes] = []
        self.n = 0
        self.samples = 0

    def add(self, cols: Columnar) -> None:
        for lo in range(0, len(cols.refs), FRAME_SERIES):
            hi = min(lo + FRAME_SERIES, len(cols.refs))
            a, b = int(cols.offsets[lo]), int(cols.offsets[hi])
            lens = np.diff(cols.offsets[lo : hi + 1])
            sts = cols.sts[a:b] if cols.sts is not None else None
            self.frames.append(encode_frame(lens, cols.ts[a:b], cols.vals[a:b], sts))
            self.starts.append(self.n)
            self.n += hi - lo
            self.samples += b - a
        self.refs.append(cols.refs)

    def chunk(self, mint: int, maxt: int, tier: int) -> _Chunk | None:
        if not self.n:
            return None
        refs = np.concatenate(self.refs)
        order = np.argsort(refs)
        return _Chunk(
            mint,
            maxt,
            refs,
            np.array([*self.starts, self.n], dtype=np.int64),
            tuple(self.frames),
            self.samples,
            tier,
            refs[order],
            order.astype(np.int64),
        )


@dataclass(slots=True)
class Columnar:
    """Samples of many series in CSR form: series ``i`` is ``ts[off[i]:off[i+1]]``."""

    refs: Refs
    offsets: Refs
    ts: Timestamps
    vals: Values
    #: Start timestamps aligned with ``ts`` (0 = none), or None when there are none.
    sts: Timestamps | None = None

    def series(self, i: int) -> tuple[Timestamps, Values]:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.ts[a:b], self.vals[a:b]

    def start_timestamps(self, i: int) -> Timestamps | None:
        """Series ``i``'s start timestamps, or None if none of its samples has one."""
        if self.sts is None:
            return None
        st = self.sts[int(self.offsets[i]) : int(self.offsets[i + 1])]
        return st if st.any() else None

    @property
    def nsamples(self) -> int:
        return len(self.ts)


@dataclass(slots=True)
class HeadSnapshot:
    """An immutable view of the head's samples (chunks and batches are never mutated)."""

    chunks: list[_Chunk]
    batches: list[_Batch]
    #: Deleted intervals as of the snapshot; :meth:`collect` leaves their samples out.
    tombstones: Tombstones | None = None

    def collect(self, want: Refs, mint: int, maxt: int) -> Columnar:
        """The samples of the (sorted, unique) refs ``want`` in ``[mint, maxt]``, without
        deleted ones (series left without samples are left out)."""
        cols = _collect(self.chunks, self.batches, want, mint, maxt)
        keep = (
            None
            if not self.tombstones
            else self.tombstones.csr_keep_mask(cols.refs, cols.offsets, cols.ts)
        )
        if keep is None:
            return cols
        refs, offsets = shrink_csr(cols.refs, cols.offsets, keep)
        sts = None if cols.sts is None else cols.sts[keep]
        if sts is not None and not sts.any():
            sts = None
        return Columnar(refs, offsets, cols.ts[keep], cols.vals[keep], sts)


@dataclass(slots=True)
class HeadCounters:
    samples_appended: int = 0
    out_of_order: int = 0
    duplicate: int = 0
    too_old: int = 0
    series_created: int = 0
    series_removed: int = 0
    truncations: int = 0
    chunks_created: int = 0


def _validate(labels: Labels) -> None:
    if not isinstance(labels, Labels) or not labels:
        raise ValueError(f"invalid series {labels!r}: empty label set")
    names = [n for n, _ in labels]
    if any(names[i] >= names[i + 1] for i in range(len(names) - 1)):
        raise ValueError(f"invalid series {labels}: label names unsorted or duplicated")
    if any(v == "" for _, v in labels):
        raise ValueError(f"invalid series {labels}: empty label value")
    name = labels.get(METRIC_NAME)
    if not name or not METRIC_NAME_RE.match(name):
        raise ValueError(f"invalid series {labels}: missing or invalid metric name")


class Head:
    """Series registry and committed samples; see the module docstring.

    All public methods take :attr:`lock` themselves; it is re-entrant so the DB can hold it
    across a few calls that must be atomic together.
    """

    def __init__(self, wal: WAL | None = None, *, min_valid_time: int = NO_TS) -> None:
        self.lock = threading.RLock()
        self.wal = wal
        self.min_valid_time = min_valid_time
        self.counters = HeadCounters()
        self._labels: list[Labels | None] = []
        self._by_labels: dict[Labels, int] = {}
        self._postings = MemPostings()
        self._last_ts = np.full(1024, NO_TS, dtype=np.int64)
        self._last_bits = np.zeros(1024, dtype=np.uint64)
        self._alive = np.zeros(1024, dtype=bool)
        self._unlogged: list[int] = []
        #: Series created in this GC epoch and in the one before (an epoch is one DB
        #: maintenance run). A ref handed out by ref() may not have its first sample yet
        #: while another appender's commit has already logged the series and a truncation
        #: runs (one maintenance run can truncate several times): such never-sampled
        #: series are spared until their epoch has passed entirely.
        self._fresh: list[int] = []
        self._previous_fresh: list[int] = []
        self._chunks: list[_Chunk] = []
        self._batches: list[_Batch] = []
        self._raw_samples = 0
        self._num_samples = 0
        self._min_time = NO_TS
        self._max_time = NO_TS
        self._refs_cache: dict[tuple[int, int], Refs] = {}
        self._rank = _EMPTY_I
        self._rank_key = (-1, -1)
        self._order_cache: dict[tuple[int, int], tuple[Refs, Refs, tuple[Labels, ...]]] = {}
        self._order_cached = 0
        self._order_lock = threading.Lock()
        #: Deleted intervals of head series (replaced, never mutated: snapshots share it).
        self.tombstones = Tombstones()

    # -- series ---------------------------------------------------------------------

    def ref(self, labels: Labels) -> int:
        """The ref of ``labels``, creating the series (logged to the WAL at next commit)."""
        r = self._by_labels.get(labels)
        if r is not None:
            return r
        _validate(labels)
        with self.lock:
            r = self._by_labels.get(labels)
            if r is None:
                r = self._create(len(self._labels), labels)
                if self.wal is not None:
                    self._unlogged.append(r)
            return r

    def _create(self, ref: int, labels: Labels) -> int:
        while len(self._labels) < ref:
            self._labels.append(None)
        self._labels.append(labels)
        self._by_labels[labels] = ref
        self._fresh.append(ref)
        self._postings.add(ref, labels)
        if ref >= len(self._last_ts):
            n = max(ref + 1, 2 * len(self._last_ts))
            self._last_ts = np.concatenate(
                [self._last_ts, np.full(n - len(self._last_ts), NO_TS, dtype=np.int64)]
            )
            self._last_bits = np.concatenate(
                [self._last_bits, np.zeros(n - len(self._last_bits), dtype=np.uint64)]
            )
            self._alive = np.concatenate([self._alive, np.zeros(n - len(self._alive), bool)])
        self._alive[ref] = True
        self.counters.series_created += 1
        return ref

    def restore_series(self, refs: Refs, labels: Sequence[Labels]) -> Refs:
        """Recreate series from a WAL SERIES record; returns the refs actually used.

        A label set already known under another ref maps to that ref (the caller then
        rewrites sample refs through the returned mapping).
        """
        with self.lock:
            out = np.empty(len(refs), dtype=np.int64)
            for i, (r, ls) in enumerate(zip(refs.tolist(), labels, strict=True)):
                have = self._by_labels.get(ls)
                if have is not None:
                    out[i] = have
                elif r >= len(self._labels):
                    out[i] = self._create(r, ls)
                else:
                    out[i] = self._create(len(self._labels), ls)
            return out

    def labels_of(self, ref: int) -> Labels | None:
        return self._labels[ref] if 0 <= ref < len(self._labels) else None

    def num_series(self) -> int:
        return len(self._by_labels)

    def last_timestamps(self, refs: Refs) -> Timestamps:
        """The newest sample timestamp of each ref (``NO_TS`` if none), read without the
        lock: good for explaining a rejection, not for deciding one."""
        last: Timestamps = self._last_ts[refs]
        return last

    def select_refs(self, matchers: Sequence[Matcher]) -> tuple[Refs, list[Labels]]:
        with self.lock:
            refs = self._postings.select(matchers)
            labels = self._labels
            return refs, [labels[r] for r in refs.tolist()]

    def label_order(self, refs: Refs, labels: Sequence[Labels]) -> tuple[Refs, list[Labels]]:
        """The permutation putting ``labels`` (those of ``refs``, in that order) into
        label order, and the sorted labels.

        A ref's label set never changes and refs are never reused, so the answer for a
        given ``refs`` array is remembered (rules select the same series every
        evaluation; sorting 10k label sets costs more than the rest of a small query).
        """
        key = (len(refs), xxhash.xxh3_64_intdigest(np.ascontiguousarray(refs).data))
        hit = self._order_cache.get(key)
        if hit is not None and np.array_equal(hit[0], refs):
            return hit[1], list(hit[2])
        order_l = sorted(range(len(labels)), key=labels.__getitem__)
        order = np.array(order_l, dtype=np.int64)
        ordered = tuple([labels[i] for i in order_l])
        if len(refs) <= _ORDER_CACHE_SERIES // 4:
            kept = refs.copy()
            kept.flags.writeable = False
            order.flags.writeable = False
            with self._order_lock:
                cache = self._order_cache
                while cache and self._order_cached + len(refs) > _ORDER_CACHE_SERIES:
                    old = cache.pop(next(iter(cache)))
                    self._order_cached -= len(old[0])
                if key in cache:
                    self._order_cached -= len(cache.pop(key)[0])
                cache[key] = (kept, order, ordered)
                self._order_cached += len(refs)
        return order, list(ordered)

    def label_names(self) -> list[str]:
        """Label names of the series, except those whose samples are all deleted."""
        with self.lock:
            return visible_label_names(self._postings, self._dead_refs())

    def label_values(self, name: str) -> list[str]:
        """Values of label ``name``, except of series whose samples are all deleted."""
        with self.lock:
            return visible_label_values(self._postings, name, self._dead_refs())

    def _dead_refs(self) -> Refs:
        """Sorted refs whose head samples are all deleted (a tombstone spans from the
        head's start to their last sample)."""
        t = self.tombstones
        if not t:
            return _EMPTY_I
        refs = t.refs
        refs = refs[refs < len(self._labels)]
        lo = np.full(len(refs), max(self._min_time, self.min_valid_time), np.int64)
        return refs[t.covered(refs, lo, self._last_ts[refs])]

    # -- deletion -------------------------------------------------------------------

    def delete(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> int:
        """Delete the samples of matching series in ``[mint, maxt]`` (inclusive).

        Like Prometheus, the interval is clamped to the data present (so samples appended
        later are not hidden), logged to the WAL, then applied to every later read.
        Returns the number of series affected.
        """
        with self.lock:
            if self._min_time == NO_TS:
                return 0
            refs = self._postings.select(matchers)
            last = self._last_ts[refs]
            t0 = max(mint, self._min_time)
            t1 = np.minimum(last, maxt)
            ok = (last != NO_TS) & (t1 >= t0)
            refs, t1 = refs[ok], t1[ok]
            if not len(refs):
                return 0
            t0s = np.full(len(refs), t0, dtype=np.int64)
            if self.wal is not None:
                rec = self.wal.codec.encode_tombstones(refs, t0s, t1)
                if self.wal.needs_rotation(len(rec)):
                    self.wal.rotate()
                self.wal.write(rec)  # raises StorageFullError; nothing applied yet
            self.tombstones = self.tombstones.added(refs, t0s, t1)
            return len(refs)

    def add_tombstones(self, refs: Refs, mints: Timestamps, maxts: Timestamps) -> None:
        """Apply deleted intervals replayed from the WAL (not logged again)."""
        with self.lock:
            ok = (refs >= 0) & (refs < len(self._labels))
            self.tombstones = self.tombstones.added(refs[ok], mints[ok], maxts[ok])

    def all_series(self) -> list[tuple[int, Labels]]:
        with self.lock:
            return [(r, ls) for r, ls in enumerate(self._labels) if ls is not None]

    # -- appending ------------------------------------------------------------------

    def appender(self) -> HeadAppender:
        return HeadAppender(self)

    def commit(
        self,
        refs: Refs,
        ts: Timestamps,
        vals: Values,
        *,
        log: bool = True,
        sts: Timestamps | None = None,
    ) -> AppendResult:
        """Apply Prometheus' append rules to a batch, log it to the WAL, make it visible.

        ``sts`` are the samples' start timestamps (aligned with ``refs``, 0 = none).
        """
        refs = np.asarray(refs, dtype=np.int64)
        vals = np.asarray(vals, dtype=np.float64)
        ts = np.asarray(ts, dtype=np.int64)
        n = len(refs)
        if len(vals) != n or len(ts) not in (1, n) or (n == 0 and len(ts) > 1):
            raise ValueError(
                f"append: {n} refs, {len(ts)} timestamps and {len(vals)} values do not match"
            )
        sts = normalize_start_timestamps(sts, n)
        res = AppendResult()
        with self.lock:
            if n and (int(refs.min()) < 0 or int(refs.max()) >= len(self._labels)):
                bad = refs[(refs < 0) | (refs >= len(self._labels))][0]
                raise UnknownSeriesError(f"append: unknown series ref {int(bad)}")
            if n and not self._alive[refs].all():
                bad = int(refs[~self._alive[refs]][0])
                raise UnknownSeriesError(f"append: series ref {bad} was garbage-collected")
            accept, res = self._judge(refs, ts, vals) if n else (np.zeros(0, bool), res)
            a_refs = refs[accept]
            a_vals = vals[accept]
            a_ts = ts if len(ts) == 1 else ts[accept]
            a_sts = None if sts is None else normalize_start_timestamps(sts[accept], len(a_refs))
            if len(a_ts) > 1 and a_ts[0] == a_ts[-1] and (a_ts == a_ts[0]).all():
                a_ts = a_ts[:1]
            data = b""
            state: tuple[Refs, NDArray[np.uint64]] | None = None
            unlogged = self._unlogged
            if log and self.wal is not None and (unlogged or len(a_refs)):
                parts: list[bytes] = []
                if unlogged:
                    parts.append(
                        self.wal.codec.encode_series(
                            unlogged,
                            [self._labels[r] for r in unlogged],  # type: ignore[misc]
                        )
                    )
                samples: bytes = b""
                if len(a_refs):
                    samples, s_refs, s_bits = self.wal.codec.encode_samples(
                        a_refs, a_ts, a_vals, a_sts
                    )
                    state = (s_refs, s_bits)
                data = b"".join(parts) + samples
                if self.wal.needs_rotation(len(data)):
                    self.wal.rotate()
                    # The XOR state restarted with the segment: encode again against it.
                    if len(a_refs):
                        samples, s_refs, s_bits = self.wal.codec.encode_samples(
                            a_refs, a_ts, a_vals, a_sts
                        )
                        state = (s_refs, s_bits)
                    data = b"".join(parts) + samples
                self.wal.write(data)  # raises StorageFullError; nothing applied yet
                if state is not None:
                    self.wal.codec.advance(*state)
                self._unlogged = []
            if len(a_refs):
                self._apply(a_refs, a_ts, a_vals, a_sts)
            res.appended = len(a_refs)
            c = self.counters
            c.samples_appended += res.appended
            c.out_of_order += res.out_of_order
            c.duplicate += res.duplicate
            c.too_old += res.too_old
            return res

    def _judge(
        self, refs: Refs, ts: Timestamps, vals: Values
    ) -> tuple[NDArray[np.bool_], AppendResult]:
        """Which samples to accept, with the same outcome as appending one by one.

        Sorting stably by ref puts each series' samples of the batch in arrival order. A
        sample is accepted iff its timestamp exceeds every earlier accepted one of its
        series (the *baseline*: an exclusive running max, seeded with the series' last
        timestamp). At the baseline itself, the same value bits are silently dropped and a
        different value is a duplicate; below it the sample is out of order.
        """
        n = len(refs)
        res = AppendResult()
        full_ts = np.broadcast_to(ts, refs.shape) if len(ts) == 1 else ts
        order = np.argsort(refs, kind="stable")
        sr = refs[order]
        st = full_ts[order]
        sb = vals.view(np.uint64)[order]
        start = np.ones(n, dtype=bool)
        start[1:] = sr[1:] != sr[:-1]
        gid = np.cumsum(start) - 1
        init_ts = self._last_ts[sr]
        init_bits = self._last_bits[sr]
        old = st < self.min_valid_time
        res.too_old = int(old.sum())
        if start.all():
            baseline = init_ts
            base_bits = init_bits
        else:
            has_init = init_ts != NO_TS
            lo = int(st.min())
            hi = int(st.max())
            if has_init.any():
                lo = min(lo, int(init_ts[has_init].min()))
                hi = max(hi, int(init_ts.max()))
            lo -= 1  # `lo` itself stands for "no earlier sample"
            span = hi - lo + 1
            if span * int(gid[-1] + 1) >= 2**62:
                raise ValueError("append: timestamp range of one batch is too wide")
            key = gid * span + (st - lo)
            key[old] = np.iinfo(np.int64).min  # too-old samples do not move the baseline
            prev = np.empty(n, dtype=np.int64)
            prev[1:] = key[:-1]
            seed = gid * span + (np.maximum(init_ts, lo) - lo)
            prev[start] = seed[start]
            # Rejected samples are <= the baseline, so folding them in changes nothing.
            pm = np.maximum.accumulate(np.maximum(prev, seed))
            baseline = pm - gid * span + lo
            baseline = np.where(baseline == lo, init_ts, baseline)
            accepted0 = (st > baseline) & ~old
            idx = np.where(accepted0, np.arange(n), -1)
            last = np.empty(n, dtype=np.int64)
            last[0] = -1
            last[1:] = np.maximum.accumulate(idx)[:-1]
            gstart = np.flatnonzero(start)[gid]
            inb = last >= gstart
            base_bits = np.where(inb, sb[np.where(inb, last, 0)], init_bits)
        acc = (st > baseline) & ~old
        eq = (st == baseline) & ~old
        same = eq & (sb == base_bits)
        res.duplicate = int((eq & ~same).sum())
        res.out_of_order = int(((st < baseline) & ~old).sum())
        new = acc & start & (init_ts == NO_TS)
        res.new_series = int(new.sum())
        accept = np.empty(n, dtype=bool)
        accept[order] = acc
        return accept, res

    def _apply(self, refs: Refs, ts: Timestamps, vals: Values, sts: Timestamps | None) -> None:
        full_ts = np.broadcast_to(ts, refs.shape) if len(ts) == 1 else ts
        rev = refs[::-1]
        uniq, idx = np.unique(rev, return_index=True)
        self._last_ts[uniq] = full_ts[::-1][idx]
        self._last_bits[uniq] = vals.view(np.uint64)[::-1][idx]
        refs = self._shared_refs(refs)
        mint, maxt = int(full_ts.min()), int(full_ts.max())
        self._batches.append(_Batch(refs, ts, vals, mint, maxt, sts))
        self._raw_samples += len(refs)
        self._num_samples += len(refs)
        if self._min_time == NO_TS or mint < self._min_time:
            self._min_time = mint
        self._max_time = max(self._max_time, maxt)

    def _shared_refs(self, refs: Refs) -> Refs:
        """Return an identical earlier refs array if there is one (a target's next scrape)."""
        key = (len(refs), hash(refs.tobytes()))
        have = self._refs_cache.get(key)
        if have is not None and np.array_equal(have, refs):
            return have
        if len(self._refs_cache) > 100_000:
            self._refs_cache.clear()
        self._refs_cache[key] = refs
        return refs

    # -- state ----------------------------------------------------------------------

    def snapshot(self) -> HeadSnapshot:
        with self.lock:
            return HeadSnapshot(list(self._chunks), list(self._batches), self.tombstones)

    @property
    def min_time(self) -> int:
        return self._min_time

    @property
    def max_time(self) -> int:
        return self._max_time

    @property
    def num_samples(self) -> int:
        return self._num_samples

    def num_chunks(self) -> int:
        return len(self._chunks)

    def raw_samples(self) -> int:
        return self._raw_samples

    def memory_bytes(self) -> int:
        """Bytes held by sample data (frames + raw batches), for stats."""
        with self.lock:
            chunks = sum(c.nbytes() for c in self._chunks)
            seen: set[int] = set()
            raw = 0
            for b in self._batches:
                raw += b.vals.nbytes + b.ts.nbytes + (b.sts.nbytes if b.sts is not None else 0)
                if id(b.refs) not in seen:
                    seen.add(id(b.refs))
                    raw += b.refs.nbytes
            return chunks + raw

    # -- freezing -------------------------------------------------------------------

    def _label_rank(self) -> Refs:
        """Position of every live ref in label order (cached until the series change)."""
        with self.lock:
            key = (len(self._labels), self.counters.series_removed)
            if self._rank_key == key:
                return self._rank
            pairs = [(ls, r) for r, ls in enumerate(self._labels) if ls is not None]
        pairs.sort()
        rank = np.full(key[0], np.iinfo(np.int64).max, dtype=np.int64)
        rank[np.fromiter((r for _, r in pairs), np.int64, len(pairs))] = np.arange(len(pairs))
        with self.lock:
            self._rank, self._rank_key = rank, key
        return rank

    def freeze(self) -> None:
        """Compress the raw batches into a chunk and merge chunks tier by tier.

        The heavy work runs on a snapshot outside the lock; only the swap is locked, and
        commits that arrived meanwhile stay as batches.
        """
        with self.lock:
            batches = list(self._batches)
        if batches:
            rank = self._label_rank()
            mint = min(b.mint for b in batches)
            maxt = max(b.maxt for b in batches)
            builder = _ChunkBuilder()
            builder.add(_reorder(_collect([], batches, None, mint, maxt), rank))
            chunk = builder.chunk(mint, maxt, 0)
            assert chunk is not None
            with self.lock:
                assert self._batches[: len(batches)] == batches
                self._batches = self._batches[len(batches) :]
                self._raw_samples -= chunk.nsamples
                self._chunks.append(chunk)
                self._refs_cache.clear()
                self.counters.chunks_created += 1
        for tier in range(MAX_TIER):
            with self.lock:
                chunks = list(self._chunks)
            same = [c for c in chunks if c.tier == tier]
            if len(same) < MERGE_FANIN:
                continue
            group = same[:MERGE_FANIN]
            pos = chunks.index(group[0])
            if chunks[pos : pos + MERGE_FANIN] != group:
                continue  # not adjacent; leave them
            mint = min(c.mint for c in group)
            maxt = max(c.maxt for c in group)
            merged = _rewrite(group, self._label_rank(), mint, maxt, tier + 1)
            with self.lock:
                i = self._chunks.index(group[0])
                self._chunks[i : i + MERGE_FANIN] = [merged] if merged else []

    # -- truncation -----------------------------------------------------------------

    def begin_truncate(self, t: int) -> HeadSnapshot:
        """Refuse samples older than ``t`` from now on; returns the data to persist."""
        with self.lock:
            self.min_valid_time = max(self.min_valid_time, t)
            return HeadSnapshot(list(self._chunks), list(self._batches), self.tombstones)

    def prepare_truncate(self, snap: HeadSnapshot, t: int) -> HeadSnapshot:
        """The part of ``snap`` at or after ``t``, rebuilt where needed (no lock held)."""
        rank = self._label_rank()
        kept_chunks: list[_Chunk] = []
        for c in snap.chunks:
            if c.mint >= t:
                kept_chunks.append(c)
            elif c.maxt >= t:
                rebuilt = _rewrite([c], rank, t, c.maxt, c.tier)
                if rebuilt is not None:
                    kept_chunks.append(rebuilt)
        kept_batches: list[_Batch] = []
        for b in snap.batches:
            if b.mint >= t:
                kept_batches.append(b)
            elif b.maxt >= t:
                m = b.full_ts() >= t
                ts = b.ts if len(b.ts) == 1 else b.ts[m]
                sts = None if b.sts is None else normalize_start_timestamps(b.sts[m], int(m.sum()))
                kept_batches.append(_Batch(b.refs[m], ts, b.vals[m], t, b.maxt, sts))
        return HeadSnapshot(kept_chunks, kept_batches)

    def truncate(self, snap: HeadSnapshot, kept: HeadSnapshot) -> list[Labels]:
        """Replace the data of ``snap`` by ``kept`` and garbage-collect empty series.

        The caller holds :attr:`lock` while publishing the block that now holds the rest,
        so that no query sees a sample twice or not at all. Returns the removed series.
        """
        with self.lock:
            assert self._chunks == snap.chunks
            assert self._batches[: len(snap.batches)] == snap.batches
            self._chunks = kept.chunks
            self._batches = kept.batches + self._batches[len(snap.batches) :]
            self._refs_cache.clear()
            self._raw_samples = sum(len(b.refs) for b in self._batches)
            self._num_samples = self._raw_samples + sum(c.nsamples for c in self._chunks)
            self._min_time = min(
                [c.mint for c in self._chunks] + [b.mint for b in self._batches],
                default=NO_TS,
            )
            if self._min_time == NO_TS:
                self._max_time = NO_TS
            self.counters.truncations += 1
            removed = self._gc()
            if self.tombstones:
                # Intervals of removed series or before the new start cover nothing now.
                alive = np.flatnonzero(self._alive[: len(self._labels)])
                self.tombstones = self.tombstones.restricted(alive, before=self.min_valid_time)
            return removed

    def begin_gc_epoch(self) -> None:
        """Start a garbage-collection epoch (at each maintenance run): never-sampled series
        created before the previous epoch began stop being spared."""
        with self.lock:
            self._previous_fresh, self._fresh = self._fresh, []

    def _gc(self) -> list[Labels]:
        has = np.zeros(len(self._labels), dtype=bool)
        for c in self._chunks:
            has[c.refs] = True
        for b in self._batches:
            has[b.refs] = True
        pending = set(self._unlogged)
        pending.update(r for r in self._previous_fresh + self._fresh if self._last_ts[r] == NO_TS)
        dead = [
            r
            for r in np.flatnonzero(~has).tolist()
            if self._labels[r] is not None and r not in pending
        ]
        if not dead:
            return []
        removed: list[Labels] = []
        self._postings.remove(dead, self._labels)
        for r in dead:
            ls = self._labels[r]
            assert ls is not None
            removed.append(ls)
            del self._by_labels[ls]
            self._labels[r] = None
            self._last_ts[r] = NO_TS
            self._alive[r] = False
        self.counters.series_removed += len(dead)
        return removed

    def checkpoint_records(
        self, snap: HeadSnapshot, series: list[tuple[int, Labels]]
    ) -> Iterator[bytes]:
        """WAL records that recreate ``series`` and the samples of ``snap`` exactly."""
        from promhub.tsdb.wal import RecordCodec

        codec = RecordCodec()
        for i in range(0, len(series), 10_000):
            part = series[i : i + 10_000]
            yield codec.encode_series([r for r, _ in part], [ls for _, ls in part])
        for c in snap.chunks:
            for f, data in enumerate(c.frames):
                lens, ts, vals, sts = decode_frame(data)
                refs = np.repeat(c.refs[c.frame_starts[f] : c.frame_starts[f + 1]], lens)
                rec, r, bits = codec.encode_samples(refs, ts, vals, sts)
                codec.advance(r, bits)
                yield rec
        for bt in snap.batches:
            rec, r, bits = codec.encode_samples(bt.refs, bt.ts, bt.vals, bt.sts)
            codec.advance(r, bits)
            yield rec
        if snap.tombstones:
            live = np.fromiter((r for r, _ in series), np.int64, len(series))
            t = snap.tombstones.restricted(np.sort(live))
            flat = [(r, a, b) for r, ivs in t.items() for a, b in ivs]
            if flat:
                r_a, lo_a, hi_a = (np.array(col, dtype=np.int64) for col in zip(*flat, strict=True))
                yield codec.encode_tombstones(r_a, lo_a, hi_a)

    # -- stats ----------------------------------------------------------------------

    def cardinality(self, limit: int) -> dict[str, list[tuple[str, int]]]:
        """Top series counts by metric name and label pair, value counts by label name."""
        with self.lock:
            by_name: dict[str, int] = {}
            by_pair: dict[str, int] = {}
            names_len: dict[str, int] = {}
            for ls in self._by_labels:
                for n, v in ls:
                    key = f"{n}={v}"
                    by_pair[key] = by_pair.get(key, 0) + 1
                    if n == METRIC_NAME:
                        by_name[v] = by_name.get(v, 0) + 1
            values = self._postings.cardinality()
            for n in values:
                names_len[n] = sum(len(v) for v in self._postings.label_values(n))

        def top(d: dict[str, int]) -> list[tuple[str, int]]:
            return sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]

        return {
            "seriesCountByMetricName": top(by_name),
            "labelValueCountByLabelName": top(values),
            "memoryInBytesByLabelName": top(names_len),
            "seriesCountByLabelValuePair": top(by_pair),
        }


class HeadAppender(QueuedAppender):
    """An :class:`~promhub.storage.interface.Appender` writing into a :class:`Head`."""

    def __init__(self, head: Head) -> None:
        super().__init__(head)


# -- columnar helpers ---------------------------------------------------------------------


def _collect(
    chunks: Sequence[_Chunk],
    batches: Sequence[_Batch],
    want: Refs | None,
    mint: int,
    maxt: int,
) -> Columnar:
    """Gather samples per series (CSR, refs ascending, each series in time order)."""
    p_refs: list[Refs] = []
    p_ts: list[Timestamps] = []
    p_vals: list[Values] = []
    # Start timestamps per piece (None: the piece has none); only materialised if any has.
    p_sts: list[Timestamps | None] = []
    for c in chunks:
        if c.maxt < mint or c.mint > maxt:
            continue
        pos = np.arange(len(c.refs)) if want is None else c.positions(want)
        if len(pos) == 0:
            continue
        frame_of = np.searchsorted(c.frame_starts, pos, side="right") - 1
        for f in np.unique(frame_of).tolist():
            lens, ts, vals, f_sts = decode_frame(c.frames[f])
            base = int(c.frame_starts[f])
            frame_refs = c.refs[base : base + len(lens)]
            if want is None:
                p_refs.append(np.repeat(frame_refs, lens))
                p_ts.append(ts)
                p_vals.append(vals)
                p_sts.append(f_sts)
                continue
            keep = np.zeros(len(lens), dtype=bool)
            keep[pos[frame_of == f] - base] = True
            if keep.all():
                p_refs.append(np.repeat(frame_refs, lens))
                p_ts.append(ts)
                p_vals.append(vals)
                p_sts.append(f_sts)
                continue
            m = np.repeat(keep, lens)
            p_refs.append(np.repeat(frame_refs[keep], lens[keep]))
            p_ts.append(ts[m])
            p_vals.append(vals[m])
            p_sts.append(None if f_sts is None else f_sts[m])
    live = [b for b in batches if b.maxt >= mint and b.mint <= maxt]
    if live:
        r = np.concatenate([b.refs for b in live])
        t = np.concatenate([b.full_ts() for b in live])
        v = np.concatenate([b.vals for b in live])
        s: Timestamps | None = None
        if any(b.sts is not None for b in live):
            s = np.concatenate(
                [np.zeros(len(b.refs), np.int64) if b.sts is None else b.sts for b in live]
            )
        if want is not None:
            m = _member(r, want)
            r, t, v = r[m], t[m], v[m]
            s = None if s is None else s[m]
        p_refs.append(r)
        p_ts.append(t)
        p_vals.append(v)
        p_sts.append(s)
    if not p_refs:
        return Columnar(_EMPTY_I, np.zeros(1, np.int64), _EMPTY_I, _EMPTY_F)
    refs = np.concatenate(p_refs)
    ts = np.concatenate(p_ts)
    vals = np.concatenate(p_vals)
    sts: Timestamps | None = None
    if any(x is not None for x in p_sts):
        sts = np.concatenate(
            [
                np.zeros(len(r), np.int64) if x is None else x
                for x, r in zip(p_sts, p_refs, strict=True)
            ]
        )
    m = (ts >= mint) & (ts <= maxt)
    if not m.all():
        refs, ts, vals = refs[m], ts[m], vals[m]
        sts = None if sts is None else sts[m]
    # Pieces are in time order per ref (chunks oldest first, then batches in commit
    # order), so a stable sort by ref leaves every series sorted by time.
    order = _stable_order(refs)
    if order is not None:
        refs, ts, vals = refs[order], ts[order], vals[order]
        if sts is not None:
            sts = sts[order]
    if sts is not None and not sts.any():
        sts = None
    start = np.empty(len(refs), dtype=bool)
    start[:1] = True
    np.not_equal(refs[1:], refs[:-1], out=start[1:])
    first = np.flatnonzero(start)
    offsets = np.append(first, len(refs)).astype(np.int64)
    return Columnar(refs[first], offsets, ts, vals, sts)


def _member(refs: Refs, want: Refs) -> NDArray[np.bool_]:
    """``np.isin(refs, want)`` for non-negative refs, by a lookup table (refs are dense
    small integers, so the table is cheaper than isin's sorting)."""
    if not len(refs) or not len(want):
        return np.zeros(len(refs), dtype=bool)
    top = max(int(refs.max()), int(want.max()))
    if top > 8 * (len(refs) + len(want)) + (1 << 20):
        return np.isin(refs, want)
    table = np.zeros(top + 1, dtype=bool)
    table[want] = True
    m: NDArray[np.bool_] = table[refs]
    return m


def _stable_order(refs: Refs) -> Refs | None:
    """A stable sort permutation of the (non-negative) ``refs``, None if already sorted.

    Few ascending runs (batches of the same refs, chunks in ref order) suit NumPy's stable
    merge sort; refs in scrape order (arbitrary) sort faster by a least-significant-digit
    radix sort on 16-bit digits, which NumPy's stable sort of uint16 is.
    """
    n = len(refs)
    if n < 2:
        return None
    descents = int(np.count_nonzero(refs[1:] < refs[:-1]))
    if descents == 0:
        return None
    top = int(refs.max())
    if descents * 64 < n or top >= 1 << 48:
        order: Refs = np.argsort(refs, kind="stable")
        return order
    order = np.argsort((refs & 0xFFFF).astype(np.uint16), kind="stable")
    shift = 16
    while top >> shift:
        digit = ((refs[order] >> shift) & 0xFFFF).astype(np.uint16)
        order = order[np.argsort(digit, kind="stable")]
        shift += 16
    return order


def _reorder(cols: Columnar, rank: Refs) -> Columnar:
    """The same series, permuted into label order (a vectorised CSR gather)."""
    order = np.argsort(rank[cols.refs], kind="stable")
    lens = np.diff(cols.offsets)[order]
    starts = cols.offsets[:-1][order]
    new_offsets = np.concatenate(([0], np.cumsum(lens))).astype(np.int64)
    idx = np.repeat(starts - new_offsets[:-1], lens) + np.arange(int(new_offsets[-1]))
    sts = None if cols.sts is None else cols.sts[idx]
    return Columnar(cols.refs[order], new_offsets, cols.ts[idx], cols.vals[idx], sts)


#: Series decoded at once when merging or rebuilding chunks (bounds peak memory).
_REWRITE_WINDOW = FRAME_SERIES * 4


def _rewrite(group: Sequence[_Chunk], rank: Refs, mint: int, maxt: int, tier: int) -> _Chunk | None:
    """One chunk with the samples of ``group`` in ``[mint, maxt]``, a window at a time."""
    refs = np.unique(np.concatenate([c.refs for c in group]))
    refs = refs[np.argsort(rank[refs], kind="stable")]
    builder = _ChunkBuilder()
    for lo in range(0, len(refs), _REWRITE_WINDOW):
        want = np.sort(refs[lo : lo + _REWRITE_WINDOW])
        builder.add(_reorder(_collect(group, [], want, mint, maxt), rank))
    return builder.chunk(mint, maxt, tier)
