"""The remote_write manager: one :class:`~promhub.storage.remote.queue.Queue` per endpoint.

Wiring (see :mod:`promhub.server.server`)::

    rw = WriteStorage(wal_dir, data_dir, registry)
    rw.apply_config(cfg)        # on start and every reload
    task = create_task(rw.run())
    ...
    await rw.stop()             # flush (bounded), save positions

A reload keeps every queue whose config (and the external labels) did not change running
untouched; a changed queue is stopped, flushed and restarted from its saved position, so
a reload loses and repeats nothing. Storage that truncates the WAL by itself (agent mode)
asks :meth:`WriteStorage.lowest_needed_segment` first.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry

from promhub.config.model import Config
from promhub.config.remote_write import RemoteWriteConfig
from promhub.storage.remote.metrics import RemoteMetrics
from promhub.storage.remote.queue import MetadataSource, Queue
from promhub.storage.remote.watcher import Position, WatchResult

__all__ = ["WriteStorage"]

log = logging.getLogger(__name__)

#: How long stop() lets queues send what they hold (Prometheus waits up to 1 m; a
#: shutdown should not hang that long, and unsent samples are resent after a restart).
DEFAULT_FLUSH_TIMEOUT = 5.0


class WriteStorage:
    """Ships the samples appended to one WAL to every ``remote_write`` endpoint."""

    def __init__(
        self,
        wal_dir: Path,
        data_dir: Path,
        registry: CollectorRegistry = REGISTRY,
        flush_timeout: float = DEFAULT_FLUSH_TIMEOUT,
        metadata_source: MetadataSource | None = None,
    ) -> None:
        self.wal_dir = wal_dir
        self.data_dir = data_dir
        self.flush_timeout = flush_timeout
        self.metadata_source = metadata_source
        self.metrics = RemoteMetrics(registry)
        self._queues: dict[str, tuple[Queue, asyncio.Task[None]]] = {}
        self._external: dict[str, str] = {}
        self._stopped = asyncio.Event()
        self._in_pos = Position(-1, 0)
        self._in_highest = -(2**63)

    @property
    def queues(self) -> list[Queue]:
        """The running queues, in no particular order."""
        return [q for q, _ in self._queues.values()]

    def apply_config(self, cfg: Config) -> None:
        """Start, keep, restart or stop queues to match ``cfg.remote_write``.

        New queues are all built before any running one is touched, so a setting that
        fails only now (an unreadable TLS file) raises with the old queues intact.
        """
        external = dict(cfg.global_.external_labels)
        wanted: dict[str, RemoteWriteConfig] = {rw.name: rw for rw in cfg.remote_write}
        new: dict[str, Queue] = {}
        for name, rw in wanted.items():
            cur = self._queues.get(name)
            if cur is not None and rw.hash == cur[0].cfg.hash and external == self._external:
                continue  # unchanged: keeps running
            new[name] = Queue(
                rw,
                external,
                self.wal_dir,
                self.data_dir,
                self.metrics,
                self._on_read,
                self.metadata_source,
            )
        after: dict[str, asyncio.Task[None]] = {}
        for name, (q, task) in list(self._queues.items()):
            if name in wanted and name not in new:
                continue
            del self._queues[name]
            asyncio.get_running_loop().create_task(q.stop(self.flush_timeout))
            if name not in new or new[name].cfg.url != q.cfg.url:
                task.add_done_callback(functools.partial(self._forget, q))
            after[name] = task
        self._external = external
        for name, q in new.items():
            # Same progress file: a replacement starts once its predecessor saved.
            self._run(q, after.get(name))

    def _forget(self, q: Queue, _task: object) -> None:
        if all(other.cfg.url != q.cfg.url or other.cfg.name != q.cfg.name for other in self.queues):
            self.metrics.remove_queue(q.cfg.name, q.cfg.url)

    def _run(self, q: Queue, after: asyncio.Task[None] | None) -> None:
        async def go() -> None:
            if after is not None:
                with contextlib.suppress(Exception):
                    await after
            try:
                await q.run()
            except Exception:
                log.exception("remote_write %s: queue stopped by an error", q.cfg.name)

        name = q.cfg.name
        task = asyncio.get_running_loop().create_task(go(), name=f"remote_write {name}")
        self._queues[name] = (q, task)
        log.info("remote_write: started queue %s to %s", name, q.cfg.url)

    def _on_read(self, res: WatchResult) -> None:
        """Count samples into remote storage once, whichever queue reads them first."""
        for ch in res.chunks:
            if ch.end > self._in_pos:
                self._in_pos = ch.end
                self.metrics.samples_in.inc(len(ch.refs))
                top = int(ch.timestamps.max())
                if top > self._in_highest:
                    self._in_highest = top
                    self.metrics.highest_in.set(top / 1000.0)

    def lowest_needed_segment(self) -> int | None:
        """The oldest WAL segment some queue has not fully sent yet (None: none needed).

        A queue still starting up reports nothing yet; storage should truncate only
        segments below the returned one.
        """
        segs = [s for q in self.queues if (s := q.lowest_needed_segment()) is not None]
        return min(segs) if segs else None

    async def run(self) -> None:
        """Wait until :meth:`stop` (the queues run as their own tasks)."""
        await self._stopped.wait()

    async def stop(self) -> None:
        """Stop every queue, letting each flush for up to ``flush_timeout`` seconds."""
        items = list(self._queues.values())
        self._queues.clear()
        await asyncio.gather(*(q.stop(self.flush_timeout) for q, _ in items))
        tasks = [t for _, t in items]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.flush_timeout + 5)
            for t in pending:
                t.cancel()
        self._stopped.set()
