"""The manager's contract with the scrape layer: whole picture per job, reloads, pacing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from promhub.config.model import FileSDConfig, HTTPSDConfig, ScrapeConfig, StaticConfig
from promhub.discovery.targetgroup import TargetGroup


def addresses(update: dict[str, list[TargetGroup]], job: str) -> set[str]:
    return {t["__address__"] for g in update.get(job, []) for t in g.targets}


def static_job(name: str, *targets: str) -> ScrapeConfig:
    return ScrapeConfig(job_name=name, static_configs=[StaticConfig(targets=list(targets))])


def test_static_configs_one_group_per_entry(manager_runner: Callable[..., Any]) -> None:
    cfg = ScrapeConfig(
        job_name="s",
        static_configs=[
            StaticConfig(targets=["a:1", "b:1"], labels={"g": "0"}),
            StaticConfig(targets=["c:1"]),
        ],
    )

    async def scenario() -> None:
        async with manager_runner([cfg, ScrapeConfig(job_name="empty")]) as (_, updates):
            got = await updates.wait(lambda u: "s" in u)
            assert got["empty"] == []
            assert [(g.source, g.labels) for g in got["s"]] == [("0", {"g": "0"}), ("1", {})]
            assert [t["__address__"] for t in got["s"][0].targets] == ["a:1", "b:1"]

    asyncio.run(scenario())


def test_first_update_waits_for_every_provider(
    tmp_path: Path, manager_runner: Callable[..., Any]
) -> None:
    f = tmp_path / "t.yml"
    f.write_text("- targets: ['f:1']\n")
    cfg = static_job("j", "s:1")
    cfg.file_sd_configs = [FileSDConfig(files=[str(f)])]

    async def scenario() -> None:
        async with manager_runner([cfg], update_interval=2.0) as (_, updates):
            await updates.wait(lambda u: "j" in u)
            # Static targets are known at once, but the scrape layer must not see a
            # partial job before the file was read.
            assert addresses(updates.history[0], "j") == {"s:1", "f:1"}

    asyncio.run(scenario())


def test_reload_adds_changes_and_removes_jobs(
    tmp_path: Path, manager_runner: Callable[..., Any]
) -> None:
    async def scenario() -> None:
        async with manager_runner([static_job("a", "a:1"), static_job("b", "b:1")]) as (
            manager,
            updates,
        ):
            await updates.wait(lambda u: addresses(u, "a") == {"a:1"} and "b" in u)
            manager.apply_config([static_job("a", "a:2"), static_job("c", "c:1")])
            got = await updates.wait(lambda u: "c" in u)
            assert addresses(got, "a") == {"a:2"}
            # A removed job is reported empty once so its scrape pool can stop...
            assert got["b"] == []
            manager.apply_config([static_job("a", "a:2"), static_job("c", "c:3")])
            got = await updates.wait(lambda u: addresses(u, "c") == {"c:3"})
            # ...and then it is forgotten.
            assert set(got) == {"a", "c"}

    asyncio.run(scenario())


def test_reload_keeps_unchanged_providers_running(manager_runner: Callable[..., Any]) -> None:
    hits: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response([{"targets": [request.path.strip("/") + ":1"]}])

    async def scenario() -> None:
        app = web.Application()
        app.router.add_get("/{name}", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = "http://{}:{}".format(*runner.addresses[0][:2])

        def job(name: str, path: str) -> ScrapeConfig:
            sd = HTTPSDConfig(url=f"{base}/{path}", refresh_interval=3600)
            return ScrapeConfig(job_name=name, http_sd_configs=[sd])

        try:
            async with manager_runner([job("x", "x"), job("y", "y")]) as (manager, updates):
                await updates.wait(lambda u: addresses(u, "x") == {"x:1"} and "y" in u)
                assert sorted(hits) == ["/x", "/y"]
                # Fresh but equal config objects, as a reload produces: x must not refetch.
                manager.apply_config([job("x", "x"), job("y", "y2")])
                await updates.wait(lambda u: addresses(u, "y") == {"y2:1"})
                assert sorted(hits) == ["/x", "/y", "/y2"]
                assert addresses(updates.latest, "x") == {"x:1"}
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


def test_a_failing_consumer_does_not_stop_discovery(
    tmp_path: Path, manager_runner: Callable[..., Any]
) -> None:
    f = tmp_path / "t.yml"
    f.write_text("- targets: ['a:1']\n")
    cfg = ScrapeConfig(job_name="j", file_sd_configs=[FileSDConfig(files=[str(f)])])
    seen: list[set[str]] = []

    def flaky(update: dict[str, list[TargetGroup]]) -> None:
        seen.append(addresses(update, "j"))
        if len(seen) == 1:
            raise RuntimeError("consumer bug")

    async def scenario() -> None:
        from promhub.discovery.manager import DiscoveryManager

        manager = DiscoveryManager(flaky, update_interval=0.05, file_poll_interval=0.05)
        manager.apply_config([cfg])
        task = asyncio.create_task(manager.run())
        for _ in range(200):
            if seen:
                break
            await asyncio.sleep(0.02)
        f.write_text("- targets: ['b:1']\n")
        for _ in range(200):
            if {"b:1"} in seen:
                break
            await asyncio.sleep(0.02)
        await manager.stop()
        await asyncio.wait_for(task, 5)
        assert seen[0] == {"a:1"} and {"b:1"} in seen

    asyncio.run(scenario())
