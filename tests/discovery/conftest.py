"""Helpers to run a real DiscoveryManager inside a test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest

from promhub.config.model import ScrapeConfig
from promhub.discovery.manager import DiscoveryManager
from promhub.discovery.targetgroup import TargetGroup

Update = dict[str, list[TargetGroup]]


class Updates:
    """Records every update the manager delivers."""

    def __init__(self) -> None:
        self.history: list[Update] = []

    def __call__(self, update: Update) -> None:
        self.history.append(update)

    @property
    def latest(self) -> Update:
        return self.history[-1] if self.history else {}

    async def wait(self, pred: Callable[[Update], bool], timeout: float = 10.0) -> Update:
        deadline = asyncio.get_running_loop().time() + timeout
        while not (self.history and pred(self.latest)):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no matching update within {timeout}s: {self.latest!r}")
            await asyncio.sleep(0.02)
        return self.latest


def addresses(update: Update, job: str) -> set[str]:
    """The ``__address__`` of every target of ``job`` in an update."""
    return {t["__address__"] for g in update.get(job, []) for t in g.targets}


@contextlib.asynccontextmanager
async def run_manager(
    configs: Sequence[ScrapeConfig], **kw: Any
) -> AsyncIterator[tuple[DiscoveryManager, Updates]]:
    updates = Updates()
    kw.setdefault("update_interval", 0.1)
    kw.setdefault("file_poll_interval", 0.05)
    manager = DiscoveryManager(updates, **kw)
    manager.apply_config(configs)
    task = asyncio.create_task(manager.run())
    try:
        yield manager, updates
    finally:
        await manager.stop()
        await asyncio.wait_for(task, 5)


@pytest.fixture
def manager_runner() -> Callable[..., Any]:
    return run_manager
