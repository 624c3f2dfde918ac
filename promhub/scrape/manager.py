"""The scrape manager: one pool per ``scrape_configs`` job, fed by discovery.

>>> manager = ScrapeManager(db, registry=CollectorRegistry())      # doctest: +SKIP
>>> manager.apply_config(cfg)                                       # doctest: +SKIP
>>> discovery = DiscoveryManager(manager.update_targets)            # doctest: +SKIP
>>> await manager.run()                                             # doctest: +SKIP

``apply_config`` and ``update_targets`` only record what should run (and refuse a config
whose TLS files cannot be loaded); ``run`` makes the pools match, so both may be called
from anywhere, any number of times, and bursts of updates coalesce.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from promhub.config.model import Config, ScrapeConfig
from promhub.discovery.targetgroup import TargetGroup
from promhub.model.labels import Labels
from promhub.scrape.client import ScrapeClient
from promhub.scrape.metrics import ScrapeMetrics
from promhub.scrape.pool import ScrapePool
from promhub.scrape.target import offset_seed
from promhub.storage.interface import Appendable, Metadata

if TYPE_CHECKING:
    from promhub.tsdb.exemplars import ExemplarStorage

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TargetMetadata:
    """The metric metadata a target exposed in its last successful scrape."""

    scrape_pool: str
    target: Labels
    metadata: Mapping[str, Metadata]


class ScrapeManager:
    """Scrapes every target of the configuration into ``appendable``.

    ``registry`` receives the ``prometheus_target_*`` metrics (give each manager its own
    registry in tests). ``executor`` runs parsing and commits (the default executor when
    None). ``timestamp_tolerance`` (seconds) snaps a scrape's timestamp to its scheduled
    slot when it started that close to it, as Prometheus' ``--scrape.timestamp-tolerance``.
    """

    def __init__(
        self,
        appendable: Appendable,
        *,
        registry: CollectorRegistry = REGISTRY,
        executor: Executor | None = None,
        hostname: str | None = None,
        timestamp_tolerance: float = 0.01,
        exemplars: ExemplarStorage | None = None,
    ) -> None:
        self._appendable = appendable
        self._metrics = ScrapeMetrics(registry)
        registry.register(_MetadataCollector(self))
        self._executor = executor
        self._hostname = socket.gethostname() if hostname is None else hostname
        self._tolerance = timestamp_tolerance
        #: Exemplar storage for the scrape loops (None: exemplars are not kept).
        self._exemplars = exemplars
        self._lock = threading.Lock()
        self._wanted: dict[str, tuple[ScrapeConfig, ScrapeClient | None]] = {}
        self._seed = offset_seed(self._hostname, {})
        self._groups: dict[str, list[TargetGroup]] = {}
        self._dirty_groups: set[str] = set()
        self._config_dirty = False
        self.pools: dict[str, ScrapePool] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._reconcile_lock = asyncio.Lock()

    # -- inputs ----------------------------------------------------------------------------

    def apply_config(self, cfg: Config) -> None:
        """Adopt ``cfg``: unchanged pools keep running, changed ones restart, removed stop.

        Raises ConfigError (and keeps the running configuration) when a job's TLS files
        cannot be loaded.
        """
        wanted: dict[str, tuple[ScrapeConfig, ScrapeClient | None]] = {}
        for sc in cfg.scrape_configs:
            running = self.pools.get(sc.job_name)
            if running is not None and running.cfg == sc:
                wanted[sc.job_name] = (sc, None)
            else:
                wanted[sc.job_name] = (sc, ScrapeClient(sc))
        with self._lock:
            self._wanted = wanted
            self._seed = offset_seed(self._hostname, cfg.global_.external_labels)
            self._config_dirty = True
        self._notify()

    def update_targets(self, groups: Mapping[str, Sequence[TargetGroup]]) -> None:
        """Take the current target groups of the jobs in ``groups`` (from discovery)."""
        with self._lock:
            for job, gs in groups.items():
                self._groups[job] = list(gs)
                self._dirty_groups.add(job)
        self._notify()

    def _notify(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            # Called from another thread (or after run() ended, when there is nothing
            # left to wake).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self) -> None:
        """Keep the pools in line with the config and targets until :meth:`stop`."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._wake.set()
        try:
            while not self._stopping:
                await self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    break
                try:
                    await self.reconcile()
                except Exception:
                    log.exception("updating scrape pools failed")
        finally:
            self._loop = self._wake = None

    async def reconcile(self) -> None:
        """Apply pending config and target changes now."""
        async with self._reconcile_lock:
            with self._lock:
                wanted = self._wanted if self._config_dirty else None
                self._config_dirty = False
                dirty = set(self._dirty_groups)
                self._dirty_groups.clear()
                groups = {job: list(gs) for job, gs in self._groups.items()}
                seed = self._seed
            if self._stopping:
                return
            if wanted is not None:
                await self._apply_pools(wanted, seed)
                dirty = set(self.pools)
            for job in sorted(dirty):
                pool = self.pools.get(job)
                if pool is None:
                    continue
                try:
                    await pool.sync(groups.get(job, []))
                except Exception:
                    log.exception("syncing scrape pool %s failed", job)

    async def _apply_pools(
        self, wanted: dict[str, tuple[ScrapeConfig, ScrapeClient | None]], seed: int
    ) -> None:
        gone = [name for name in self.pools if name not in wanted]
        # A removed job's series end now, not five minutes later.
        await asyncio.gather(*(self.pools.pop(n).stop(staleness=True) for n in gone))
        for name, (sc, client) in wanted.items():
            pool = self.pools.get(name)
            if client is None and pool is not None and pool.cfg == sc:
                continue
            if client is None:
                client = ScrapeClient(sc)
            if pool is None:
                self._metrics.pools.inc()
                self.pools[name] = ScrapePool(
                    sc,
                    client,
                    self._appendable,
                    self._metrics,
                    seed=seed,
                    executor=self._executor,
                    timestamp_tolerance=self._tolerance,
                    exemplars=self._exemplars,
                )
            else:
                try:
                    await pool.reload(sc, client)
                except Exception:
                    log.exception("reloading scrape pool %s failed", name)

    async def stop(self) -> None:
        """Stop all scraping. Series are not marked stale: they resume after a restart."""
        self._stopping = True
        self._notify()
        async with self._reconcile_lock:
            pools, self.pools = self.pools, {}
            await asyncio.gather(*(p.stop(staleness=False) for p in pools.values()))

    # -- outputs ---------------------------------------------------------------------------

    def targets(self) -> dict[str, object]:
        """``/api/v1/targets`` data: ``activeTargets``, ``droppedTargets`` and counts."""
        active: list[dict[str, object]] = []
        dropped: list[dict[str, object]] = []
        counts: dict[str, int] = {}
        for name in sorted(self.pools):
            pool = self.pools[name]
            for t in sorted(pool.targets, key=lambda t: t.labels):
                active.append(t.api_dict(name))
            for d in pool.dropped:
                dropped.append({"discoveredLabels": d.to_dict(), "scrapePool": name})
            counts[name] = pool.dropped_count
        return {"activeTargets": active, "droppedTargets": dropped, "droppedTargetCounts": counts}

    def metadata(self) -> list[TargetMetadata]:
        """Per active target, the metric metadata of its last successful scrape."""
        out = []
        for name in sorted(self.pools):
            for lp in self.pools[name].loops.values():
                out.append(TargetMetadata(name, lp.target.labels, lp.metadata))
        return out


class _MetadataCollector:
    """``prometheus_target_metadata_cache_entries`` per job, computed when scraped."""

    def __init__(self, manager: ScrapeManager) -> None:
        self._manager = manager

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        g = GaugeMetricFamily(
            "prometheus_target_metadata_cache_entries",
            "Total number of metric metadata entries in the cache",
            labels=["scrape_job"],
        )
        for name, pool in list(self._manager.pools.items()):
            g.add_metric([name], sum(len(lp.metadata) for lp in list(pool.loops.values())))
        yield g
