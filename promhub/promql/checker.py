"""Type checks of a parsed PromQL tree: Prometheus' ``parser.checkAST``.

Run once a query parsed without syntax errors. The first error in Prometheus' traversal
order is raised (children before parents for binary expressions, arguments in order for
calls), with Prometheus' message and position, so ``rate(foo)`` fails with ``1:6: parse
error: expected type range vector in call to function "rate", got instant vector``.
"""

from __future__ import annotations

from promhub.model.labels import METRIC_NAME
from promhub.promql.ast import (
    COMPARISON_OPS,
    SET_OPS,
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
    VectorSelector,
)
from promhub.promql.lexer import ParseError
from promhub.promql.literals import go_quote
from promhub.promql.signatures import SIGNATURES

_DOC = {
    ValueType.VECTOR: "instant vector",
    ValueType.MATRIX: "range vector",
    ValueType.SCALAR: "scalar",
    ValueType.STRING: "string",
    ValueType.NONE: "none",
}
_PARAM_SCALAR = frozenset({"topk", "bottomk", "quantile", "limitk", "limit_ratio"})
_AGGREGATORS = _PARAM_SCALAR | frozenset(
    {"sum", "avg", "count", "min", "max", "group", "stddev", "stdvar", "count_values"}
)


def documented_type(t: ValueType) -> str:
    """Prometheus' DocumentedType: ``instant vector``, ``range vector``, ``scalar``..."""
    return _DOC[t]


def check(query: str, expr: Expr) -> None:
    """Raise :class:`ParseError` for the first type error in ``expr``."""
    try:
        _Checker(query).check(expr)
    except RecursionError:
        raise ParseError(query, "maximum nesting depth exceeded", [(0, 0)]) from None


