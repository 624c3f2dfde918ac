"""Run Prometheus' ``promqltest`` scripts against promhub's engine and TSDB.

This is promhub's conformance harness: the upstream test files pin PromQL semantics, and
:func:`run_file` replays them the way Prometheus' ``promql/promqltest/test.go`` does — data
loaded into a real :class:`~promhub.tsdb.DB` (a fresh one per ``clear``), every ``eval``
compared with the same float rules, and each instant eval checked two more ways (pinned with
``@`` at other times, and as a range query around its time).

promhub has no native histograms yet: a ``clear``-delimited section that loads one (or uses
``load_with_nhcb``) is skipped, as is an eval that expects one; they count as *skipped*.

Command line: ``promhub promqltest FILE... [-v]``.
"""

from __future__ import annotations

import re
import signal
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import FrameType
from typing import IO, Any, Literal

import numpy as np

from promhub.promql.ast import Call, Expr, SubqueryExpr, VectorSelector
from promhub.promql.errors import PromQLError
from promhub.promql.signatures import QUERY_RANGE_FUNCTIONS, TIME_DEPENDENT_FUNCTIONS
from promhub.promql.testresult import (
    EPSILON,
    EvalFailure,
    Result,
    almost_equal,
    almost_equal_array,
    check_annotations,
    check_failure,
    check_sorted,
    compare,
    describe_expected,
    error_text,
    format_float,
    normalise,
)
from promhub.promql.testscript import (
    ClearCommand,
    Command,
    EvalCommand,
    LoadCommand,
    ScriptError,
    parse_script,
)

#: Functions whose result depends on the evaluation time even with ``@``-pinned arguments:
#: the pinned rewrite cannot give the same answer at other times, so it is not tried.
AT_UNSAFE_FUNCTIONS = TIME_DEPENDENT_FUNCTIONS | QUERY_RANGE_FUNCTIONS
_QUERY_CONTEXT_FUNCS_RE = re.compile(r"(start|end|range|step)\(\)")
_QUERY_CONTEXT_FUNCS = QUERY_RANGE_FUNCTIONS

Status = Literal["passed", "failed", "skipped"]


class EvalTimeout(BaseException):
    """The per-eval time limit ran out.

    A BaseException so that an engine's broad ``except Exception`` cannot swallow it.
    """


@dataclass(slots=True)
class EvalOutcome:
    """What happened to one ``eval`` of a script."""

    file: str
    line: int
    expr: str
    status: Status
    message: str = ""
    expected: str = ""
    got: str = ""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(slots=True)
class FileReport:
    """All outcomes of one script; ``error`` is set when the script itself is invalid."""

    file: str
    outcomes: list[EvalOutcome] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    #: Things worth knowing that are not failures (e.g. load samples the TSDB rejected).
    notes: list[str] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def passed(self) -> int:
        return self.count("passed")

    @property
    def failed(self) -> int:
        return self.count("failed") + (1 if self.error else 0)

    @property
    def skipped(self) -> int:
        return self.count("skipped")


# -- the @ rewrite ----------------------------------------------------------------------


def _children(node: Expr) -> Iterator[Expr]:
    for f in fields(node):
        v = getattr(node, f.name)
        if isinstance(v, Expr):
            yield v
        elif isinstance(v, list):
            yield from (x for x in v if isinstance(x, Expr))


def pin_at(expr: Expr, ts_ms: int) -> bool:
    """Pin ``@ ts_ms`` on every selector and subquery that has no ``@`` of its own, in place,
    as upstream's test does; selectors under a subquery keep their own (relative) time.

    Returns False when the expression calls a function whose result depends on the
    evaluation time itself (then the pinned query cannot be compared at other times).
    """
    safe = True

    def walk(node: Expr) -> None:
        nonlocal safe
        if isinstance(node, VectorSelector | SubqueryExpr) and node.timestamp_ms is None:
            node.timestamp_ms = ts_ms
            node.start_or_end = None
        if isinstance(node, Call) and node.func in AT_UNSAFE_FUNCTIONS:
            safe = False
        if isinstance(node, SubqueryExpr):
            return  # now @-pinned: everything inside evaluates relative to it
        for child in _children(node):
            walk(child)

    walk(expr)
    return safe


def _uses_query_context(expr: Expr) -> bool:
    """start()/end()/range()/step() or an ``@ start()``/``@ end()`` left in the tree."""
    if isinstance(expr, Call) and expr.func in _QUERY_CONTEXT_FUNCS and not expr.args:
        return True
    if isinstance(expr, VectorSelector | SubqueryExpr) and expr.start_or_end is not None:
        return True
    return any(_uses_query_context(c) for c in _children(expr))


# -- the time limit -----------------------------------------------------------------------


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`EvalTimeout` in this thread after ``seconds`` (main thread only: a
    signal timer is the one way to interrupt a runaway pure-Python loop)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum: int, frame: FrameType | None) -> None:
        raise EvalTimeout(f"eval exceeded the {seconds:g}s time limit")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# -- running --------------------------------------------------------------------------


def new_engine() -> Any:
    """The engine with the settings the upstream files assume (see SOURCE.md)."""
    from promhub.promql.engine import Engine

    return Engine(
        lookback_ms=300_000, max_samples=10_000, timeout_s=100, default_subquery_step_ms=60_000
    )


@dataclass(slots=True)
class _Query:
    """One instant query of an eval: the original text, or a pinned rewrite at a time."""

    expr: str | Expr
    ts_ms: int
    label: str  # for messages
    range_check: bool


