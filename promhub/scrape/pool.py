"""A scrape pool: the targets of one scrape config and a loop per target.

``sync`` follows discovery (new targets start, vanished ones stop with staleness markers,
unchanged ones keep running with their caches); ``reload`` swaps in a changed config,
handing each surviving target's last series to its new loop so staleness still works
across the reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING

from promhub.config.model import ScrapeConfig
from promhub.discovery.targetgroup import TargetGroup
from promhub.model.labels import Labels
from promhub.scrape.client import ScrapeClient
from promhub.scrape.loop import ScrapeLoop
from promhub.scrape.metrics import ScrapeMetrics
from promhub.scrape.target import Target, TargetSet, format_duration, targets_from_groups
from promhub.storage.interface import Appendable, Refs

if TYPE_CHECKING:
    from promhub.tsdb.exemplars import ExemplarStorage

log = logging.getLogger(__name__)


class ScrapePool:
    """Runs the scrape loops of one job. Use from the event loop only."""

    def __init__(
        self,
        cfg: ScrapeConfig,
        client: ScrapeClient,
        appendable: Appendable,
        metrics: ScrapeMetrics,
        *,
        seed: int,
        executor: Executor | None = None,
        timestamp_tolerance: float = 0.01,
        exemplars: ExemplarStorage | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.job_name
        self._client = client
        self._appendable = appendable
        self._metrics = metrics
        self._seed = seed
        self._executor = executor
        self._tolerance = timestamp_tolerance
        self._exemplars = exemplars
        self._groups: list[TargetGroup] = []
        self.loops: dict[int, ScrapeLoop] = {}
        self.dropped: list[Labels] = []
        self.dropped_count = 0
        #: Set while the pool has more targets than target_limit; fails all its scrapes.
        self.limit_error = ""
        metrics.target_limit.labels(self.name).set(cfg.target_limit)

    @property
    def targets(self) -> list[Target]:
        return [lp.target for lp in self.loops.values()]

    def _new_loop(self, target: Target, previous: Refs | None = None) -> ScrapeLoop:
        return ScrapeLoop(
            target,
            self.cfg,
            self._client,
            self._appendable,
            self._metrics,
            seed=self._seed,
            executor=self._executor,
            previous=previous,
            timestamp_tolerance=self._tolerance,
            forced_error=lambda: self.limit_error,
            exemplars=self._exemplars,
        )

    def _build(self, groups: Sequence[TargetGroup]) -> TargetSet:
        ts = targets_from_groups(self.cfg, groups)
        for err in ts.errors:
            log.warning("scrape pool %s: creating target failed: %s", self.name, err)
        self.dropped_count = len(ts.dropped)
        keep = self.cfg.keep_dropped_targets
        # keep_dropped_targets bounds the memory a huge, mostly-dropped discovery costs.
        self.dropped = ts.dropped[:keep] if keep else ts.dropped
        limit = self.cfg.target_limit
        if limit and len(ts.targets) > limit:
            self.limit_error = (
                f"target_limit exceeded (number of targets: {len(ts.targets)}, limit: {limit})"
            )
            self._metrics.exceeded_target_limit.inc()
        else:
            self.limit_error = ""
        return ts

    async def sync(self, groups: Sequence[TargetGroup]) -> None:
        """Make the running loops match the targets of ``groups``."""
        start = time.monotonic()
        self._groups = list(groups)
        try:
            ts = self._build(self._groups)
        except Exception:
            self._metrics.sync_failed.labels(self.name).inc()
            raise
        wanted = {t.hash: t for t in ts.targets}
        gone = [h for h in self.loops if h not in wanted]
        await asyncio.gather(*(self.loops.pop(h).stop(staleness=True) for h in gone))
        for h, t in wanted.items():
            running = self.loops.get(h)
            if running is not None:
                # Same labels and URL: keep the loop (and its cache); discovery may still
                # have changed meta labels that relabeling threw away.
                running.target.discovered = t.discovered
                continue
            lp = self.loops[h] = self._new_loop(t)
            lp.start()
        m = self._metrics
        m.pool_syncs.labels(self.name).inc()
        m.pool_targets.labels(self.name).set(len(self.loops))
        m.sync_length.observe(time.monotonic() - start, self.name)

    async def reload(self, cfg: ScrapeConfig, client: ScrapeClient) -> None:
        """Restart every loop under a changed config (new caches, same staleness state)."""
        start = time.monotonic()
        self._metrics.pool_reloads.inc()
        old_cfg, old_client, old_loops = self.cfg, self._client, self.loops
        self.cfg, self._client = cfg, client
        try:
            ts = self._build(self._groups)
        except Exception:
            self.cfg, self._client = old_cfg, old_client
            self._metrics.pool_reloads_failed.inc()
            raise
        wanted = {t.hash: t for t in ts.targets}
        stops = [lp.stop(staleness=h not in wanted) for h, lp in old_loops.items()]
        previous = dict(zip(old_loops, await asyncio.gather(*stops), strict=True))
        self.loops = {}
        for h, t in wanted.items():
            old = old_loops.get(h)
            if old is not None:
                # The targets page keeps showing the last outcome until the next scrape.
                o = old.target
                t.health, t.last_error = o.health, o.last_error
                t.last_scrape, t.last_duration = o.last_scrape, o.last_duration
            lp = self.loops[h] = self._new_loop(t, previous.get(h))
            lp.start()
        if old_client is not client:
            await old_client.close()
        self._metrics.target_limit.labels(self.name).set(cfg.target_limit)
        self._metrics.pool_targets.labels(self.name).set(len(self.loops))
        self._metrics.reload_length.observe(
            time.monotonic() - start, format_duration(cfg.scrape_interval)
        )

    async def stop(self, *, staleness: bool) -> None:
        """Stop all loops; with ``staleness`` their series are marked stale."""
        loops, self.loops = self.loops, {}
        await asyncio.gather(*(lp.stop(staleness=staleness) for lp in loops.values()))
        await self._client.close()
        m = self._metrics
        for metric in (m.pool_targets, m.target_limit, m.pool_syncs, m.sync_failed):
            with contextlib.suppress(KeyError):
                metric.remove(self.name)
        m.sync_length.remove(self.name)
