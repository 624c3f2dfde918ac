"""One remote_write queue: WAL watcher → per-series shards → batched, retried POSTs.

The flow mirrors Prometheus' ``QueueManager``:

1. a :class:`~promhub.storage.remote.watcher.WALWatcher` reads new WAL records;
2. each series' labels get the external labels and ``write_relabel_configs`` once (cached
   per ref, with its encoded protobuf labels); samples of dropped or unknown series are
   counted in ``samples_dropped_total``;
3. samples go to shard ``ref % shards``, so each series' samples stay in order; every
   10 s the shard count is reconsidered from throughput and backlog, and a reshard first
   lets the old shards send all they hold;
4. a shard sends when it has ``max_samples_per_send`` samples or its oldest one waited
   ``batch_send_deadline``, with the retry policy of
   :class:`~promhub.storage.remote.client.WriteClient`.

Durability: every WAL record read gets a sequence number; when all of its kept samples
are acknowledged (sent, or refused with a 4xx) the queue's committed position moves past
it, and that position is saved to ``<data>/remote_write/<queue>.json`` once a second and
on stop. A restart resumes there; samples sent but not yet saved are sent again, which a
Prometheus-compatible receiver accepts as duplicates of equal value. While the remote end
is down the shards fill up to ``capacity`` and the watcher stops reading: the backlog
waits in the WAL, not in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from numpy.typing import NDArray

from promhub.config.http_client import client_session
from promhub.config.remote_write import RemoteWriteConfig
from promhub.model.labels import Labels
from promhub.model.relabel import relabel
from promhub.storage.interface import Metadata
from promhub.storage.remote.client import Outcome, WriteClient
from promhub.storage.remote.codec import (
    compress,
    encode_labels,
    encode_metadata,
    encode_write_request,
)
from promhub.storage.remote.metrics import RemoteMetrics
from promhub.storage.remote.watcher import Position, WALWatcher, WatchResult

__all__ = ["MetadataSource", "Queue", "progress_file"]

#: What a queue asks for the metadata to send: one mapping (metric family -> metadata)
#: per scrape target (promhub.scrape.ScrapeManager.metadata() provides it).
MetadataSource = Callable[[], Iterable[Mapping[str, Metadata]]]

log = logging.getLogger(__name__)

_POLL = 0.2  # seconds between looks at the WAL when caught up
_SAVE_EVERY = 1.0
_READ_LIMIT = 50_000  # samples per watcher read: bounds memory during a backlog
_UNKNOWN, _KEEP, _DROP = 0, 1, 2
#: How often the shard count is reconsidered (Prometheus' shardUpdateDuration).
_SHARD_UPDATE = 10.0
_EWMA = 0.2


def progress_file(data_dir: Path, cfg: RemoteWriteConfig) -> Path:
    """Where a queue saves its WAL position: keyed by its name and URL."""
    url_hash = hashlib.sha256(cfg.url.encode()).hexdigest()[:8]
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in cfg.name)
    return data_dir / "remote_write" / f"{safe}-{url_hash}.json"


def _smooth(old: float, new: float) -> float:
    """An exponentially weighted moving average that starts at its first value."""
    return new if old == 0 else old + _EWMA * (new - old)


class _Progress:
    """Which WAL records are fully acknowledged, in order."""

    def __init__(self, start: Position) -> None:
        self.committed = start
        self._first = 0  # sequence number of _entries[0]
        self._entries: deque[list[Any]] = deque()  # [remaining samples, end position]

    def add(self, n: int, end: Position) -> int:
        seq = self._first + len(self._entries)
        self._entries.append([n, end])
        if n == 0:
            self._pop()
        return seq

    def ack(self, seqs: NDArray[np.int64]) -> None:
        uniq, counts = np.unique(seqs, return_counts=True)
        for s, c in zip(uniq.tolist(), counts.tolist(), strict=True):
            self._entries[s - self._first][0] -= c
        self._pop()

    def _pop(self) -> None:
        while self._entries and self._entries[0][0] <= 0:
            self.committed = self._entries.popleft()[1]
            self._first += 1


class _Shard:
    def __init__(self) -> None:
        self.parts: list[
            tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]
        ] = []
        self.pending = 0
        self.oldest = 0.0  # monotonic time the oldest pending sample was queued
        self.wake = asyncio.Event()
        #: Set when resharding: send everything now, then end.
        self.closed = False

    def put(
        self,
        refs: NDArray[np.int64],
        ts: NDArray[np.int64],
        vals: NDArray[np.float64],
        seqs: NDArray[np.int64],
    ) -> None:
        if not self.pending:
            self.oldest = time.monotonic()
        self.parts.append((refs, ts, vals, seqs))
        self.pending += len(refs)
        self.wake.set()

    def take(
        self, n: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
        cols = [np.concatenate(c) for c in zip(*self.parts, strict=True)]
        refs, ts, vals, seqs = cols
        rest = [c[n:] for c in cols]
        self.parts = [(rest[0], rest[1], rest[2], rest[3])] if len(rest[0]) else []
        self.pending = len(rest[0])
        self.oldest = time.monotonic()
        return refs[:n], ts[:n], vals[:n], seqs[:n]


class Queue:
    """Ships the samples of one WAL to one ``remote_write`` endpoint."""

    def __init__(
        self,
        cfg: RemoteWriteConfig,
        external_labels: dict[str, str],
        wal_dir: Path,
        data_dir: Path,
        metrics: RemoteMetrics,
        on_read: Callable[[WatchResult], None] | None = None,
        metadata_source: MetadataSource | None = None,
    ) -> None:
        self.cfg = cfg
        self.external_labels = external_labels
        self.metrics = metrics
        self.watcher = WALWatcher(wal_dir)
        self.progress_path = progress_file(data_dir, cfg)
        self._on_read = on_read
        self._metadata_source = metadata_source
        # Read now, so that lowest_needed_segment() is right before the queue runs.
        self._initial = self._load_position()
        self._labels: dict[int, bytes] = {}
        self._state = np.zeros(1024, dtype=np.uint8)
        q = cfg.queue_config
        self._nshards = max(1, q.min_shards)
        self._shards = [_Shard() for _ in range(self._nshards)]
        self._space = asyncio.Condition()
        self._stopping = False
        self._flush_deadline = float("inf")
        self._progress: _Progress | None = None
        self._saved: Position | None = None
        self._client = WriteClient(cfg)
        lv = (cfg.name, cfg.url)
        self._m_samples = metrics.samples.labels(*lv)
        self._m_failed = metrics.samples_failed.labels(*lv)
        self._m_retried = metrics.samples_retried.labels(*lv)
        self._m_dropped = metrics.samples_dropped.labels(*lv)
        self._m_pending = metrics.samples_pending.labels(*lv)
        self._m_bytes = metrics.bytes.labels(*lv)
        self._m_enqueue_retries = metrics.enqueue_retries.labels(*lv)
        self._m_duration = metrics.sent_batch_duration.labels(*lv)
        self._m_highest = metrics.highest_sent.labels(*lv)
        self._m_lost = metrics.segments_lost.labels(*lv)
        metrics.shards.labels(*lv).set(self._nshards)
        metrics.shards_desired.labels(*lv).set(self._nshards)
        metrics.shards_max.labels(*lv).set(q.max_shards)
        metrics.shards_min.labels(*lv).set(q.min_shards)
        metrics.max_samples_per_send.labels(*lv).set(q.max_samples_per_send)
        self._lost_seen = 0
        self._collected_seen = 0
        self._senders: list[asyncio.Task[None]] = []
        # Resharding inputs, reset every _SHARD_UPDATE seconds.
        self._in = self._out = 0
        self._busy = 0.0
        self._in_rate = self._time_per_sample = 0.0
        self._last_update = time.monotonic()
        self._next_update = self._last_update + _SHARD_UPDATE
        self._last_trouble = -1e9
        self._highest_sent = -(2**63)
        self._records_seen = dict.fromkeys(("series", "samples"), 0)

    # -- position -------------------------------------------------------------------------

    def _load_position(self) -> Position | None:
        try:
            doc = json.loads(self.progress_path.read_text())
            return Position(int(doc["segment"]), int(doc["offset"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning(
                "remote_write %s: ignoring unreadable %s: %s", self.cfg.name, self.progress_path, e
            )
            return None

    def _save_position(self) -> None:
        try:
            self._write_position()
        except OSError as e:
            # Not fatal: the position is older on disk, so a restart resends a little.
            log.warning("remote_write %s: cannot save %s: %s", self.cfg.name, self.progress_path, e)

    def _write_position(self) -> None:
        if self._progress is None:
            return
        pos = self._progress.committed
        if pos == self._saved:
            return
        self.progress_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.progress_path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"segment": pos.segment, "offset": pos.offset, "url": self.cfg.url})
        )
        os.replace(tmp, self.progress_path)
        self._saved = pos

    def lowest_needed_segment(self) -> int | None:
        """The oldest WAL segment this queue still has to read; None when it needs none
        (a new queue starts at the end of the WAL).

        That is the saved position's segment when it is older than the acknowledged one:
        after a crash the queue resumes from the saved position, and were its segment
        gone, the queue would start over at the next one and send its samples twice.
        """
        on_disk = self._saved if self._saved is not None else self._initial
        segs = [p.segment for p in (on_disk,) if p is not None]
        if self._progress is not None:
            segs.append(self._progress.committed.segment)
        return min(segs) if segs else None

    # -- running --------------------------------------------------------------------------

    async def run(self) -> None:
        """Read, shard and send until :meth:`stop`; returns once flushed."""
        # Again: a queue replaced on reload saves its last position after this one was made.
        self._initial = await asyncio.to_thread(self._load_position)
        start = await asyncio.to_thread(self.watcher.start, self._initial)
        self._progress = _Progress(start)
        self._count_lost()
        timeout = aiohttp.ClientTimeout(total=self.cfg.remote_timeout)
        async with client_session(self.cfg.http, timeout=timeout) as session:
            self._start_senders(session)
            helpers = [asyncio.create_task(self._save_loop())]
            if self.cfg.metadata_config.send and self._metadata_source is not None:
                helpers.append(asyncio.create_task(self._metadata_loop(session)))
            try:
                await self._read_loop(session)
            finally:
                self._stopping = True
                for s in self._shards:
                    s.wake.set()
                await asyncio.gather(*self._senders, return_exceptions=True)
                for h in helpers:
                    h.cancel()
                # What is left is not pending any more (a successor shares the series).
                self._m_pending.dec(sum(s.pending for s in self._shards))
        self._save_position()
        self.watcher.close()

    def _start_senders(self, session: aiohttp.ClientSession) -> None:
        self._senders = [
            asyncio.create_task(self._send_loop(s, session), name=f"remote_write shard {i}")
            for i, s in enumerate(self._shards)
        ]
        for t in self._senders:
            t.add_done_callback(self._sender_done)

    def _sender_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "remote_write %s: %s crashed",
                self.cfg.name,
                task.get_name(),
                exc_info=task.exception(),
            )

    async def stop(self, timeout: float) -> None:
        """Stop reading; shards send what they hold for up to ``timeout`` seconds (but do
        not retry a failing remote end: those samples go out after a restart)."""
        self._flush_deadline = time.monotonic() + timeout
        self._stopping = True
        for s in self._shards:
            s.wake.set()
        async with self._space:
            self._space.notify_all()

    async def _save_loop(self) -> None:
        while True:
            await asyncio.sleep(_SAVE_EVERY)
            await asyncio.to_thread(self._save_position)

    async def _metadata_loop(self, session: aiohttp.ClientSession) -> None:
        """Every ``send_interval``, send the metadata of every scraped metric family."""
        assert self._metadata_source is not None
        mc = self.cfg.metadata_config
        lv = (self.cfg.name, self.cfg.url)
        m = self.metrics
        sent, failed = m.metadata.labels(*lv), m.metadata_failed.labels(*lv)
        retried = m.metadata_retried.labels(*lv)
        nbytes = m.metadata_bytes.labels(*lv)
        while True:
            await asyncio.sleep(mc.send_interval)
            seen: dict[tuple[str, str, str, str], None] = {}
            for per_target in self._metadata_source():
                for family, md in per_target.items():
                    seen[(family, md.type, md.help, md.unit)] = None
            entries = sorted(seen)
            step = mc.max_samples_per_send
            for i in range(0, len(entries), step):
                part = entries[i : i + step]
                n = len(part)
                data = compress(encode_metadata(part))
                outcome = await self._client.send(
                    session,
                    data,
                    what=f"{n} metadata",
                    on_retry=functools.partial(retried.inc, n),
                    duration=self._m_duration,
                    give_up=lambda _b: self._stopping,
                )
                if outcome is Outcome.SENT:
                    sent.inc(len(part))
                    nbytes.inc(len(data))
                elif outcome is Outcome.REFUSED:
                    failed.inc(len(part))

    def _count_lost(self) -> None:
        n = self.watcher.segments_lost
        if n > self._lost_seen:
            self._m_lost.inc(n - self._lost_seen)
            self._lost_seen = n

    async def _read_loop(self, session: aiohttp.ClientSession) -> None:
        m = self.metrics
        name = self.cfg.name
        while not self._stopping:
            res = await asyncio.to_thread(self.watcher.read, _READ_LIMIT)
            self._count_lost()
            for kind, total in self.watcher.records_by_type.items():
                if total > self._records_seen.get(kind, 0):
                    m.watcher_records.labels(name, kind).inc(
                        total - self._records_seen.get(kind, 0)
                    )
                    self._records_seen[kind] = total
            m.watcher_segment.labels(name).set(self.watcher.position.segment)
            if self.watcher.series_collected != self._collected_seen:
                self._collected_seen = self.watcher.series_collected
                series = self.watcher.series
                for r in [r for r in self._labels if r not in series]:
                    del self._labels[r]
                    self._state[r] = _UNKNOWN
            if res.series_refs:
                # Re-resolved at their next sample; the old encoding stays for samples
                # already queued (a sender must never miss a ref it was handed).
                refs = np.asarray(res.series_refs, dtype=np.int64)
                self._grow(int(refs.max()))
                self._state[refs] = _UNKNOWN
            if not res.chunks:
                if not res.series_refs:
                    await asyncio.sleep(_POLL)
                continue
            if self._on_read is not None:
                self._on_read(res)
            await self._enqueue(res)
            if time.monotonic() >= self._next_update:
                await self._update_shards(session)

    async def _update_shards(self, session: aiohttp.ClientSession) -> None:
        """Reshard by throughput, as Prometheus' ``calculateDesiredShards`` does: enough
        shards to keep up with the samples coming in, plus 5 % of the backlog per second."""
        q = self.cfg.queue_config
        now = time.monotonic()
        elapsed = now - self._last_update
        self._last_update, self._next_update = now, now + _SHARD_UPDATE
        in_rate = self._in / elapsed
        tps = self._busy / self._out if self._out else self._time_per_sample
        self._in, self._out, self._busy = 0, 0, 0.0
        self._in_rate = _smooth(self._in_rate, in_rate)
        self._time_per_sample = _smooth(self._time_per_sample, tps)
        # Samples are timestamped about when they come in: the age of the newest one sent
        # is how far behind the queue is.
        lag = 0.0
        if self._highest_sent > 0:
            lag = max(0.0, time.time() - self._highest_sent / 1000 - q.batch_send_deadline)
        backlog = lag * self._in_rate
        want = self._time_per_sample * (self._in_rate + 0.05 * backlog)
        desired = min(q.max_shards, max(q.min_shards, math.ceil(want)))
        lv = (self.cfg.name, self.cfg.url)
        self.metrics.shards_desired.labels(*lv).set(desired)
        cur = self._nshards
        if 0.7 * cur <= desired <= 1.3 * cur or desired == cur:
            return
        if now - self._last_trouble < 2 * _SHARD_UPDATE:
            return  # the remote end is failing: more connections would not help it
        log.info("remote_write %s: resharding from %d to %d shards", self.cfg.name, cur, desired)
        for s in self._shards:
            s.closed = True
            s.wake.set()
        # Old shards send all they hold first, so each series' samples stay in order.
        await asyncio.gather(*self._senders, return_exceptions=True)
        if self._stopping:
            return
        self._nshards = desired
        self._shards = [_Shard() for _ in range(desired)]
        self._start_senders(session)
        self.metrics.shards.labels(*lv).set(desired)

    def _grow(self, top: int) -> None:
        if top >= len(self._state):
            new = np.zeros(max(top + 1, 2 * len(self._state)), dtype=np.uint8)
            new[: len(self._state)] = self._state
            self._state = new

    def _resolve(self, refs: NDArray[np.int64]) -> None:
        """Relabel the series not seen yet (once per ref; per-series work is unavoidable)."""
        new = np.unique(refs[self._state[refs] == _UNKNOWN])
        ext = self.external_labels
        rcs = self.cfg.write_relabel_configs
        series = self.watcher.series
        for r in new.tolist():
            ls = series.get(r)
            if ls is None:
                self._state[r] = _DROP
                continue
            if ext:
                d = dict(ext)
                d.update(ls)  # the series' own labels win over external ones
                ls = Labels.from_dict(d)
            out = relabel(ls, rcs) if rcs else ls
            if out is None or not out:
                self._state[r] = _DROP
                continue
            self._labels[r] = encode_labels(out)
            self._state[r] = _KEEP

    async def _enqueue(self, res: WatchResult) -> None:
        assert self._progress is not None
        q = self.cfg.queue_config
        for ch in res.chunks:
            refs = ch.refs
            self._grow(int(refs.max()))
            if int(np.count_nonzero(self._state[refs] == _UNKNOWN)) > 256:
                # Many new series (a start, a new target): relabel off the event loop.
                await asyncio.to_thread(self._resolve, refs)
            else:
                self._resolve(refs)
            keep = self._state[refs] == _KEEP
            kept = int(keep.sum())
            if kept != len(refs):
                self._m_dropped.inc(len(refs) - kept)
            seq = self._progress.add(kept, ch.end)
            if not kept:
                continue
            refs, ts, vals = refs[keep], ch.timestamps[keep], ch.values[keep]
            seqs = np.full(kept, seq, dtype=np.int64)
            shard_of = refs % self._nshards
            for i, s in enumerate(self._shards):
                sel = shard_of == i if self._nshards > 1 else slice(None)
                part = refs[sel]
                if len(part):
                    s.put(part, ts[sel], vals[sel], seqs[sel])
            self._m_pending.inc(kept)
            self._in += kept
            # Backpressure: wait for room rather than drop (the WAL holds the backlog).
            if any(s.pending > q.capacity for s in self._shards):
                self._m_enqueue_retries.inc()
                async with self._space:
                    await self._space.wait_for(
                        lambda: self._stopping or all(s.pending <= q.capacity for s in self._shards)
                    )
            if self._stopping:
                return

    async def _send_loop(self, shard: _Shard, session: aiohttp.ClientSession) -> None:
        q = self.cfg.queue_config
        while True:
            now = time.monotonic()
            flush = self._stopping or shard.closed
            due = shard.pending and (
                shard.pending >= q.max_samples_per_send
                or now - shard.oldest >= q.batch_send_deadline
                or flush
            )
            if not due:
                if flush:
                    return
                shard.wake.clear()
                wait = q.batch_send_deadline - (now - shard.oldest) if shard.pending else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(shard.wake.wait(), wait)
                continue
            if self._stopping and time.monotonic() > self._flush_deadline:
                return  # unsent samples stay after the saved position: resent on restart
            refs, ts, vals, seqs = shard.take(q.max_samples_per_send)
            async with self._space:
                self._space.notify_all()
            t0 = time.monotonic()
            ok = await self._send_batch(session, refs, ts, vals)
            self._busy += time.monotonic() - t0
            self._m_pending.dec(len(refs))
            if not ok:
                return  # gave up at the flush deadline; do not acknowledge
            assert self._progress is not None
            self._progress.ack(seqs)

    def _build(
        self, refs: NDArray[np.int64], ts: NDArray[np.int64], vals: NDArray[np.float64]
    ) -> bytes:
        order = np.argsort(refs, kind="stable")  # series-major, time order kept per series
        refs, ts, vals = refs[order], ts[order], vals[order]
        starts = np.flatnonzero(np.diff(refs, prepend=np.int64(-1)))
        counts = np.diff(np.append(starts, len(refs)))
        found = [self._labels.get(r) for r in refs[starts].tolist()]
        if None in found:
            # Series collected while their samples were queued (a very late queue): the
            # labels are gone, so are those samples.
            known = np.array([b is not None for b in found])
            self._m_dropped.inc(int(counts[~known].sum()))
            keep = np.repeat(known, counts)
            ts, vals, counts = ts[keep], vals[keep], counts[known]
        enc = [b for b in found if b is not None]
        return compress(encode_write_request(enc, counts, ts, vals))

    async def _send_batch(
        self,
        session: aiohttp.ClientSession,
        refs: NDArray[np.int64],
        ts: NDArray[np.int64],
        vals: NDArray[np.float64],
    ) -> bool:
        """Send until done or refused; False only when stopping cut the retries short."""
        cfg = self.cfg
        q = cfg.queue_config
        n = len(refs)
        if q.sample_age_limit > 0:
            fresh = ts >= int((time.time() - q.sample_age_limit) * 1000)
            if not fresh.all():
                self._m_dropped.inc(n - int(fresh.sum()))
                refs, ts, vals = refs[fresh], ts[fresh], vals[fresh]
                n = len(refs)
                if not n:
                    return True
        data = self._build(refs, ts, vals)
        highest = int(ts.max())
        outcome = await self._client.send(
            session,
            data,
            what=f"{n} samples",
            on_retry=functools.partial(self._retried, n),
            duration=self._m_duration,
            give_up=self._give_up,
        )
        if outcome is Outcome.SENT:
            self._out += n
            self._m_samples.inc(n)
            self._m_bytes.inc(len(data))
            if highest > self._highest_sent:
                self._highest_sent = highest
                self._m_highest.set(highest / 1000.0)
        elif outcome is Outcome.REFUSED:
            self._m_failed.inc(n)
        if outcome is not Outcome.SENT:
            self._last_trouble = time.monotonic()
        return outcome is not Outcome.GAVE_UP

    def _retried(self, n: int) -> None:
        self._m_retried.inc(n)
        self._last_trouble = time.monotonic()

    def _give_up(self, backoff: float) -> bool:
        # While stopping, a failing remote end is not waited for: the unsent samples are
        # after the saved position and go out after the restart, so shutdown stays quick.
        return self._stopping
