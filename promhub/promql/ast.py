"""The PromQL syntax tree, shared by the parser, the printer and the engine.

Mirrors Prometheus' ``promql/parser/ast.go`` so that semantics (and error positions) map
one to one. Every node carries ``pos``: the 0-based ``(start, end)`` character range in the
query text, used for ``line:col`` positions in errors, warnings and infos.

Durations (ranges, offsets, subquery steps) are milliseconds. Where the query wrote a
duration *expression* (``[5m+1m]``, ``offset step()``, ``[step()*2]``) the node keeps that
expression in the ``*_expr`` field and the engine evaluates it (it may depend on the query's
step); ``*_ms`` then holds 0 until evaluated.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from promhub.model.matcher import Matcher

Pos = tuple[int, int]


class ValueType(enum.Enum):
    """The type an expression evaluates to (Prometheus' parser.ValueType names)."""

    NONE = "none"
    SCALAR = "scalar"
    VECTOR = "vector"
    MATRIX = "matrix"
    STRING = "string"


@dataclass(eq=False, slots=True)
class Expr:
    pos: Pos = (0, 0)

    @property
    def type(self) -> ValueType:
        raise NotImplementedError


@dataclass(eq=False, slots=True)
class NumberLiteral(Expr):
    value: float = 0.0
    #: Set when the literal was written as a duration (``5m``): printed back that way.
    duration: bool = False

    @property
    def type(self) -> ValueType:
        return ValueType.SCALAR


@dataclass(eq=False, slots=True)
class StringLiteral(Expr):
    value: str = ""

    @property
    def type(self) -> ValueType:
        return ValueType.STRING


class AtModifier(enum.Enum):
    """``@ start()`` / ``@ end()``; a fixed ``@ <ts>`` uses ``timestamp_ms`` instead."""

    START = "start"
    END = "end"


@dataclass(eq=False, slots=True)
class VectorSelector(Expr):
    name: str = ""
    matchers: list[Matcher] = field(default_factory=list)
    offset_ms: int = 0
    offset_expr: Expr | None = None
    #: ``@ <timestamp>`` in milliseconds, or None.
    timestamp_ms: int | None = None
    start_or_end: AtModifier | None = None
    #: Experimental range-selector modifiers (only meaningful under a MatrixSelector).
    anchored: bool = False
    smoothed: bool = False

    @property
    def type(self) -> ValueType:
        return ValueType.VECTOR


@dataclass(eq=False, slots=True)
class MatrixSelector(Expr):
    vector_selector: VectorSelector = field(default_factory=VectorSelector)
    range_ms: int = 0
    range_expr: Expr | None = None

    @property
    def type(self) -> ValueType:
        return ValueType.MATRIX


@dataclass(eq=False, slots=True)
class SubqueryExpr(Expr):
    expr: Expr = field(default_factory=Expr)
    range_ms: int = 0
    range_expr: Expr | None = None
    #: 0 means "the default subquery step" (the global evaluation interval, 1m in tests).
    step_ms: int = 0
    step_expr: Expr | None = None
    offset_ms: int = 0
    offset_expr: Expr | None = None
    timestamp_ms: int | None = None
    start_or_end: AtModifier | None = None

    @property
    def type(self) -> ValueType:
        return ValueType.MATRIX


@dataclass(eq=False, slots=True)
class Call(Expr):
    func: str = ""
    args: list[Expr] = field(default_factory=list)
    #: The function's declared return type (from the function table).
    return_type: ValueType = ValueType.VECTOR

    @property
    def type(self) -> ValueType:
        return self.return_type


@dataclass(eq=False, slots=True)
class AggregateExpr(Expr):
    op: str = ""  # sum, avg, count, min, max, group, stddev, stdvar, topk, bottomk, ...
    expr: Expr = field(default_factory=Expr)
    #: topk/bottomk/limitk/limit_ratio/quantile/count_values parameter.
    param: Expr | None = None
    grouping: list[str] = field(default_factory=list)
    without: bool = False
    #: ``by ()`` written explicitly (printed back; same semantics as no clause).
    by: bool = False

    @property
    def type(self) -> ValueType:
        return ValueType.VECTOR


class Cardinality(enum.Enum):
    ONE_TO_ONE = "one-to-one"
    MANY_TO_ONE = "many-to-one"  # group_left
    ONE_TO_MANY = "one-to-many"  # group_right
    MANY_TO_MANY = "many-to-many"  # set operators


@dataclass(eq=False, slots=True)
class VectorMatching:
    card: Cardinality = Cardinality.ONE_TO_ONE
    matching_labels: list[str] = field(default_factory=list)
    on: bool = False
    #: ``ignoring``/``on`` written (even with an empty list).
    explicit: bool = False
    include: list[str] = field(default_factory=list)  # group_left/group_right labels
    #: Experimental fill modifiers: value used when one side has no match.
    fill_left: float | None = None
    fill_right: float | None = None


@dataclass(eq=False, slots=True)
class BinaryExpr(Expr):
    op: str = ""  # + - * / % ^ atan2 == != > < >= <= and or unless
    lhs: Expr = field(default_factory=Expr)
    rhs: Expr = field(default_factory=Expr)
    matching: VectorMatching | None = None  # set when both sides are vectors
    return_bool: bool = False

    @property
    def type(self) -> ValueType:
        if self.lhs.type is ValueType.SCALAR and self.rhs.type is ValueType.SCALAR:
            return ValueType.SCALAR
        return ValueType.VECTOR


@dataclass(eq=False, slots=True)
class UnaryExpr(Expr):
    op: str = "-"  # + or -
    expr: Expr = field(default_factory=Expr)

    @property
    def type(self) -> ValueType:
        return self.expr.type


@dataclass(eq=False, slots=True)
class ParenExpr(Expr):
    expr: Expr = field(default_factory=Expr)

    @property
    def type(self) -> ValueType:
        return self.expr.type


@dataclass(eq=False, slots=True)
class StepInvariantExpr(Expr):
    """Wraps a subtree whose value is the same at every step (``@``-pinned); the engine
    evaluates it once and broadcasts. Inserted by the engine's preprocessing, never by the
    parser."""

    expr: Expr = field(default_factory=Expr)

    @property
    def type(self) -> ValueType:
        return self.expr.type


#: Binary operators that are comparisons (and may take ``bool``).
COMPARISON_OPS = frozenset({"==", "!=", ">", "<", ">=", "<="})
SET_OPS = frozenset({"and", "or", "unless"})
ARITHMETIC_OPS = frozenset({"+", "-", "*", "/", "%", "^", "atan2"})
