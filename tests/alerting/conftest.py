"""Helpers for alerting tests: configs from text, a fake clock."""

from __future__ import annotations

import textwrap

import pytest

from promhub.alerting.config import AlertmanagerConfig, load_alertmanager_config_text


class FakeClock:
    """A clock tests move by hand, so timing is deterministic and nothing sleeps."""

    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def am_config(text: str, receivers: tuple[str, ...] = ()) -> AlertmanagerConfig:
    """Load a config; ``receivers`` named here are added as empty receivers."""
    text = textwrap.dedent(text)
    if receivers:
        text += "\nreceivers:\n" + "".join(f"- name: {r}\n" for r in receivers)
    return load_alertmanager_config_text(text, "alertmanager.yml")
