"""The discovery manager: runs one provider per SD config and reports targets per job.

Each provider reports the complete list of its current groups whenever it changes. The
manager keeps the latest list of every provider and hands the scrape layer the whole
picture, ``{job_name: [groups of all that job's providers]}``, at most once per
``update_interval`` (Prometheus waits 5 s between updates so a flapping source does not
churn the scrape pools). The very first update waits until every provider has reported
once, bounded by ``update_interval``, so scraping starts with the full target set.

Usage::

    manager = DiscoveryManager(scrape_manager.sync)
    manager.apply_config(cfg.scrape_configs)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(manager.run())
        ...
        await manager.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from prometheus_client import Counter, Gauge

from promhub.config.model import ScrapeConfig
from promhub.discovery.file import DEFAULT_POLL_INTERVAL, FileProvider
from promhub.discovery.http import HTTPProvider
from promhub.discovery.static import StaticProvider
from promhub.discovery.targetgroup import TargetGroup

log = logging.getLogger(__name__)

#: Prometheus' ``updatert``: the minimum time between two updates to the scrape layer.
DEFAULT_UPDATE_INTERVAL = 5.0

# Prometheus labels these by discovery manager name; ours only feeds scraping.
_NAME = "scrape"
DISCOVERED_TARGETS = Gauge(
    "prometheus_sd_discovered_targets",
    "Current number of discovered targets.",
    ["config", "name"],
)
RECEIVED_UPDATES = Counter(
    "prometheus_sd_received_updates_total",
    "Total number of update events received from the SD providers.",
    ["name"],
)
UPDATES = Counter(
    "prometheus_sd_updates_total",
    "Total number of update events sent to the SD consumers.",
    ["name"],
)

UpdateCallback = Callable[[dict[str, list[TargetGroup]]], None]


class Provider(Protocol):
    """A source of target groups: reports its full current list through ``send``."""

    async def run(self, send: Callable[[list[TargetGroup]], None]) -> None: ...


@dataclass(eq=False, slots=True)
class _Running:
    job: str
    provider: Provider
    task: asyncio.Task[None] | None = None
    groups: list[TargetGroup] = field(default_factory=list)
    reported: bool = False


class DiscoveryManager:
    """Runs the discovery providers of all scrape configs and reports their targets.

    ``on_update`` receives ``{job_name: groups}`` for every configured job (an empty list
    when a job has no targets, and once more for a job just removed from the config). It
    runs on the event loop and should return quickly.
    """

    def __init__(
        self,
        on_update: UpdateCallback,
        *,
        update_interval: float = DEFAULT_UPDATE_INTERVAL,
        file_poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        self._on_update = on_update
        self._update_interval = update_interval
        self._file_poll_interval = file_poll_interval
        self._jobs: list[str] = []
        self._removed_jobs: set[str] = set()
        # Keyed by (job, kind, repr(config)): an unchanged config keeps its provider,
        # its groups and its refresh schedule across reloads.
        self._providers: dict[tuple[str, str, str], _Running] = {}
        self._cancelled: set[asyncio.Task[None]] = set()
        self._pending = False
        self._sent_once = False
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._running = False

    def apply_config(self, scrape_configs: Sequence[ScrapeConfig]) -> None:
        """Switch to these scrape configs, restarting only providers whose config changed."""
        wanted: dict[tuple[str, str, str], Callable[[], Provider]] = {}
        for sc in scrape_configs:
            job = sc.job_name
            if sc.static_configs:
                statics = list(sc.static_configs)
                wanted[(job, "static", repr(statics))] = partial(StaticProvider, statics)
            for fc in sc.file_sd_configs:
                wanted[(job, "file", repr(fc))] = partial(
                    FileProvider, fc, self._file_poll_interval
                )
            for hc in sc.http_sd_configs:
                wanted[(job, "http", repr(hc))] = partial(HTTPProvider, hc)

        for key in [k for k in self._providers if k not in wanted]:
            self._drop(key)
        for key, make in wanted.items():
            if key not in self._providers:
                running = _Running(key[0], make())
                self._providers[key] = running
                if self._running:
                    self._start(key, running)

        jobs = list(dict.fromkeys(sc.job_name for sc in scrape_configs))
        self._removed_jobs |= set(self._jobs) - set(jobs)
        self._removed_jobs -= set(jobs)
        self._jobs = jobs
        self._trigger()

    async def run(self) -> None:
        """Run the providers and deliver updates until :meth:`stop` is called."""
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._running = True
        for key, running in self._providers.items():
            if running.task is None:
                self._start(key, running)
        first_deadline = loop.time() + self._update_interval
        next_send = loop.time()
        try:
            while not self._stopping:
                now = loop.time()
                timeout: float | None = None
                if self._pending:
                    when = next_send
                    if not self._sent_once and not self._all_reported():
                        when = max(when, first_deadline)
                    if now >= when:
                        self._send()
                        next_send = now + self._update_interval
                        continue
                    timeout = when - now
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
        finally:
            self._running = False
            await self._cancel_all()

    async def stop(self) -> None:
        """Stop the providers and make :meth:`run` return."""
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        await self._cancel_all()

    def _start(self, key: tuple[str, str, str], running: _Running) -> None:
        def send(groups: list[TargetGroup]) -> None:
            self._report(key, running, groups)

        job, kind, _ = key
        task = asyncio.create_task(running.provider.run(send), name=f"discovery {kind} {job}")
        task.add_done_callback(self._task_done)
        running.task = task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._cancelled.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Providers handle their own errors; reaching here is a bug worth a traceback.
            log.error("discovery: %s died", task.get_name(), exc_info=task.exception())

    def _drop(self, key: tuple[str, str, str]) -> None:
        running = self._providers.pop(key)
        if running.task is not None and not running.task.done():
            running.task.cancel()
            self._cancelled.add(running.task)

    async def _cancel_all(self) -> None:
        tasks = [r.task for r in self._providers.values() if r.task is not None]
        tasks += self._cancelled
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for r in self._providers.values():
            r.task = None

    def _report(
        self, key: tuple[str, str, str], running: _Running, groups: list[TargetGroup]
    ) -> None:
        if self._providers.get(key) is not running:
            return  # A late report from a provider that a reload already replaced.
        RECEIVED_UPDATES.labels(_NAME).inc()
        first = not running.reported
        running.reported = True
        if first or groups != running.groups:
            running.groups = groups
            self._trigger()

    def _trigger(self) -> None:
        self._pending = True
        if self._wake is not None:
            self._wake.set()

    def _all_reported(self) -> bool:
        return all(r.reported for r in self._providers.values())

    def _send(self) -> None:
        self._pending = False
        self._sent_once = True
        update: dict[str, list[TargetGroup]] = {job: [] for job in self._jobs}
        for running in self._providers.values():
            update[running.job].extend(running.groups)
        for job in self._removed_jobs:
            update[job] = []
            with contextlib.suppress(KeyError):
                DISCOVERED_TARGETS.remove(job, _NAME)
        self._removed_jobs.clear()
        for job in self._jobs:
            DISCOVERED_TARGETS.labels(job, _NAME).set(sum(len(g.targets) for g in update[job]))
        UPDATES.labels(_NAME).inc()
        try:
            self._on_update(update)
        except Exception:
            # A consumer bug must not stop discovery; the next change retries.
            log.exception("discovery: on_update failed")
