"""Query preparation: what Prometheus' ``PreprocessExpr`` decides before evaluation.

- ``@ start()`` / ``@ end()`` become fixed timestamps (the query's start and end);
- duration expressions (``[5m+1m]``, ``offset step()``, ``[min_of(step(), 1m)]``) become
  milliseconds, with ``step()``/``start()``/``end()``/``range()`` taken from the query;
- subtrees whose value is the same at every step (pinned by ``@``, or literals) are marked
  *step-invariant*: the evaluator computes them once and broadcasts.

The syntax tree is never modified (callers may reuse it); results live in side tables
keyed by node identity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from promhub.promql.ast import (
    AggregateExpr,
    AtModifier,
    BinaryExpr,
    Call,
    Expr,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    StepInvariantExpr,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    VectorSelector,
)
from promhub.promql.errors import PromQLError
from promhub.promql.signatures import TIME_DEPENDENT_FUNCTIONS

#: Functions whose result changes with the evaluation time even for pinned arguments.
AT_UNSAFE_FUNCTIONS = TIME_DEPENDENT_FUNCTIONS


@dataclass(slots=True)
class Prepared:
    """Side tables for one query: resolved ``@`` times, durations and invariant nodes."""

    start_ms: int
    end_ms: int
    step_ms: int
    at: dict[int, int] = field(default_factory=dict)
    offset: dict[int, int] = field(default_factory=dict)
    range: dict[int, int] = field(default_factory=dict)
    step: dict[int, int] = field(default_factory=dict)
    invariant: set[int] = field(default_factory=set)

    def at_of(self, node: VectorSelector | SubqueryExpr) -> int | None:
        return self.at.get(id(node))

    def offset_of(self, node: VectorSelector | SubqueryExpr) -> int:
        return self.offset.get(id(node), node.offset_ms)

    def range_of(self, node: MatrixSelector | SubqueryExpr) -> int:
        return self.range.get(id(node), node.range_ms)

    def step_of(self, node: SubqueryExpr) -> int:
        return self.step.get(id(node), node.step_ms)


def prepare(expr: Expr, start_ms: int, end_ms: int, step_ms: int) -> Prepared:
    p = Prepared(start_ms, end_ms, step_ms)
    if _walk(expr, p):
        p.invariant.add(id(expr))
    return p


def _resolve_at(node: VectorSelector | SubqueryExpr, p: Prepared) -> bool:
    if node.start_or_end is AtModifier.START:
        p.at[id(node)] = p.start_ms
    elif node.start_or_end is AtModifier.END:
        p.at[id(node)] = p.end_ms
    elif node.timestamp_ms is not None:
        p.at[id(node)] = node.timestamp_ms
    if node.offset_expr is not None:
        p.offset[id(node)] = duration_ms(node.offset_expr, p, "offset")
    return id(node) in p.at


def _walk(node: Expr, p: Prepared) -> bool:
    """Resolve ``node``'s subtree; True when it is step-invariant."""
    if isinstance(node, VectorSelector):
        return _resolve_at(node, p)
    if isinstance(node, MatrixSelector):
        if node.range_expr is not None:
            p.range[id(node)] = duration_ms(node.range_expr, p, "range")
        return _walk(node.vector_selector, p)
    if isinstance(node, SubqueryExpr):
        if node.range_expr is not None:
            p.range[id(node)] = duration_ms(node.range_expr, p, "range")
        if node.step_expr is not None:
            p.step[id(node)] = duration_ms(node.step_expr, p, "step")
        if _walk(node.expr, p):
            p.invariant.add(id(node.expr))
        return _resolve_at(node, p)
    if isinstance(node, AggregateExpr):
        if node.param is not None and _walk(node.param, p):
            p.invariant.add(id(node.param))
        return _walk(node.expr, p)
    if isinstance(node, BinaryExpr):
        left, right = _walk(node.lhs, p), _walk(node.rhs, p)
        if left and right:
            return True
        if left:
            p.invariant.add(id(node.lhs))
        if right:
            p.invariant.add(id(node.rhs))
        return False
    if isinstance(node, Call):
        flags = [_walk(a, p) for a in node.args]
        if node.func not in AT_UNSAFE_FUNCTIONS and all(flags):
            return True
        for a, f in zip(node.args, flags, strict=True):
            if f:
                p.invariant.add(id(a))
        return False
    if isinstance(node, ParenExpr | UnaryExpr | StepInvariantExpr):
        return _walk(node.expr, p)
    return isinstance(node, NumberLiteral | StringLiteral)


def duration_ms(expr: Expr, p: Prepared, what: str) -> int:
    """Evaluate a duration expression (seconds, as Prometheus computes them) to ms."""
    sec = _duration_seconds(expr, p)
    if math.isnan(sec) or math.isinf(sec) or abs(sec) > 9.2e9:
        raise PromQLError("bad_data", f"{what} duration is out of range: {sec}")
    ns = round(sec * 1e9)
    ms = int(ns / 1_000_000) if abs(ns) < 2**53 else int(ns // 1_000_000)
    if what in ("range", "step") and ms <= 0:
        raise PromQLError("bad_data", f"{what} must be positive, got {_fmt_ms(ms)}")
    return ms


def _fmt_ms(ms: int) -> str:
    return f"{ms / 1000:g}s"


def _duration_seconds(expr: Expr, p: Prepared) -> float:
    if isinstance(expr, NumberLiteral):
        return float(expr.value)
    if isinstance(expr, ParenExpr | StepInvariantExpr):
        return _duration_seconds(expr.expr, p)
    if isinstance(expr, UnaryExpr):
        v = _duration_seconds(expr.expr, p)
        return -v if expr.op == "-" else v
    if isinstance(expr, BinaryExpr):
        a, b = _duration_seconds(expr.lhs, p), _duration_seconds(expr.rhs, p)
        return _scalar_op(expr.op, a, b)
    if isinstance(expr, Call):
        name = expr.func.lower()
        if name == "step":
            return p.step_ms / 1000
        if name == "start":
            return p.start_ms / 1000
        if name == "end":
            return p.end_ms / 1000
        if name == "range":
            return (p.end_ms - p.start_ms) / 1000
        if name in ("min_of", "max_of"):
            vals = [_duration_seconds(a, p) for a in expr.args]
            return min(vals) if name == "min_of" else max(vals)
    raise PromQLError("bad_data", f"unsupported duration expression: {type(expr).__name__}")


def _scalar_op(op: str, a: float, b: float) -> float:
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b if b != 0 else math.copysign(math.inf, a) if a else math.nan
        if op == "%":
            return math.fmod(a, b) if b != 0 else math.nan
        if op == "^":
            return math.pow(a, b)
    except (OverflowError, ValueError):
        return math.nan
    raise PromQLError("bad_data", f"operator {op} not allowed in durations")
