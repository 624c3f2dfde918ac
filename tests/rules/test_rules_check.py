"""``promhub check rules`` against Debian's ``promtool check rules`` on the same files."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_promhub

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("*.yml"))
PROMTOOL = shutil.which("promtool")


def _count(out: str) -> int | None:
    m = re.search(r"SUCCESS: (\d+) rules found", out)
    return int(m.group(1)) if m else None


@pytest.mark.skipif(PROMTOOL is None, reason="Debian promtool not installed")
def test_check_rules_agrees_with_promtool_on_every_fixture() -> None:
    files = [str(f) for f in FIXTURES]
    assert any("good" in f for f in files) and any("bad" in f for f in files)
    ours = {}
    for f in files:
        # One file per run: the exit status then says whether *this* file passed.
        theirs = subprocess.run([PROMTOOL, "check", "rules", f], capture_output=True, text=True)
        mine = run_promhub("check", "rules", f)
        ours[Path(f).name] = mine
        assert (mine.returncode, _count(mine.stdout)) == (
            theirs.returncode,
            _count(theirs.stdout),
        ), f"{f}\npromtool: {theirs.stdout}{theirs.stderr}\npromhub: {mine.stdout}{mine.stderr}"
    assert ours["good_basic.yml"].stdout.startswith("Checking ")
    assert "4 rules found" in ours["good_basic.yml"].stdout


def test_check_rules_names_file_line_and_reason() -> None:
    fx = Path(__file__).parent / "fixtures"
    r = run_promhub("check", "rules", str(fx / "good_basic.yml"), str(fx / "bad_expr.yml"))
    assert r.returncode == 1
    assert "SUCCESS: 4 rules found" in r.stdout
    assert "FAILED:" in r.stderr
    assert f"{fx / 'bad_expr.yml'}: 5:15: " in r.stderr
    assert 'group "x", rule 1, "a:b": could not parse expression' in r.stderr
    r = run_promhub("check", "rules", str(fx / "bad_dup_group.yml"))
    assert 'groupname: "x" is repeated in the same file' in r.stderr
    r = run_promhub("check", "rules", str(fx / "bad_unknown_field.yml"))
    assert "bad_unknown_field.yml:6" in r.stderr and "severity" in r.stderr
