"""The one scheduler for periodic jobs (compaction, retention, …).

Every job has a name and exposes its run duration, lag behind its schedule and failures,
so a slow or failing background job is visible on ``/metrics`` instead of silent.
Blocking jobs run in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Job:
    name: str
    interval: float
    fn: Callable[[], object] | Callable[[], Awaitable[object]]
    blocking: bool
    task: asyncio.Task[None] | None = None


class Scheduler:
    """Runs named periodic jobs on the event loop (``blocking`` ones in a thread)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._jobs: dict[str, _Job] = {}
        self._duration = Histogram(
            "promhub_scheduler_job_duration_seconds",
            "How long each run of a periodic job took.",
            ["job"],
            registry=registry,
        )
        self._lag = Gauge(
            "promhub_scheduler_job_lag_seconds",
            "How late the last run of a periodic job started against its schedule.",
            ["job"],
            registry=registry,
        )
        self._failures = Counter(
            "promhub_scheduler_job_failures_total",
            "Runs of a periodic job that raised an error.",
            ["job"],
            registry=registry,
        )

    def add(
        self,
        name: str,
        interval: float,
        fn: Callable[[], object] | Callable[[], Awaitable[object]],
        *,
        blocking: bool = False,
    ) -> None:
        if name in self._jobs:
            raise ValueError(f"scheduler job {name!r} already registered")
        job = _Job(name, interval, fn, blocking)
        self._jobs[name] = job
        job.task = asyncio.get_running_loop().create_task(self._loop(job), name=name)

    async def run_now(self, name: str) -> None:
        await self._run_once(self._jobs[name])

    async def _run_once(self, job: _Job) -> None:
        start = time.monotonic()
        try:
            if job.blocking:
                await asyncio.to_thread(job.fn)
            else:
                res = job.fn()
                if asyncio.iscoroutine(res):
                    await res
        except asyncio.CancelledError:
            raise
        except Exception:
            self._failures.labels(job.name).inc()
            log.exception("periodic job %s failed", job.name)
        finally:
            self._duration.labels(job.name).observe(time.monotonic() - start)

    async def _loop(self, job: _Job) -> None:
        due = time.monotonic() + job.interval
        while True:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            self._lag.labels(job.name).set(max(0.0, time.monotonic() - due))
            await self._run_once(job)
            due += job.interval
            # A run longer than the interval skips the missed slots instead of bunching up.
            now = time.monotonic()
            if due < now:
                due = now + job.interval

    async def stop(self) -> None:
        tasks = [j.task for j in self._jobs.values() if j.task is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._jobs.clear()
