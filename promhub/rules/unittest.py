"""``promhub test rules FILE...``: promtool's rule unit tests, with promtool's semantics.

A test file names rule files (relative to itself, globs allowed) and test groups. Each
test group loads its ``input_series`` (the series notation of ``promqltest``:
``1+2x3``, ``_``, ``stale``…) into a fresh TSDB, evaluates every rule group at 0,
``evaluation_interval``, … up to the largest ``eval_time`` of its tests, checks the firing
alerts of ``alert_rule_test`` at the evaluation covering each ``eval_time`` and finally
runs each ``promql_expr_test`` as an instant query. The output and the exit status are
``promtool test rules``' (Prometheus 2.42), including its quirks, because users run the
same files through both and expect the same verdict:

- samples are appended only up to each evaluation time, so a ``promql_expr_test`` between
  two evaluations does not see samples after the last one;
- a test group without ``interval`` loads every sample at time 0 (the first one wins);
- values and labels are compared exactly (``NaN`` never equals itself).

>>> import sys
>>> rules_unit_test(["alerts_test.yml"], sys.stdout, sys.stderr)  # doctest: +SKIP
Unit Testing:  alerts_test.yml
  SUCCESS
<BLANKLINE>
0
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np

from promhub.config.model import ConfigError
from promhub.config.yaml_lines import Section, compose
from promhub.model.gofloat import format_e
from promhub.model.labels import Labels
from promhub.promql.engine import Engine
from promhub.promql.errors import PromQLError
from promhub.promql.literals import format_duration_ms
from promhub.promql.parser import parse_expr
from promhub.promql.testscript import ScriptError, parse_series
from promhub.promql.value import ScalarSeries, VectorSeries
from promhub.rules.expander import RuleTemplateExpander, check_template
from promhub.rules.group import Group, Settings
from promhub.rules.rule import Alert, AlertingRule
from promhub.rules.rulefile import GroupDef, RuleFileError, load_rule_file
from promhub.tsdb import DB
from promhub.tsdb.tool import format_duration as go_duration

__all__ = ["TestFile", "TestGroup", "parse_test_file", "rules_unit_test"]

_FILE_KEYS = {"rule_files", "evaluation_interval", "group_eval_order", "tests"}
_GROUP_KEYS = {
    "interval",
    "input_series",
    "alert_rule_test",
    "promql_expr_test",
    "external_labels",
    "external_url",
    "name",
}
DEFAULT_EVALUATION_INTERVAL_MS = 60_000

#: A label set as written: sorted (name, value) pairs. Unlike :class:`Labels` it keeps
#: empty values, as Go's ``labels.FromMap`` does (such an expectation can never match).
Pairs = tuple[tuple[str, str], ...]


class UnitTestError(Exception):
    """One failure of a test file, printed as promtool prints it."""


@dataclass(slots=True)
class AlertTest:
    """``alert_rule_test`` item: the firing alerts of ``alertname`` at ``eval_time``."""

    eval_time_ms: int
    alertname: str
    exp_alerts: list[tuple[Pairs, Pairs]]


@dataclass(slots=True)
class ExprTest:
    """``promql_expr_test`` item: an instant query's expected samples."""

    expr: str
    eval_time_ms: int
    exp_samples: list[tuple[str, float]]


@dataclass(slots=True)
class TestGroup:
    """One item of ``tests``: input series and the checks against them."""

    interval_ms: int = 0
    input_series: list[tuple[str, str]] = field(default_factory=list)
    alert_tests: list[AlertTest] = field(default_factory=list)
    expr_tests: list[ExprTest] = field(default_factory=list)
    external_labels: dict[str, str] = field(default_factory=dict)
    external_url: str = ""
    name: str = ""

    def max_eval_time_ms(self) -> int:
        times = [t.eval_time_ms for t in self.alert_tests]
        times += [t.eval_time_ms for t in self.expr_tests]
        return max(times, default=0)


@dataclass(slots=True)
class TestFile:
    """A parsed unit-test file; ``rule_files`` are resolved against its directory."""

    rule_files: list[str]
    evaluation_interval_ms: int = DEFAULT_EVALUATION_INTERVAL_MS
    group_eval_order: list[str] = field(default_factory=list)
    tests: list[TestGroup] = field(default_factory=list)


