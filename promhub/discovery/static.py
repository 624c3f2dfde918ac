"""static_configs: targets written in the scrape config itself."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from promhub.config.model import StaticConfig
from promhub.discovery.targetgroup import ADDRESS_LABEL, TargetGroup


def static_groups(configs: Sequence[StaticConfig]) -> list[TargetGroup]:
    """One group per ``static_configs`` entry, sourced by its index as Prometheus does."""
    return [
        TargetGroup(
            str(i),
            tuple({ADDRESS_LABEL: t} for t in cfg.targets),
            dict(cfg.labels),
        )
        for i, cfg in enumerate(configs)
    ]


class StaticProvider:
    """Reports the groups of a job's ``static_configs`` once, then idles until cancelled."""

    def __init__(self, configs: Sequence[StaticConfig]) -> None:
        self._groups = static_groups(configs)

    async def run(self, send: Callable[[list[TargetGroup]], None]) -> None:
        send(list(self._groups))
        # Stay alive like the other providers so the manager can treat all tasks alike.
        await asyncio.Event().wait()
