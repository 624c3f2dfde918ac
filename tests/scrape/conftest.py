"""Fixtures for scrape tests: real HTTP targets on loopback and a real TSDB."""

from __future__ import annotations

import asyncio
import base64
import gzip
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from promhub.config.model import Config, GlobalConfig, ScrapeConfig
from promhub.discovery.targetgroup import TargetGroup
from promhub.model.labels import Labels
from promhub.model.matcher import Matcher
from promhub.scrape.manager import ScrapeManager
from promhub.storage.interface import MAX_TIME, MIN_TIME
from promhub.tsdb.db import DB


@dataclass
class Exporter:
    """An aiohttp target; tests change ``body`` between scrapes and read ``requests``."""

    body: str = ""
    content_type: str = "text/plain; version=0.0.4"
    status: int = 200
    gzip: bool = False
    basic_auth: tuple[str, str] | None = None
    requests: list[web.BaseRequest] = field(default_factory=list)
    address: str = ""
    runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        if self.basic_auth is not None:
            want = "Basic " + base64.b64encode(":".join(self.basic_auth).encode()).decode()
            if request.headers.get("Authorization") != want:
                return web.Response(status=401, text="unauthorized")
        data = self.body.encode()
        headers = {"Content-Type": self.content_type}
        if self.gzip and "gzip" in request.headers.get("Accept-Encoding", ""):
            data = gzip.compress(data)
            headers["Content-Encoding"] = "gzip"
        return web.Response(status=self.status, body=data, headers=headers)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.address = f"127.0.0.1:{port}"

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DB]:
    d = DB.open(tmp_path / "data")
    yield d
    d.close()


def static_groups(cfg: Config, targets: dict[str, list[str]]) -> dict[str, list[TargetGroup]]:
    """What discovery would send for static targets, per job."""
    out: dict[str, list[TargetGroup]] = {}
    for sc in cfg.scrape_configs:
        addrs = targets.get(sc.job_name, [])
        out[sc.job_name] = [TargetGroup("0", tuple({"__address__": a} for a in addrs), {})] + [
            TargetGroup(str(i + 1), tuple({"__address__": a} for a in s.targets), s.labels)
            for i, s in enumerate(sc.static_configs)
        ]
    return out


class Harness:
    """A ScrapeManager over a real DB, real targets, and query helpers."""

    def __init__(self, db: DB) -> None:
        self.db = db
        self.registry = CollectorRegistry()
        self.manager = ScrapeManager(db, registry=self.registry)
        self.task: asyncio.Task[None] | None = None
        self.exporters: list[Exporter] = []

    @staticmethod
    def job(name: str, **kw: object) -> ScrapeConfig:
        """A scrape config with test-friendly (fast) timing."""
        kw.setdefault("scrape_interval", 0.1)
        kw.setdefault("scrape_timeout", 0.1)
        return ScrapeConfig(job_name=name, **kw)  # type: ignore[arg-type]

    @staticmethod
    def config(*jobs: ScrapeConfig) -> Config:
        return Config(global_=GlobalConfig(), scrape_configs=list(jobs))

    async def exporter(self, body: str = "", **kw: object) -> Exporter:
        e = Exporter(body=body, **kw)  # type: ignore[arg-type]
        await e.start()
        self.exporters.append(e)
        return e

    def metric(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels or None)  # type: ignore[no-any-return]

    async def start(self, cfg: Config, targets: dict[str, list[str]]) -> None:
        self.manager.apply_config(cfg)
        self.manager.update_targets(static_groups(cfg, targets))
        self.task = asyncio.get_running_loop().create_task(self.manager.run())

    async def stop(self) -> None:
        await self.manager.stop()
        if self.task is not None:
            await asyncio.wait_for(self.task, 5)
            self.task = None

    async def close(self) -> None:
        await self.stop()
        for e in self.exporters:
            await e.close()

    async def until(self, pred: Callable[[], object], timeout: float = 10.0) -> None:
        await until(pred, timeout)

    def select(self, **eq: str) -> dict[Labels, list[tuple[int, float]]]:
        """Stored series matching ``name=value`` pairs (``__name__`` for the metric)."""
        q = self.db.querier(MIN_TIME, MAX_TIME)
        try:
            series = q.select([Matcher.new("=", k, v) for k, v in eq.items()])
        finally:
            q.close()
        return {
            s.labels: list(zip(s.timestamps.tolist(), s.values.tolist(), strict=True))
            for s in series
        }

    def ups(self, instance: str) -> list[float]:
        got = self.select(__name__="up", instance=instance)
        return [v for samples in got.values() for _, v in samples]

    async def scrapes(self, instance: str, n: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``n`` scrapes of ``instance`` are stored (counting its ``up`` samples)."""
        await until(lambda: len(self.ups(instance)) >= n, timeout)

    def target(self, instance: str) -> dict[str, object]:
        for t in self.manager.targets()["activeTargets"]:  # type: ignore[attr-defined]
            if t["labels"]["instance"] == instance:
                return t  # type: ignore[no-any-return]
        raise AssertionError(f"no active target {instance}")


async def until(pred: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


Scenario = Callable[[Harness], Awaitable[None]]


@pytest.fixture
def scrape(db: DB) -> Callable[[Scenario], None]:
    """Run ``scenario(harness)`` on a fresh event loop, cleaning up after it."""

    def run(scenario: Scenario) -> None:
        async def main() -> None:
            h = Harness(db)
            try:
                await scenario(h)
            finally:
                await h.close()

        asyncio.run(main())

    return run