# -- reading the file -----------------------------------------------------------------------


def _ms(sec: Section, key: str) -> int:
    return int(round(sec.get_duration(key) * 1000))


def _float(sec: Section, key: str) -> float:
    """A float64 field as yaml.v2 reads it: any unquoted number (``1``, ``1e9``, ``.nan``,
    ``-.inf``); a quoted string is an error. (PyYAML types ``1e9`` as a string, yaml.v2
    as a float, hence the manual parse.)"""
    node = sec.node(key)
    if node is None:
        return 0.0
    text = str(node.value).strip()
    special = {".nan": math.nan, ".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf}
    quoted = getattr(node, "style", None) in ("'", '"')
    if not quoted and text.lower() in special:
        return special[text.lower()]
    try:
        if quoted or text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise ValueError(text)
        return float(text.replace("_", ""))
    except ValueError:
        raise sec.error(key, f"cannot unmarshal !!str `{text}` into float64") from None


def _read_group(sec: Section) -> TestGroup:
    tg = TestGroup(
        interval_ms=_ms(sec, "interval"),
        external_labels=sec.str_map("external_labels"),
        external_url=sec.get_str("external_url"),
        name=sec.get_str("name"),
    )
    for s in sec.sections("input_series", "main.series", {"series", "values"}):
        tg.input_series.append((s.get_str("series"), s.get_str("values")))
    for a in sec.sections(
        "alert_rule_test", "main.alertTestCase", {"eval_time", "alertname", "exp_alerts"}
    ):
        exp = []
        for e in a.sections("exp_alerts", "main.alert", {"exp_labels", "exp_annotations"}):
            exp.append(
                (
                    tuple(sorted(e.str_map("exp_labels").items())),
                    tuple(sorted(e.str_map("exp_annotations").items())),
                )
            )
        tg.alert_tests.append(AlertTest(_ms(a, "eval_time"), a.get_str("alertname"), exp))
    for p in sec.sections(
        "promql_expr_test", "main.promqlTestCase", {"expr", "eval_time", "exp_samples"}
    ):
        samples = [
            (s.get_str("labels"), _float(s, "value"))
            for s in p.sections("exp_samples", "main.sample", {"labels", "value"})
        ]
        tg.expr_tests.append(ExprTest(p.get_str("expr"), _ms(p, "eval_time"), samples))
    return tg


def parse_test_file(path: str, warn: TextIO | None = None) -> TestFile:
    """Read a unit-test file strictly (unknown fields are errors, as in promtool).

    Raises :class:`ConfigError` naming the file, line and field. Rule file patterns that
    match nothing are reported on ``warn``, as promtool warns, and skipped.
    """
    with open(path, encoding="utf-8") as f:
        text = f.read()
    root = compose(text, path)
    if root is None:
        return TestFile(rule_files=[])
    top = Section(root, path, "", "main.unitTestFile", _FILE_KEYS)
    base = os.path.dirname(path)
    files: list[str] = []
    for pattern in top.str_list("rule_files"):
        if pattern and not os.path.isabs(pattern):
            pattern = os.path.join(base, pattern)
        matches = sorted(glob.glob(pattern))
        if not matches and warn is not None:
            print("  WARNING: no file match pattern", pattern, file=warn)
        files.extend(matches)
    tf = TestFile(
        rule_files=files,
        evaluation_interval_ms=_ms(top, "evaluation_interval") or DEFAULT_EVALUATION_INTERVAL_MS,
        group_eval_order=top.str_list("group_eval_order"),
        tests=[_read_group(s) for s in top.sections("tests", "main.testGroup", _GROUP_KEYS)],
    )
    return tf


# -- formatting as Go prints ------------------------------------------------------------


def _go_quote(s: str) -> str:
    # Close to strconv.Quote: printable Unicode kept, quotes and controls escaped.
    return json.dumps(s, ensure_ascii=False)


def _go_labels(pairs: Iterable[tuple[str, str]]) -> str:
    """Go's ``labels.Labels.String()``: ``{__name__="up", job="a"}``."""
    return "{" + ", ".join(f"{k}={_go_quote(v)}" for k, v in pairs) + "}"


def _model_duration(ms: int) -> str:
    """Prometheus' ``model.Duration.String()`` (how promtool prints an ``eval_time``)."""
    return format_duration_ms(ms)


def _indent(text: str, indent: str) -> str:
    """promtool's ``indentLines``: every line but the first gets ``indent``."""
    return ("\n" + indent).join(text.split("\n"))


def _alerts_text(alerts: list[tuple[Pairs, Pairs]]) -> str:
    if not alerts:
        return "[]"
    items = [
        f"{i}:" + _indent(f"\nLabels:{_go_labels(ls)}\nAnnotations:{_go_labels(ann)}", "  ")
        for i, (ls, ann) in enumerate(alerts)
    ]
    return "[\n" + ",\n".join(items) + "\n]"


def _samples_text(samples: list[tuple[Pairs, float]]) -> str:
    if not samples:
        return "nil"
    return ", ".join(f"{_go_labels(ls)} {format_e(v, upper=True)}" for ls, v in samples)


# -- running ------------------------------------------------------------------------------


def _parse_metric(text: str) -> Pairs:
    """promql's ``ParseMetric`` for ``exp_samples`` labels; blank means no labels."""
    if not text.strip():
        return ()
    try:
        labels, seq = parse_series(text.strip())
    except ScriptError as e:
        # The PromQL parser words the problem as Prometheus does (``1:10: parse error:
        # unexpected identifier…``); the series grammar's own message is the fallback.
        try:
            parse_expr(text)
        except ValueError as pe:
            raise ValueError(str(pe)) from None
        raise ValueError(e.message) from None
    if len(seq):
        raise ValueError(f"unexpected values after the label set in {text!r}")
    return tuple(labels)


def _same_samples(a: list[tuple[Pairs, float]], b: list[tuple[Pairs, float]]) -> bool:
    # Go's reflect.DeepEqual on float64 is ==, so NaN never matches (not even itself).
    return len(a) == len(b) and all(
        la == lb and va == vb for (la, va), (lb, vb) in zip(a, b, strict=True)
    )


class _SeriesLoader:
    """The input series, appended to the DB up to each evaluation time (promtool's lazy
    loader): all samples as flat NumPy arrays sorted by time, one append per step."""

    def __init__(self, tg: TestGroup) -> None:
        specs: dict[Labels, tuple[np.ndarray, np.ndarray]] = {}
        for series, values in tg.input_series:
            try:
                labels, seq = parse_series(f"{series} {values}")
            except ScriptError as e:
                raise UnitTestError(f"invalid input series {series!r}: {e.message}") from None
            pos = np.flatnonzero(seq.present)
            if tg.interval_ms == 0:
                pos = pos[:1]  # every sample lands at 0: the first one is kept
            # A later line for the same series replaces the earlier one, as in promqltest.
            specs[labels] = (pos.astype(np.int64) * tg.interval_ms, seq.values[pos])
        self.labels = list(specs)
        ids = [np.full(len(ts), i, dtype=np.int64) for i, (ts, _) in enumerate(specs.values())]
        ts_all = [ts for ts, _ in specs.values()]
        vs_all = [vs for _, vs in specs.values()]
        idx = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
        ts = np.concatenate(ts_all) if ts_all else np.zeros(0, dtype=np.int64)
        vs = np.concatenate(vs_all) if vs_all else np.zeros(0)
        order = np.argsort(ts, kind="stable")
        self.idx, self.ts, self.vs = idx[order], ts[order], vs[order]
        self.refs = np.full(len(self.labels), -1, dtype=np.int64)
        self.done = 0

    def append_till(self, db: DB, ts_ms: int) -> None:
        end = int(np.searchsorted(self.ts, ts_ms, side="right"))
        if end <= self.done:
            return
        sl = slice(self.done, end)
        app = db.appender()
        try:
            # A series is created with its first sample (not before, as promtool's loader),
            # and its ref is kept for later steps.
            for i in np.unique(self.idx[sl][self.refs[self.idx[sl]] < 0]).tolist():
                self.refs[i] = app.ref(self.labels[i])
            app.append(self.refs[self.idx[sl]], self.ts[sl], self.vs[sl])
            app.commit()
        except Exception:
            app.rollback()
            raise
        self.done = end


def _ordered(groups: list[GroupDef], order: list[str]) -> list[GroupDef]:
    """promtool's partial order: listed groups by position, unlisted ones count as 0."""
    rank = {name: i for i, name in enumerate(order)}
    return sorted(groups, key=lambda g: rank.get(g.name, 0))


def _firing(alerts: Iterable[Alert]) -> list[tuple[Pairs, Pairs]]:
    return [
        (tuple(a.labels), tuple(sorted(a.annotations.items())))
        for a in alerts
        if a.state == "firing"
    ]


@dataclass(slots=True)
class _Context:
    rule_groups: list[GroupDef]
    evaluation_interval_ms: int
    #: Errors loading the rule files: promtool loads them per test group, so every test
    #: group fails with them.
    load_errors: list[str]
    debug: TextIO | None = None


def _run_group(tg: TestGroup, ctx: _Context, workdir: str) -> list[str]:
    """Run one test group; the failures as promtool words them (empty: passed)."""
    try:
        loader = _SeriesLoader(tg)
    except UnitTestError as e:
        return [str(e)]
    if ctx.load_errors:
        return list(ctx.load_errors)
    for a in tg.alert_tests:
        if not a.alertname:
            where = f" (in TestGroup {tg.name})" if tg.name else ""
            return [
                "an item under alert_rule_test misses required attribute alertname at "
                f"eval_time {_model_duration(a.eval_time_ms)}{where}"
            ]
    db = DB.open(workdir)
    try:
        return _evaluate(tg, ctx, loader, db)
    finally:
        db.close()


def _evaluate(tg: TestGroup, ctx: _Context, loader: _SeriesLoader, db: DB) -> list[str]:
    step = ctx.evaluation_interval_ms
    engine = Engine(
        lookback_ms=300_000, max_samples=50_000_000, timeout_s=100, default_subquery_step_ms=step
    )
    ext = dict(tg.external_labels)
    settings = Settings(
        engine=engine,
        queryable=db,
        appendable=db,
        notify=lambda expr, alerts: None,
        expand=RuleTemplateExpander(engine, db, lambda: ext, tg.external_url),
    )
    groups = [
        Group(d, d.interval_s or (tg.interval_ms / 1000) or 60.0, d.query_offset_s or 0.0, settings)
        for d in ctx.rule_groups
    ]
    alert_times = sorted({a.eval_time_ms for a in tg.alert_tests})
    errs: list[str] = []
    curr = 0
    maxt = tg.max_eval_time_ms()
    for ts in range(0, maxt + 1, step):
        loader.append_till(db, ts)
        eval_errs = []
        for g in groups:
            g.eval(ts)
            for r in g.rules:
                if r.status.health == "err":
                    eval_errs.append(
                        f"    rule: {r.name}, time: {go_duration(ts)}, err: {r.status.last_error}"
                    )
        errs.extend(eval_errs)
        if eval_errs:  # as promtool: evaluation errors end the test group here
            return errs
        # An alert test at eval_time t is checked after the evaluation at ts <= t < ts+step.
        while curr < len(alert_times) and ts <= alert_times[curr] < ts + step:
            errs.extend(_check_alerts(tg, groups, alert_times[curr]))
            if ctx.debug is not None:
                _debug_alerts(ctx.debug, tg, groups, alert_times[curr])
            curr += 1
    for t in tg.expr_tests:
        errs.extend(_check_expr(t, engine, db))
    return errs


def _check_alerts(tg: TestGroup, groups: list[Group], t: int) -> list[str]:
    wanted = {a.alertname for a in tg.alert_tests if a.eval_time_ms == t}
    got: dict[str, list[tuple[Pairs, Pairs]]] = {}
    # The same alert name may be in several groups: all of them count.
    for g in groups:
        for r in g.rules:
            if isinstance(r, AlertingRule) and r.name in wanted:
                got.setdefault(r.name, []).extend(_firing(r.alerts()))
    errs = []
    for case in (a for a in tg.alert_tests if a.eval_time_ms == t):
        exp = sorted(
            (tuple(sorted({**dict(ls), "alertname": case.alertname}.items())), ann)
            for ls, ann in case.exp_alerts
        )
        have = sorted(got.get(case.alertname, []))
        if exp != have:
            name = f"    name: {tg.name},\n" if tg.name else ""
            errs.append(
                f"{name}    alertname: {case.alertname}, time: {_model_duration(t)}, \n"
                f"        exp:{_indent(_alerts_text(exp), ' ' * 12)}, \n"
                f"        got:{_indent(_alerts_text(have), ' ' * 12)}"
            )
    return errs


def _check_expr(t: ExprTest, engine: Engine, db: DB) -> list[str]:
    head = f"    expr: {_go_quote(t.expr)}, time: {_model_duration(t.eval_time_ms)}"
    try:
        v = engine.instant(db, t.expr, t.eval_time_ms).value
    except PromQLError as e:
        return [f"{head}, err: {e}"]
    if isinstance(v, ScalarSeries):
        got: list[tuple[Pairs, float]] = [((), float(v.values[0]))]
    elif isinstance(v, VectorSeries):
        vals = v.values[:, 0].tolist()
        got = [(tuple(ls), x) for ls, x in zip(v.labels, vals, strict=True)]
    else:
        return [f"{head}, err: rule result is not a vector or scalar"]
    exp: list[tuple[Pairs, float]] = []
    for text, value in t.exp_samples:
        try:
            exp.append((_parse_metric(text), value))
        except ValueError as e:
            return [f"{head}, err: labels {_go_quote(text)}: {e}"]
    exp.sort(key=lambda s: s[0])
    got.sort(key=lambda s: s[0])
    if _same_samples(exp, got):
        return []
    return [f"{head},\n        exp: {_samples_text(exp)}\n        got: {_samples_text(got)}"]


def _debug_alerts(out: TextIO, tg: TestGroup, groups: list[Group], t: int) -> None:
    """``--debug``: every alert (pending too) of every rule at an alert-check time."""
    label = tg.name or "unnamed"
    print(f"DEBUG: alerts of test group {label} at time {_model_duration(t)}:", file=out)
    for g in groups:
        for r in g.rules:
            if isinstance(r, AlertingRule):
                for a in sorted(r.alerts(), key=lambda a: a.labels):
                    print(f"  {a.state} {_go_labels(a.labels)} value={a.value:g}", file=out)


# -- the command ----------------------------------------------------------------------


def _run_file(
    path: str, out: TextIO, err: TextIO, run: re.Pattern[str] | None, debug: bool
) -> list[str]:
    try:
        tf = parse_test_file(path, warn=err)
    except ConfigError as e:
        return [str(e)]
    except OSError as e:
        return [f"open {path}: {e.strerror or e}"]
    except UnicodeDecodeError as e:
        return [f"{path}: not valid UTF-8: {e.reason}"]
    seen: set[str] = set()
    for name in tf.group_eval_order:
        if name in seen:
            return [f"group name repeated in evaluation order: {name}"]
        seen.add(name)
    load_errors: list[str] = []
    rule_groups: list[GroupDef] = []
    for f in tf.rule_files:
        try:
            rule_groups.extend(load_rule_file(f, check_template))
        except RuleFileError as e:
            load_errors.extend(e.errors)
    ctx = _Context(
        _ordered(rule_groups, tf.group_eval_order),
        tf.evaluation_interval_ms,
        load_errors,
        out if debug else None,
    )
    errs: list[str] = []
    with tempfile.TemporaryDirectory(prefix="promhub-test-rules-") as tmp:
        for i, tg in enumerate(tf.tests):
            if run is not None and not run.search(tg.name):
                continue
            errs.extend(_run_group(tg, ctx, os.path.join(tmp, f"group-{i}")))
    return errs


def rules_unit_test(
    files: Sequence[str],
    out: TextIO,
    err: TextIO,
    run: Sequence[str] = (),
    debug: bool = False,
) -> int:
    """Run each unit-test file; print ``SUCCESS`` or the ``FAILED:`` reasons as promtool
    does (reasons on ``err``). ``run`` keeps only test groups whose ``name`` matches one
    of the regular expressions. Exit status 1 if any file failed."""
    pattern = re.compile("|".join(f"(?:{r})" for r in run)) if run else None
    failed = False
    for f in files:
        print("Unit Testing: ", f, file=out)
        out.flush()
        errs = _run_file(f, out, err, pattern, debug)
        if errs:
            failed = True
            print("  FAILED:", file=err)
            for e in errs:
                print(e, file=err)
                print(file=out)
        else:
            print("  SUCCESS", file=out)
        print(file=out)
    return 1 if failed else 0
