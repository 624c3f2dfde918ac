"""``promhub check config`` also checks the rule files the config names, as ``promtool check
config`` does, and the built-in alert manager's configuration (promhub's own section)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_promhub

GOOD = "groups:\n  - name: g\n    rules:\n      - alert: X\n        expr: up == 0\n"
BAD = "groups:\n  - name: g\n    rules:\n      - alert: X\n        expr: up ==\n"


@pytest.mark.parametrize("rules", [GOOD, BAD], ids=["good", "bad"])
def test_rule_files_are_checked_like_promtool(tmp_path: Path, rules: str) -> None:
    (tmp_path / "r.yml").write_text(rules)
    (tmp_path / "p.yml").write_text("rule_files: [r.yml]\n")
    ours = run_promhub("check", "config", "p.yml", cwd=str(tmp_path))
    theirs = subprocess.run(
        ["promtool", "check", "config", "p.yml"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert ours.returncode == theirs.returncode
    assert ours.stdout == theirs.stdout
    assert ours.stderr == theirs.stderr


def test_builtin_alertmanager_config_is_checked(tmp_path: Path) -> None:
    (tmp_path / "am.yml").write_text("route:\n  receiver: nope\nreceivers:\n  - name: slack\n")
    (tmp_path / "p.yml").write_text("alerting: {alertmanager_config_file: am.yml}\n")
    r = run_promhub("check", "config", "p.yml", cwd=str(tmp_path))
    assert r.returncode == 1
    assert 'am.yml:2: field route.receiver: undefined receiver "nope"' in r.stdout
    (tmp_path / "am.yml").write_text("route:\n  receiver: slack\nreceivers:\n  - name: slack\n")
    r = run_promhub("check", "config", "p.yml", cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout
