"""The promqltest runner: the script format, value sequences, the comparison rules, and the
upstream Prometheus test files run through the real engine and TSDB.

The conformance test compares against ``promqltest_baseline.json`` (evals known to fail
today, as ``file:line``). A new failure fails the test; a fixed one asks for the baseline to
be updated (``PROMHUB_UPDATE_BASELINE=1 pytest tests/promql/test_promqltest.py``).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from promhub.model.labels import Labels
from promhub.model.matcher import Matcher
from promhub.model.value import STALE_NAN, is_stale
from promhub.promql.ast import Call, MatrixSelector, SubqueryExpr, VectorSelector
from promhub.promql.promqltest import EvalTimeout, deadline, pin_at
from promhub.promql.testresult import (
    EvalFailure,
    MatrixSeries,
    Result,
    almost_equal,
    almost_equal_array,
    check_annotations,
    compare,
)
from promhub.promql.testscript import (
    ClearCommand,
    EvalCommand,
    LoadCommand,
    ScriptError,
    parse_duration,
    parse_number,
    parse_script,
    parse_sequence,
    parse_series,
    unquote,
)

REPO = Path(__file__).resolve().parents[2]
TESTDATA = REPO.parent / "shared" / "promql-testdata"
BASELINE = Path(__file__).with_name("promqltest_baseline.json")

#: Evals outside native-histogram sections, per file (SOURCE.md's "float-only evals").
FLOAT_ONLY = {
    "aggregators.test": 96,
    "at_modifier.test": 78,
    "collision.test": 2,
    "duration_expression.test": 59,
    "extended_vectors.test": 118,
    "fill-modifier.test": 46,
    "functions.test": 161,
    "histograms.test": 6,
    "info.test": 52,
    "limit.test": 0,
    "literals.test": 25,
    "name_label_dropping.test": 30,
    "native_histograms.test": 0,
    "operators.test": 43,
    "range_queries.test": 9,
    "selectors.test": 31,
    "staleness.test": 17,
    "start_timestamps.test": 16,
    "subquery.test": 31,
    "trig_functions.test": 19,
    "type_and_unit.test": 58,
}


def values(text: str) -> list[float | None]:
    seq = parse_sequence(text)
    return [float(v) if p else None for v, p in zip(seq.values, seq.present, strict=True)]


# -- value sequences ---------------------------------------------------------------------


def test_sequence_arithmetic_repetition_and_gaps() -> None:
    assert values("0+10x3") == [0, 10, 20, 30]
    assert values("1-1x3") == [1, 0, -1, -2]
    assert values("5x2") == [5, 5, 5]
    assert values("1 _ 3") == [1, None, 3]
    assert values("_x3 7") == [None, None, None, 7]
    assert values("-2+1x1 .5 1e3 +4") == [-2, -1, 0.5, 1000, 4]


def test_sequence_0x59_is_sixty_zeros_not_hex() -> None:
    assert values("0x59") == [0.0] * 60


def test_sequence_special_values() -> None:
    v = parse_sequence("stale NaN Inf -Inf +Inf")
    assert is_stale(float(v.values[0]))
    assert math.isnan(v.values[1]) and not is_stale(float(v.values[1]))
    assert list(v.values[2:]) == [math.inf, -math.inf, math.inf]


def test_sequence_accumulates_like_prometheus() -> None:
    # Prometheus adds the increment once per step; 0.1 added ten times is not 10 * 0.1.
    acc = 0.0
    for _ in range(10):
        acc += 0.1
    assert parse_sequence("0+0.1x10").values[-1] == acc


def test_sequence_histogram_literal_is_flagged() -> None:
    assert parse_sequence("{{schema:0 sum:1 count:1}}x3").histogram


def test_sequence_bad_item_names_line() -> None:
    with pytest.raises(ScriptError, match="line 7: invalid value 'abc'"):
        parse_sequence("1 abc", 7)


# -- series notation -------------------------------------------------------------------


def test_series_with_labels_and_quoted_utf8_names() -> None:
    labels, seq = parse_series('{"some.metric", "lä bel"="x\\"y", job="a"} 1 2')
    assert labels == Labels.from_dict({"__name__": "some.metric", "lä bel": 'x"y', "job": "a"})
    assert len(seq) == 2
    labels, _ = parse_series("{} 5")
    assert labels == Labels(())
    labels, _ = parse_series('foo:bar{a="1",} 1')
    assert labels == Labels.from_dict({"__name__": "foo:bar", "a": "1"})


def test_unquote_go_escapes() -> None:
    assert unquote('"a\\tb\\u00e9\\x41"') == "a\tbéA"
    assert unquote("`raw\\n`") == "raw\\n"
    with pytest.raises(ValueError):
        unquote('"open')


def test_durations_and_numbers() -> None:
    assert parse_duration("1m30s") == 90_000
    assert parse_duration("10s53ms") == 10_053
    assert parse_duration("0") == 0
    with pytest.raises(ValueError):
        parse_duration("5")
    assert parse_number("0x10") == 16
    assert parse_number("-Inf") == -math.inf
    assert parse_number("1e3") == 1000
    with pytest.raises(ValueError):
        parse_number("foo")


# -- commands ----------------------------------------------------------------------------

SCRIPT = """
# a comment
load 5m
  http{job="a"} 0+10x10
  expect{} 1 2

clear
load 1m
  x 1

eval instant at 50m http
  expect no_warn
  http{job="a"} 100
# a comment closes the block
eval_ordered instant at 1m sort(x)
  x 1

eval range from 0 to 10m step 5m x
  x 1 _ 3

eval instant at 1m x[2m]
  expect range vector from 0 to 1m step 1m
  x 1 1

eval instant at 0 "s"
  expect string "s"

eval_fail instant at 0 foo
  expect fail msg: some error

eval instant at 0 1
  3

eval instant at 0 x
  expect{} 1
  expect warn regex: PromQL warning: .* \\(1:1\\)
"""


def test_parse_script_commands() -> None:
    cmds = parse_script(SCRIPT)
    kinds = [type(c).__name__ for c in cmds]
    assert kinds == ["LoadCommand", "ClearCommand", "LoadCommand"] + ["EvalCommand"] * 8
    load = cmds[0]
    assert isinstance(load, LoadCommand) and load.interval_ms == 300_000
    assert Labels.from_dict({"__name__": "expect"}) in load.series
    evals = [c for c in cmds if isinstance(c, EvalCommand)]
    assert evals[0].start_ms == 3_000_000 and evals[0].no_warn and evals[0].line == 11
    assert evals[1].ordered
    assert evals[2].is_range and (evals[2].start_ms, evals[2].end_ms, evals[2].step_ms) == (
        0,
        600_000,
        300_000,
    )
    assert evals[3].range_vector == (0, 60_000, 60_000) and evals[3].exclude_from_range_query
    assert evals[4].expected_string == "s"
    assert evals[5].fail and evals[5].expects["fail"][0].matches("some error")
    assert evals[6].expected_scalar == 3
    last = evals[7]
    assert Labels.from_dict({"__name__": "expect"}) in last.expected_series
    assert last.expects["warn"][0].matches("PromQL warning: bad thing (1:1)")
    assert not last.expects["warn"][0].matches("PromQL warning: bad thing (1:2)")


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("bogus 1", "line 1: invalid command"),
        ("load 1m\n  x 1\n\neval instant at 0 x\n  x 1 2", "line 5: expecting multiple values"),
        ("eval instant at 0 x\n  expect warn\n  expect no_warn", "line 3: invalid expect lines"),
        ("eval range from 5m to 1m step 1m x", "line 1: end timestamp"),
        ("eval instant at 0 x\n  expect sometimes", "line 2: invalid expect statement"),
    ],
)
def test_parse_script_errors_name_the_line(script: str, message: str) -> None:
    with pytest.raises(ScriptError, match=message):
        parse_script(script)


def test_clear_is_a_command() -> None:
    assert isinstance(parse_script("clear")[0], ClearCommand)


# -- comparison rules ---------------------------------------------------------------------


def test_almost_equal_rules() -> None:
    assert almost_equal(1.0, 1.0 + 1e-9)
    assert not almost_equal(1.0, 1.00001)
    assert almost_equal(0.0, 0.0) and not almost_equal(0.0, 1e-300)
    assert almost_equal(math.nan, -math.nan)
    assert not almost_equal(STALE_NAN, math.nan) and almost_equal(STALE_NAN, STALE_NAN)
    assert almost_equal(math.inf, math.inf) and not almost_equal(math.inf, -math.inf)
    assert not almost_equal(math.inf, 1e308)
    a = np.array([1.0, 0.0, math.nan, STALE_NAN, math.inf, 2.0, math.nan])
    b = np.array([1.0 + 1e-9, 1e-300, math.nan, math.nan, math.inf, 2.1, 1.0])
    assert list(almost_equal_array(a, b)) == [True, False, True, False, True, False, False]


def _eval(text: str) -> EvalCommand:
    cmd = parse_script(text)[-1]
    assert isinstance(cmd, EvalCommand)
    return cmd


def test_compare_vector_ignores_order_unless_ordered() -> None:
    cmd = _eval('eval instant at 0 x\n  x{a="1"} 1\n  x{a="2"} 2')
    a, b = (
        Labels.from_dict({"__name__": "x", "a": "1"}),
        Labels.from_dict({"__name__": "x", "a": "2"}),
    )
    compare(cmd, Result("vector", vector=[(b, 2.0), (a, 1.0)]))
    with pytest.raises(EvalFailure, match="at position 2 but was at 1"):
        compare(cmd, Result("vector", vector=[(b, 2.0), (a, 1.0)]), ordered=True)
    with pytest.raises(EvalFailure, match="expected 1 for .* but got 1.5"):
        compare(cmd, Result("vector", vector=[(a, 1.5), (b, 2.0)]))
    with pytest.raises(EvalFailure, match="not found"):
        compare(cmd, Result("vector", vector=[(a, 1.0)]))
    with pytest.raises(EvalFailure, match="unexpected metric"):
        compare(_eval("eval instant at 0 x"), Result("vector", vector=[(a, 1.0)]))


def test_compare_matrix_points_timestamps_and_sorting() -> None:
    cmd = _eval("eval range from 0 to 2m step 1m x\n  x 1 _ 3")
    x = Labels.from_dict({"__name__": "x"})
    ok = MatrixSeries(x, np.array([0, 120_000]), np.array([1.0, 3.0]))
    compare(cmd, Result("matrix", matrix=[ok]))
    shifted = MatrixSeries(x, np.array([0, 60_000]), np.array([1.0, 3.0]))
    with pytest.raises(EvalFailure, match="timestamp 120000"):
        compare(cmd, Result("matrix", matrix=[shifted]))
    cmd2 = _eval('eval range from 0 to 0 step 1m x\n  x{a="1"} 1\n  x{a="2"} 1')
    s1 = MatrixSeries(Labels.from_dict({"__name__": "x", "a": "1"}), np.array([0]), np.ones(1))
    s2 = MatrixSeries(Labels.from_dict({"__name__": "x", "a": "2"}), np.array([0]), np.ones(1))
    with pytest.raises(EvalFailure, match="sorted"):
        compare(cmd2, Result("matrix", matrix=[s2, s1]))


def test_compare_scalar_and_string() -> None:
    compare(_eval("eval instant at 0 1\n  1"), Result("scalar", scalar=1.0))
    with pytest.raises(EvalFailure, match="expected scalar 1 but got 2"):
        compare(_eval("eval instant at 0 1\n  1"), Result("scalar", scalar=2.0))
    with pytest.raises(EvalFailure, match="expected string"):
        compare(_eval('eval instant at 0 "a"\n  expect string "a"'), Result("string", string="b"))


def test_annotations_rules() -> None:
    cmd = _eval("eval instant at 0 x\n  expect info msg: PromQL info: i (1:1)")
    check_annotations(cmd, [], ["PromQL info: i (1:1)"])
    with pytest.raises(EvalFailure, match="expected info annotations but none"):
        check_annotations(cmd, [], [])
    with pytest.raises(EvalFailure, match="unexpected info annotation"):
        check_annotations(cmd, [], ["PromQL info: i (1:1)", "PromQL info: j (1:1)"])
    check_annotations(cmd, ["PromQL warning: w"], ["PromQL info: i (1:1)"])  # warn unchecked
    with pytest.raises(EvalFailure, match="unexpected warning"):
        check_annotations(_eval("eval instant at 0 x\n  expect no_warn"), ["w"], [])
    check_annotations(_eval("eval instant at 0 x"), ["w"], ["i"])  # nothing asked: unchecked


def test_pin_at_sets_selectors_but_not_inside_subqueries() -> None:
    inner = VectorSelector(name="b", matchers=[Matcher.new("=", "__name__", "b")])
    own = VectorSelector(name="c", timestamp_ms=5)
    plain = VectorSelector(name="a")
    ms = MatrixSelector(vector_selector=VectorSelector(name="m"), range_ms=60_000)
    sq = SubqueryExpr(expr=inner, range_ms=60_000)
    tree = Call(func="f", args=[plain, own, ms, sq])
    assert pin_at(tree, 1000)
    assert plain.timestamp_ms == 1000 and own.timestamp_ms == 5
    assert ms.vector_selector.timestamp_ms == 1000 and sq.timestamp_ms == 1000
    assert inner.timestamp_ms is None
    assert not pin_at(Call(func="time"), 1000)


def test_deadline_interrupts_a_runaway_loop() -> None:
    with pytest.raises(EvalTimeout), deadline(0.05):
        while True:
            pass


# -- the upstream files through the real engine --------------------------------------------


def _testdata() -> Path:
    if not TESTDATA.is_dir():
        pytest.fail(
            f"PromQL test data not found at {TESTDATA}: the shared/promql-testdata directory "
            "must sit beside the repository checkout (see SOURCE.md there)"
        )
    return TESTDATA


def _write_baseline(failing: dict[str, list[int]]) -> None:
    """One line per file, so a diff of the baseline reads as "which evals changed"."""
    body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in sorted(failing.items()))
    BASELINE.write_text('{"failing": {\n' + body + "\n}}\n")


def test_upstream_files_against_baseline() -> None:
    from promhub.promql.promqltest import new_engine, run_file

    files = sorted(_testdata().glob("*.test"))
    assert {f.name for f in files} == set(FLOAT_ONLY), "the test data set changed"
    engine = new_engine()
    failing: dict[str, list[int]] = {}
    details: dict[str, str] = {}
    counts: list[str] = []
    for f in files:
        report = run_file(f, engine=engine, eval_timeout_s=20.0)
        assert report.error is None, report.error
        # Only native-histogram content is skipped: everything else ran.
        assert report.passed + report.failed == FLOAT_ONLY[f.name], f.name
        lines = sorted(o.line for o in report.outcomes if o.status == "failed")
        if lines:
            failing[f.name] = lines
        for o in report.outcomes:
            if o.status == "failed":
                details[f"{f.name}:{o.line}"] = f"{o.expr}: {o.message}"
        counts.append(
            f"{f.name}: {report.passed} passed, {report.failed} failed, {report.skipped} skipped"
        )
    print("\n".join(counts))
    if os.environ.get("PROMHUB_UPDATE_BASELINE") == "1":
        _write_baseline(failing)
    known = json.loads(BASELINE.read_text())["failing"]
    now = {f"{name}:{line}" for name, lines in failing.items() for line in lines}
    before = {f"{name}:{line}" for name, lines in known.items() for line in lines}
    new = sorted(now - before)
    fixed = sorted(before - now)
    assert not new, "new failures (not in the baseline):\n" + "\n".join(
        f"  {k}: {details[k]}" for k in new
    )
    assert not fixed, (
        "these evals pass now: update the baseline (PROMHUB_UPDATE_BASELINE=1 pytest "
        f"{Path(__file__).relative_to(REPO)}):\n" + "\n".join(f"  {k}" for k in fixed)
    )


def test_cli_reports_failures_and_exit_code(tmp_path: Path) -> None:
    script = tmp_path / "mini.test"
    script.write_text(
        'load 1m\n  up{job="a"} 1 2 3\n\n'
        'eval instant at 2m up\n  up{job="a"} 3\n\n'
        'eval instant at 2m up\n  up{job="a"} 4\n\n'
        "clear\nload 1m\n  h {{schema:0 sum:1 count:1}}\n\neval instant at 0 h\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "promhub", "promqltest", str(script), "-v"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert f"{script}:7: FAILED up" in out
    assert "expected 4" in out and "but got 3" in out
    assert out.rstrip().splitlines()[-1] == "1 passed, 1 failed, 1 skipped"
