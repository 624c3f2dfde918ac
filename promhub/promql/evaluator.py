"""The tree walk: evaluates a prepared expression at an array of step times.

Every node is evaluated once for all T steps of its evaluator and returns a whole
:class:`~promhub.promql.value.VectorSeries` / ``ScalarSeries`` / ``RangeSeries``; a subquery
evaluates its inner expression once at its own (step-aligned) times.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from promhub.model.labels import Labels
from promhub.model.matcher import Matcher
from promhub.promql import aggregations, binops, selectors
from promhub.promql.ast import (
    AggregateExpr,
    BinaryExpr,
    Call,
    Cardinality,
    Expr,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    StepInvariantExpr,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    ValueType,
    VectorMatching,
    VectorSelector,
)
from promhub.promql.call import FUNCTIONS, Annotation, FunctionCall
from promhub.promql.errors import PromQLError
from promhub.promql.prepare import Prepared
from promhub.promql.value import (
    F64,
    I64,
    RangeSeries,
    ScalarSeries,
    StringValue,
    Value,
    VectorSeries,
)
from promhub.storage.interface import Queryable


@dataclass(slots=True)
class EngineCall(FunctionCall):
    """A function call with the storage access ``info()`` needs."""

    select_timestamps: Callable[[list[Matcher]], VectorSeries] | None = None


TOO_MANY_SAMPLES = "query processing would load too many samples into memory in query execution"


class Evaluator:
    """Evaluates nodes of one query; holds its limits, counters and annotations."""

    def __init__(
        self,
        queryable: Queryable,
        prepared: Prepared,
        *,
        lookback_ms: int,
        max_samples: int,
        deadline: float,
        default_subquery_step_ms: int,
    ) -> None:
        self.queryable = queryable
        self.prep = prepared
        self.lookback_ms = lookback_ms
        self.max_samples = max_samples
        self.deadline = deadline
        self.default_step_ms = default_subquery_step_ms
        self.annotations: list[Annotation] = []
        #: Storage warnings (a remote_read endpoint failing), shown as Prometheus does.
        self.storage_warnings: list[str] = []
        self.samples_total = 0
        self.peak_samples = 0

    # -- limits ------------------------------------------------------------------------

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise PromQLError("timeout", "query timed out in expression evaluation")

    def charge(self, n: int) -> None:
        """Account ``n`` samples held at once by one operator's result."""
        self.peak_samples = max(self.peak_samples, n)
        if n > self.max_samples:
            raise PromQLError("execution", TOO_MANY_SAMPLES)

    # -- storage -----------------------------------------------------------------------

    def fetch(self, matchers: list[Matcher], mint: int, maxt: int) -> selectors.Fetched:
        q = self.queryable.querier(mint, maxt)
        try:
            f = selectors.fetch(q, matchers)
        except PromQLError:
            raise
        except Exception as e:  # a storage failure is the server's fault, not the query's
            raise PromQLError("internal", f"expanding series: {e}") from e
        finally:
            q.close()
        for w in getattr(q, "warnings", ()):
            if w not in self.storage_warnings:
                self.storage_warnings.append(w)
        # Fetched samples are what Prometheus' stats call "samples loaded".
        self.samples_total += f.num_samples
        return f

    # -- dispatch ----------------------------------------------------------------------

    def eval(self, node: Expr, times: I64) -> Value:
        self.check_deadline()
        if id(node) in self.prep.invariant and len(times) > 1:
            return _broadcast(self._eval(node, times[:1]), len(times))
        return self._eval(node, times)

    def _eval(self, node: Expr, times: I64) -> Value:
        if isinstance(node, NumberLiteral):
            return ScalarSeries(np.full(len(times), node.value, dtype=np.float64))
        if isinstance(node, StringLiteral):
            return StringValue(node.value)
        if isinstance(node, ParenExpr | StepInvariantExpr):
            return self.eval(node.expr, times)
        if isinstance(node, UnaryExpr):
            return self._unary(node, times)
        if isinstance(node, VectorSelector):
            return self.select_vector(node, times).vector
        if isinstance(node, MatrixSelector):
            return self._matrix(node, times)
        if isinstance(node, SubqueryExpr):
            return self._subquery(node, times)
        if isinstance(node, Call):
            return self._call(node, times)
        if isinstance(node, AggregateExpr):
            return self._aggregate(node, times)
        if isinstance(node, BinaryExpr):
            return self._binary(node, times)
        raise PromQLError("bad_data", f"unhandled expression of type {type(node).__name__}")

    def eval_vector(self, node: Expr, times: I64) -> VectorSeries:
        v = self.eval(node, times)
        if isinstance(v, ScalarSeries):
            return _scalar_as_vector(v)
        if not isinstance(v, VectorSeries):
            raise PromQLError("bad_data", f"expected instant vector, got {type(v).__name__}")
        return v

    def eval_scalar(self, node: Expr, times: I64) -> F64:
        v = self.eval(node, times)
        if not isinstance(v, ScalarSeries):
            raise PromQLError("bad_data", f"expected scalar, got {type(v).__name__}")
        return np.broadcast_to(v.values, (len(times),))

    # -- selectors ---------------------------------------------------------------------

    def _ref_times(self, node: VectorSelector | SubqueryExpr, times: I64) -> I64:
        at = self.prep.at_of(node)
        base = np.full(len(times), at, dtype=np.int64) if at is not None else times
        return base - self.prep.offset_of(node)

    def select_vector(self, node: VectorSelector, times: I64) -> selectors.InstantSelection:
        ref = self._ref_times(node, times)
        ahead = self.lookback_ms if node.smoothed else 0
        f = self.fetch(node.matchers, int(ref.min()) - self.lookback_ms + 1, int(ref.max()) + ahead)
        if node.smoothed:
            sel = selectors.select_smoothed(f, ref, self.lookback_ms)
        else:
            sel = selectors.select_instant(f, ref, self.lookback_ms)
        keep = sel.vector.present.any(axis=1)
        if not keep.all():
            idx = np.flatnonzero(keep)
            v = sel.vector
            sel = selectors.InstantSelection(
                VectorSeries(
                    [v.labels[i] for i in idx], v.values[idx], v.present[idx], v.drop_name[idx]
                ),
                sel.sample_ts[idx],
            )
        self.charge(int(sel.vector.present.sum()))
        return sel

    def _matrix(self, node: MatrixSelector, times: I64) -> RangeSeries:
        vs = node.vector_selector
        rng = self.prep.range_of(node)
        ref = self._ref_times(vs, times)
        extended = vs.anchored or vs.smoothed
        mint = int(ref.min()) - rng + 1 - (self.lookback_ms if extended else 0)
        maxt = int(ref.max()) + (self.lookback_ms if vs.smoothed else 0)
        f = self.fetch(vs.matchers, mint, maxt)
        if extended:
            rs = selectors.select_extended(f, ref, rng, self.lookback_ms, vs.smoothed)
        else:
            rs = selectors.select_range(f, ref, rng)
        self._charge_range(rs)
        return rs

    def _charge_range(self, rs: RangeSeries) -> None:
        if rs.lo.size:
            self.charge(int((rs.hi - rs.lo).sum(axis=0).max()))

    def _subquery(self, node: SubqueryExpr, times: I64) -> RangeSeries:
        rng = self.prep.range_of(node)
        step = self.prep.step_of(node) or self.default_step_ms
        ref = self._ref_times(node, times)
        first = int(ref.min()) - rng
        # Inner steps are aligned to absolute multiples of the step, as in Prometheus.
        start = step * (first // step)
        if start <= first:
            start += step
        end = int(ref.max())
        n = (end - start) // step + 1 if end >= start else 0
        if n > self.max_samples:
            raise PromQLError("execution", TOO_MANY_SAMPLES)
        inner = start + step * np.arange(max(n, 0), dtype=np.int64)
        v = _empty_vector(0) if n == 0 else self.eval_vector(node.expr, inner)
        rs = selectors.range_from_vector(v, inner, ref, rng)
        self._charge_range(rs)
        return rs

    # -- operators ---------------------------------------------------------------------

    def _unary(self, node: UnaryExpr, times: I64) -> Value:
        v = self.eval(node.expr, times)
        if node.op != "-":
            return v
        if isinstance(v, ScalarSeries):
            return ScalarSeries(-v.values)
        if isinstance(v, VectorSeries):
            return VectorSeries(v.labels, -v.values, v.present, np.ones(v.num_series, dtype=bool))
        raise PromQLError(
            "bad_data",
            "unary expression only allowed on expressions of type scalar or instant vector",
        )

    def _binary(self, node: BinaryExpr, times: I64) -> Value:
        lt, rt = node.lhs.type, node.rhs.type
        if lt is ValueType.SCALAR and rt is ValueType.SCALAR:
            a = self.eval_scalar(node.lhs, times)
            b = self.eval_scalar(node.rhs, times)
            return ScalarSeries(binops.arithmetic(node.op, a, b))
        if lt is ValueType.VECTOR and rt is ValueType.SCALAR:
            vec = self.eval_vector(node.lhs, times)
            s = self.eval_scalar(node.rhs, times)
            return binops.vector_scalar(node.op, vec, s, False, node.return_bool)
        if lt is ValueType.SCALAR and rt is ValueType.VECTOR:
            s = self.eval_scalar(node.lhs, times)
            vec = self.eval_vector(node.rhs, times)
            return binops.vector_scalar(node.op, vec, s, True, node.return_bool)
        lhs = self.eval_vector(node.lhs, times)
        rhs = self.eval_vector(node.rhs, times)
        self.check_deadline()
        matching = node.matching
        if node.op in ("and", "or", "unless"):
            m = matching or VectorMatching(card=Cardinality.MANY_TO_MANY)
            out = binops.set_operation(node.op, lhs, rhs, m)
        else:
            m = matching or VectorMatching()
            out = binops.vector_vector(node.op, lhs, rhs, m, node.return_bool)
        self.charge(int(out.present.sum()))
        return out

    def _aggregate(self, node: AggregateExpr, times: I64) -> VectorSeries:
        param: F64 | str | None = None
        if node.param is not None:
            if node.op == "count_values":
                pv = self.eval(node.param, times)
                if not isinstance(pv, StringValue):
                    raise PromQLError("bad_data", "count_values needs a string parameter")
                param = pv.value
            else:
                param = np.asarray(self.eval_scalar(node.param, times), dtype=np.float64)
                if node.op in ("topk", "bottomk", "limitk") and np.isnan(param).any():
                    raise PromQLError("execution", "Parameter value is NaN")
                if node.op == "limit_ratio" and np.isnan(param).any():
                    raise PromQLError("execution", "Ratio value is NaN")
        vec = self.eval_vector(node.expr, times)
        self.check_deadline()
        out = aggregations.aggregate(node, vec, param, self._annotate)
        self.charge(int(out.present.sum()))
        return out

    def _annotate(self, kind: str, message: str, node: Expr) -> None:
        k: Literal["warning", "info"] = "info" if kind == "info" else "warning"
        self.annotations.append(Annotation(k, message, node))

    # -- functions ---------------------------------------------------------------------

    def _call(self, node: Call, times: I64) -> Value:
        name = node.func
        if name == "timestamp":
            return self._timestamp(node, times)
        if name == "info" and "info" not in FUNCTIONS:
            from promhub.promql.info import evaluate_info

            return evaluate_info(self, node, times)
        context = self._query_context(name, node, times)
        if context is not None:
            return context
        _check_extended(node)
        impl = FUNCTIONS.get(name)
        if impl is None:
            raise PromQLError("bad_data", f"unknown function with name {name!r}")
        args: list[Value] = []
        for a in node.args:
            if a.type is ValueType.STRING:
                v = self.eval(a, times)
                args.append(v)
            else:
                args.append(self.eval(a, times))
        self.check_deadline()
        fc = EngineCall(node, args, times, [], self.lookback_ms)
        if name == "info":
            info_times = self.info_times(node.args[0], times)
            fc.select_timestamps = lambda ms: self._sample_times(ms, info_times)
        try:
            out = impl(fc)
        except PromQLError:
            raise
        except (ValueError, TypeError, ArithmeticError, LookupError) as e:
            raise PromQLError("execution", str(e)) from e
        except Exception as e:
            if type(e).__name__ == "FunctionError":
                raise PromQLError("execution", str(e)) from e
            raise
        self.annotations.extend(fc.annotations)
        if isinstance(out, VectorSeries):
            out = _inherit_drop_flags(out, args)
            self.charge(int(out.present.sum()))
        return out

    def _query_context(self, name: str, node: Call, times: I64) -> ScalarSeries | None:
        """``step()``, ``start()``, ``end()``, ``range()`` (the query's, in seconds) and
        ``min_of``/``max_of``; None for any other function."""
        p = self.prep
        value: float | None = None
        if name == "step":
            value = p.step_ms / 1000
        elif name == "start":
            value = p.start_ms / 1000
        elif name == "end":
            value = p.end_ms / 1000
        elif name == "range":
            value = (p.end_ms - p.start_ms) / 1000
        if value is not None:
            return ScalarSeries(np.full(len(times), value))
        if name in ("min_of", "max_of") and node.args:
            args = np.stack([self.eval_scalar(a, times) for a in node.args])
            pick = np.min if name == "min_of" else np.max
            return ScalarSeries(np.asarray(pick(args, axis=0), dtype=np.float64))
        return None

    def info_times(self, arg: Expr, times: I64) -> I64:
        """When ``info()``'s base samples were read: the step times shifted by the ``@`` and
        ``offset`` modifiers on the way down to the argument's selector."""
        while True:
            if isinstance(arg, ParenExpr | StepInvariantExpr | UnaryExpr):
                arg = arg.expr
            elif isinstance(arg, VectorSelector):
                return self._ref_times(arg, times)
            elif isinstance(arg, MatrixSelector):
                return self._ref_times(arg.vector_selector, times)
            elif isinstance(arg, SubqueryExpr):
                times = self._ref_times(arg, times)
                arg = arg.expr
            elif isinstance(arg, AggregateExpr):
                arg = arg.expr
            elif isinstance(arg, Call):
                inner = [a for a in arg.args if a.type in (ValueType.VECTOR, ValueType.MATRIX)]
                if not inner:
                    return times
                arg = inner[0]
            elif isinstance(arg, BinaryExpr):
                arg = arg.lhs if arg.lhs.type is ValueType.VECTOR else arg.rhs
            else:
                return times

    def _sample_times(self, matchers: list[Matcher], times: I64) -> VectorSeries:
        """Series matching ``matchers`` at ``times``; values are the picked samples' times."""
        f = self.fetch(matchers, int(times.min()) - self.lookback_ms + 1, int(times.max()))
        sel = selectors.select_instant(f, times, self.lookback_ms)
        v = sel.vector
        return VectorSeries(v.labels, sel.sample_ts.astype(np.float64), v.present, v.drop_name)

    def _timestamp(self, node: Call, times: I64) -> VectorSeries:
        """``timestamp(v)``: sample times for a plain selector, else the step times."""
        arg = node.args[0]
        while isinstance(arg, ParenExpr | StepInvariantExpr):
            arg = arg.expr
        if isinstance(arg, VectorSelector):
            sel = self.select_vector(arg, times)
            v = sel.vector
            return VectorSeries(
                v.labels,
                sel.sample_ts.astype(np.float64) / 1000.0,
                v.present,
                np.ones(v.num_series, dtype=bool),
            )
        v = self.eval_vector(node.args[0], times)
        vals = np.broadcast_to(times.astype(np.float64) / 1000.0, v.values.shape).copy()
        return VectorSeries(v.labels, vals, v.present, np.ones(v.num_series, dtype=bool))


#: Functions that accept ``anchored`` / ``smoothed`` range selectors.
_EXTENDED_OK = {
    "anchored": ("changes", "delta", "increase", "rate", "resets"),
    "smoothed": ("delta", "increase", "rate"),
}


def _check_extended(node: Call) -> None:
    for a in node.args:
        while isinstance(a, ParenExpr | StepInvariantExpr):
            a = a.expr
        if not isinstance(a, MatrixSelector):
            continue
        vs = a.vector_selector
        for kind in ("anchored", "smoothed"):
            if getattr(vs, kind) and node.func not in _EXTENDED_OK[kind]:
                allowed = ", ".join(_EXTENDED_OK[kind])
                raise PromQLError(
                    "bad_data",
                    f"{kind} modifier can only be used with: {allowed} - not with {node.func}",
                )


def _inherit_drop_flags(out: VectorSeries, args: list[Value]) -> VectorSeries:
    """A range function's result keeps a pending ``__name__`` removal of its input series
    (e.g. ``last_over_time(abs(x)[5m:])``): the flag is only ever set, never cleared."""
    pending: set[Labels] = set()
    for a in args:
        if isinstance(a, RangeSeries) and a.drop_name.any():
            pending.update(ls for ls, d in zip(a.labels, a.drop_name.tolist(), strict=True) if d)
    if not pending or out.drop_name.all():
        return out
    flags = (
        out.drop_name.copy()
        if out.drop_name.size == out.num_series
        else np.zeros(out.num_series, dtype=bool)
    )
    flags |= np.array([ls in pending for ls in out.labels], dtype=bool)
    return VectorSeries(out.labels, out.values, out.present, flags)


def _scalar_as_vector(s: ScalarSeries) -> VectorSeries:
    from promhub.model.labels import EMPTY

    vals = np.asarray(s.values, dtype=np.float64).reshape(1, -1)
    return VectorSeries([EMPTY], vals, np.ones(vals.shape, dtype=bool), np.zeros(1, dtype=bool))


def _empty_vector(t: int) -> VectorSeries:
    return VectorSeries([], np.zeros((0, t)), np.zeros((0, t), dtype=bool), np.zeros(0, bool))


def _broadcast(v: Value, t: int) -> Value:
    """A one-step result repeated for all T steps (step-invariant subtrees)."""
    if isinstance(v, ScalarSeries):
        return ScalarSeries(np.repeat(np.asarray(v.values).reshape(-1)[:1], t))
    if isinstance(v, VectorSeries):
        return VectorSeries(
            v.labels,
            np.repeat(v.values[:, :1], t, axis=1),
            np.repeat(v.present[:, :1], t, axis=1),
            v.drop_name,
        )
    if isinstance(v, RangeSeries):
        return RangeSeries(
            v.labels,
            v.offsets,
            v.timestamps,
            v.values,
            np.repeat(v.lo[:, :1], t, axis=1),
            np.repeat(v.hi[:, :1], t, axis=1),
            np.repeat(v.step_times[:1], t),
            v.range_ms,
            v.drop_name,
            v.start_timestamps,
        )
    return v
