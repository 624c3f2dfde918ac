"""``promhub test rules`` against Debian's ``promtool test rules`` on the same test files.

The fixtures in ``unittest_fixtures/`` are named for the verdict both tools must give
(``pass_*`` / ``fail_*``): wrong expected labels, wrong annotation, wrong value, missing
alert, ``for`` not yet elapsed, ``keep_firing_for``, humanize templates, recording rules
used by alerts, stale markers, external labels, evaluation errors, bad rule files.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from promhub.rules.unittest import rules_unit_test
from tests.conftest import run_promhub

FIXTURES = Path(__file__).parent / "unittest_fixtures"
CASES = sorted(p.name for p in FIXTURES.glob("*.yml") if p.name.startswith(("pass_", "fail_")))
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="Debian promtool not installed")

_HEAD_RE = re.compile(r"^ {4}(alertname|expr|rule|name): ")


def _paths(files: tuple[str, ...]) -> list[str]:
    # Both tools get the same absolute paths, so they print the same file names.
    return [str(FIXTURES / f) for f in files]


def _promtool(*files: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, "test", "rules", *_paths(files)], capture_output=True, text=True
    )


def _ours(*files: str, run: tuple[str, ...] = (), debug: bool = False) -> tuple[int, str, str]:
    """``promhub test rules`` in-process (the CLI itself is run once, below)."""
    out, err = io.StringIO(), io.StringIO()
    rc = rules_unit_test(_paths(files), out, err, run, debug)
    return rc, out.getvalue(), err.getvalue()


def _heads(stderr: str) -> list[str]:
    """The failure headlines (which alert/expr/rule at which time), without the parse
    error wording after ``err:``, which may differ between the two parsers."""
    return [line.split(", err:")[0] for line in stderr.splitlines() if _HEAD_RE.match(line)]


@needs_promtool
@pytest.mark.parametrize("name", CASES)
def test_fixture_verdict_agrees_with_promtool(name: str) -> None:
    theirs = _promtool(name)
    rc, out, err = _ours(name)
    want = 0 if name.startswith("pass_") else 1
    assert theirs.returncode == want, f"fixture is wrong: {theirs.stdout}{theirs.stderr}"
    assert rc == want, f"promtool:\n{theirs.stderr}\npromhub:\n{err}"
    assert out == theirs.stdout
    assert _heads(err) == _heads(theirs.stderr)
    assert ("FAILED:" in err) == (want == 1)


@needs_promtool
def test_failure_report_matches_promtool_byte_for_byte() -> None:
    # Alert and sample diffs are printed exactly as promtool prints them.
    for name in ("fail_wrong_labels.yml", "fail_value.yml", "fail_float_exact.yml"):
        theirs = _promtool(name)
        assert _ours(name)[2] == theirs.stderr


def test_wrong_labels_report_shows_expected_and_got() -> None:
    rc, out, err = _ours("fail_wrong_labels.yml")
    assert rc == 1
    assert out == f"Unit Testing:  {FIXTURES / 'fail_wrong_labels.yml'}\n\n\n"
    assert "  FAILED:\n    alertname: InstanceDown, time: 5m, \n        exp:[" in err
    assert (
        'Labels:{alertname="InstanceDown", instance="a:9100", job="node", severity="critical"}'
        in err
    )
    got = err.split("got:")[1]
    assert 'severity="page"' in got
    assert 'Annotations:{description="value 0 in eu-west see ", summary=' in got


def test_pending_alert_is_not_firing_yet() -> None:
    rc, _, err = _ours("fail_for_not_elapsed.yml")
    assert rc == 1
    assert "time: 3m" in err and err.rstrip().endswith("got:[]")


@needs_promtool
def test_cli_over_many_files_matches_promtool() -> None:
    names = CASES
    theirs = _promtool(*names)
    mine = run_promhub("test", "rules", *_paths(tuple(names)))
    assert mine.returncode == theirs.returncode == 1
    assert mine.stdout == theirs.stdout
    assert _heads(mine.stderr) == _heads(theirs.stderr)
    assert mine.stdout.count("  SUCCESS") == sum(n.startswith("pass_") for n in names)


def test_run_selects_test_groups_by_name() -> None:
    # fail_value.yml has one test group, named "value check", which fails.
    assert _ours("fail_value.yml", run=("^value",))[0] == 1
    rc, out, _ = _ours("fail_value.yml", run=("nomatch", "other"))
    assert rc == 0 and "SUCCESS" in out
    # Unnamed groups match only a pattern that matches the empty name.
    assert _ours("fail_for_not_elapsed.yml", run=("x",))[0] == 0
    assert _ours("fail_for_not_elapsed.yml", run=("^$",))[0] == 1


def test_debug_prints_alert_states() -> None:
    rc, out, _ = _ours("pass_alerts.yml", debug=True)
    assert rc == 0
    assert "DEBUG: alerts of test group instance down fires after for at time 3m:" in out
    assert '  pending {alertname="InstanceDown", instance="a:9100"' in out
    assert '  firing {alertname="InstanceDown", instance="a:9100"' in out


def test_bad_input_is_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "t.yml").write_text("tests: [\n")
    rc, _, err = _ours(str(tmp_path / "t.yml"))
    assert rc == 1 and "t.yml" in err
    rc, _, err = _ours(str(tmp_path / "missing.yml"))
    assert rc == 1 and "missing.yml" in err
    (tmp_path / "s.yml").write_text(
        "tests:\n  - interval: 1m\n    input_series:\n      - series: 'up{'\n        values: 1\n"
    )
    rc, _, err = _ours(str(tmp_path / "s.yml"))
    assert rc == 1 and "invalid input series" in err
    rc, _, err = _ours("fail_unknown_field.yml")
    assert rc == 1 and "fail_unknown_field.yml:6" in err and "value" in err