class Runner:
    """Executes parsed commands; one TSDB per ``clear`` section under ``workdir``."""

    def __init__(self, engine: Any, workdir: Path, eval_timeout_s: float = 60.0) -> None:
        self.engine = engine
        self.workdir = workdir
        self.eval_timeout_s = eval_timeout_s
        self._db: Any = None
        self._section = 0
        self.load_warnings: list[str] = []

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def clear(self) -> None:
        self.close()
        self._section += 1

    def _storage(self) -> Any:
        if self._db is None:
            from promhub.tsdb import DB

            self._db = DB.open(self.workdir / f"section-{self._section}")
        return self._db

    def load(self, cmd: LoadCommand) -> None:
        app = self._storage().appender()
        n_total = 0
        for labels, seq in cmd.series.items():
            if seq.histogram or not len(seq):
                continue
            pos = np.flatnonzero(seq.present)
            if not len(pos):
                continue
            ref = app.ref(labels)
            ts = pos.astype(np.int64) * cmd.interval_ms
            sts = None
            st_seq = cmd.start_timestamps.get(labels)
            if st_seq is not None:
                # An offset from the sample's own time; ``_`` (and ST 0) means none.
                offsets = st_seq.values[pos].astype(np.int64)
                sts = np.where(st_seq.present[pos], ts + offsets, 0)
            app.append(np.full(len(pos), ref, dtype=np.int64), ts, seq.values[pos], sts)
            n_total += len(pos)
        res = app.commit()
        if res.appended != n_total:
            self.load_warnings.append(
                f"load at line {cmd.line}: {n_total - res.appended} of {n_total} samples "
                f"rejected (out of order {res.out_of_order}, duplicate {res.duplicate}, "
                f"too old {res.too_old})"
            )

    def eval(self, cmd: EvalCommand) -> None:
        """Raise :class:`EvalFailure` unless the eval passes."""
        with deadline(self.eval_timeout_s):
            if cmd.is_range:
                self._eval_range(cmd)
            else:
                self._eval_instant(cmd)

    def _eval_range(self, cmd: EvalCommand) -> None:
        db = self._storage()
        is_fail = cmd.fail or bool(cmd.expects.get("fail"))
        try:
            qr = self.engine.range(db, cmd.expr, cmd.start_ms, cmd.end_ms, cmd.step_ms)
        except PromQLError as e:
            if is_fail:
                check_failure(cmd, e)
                return
            raise EvalFailure(f"error evaluating query: {error_text(e)}") from e
        if is_fail:
            raise EvalFailure("expected error evaluating query but got none")
        check_annotations(cmd, qr.warnings, qr.infos)
        steps = cmd.start_ms + cmd.step_ms * np.arange(
            (cmd.end_ms - cmd.start_ms) // cmd.step_ms + 1 if cmd.step_ms else 1, dtype=np.int64
        )
        res = normalise(qr.value, steps)
        try:
            compare(cmd, res)
        except EvalFailure as f:
            raise EvalFailure(f.message, describe_expected(cmd), res.describe()) from None

    def _queries(self, cmd: EvalCommand) -> list[_Query]:
        from promhub.promql.parser import ParseError, parse_expr

        t = cmd.eval_time_ms
        queries = [
            _Query(
                cmd.expr,
                t,
                "",
                not cmd.exclude_from_range_query and not _QUERY_CONTEXT_FUNCS_RE.search(cmd.expr),
            )
        ]
        try:
            probe = parse_expr(cmd.expr)
        except ParseError as e:
            if cmd.fail or cmd.expects.get("fail"):
                return queries  # the engine reports the same error; its text is checked
            raise EvalFailure(f"the query does not parse: {error_text(e)}") from e
        if not pin_at(probe, t):
            return queries
        others = [-1000, 0, 1000] if t == 0 else [-10 * t, 0, t // 5, t, 10 * t]
        for at in others:
            tree = parse_expr(cmd.expr)  # fresh: the engine may annotate the tree it gets
            pin_at(tree, t)
            check_range = not cmd.exclude_from_range_query and not _uses_query_context(tree)
            queries.append(
                _Query(tree, at, f" (pinned @ {t / 1000:.3f}, evaluated at {at})", check_range)
            )
        return queries

    def _eval_instant(self, cmd: EvalCommand) -> None:
        db = self._storage()
        is_fail = cmd.fail or bool(cmd.expects.get("fail"))
        for q in self._queries(cmd):
            try:
                qr = self.engine.instant(db, q.expr, q.ts_ms)
            except PromQLError as e:
                if is_fail:
                    check_failure(cmd, e)
                    continue
                raise EvalFailure(f"error evaluating query{q.label}: {error_text(e)}") from e
            if is_fail:
                raise EvalFailure(f"expected error evaluating query{q.label} but got none")
            try:
                check_annotations(cmd, qr.warnings, qr.infos)
            except EvalFailure as f:
                raise EvalFailure(f.message + q.label, got=f.got) from None
            res = normalise(qr.value, None)
            try:
                compare(cmd, res)
            except EvalFailure as f:
                raise EvalFailure(
                    f.message + q.label, describe_expected(cmd), res.describe()
                ) from None
            if q.range_check:
                self._range_check(cmd, q, res)

    def _range_check(self, cmd: EvalCommand, q: _Query, instant: Result) -> None:
        """The instant query as a range query t-1m..t+1m: the point at t must match."""
        if isinstance(q.expr, Expr):
            from promhub.promql.parser import parse_expr

            tree = parse_expr(cmd.expr)
            pin_at(tree, cmd.eval_time_ms)
            expr: str | Expr = tree
        else:
            expr = q.expr
        t = q.ts_ms
        label = q.label + " in range mode"
        try:
            qr = self.engine.range(self._storage(), expr, t - 60_000, t + 60_000, 60_000)
        except PromQLError as e:
            raise EvalFailure(f"error evaluating query{label}: {error_text(e)}") from e
        if cmd.ordered:
            return  # range results are sorted by labels: order cannot be checked
        res = normalise(qr.value, np.array([t - 60_000, t, t + 60_000], dtype=np.int64))
        if res.kind != "matrix":
            raise EvalFailure(f"range query{label} returned a {res.kind}, not a matrix")
        try:
            check_sorted(res.matrix)
        except EvalFailure as f:
            raise EvalFailure(f.message + label) from None
        vec = []
        for s in res.matrix:
            hit = np.flatnonzero(s.timestamps == t)
            if len(hit):
                vec.append((s.labels, float(s.values[hit[0]])))
        if instant.kind == "scalar":
            if not vec:
                raise EvalFailure(f"no point at t={t}{label}")
            point = Result("scalar", scalar=vec[0][1])
        else:
            point = Result("vector", vector=vec)
        try:
            compare(cmd, point, ordered=False)
        except EvalFailure as f:
            raise EvalFailure(f.message + label, describe_expected(cmd), point.describe()) from None


def _histogram_sections(cmds: list[Command]) -> set[int]:
    """Indices of evals in ``clear`` sections that load native histograms."""
    skipped: set[int] = set()
    section: list[int] = []
    has_hist = False
    for i, c in enumerate([*cmds, ClearCommand(0)]):
        if isinstance(c, ClearCommand):
            if has_hist:
                skipped.update(section)
            section, has_hist = [], False
        elif isinstance(c, LoadCommand):
            has_hist = has_hist or c.has_histograms
        else:
            section.append(i)
    return skipped


def run_script(
    text: str,
    name: str = "<script>",
    *,
    engine: Any = None,
    eval_timeout_s: float = 60.0,
) -> FileReport:
    """Parse and run one script; every eval gets an :class:`EvalOutcome`."""
    started = time.monotonic()
    report = FileReport(name)
    try:
        cmds = parse_script(text)
    except ScriptError as e:
        report.error = f"{name}:{e.line}: {e.message}"
        return report
    engine = engine if engine is not None else new_engine()
    skip = _histogram_sections(cmds)
    with tempfile.TemporaryDirectory(prefix="promqltest-") as tmp:
        runner = Runner(engine, Path(tmp), eval_timeout_s)
        try:
            for i, cmd in enumerate(cmds):
                if isinstance(cmd, ClearCommand):
                    runner.clear()
                elif isinstance(cmd, LoadCommand):
                    if not cmd.has_histograms:
                        runner.load(cmd)
                elif i in skip or cmd.has_histograms:
                    report.outcomes.append(EvalOutcome(name, cmd.line, cmd.expr, "skipped"))
                else:
                    report.outcomes.append(_run_eval(runner, cmd, name))
        finally:
            runner.close()
    report.notes.extend(runner.load_warnings)
    report.seconds = time.monotonic() - started
    return report


def _run_eval(runner: Runner, cmd: EvalCommand, name: str) -> EvalOutcome:
    try:
        runner.eval(cmd)
    except EvalFailure as f:
        return EvalOutcome(name, cmd.line, cmd.expr, "failed", f.message, f.expected, f.got)
    except EvalTimeout as t:
        return EvalOutcome(name, cmd.line, cmd.expr, "failed", str(t))
    except Exception as e:  # an engine bug must not stop the run: report it as a failure,
        # never as the error an ``expect fail`` eval wants (only PromQLError is a query error)
        return EvalOutcome(name, cmd.line, cmd.expr, "failed", f"crashed: {type(e).__name__}: {e}")
    return EvalOutcome(name, cmd.line, cmd.expr, "passed")


def run_file(path: str | Path, *, engine: Any = None, eval_timeout_s: float = 60.0) -> FileReport:
    """Run one test file (see :func:`run_script`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return FileReport(str(path), error=f"{path}: cannot read: {e}")
    return run_script(text, str(path), engine=engine, eval_timeout_s=eval_timeout_s)


def print_failures(report: FileReport, out: IO[str]) -> None:
    """Readable failure details: where, the query, what was wrong, expected and got."""
    if report.error:
        print(f"{report.error}", file=out)
    for note in report.notes:
        print(f"{report.file}: note: {note}", file=out)
    for o in report.outcomes:
        if o.status != "failed":
            continue
        print(f"{o.where}: FAILED {o.expr}", file=out)
        print(f"  {o.message}", file=out)
        if o.expected:
            print(f"  expected: {o.expected}", file=out)
        if o.got:
            print(f"  got: {o.got}", file=out)


def main(paths: Sequence[str], *, verbose: bool, out: IO[str], eval_timeout_s: float = 60.0) -> int:
    """``promhub promqltest``: run files, print a summary; 0 when nothing failed."""
    engine = new_engine()
    passed = failed = skipped = 0
    for path in paths:
        report = run_file(path, engine=engine, eval_timeout_s=eval_timeout_s)
        if verbose:
            print_failures(report, out)
            print(
                f"{path}: {report.passed} passed, {report.failed} failed, "
                f"{report.skipped} skipped ({report.seconds:.1f}s)",
                file=out,
            )
        elif report.error:
            print(report.error, file=out)
        passed += report.passed
        failed += report.failed
        skipped += report.skipped
    print(f"{passed} passed, {failed} failed, {skipped} skipped", file=out)
    return 1 if failed else 0


__all__ = [
    "EPSILON",
    "EvalFailure",
    "EvalOutcome",
    "EvalTimeout",
    "FileReport",
    "Runner",
    "almost_equal",
    "almost_equal_array",
    "check_annotations",
    "compare",
    "deadline",
    "format_float",
    "main",
    "normalise",
    "pin_at",
    "run_file",
    "run_script",
]