class _Checker:
    def __init__(self, query: str) -> None:
        self.query = query

    def fail(self, pos: tuple[int, int], message: str) -> ParseError:
        return ParseError(self.query, message, [pos])

    def expect_type(self, node: Expr, want: ValueType, context: str) -> None:
        t = self.check(node)
        if t is not want:
            raise self.fail(
                node.pos,
                f"expected type {documented_type(want)} in {context}, got {documented_type(t)}",
            )

    def check(self, node: Expr, bypass_empty_matcher_check: bool = False) -> ValueType:
        if isinstance(node, AggregateExpr):
            return self.aggregate(node)
        if isinstance(node, BinaryExpr):
            return self.binary(node)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, ParenExpr | StepInvariantExpr):
            self.check(node.expr)
            return node.type
        if isinstance(node, UnaryExpr):
            if node.op not in ("+", "-"):
                raise self.fail(node.pos, "only + and - operators allowed for unary expressions")
            t = self.check(node.expr)
            if t not in (ValueType.SCALAR, ValueType.VECTOR):
                raise self.fail(
                    node.pos,
                    "unary expression only allowed on expressions of type scalar or instant "
                    f"vector, got {go_quote(documented_type(t))}",
                )
            return node.type
        if isinstance(node, SubqueryExpr):
            t = self.check(node.expr)
            if t is not ValueType.VECTOR:
                raise self.fail(
                    node.pos, f"subquery is only allowed on instant vector, got {t.value} instead"
                )
            return node.type
        if isinstance(node, MatrixSelector):
            self.check(node.vector_selector)
            return node.type
        if isinstance(node, VectorSelector):
            self.vector_selector(node, bypass_empty_matcher_check)
            return node.type
        if isinstance(node, NumberLiteral | StringLiteral):
            return node.type
        raise self.fail(node.pos, f"unknown node type: {type(node).__name__}")

    def aggregate(self, n: AggregateExpr) -> ValueType:
        if n.op not in _AGGREGATORS:
            raise self.fail(
                n.pos, f"aggregation operator expected in aggregation expression but got {n.op!r}"
            )
        self.expect_type(n.expr, ValueType.VECTOR, "aggregation expression")
        if n.op in _PARAM_SCALAR and n.param is not None:
            self.expect_type(n.param, ValueType.SCALAR, "aggregation parameter")
        if n.op == "count_values" and n.param is not None:
            self.expect_type(n.param, ValueType.STRING, "aggregation parameter")
        return ValueType.VECTOR

    def binary(self, n: BinaryExpr) -> ValueType:
        lt = self.check(n.lhs)
        rt = self.check(n.rhs)

        def op_range() -> tuple[int, int]:
            # The operator text between the operands, whitespace trimmed.
            q = self.query
            start = n.lhs.pos[1]
            while start < len(q) and q[start] in " \t\n\r":
                start += 1
            end = n.rhs.pos[0] - 1
            while end > start and q[end] in " \t\n\r":
                end -= 1
            return start, end

        comparison = n.op in COMPARISON_OPS
        if n.return_bool and not comparison:
            raise self.fail(op_range(), "bool modifier can only be used on comparison operators")
        if comparison and not n.return_bool and lt is rt is ValueType.SCALAR:
            raise self.fail(op_range(), "comparisons between scalars must use BOOL modifier")
        vm = n.matching
        is_set = n.op in SET_OPS
        if vm is not None:
            if is_set and vm.card is Cardinality.ONE_TO_ONE:
                vm.card = Cardinality.MANY_TO_MANY
            if vm.on:
                for label in vm.matching_labels:
                    if label in vm.include:
                        raise self.fail(
                            op_range(),
                            f"label {go_quote(label)} must not occur in ON and GROUP clause "
                            "at once",
                        )
        for t, side in ((lt, n.lhs), (rt, n.rhs)):
            if t not in (ValueType.SCALAR, ValueType.VECTOR):
                raise self.fail(
                    side.pos, "binary expression must contain only scalar and instant vector types"
                )
        fill = vm is not None and (vm.fill_left is not None or vm.fill_right is not None)
        if (lt is not ValueType.VECTOR or rt is not ValueType.VECTOR) and vm is not None:
            if vm.matching_labels:
                raise self.fail(n.pos, "vector matching only allowed between instant vectors")
            if fill:
                raise self.fail(
                    n.pos, "filling in missing series only allowed between instant vectors"
                )
            n.matching = None
        elif is_set and vm is not None:
            if vm.card in (Cardinality.ONE_TO_MANY, Cardinality.MANY_TO_ONE):
                raise self.fail(n.pos, f"no grouping allowed for {go_quote(n.op)} operation")
            if vm.card is not Cardinality.MANY_TO_MANY:
                raise self.fail(n.pos, "set operations must always be many-to-many")
            if fill:
                raise self.fail(n.pos, "filling in missing series not allowed for set operators")
        if (lt is ValueType.SCALAR or rt is ValueType.SCALAR) and is_set:
            raise self.fail(
                n.pos, f"set operator {go_quote(n.op)} not allowed in binary scalar expression"
            )
        return n.type

    def call(self, n: Call) -> ValueType:
        sig = SIGNATURES.get(n.func)
        if sig is None:
            raise self.fail(n.pos, f"unknown function with name {go_quote(n.func)}")
        nargs = len(sig.arg_types)
        name = go_quote(n.func)
        if sig.variadic == 0:
            if nargs != len(n.args):
                raise self.fail(
                    n.pos, f"expected {nargs} argument(s) in call to {name}, got {len(n.args)}"
                )
        else:
            na = nargs - 1
            if na > len(n.args):
                raise self.fail(
                    n.pos,
                    f"expected at least {na} argument(s) in call to {name}, got {len(n.args)}",
                )
            if sig.variadic > 0 and na + sig.variadic < len(n.args):
                raise self.fail(
                    n.pos,
                    f"expected at most {na + sig.variadic} argument(s) in call to {name}, "
                    f"got {len(n.args)}",
                )
        bypass_second = False
        if n.func == "info" and len(n.args) > 1:
            second = n.args[1]
            if second.type is not ValueType.VECTOR:
                raise self.fail(
                    n.pos,
                    f"expected type instant vector in call to function {name}, "
                    f"got {documented_type(second.type)}",
                )
            if isinstance(second, VectorSelector) and second.name:
                raise self.fail(
                    second.pos, "expected label selectors only, got vector selector instead"
                )
            if not isinstance(second, VectorSelector):
                raise self.fail(second.pos, "expected label selectors only")
            bypass_second = True
        for i, arg in enumerate(n.args):
            j = i
            if j >= nargs:
                if sig.variadic == 0:
                    break
                j = nargs - 1
            t = self.check(arg, bypass_empty_matcher_check=bypass_second and i == 1)
            if t is not sig.arg_types[j]:
                raise self.fail(
                    arg.pos,
                    f"expected type {documented_type(sig.arg_types[j])} in call to function "
                    f"{name}, got {documented_type(t)}",
                )
        return sig.return_type

    def vector_selector(self, n: VectorSelector, bypass: bool) -> None:
        if n.name:
            # The last matcher is the one for the name written before the braces.
            for m in n.matchers[:-1]:
                if m.name == METRIC_NAME:
                    raise self.fail(
                        n.pos,
                        f"metric name must not be set twice: {go_quote(n.name)} or "
                        f"{go_quote(m.value)}",
                    )
            return
        if bypass:
            return
        if not any(not m.matches_empty() for m in n.matchers):
            raise self.fail(n.pos, "vector selector must contain at least one non-empty matcher")
