"""Printing PromQL trees: Prometheus' ``String()``, ``Prettify`` and the parse_query JSON.

:func:`format_expr` reproduces ``parser.Expr.String()`` byte for byte (sorted matchers,
``by (a, b)`` spacing, ``@ 10.000``, durations as ``1h30m``); the promqltest runner's ``@``
rewrite and error messages rely on it. :func:`prettify` is ``parser.Prettify`` behind
``/api/v1/format_query``; :func:`to_json` is the tree ``/api/v1/parse_query`` returns.
"""

from __future__ import annotations

import math
from typing import Any

from promhub.model.gofloat import format_f
from promhub.model.labels import METRIC_NAME
from promhub.model.matcher import Matcher, MatchType
from promhub.promql.ast import (
    AggregateExpr,
    AtModifier,
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
    VectorMatching,
    VectorSelector,
)
from promhub.promql.lexer import ParseError
from promhub.promql.literals import format_duration_ms, go_quote

_PARAM_AGGREGATORS = frozenset(
    {"topk", "bottomk", "count_values", "quantile", "limitk", "limit_ratio"}
)


def format_expr(e: Expr) -> str:
    """The canonical text of an expression, as Prometheus' ``String()`` prints it.

    >>> from promhub.promql.parser import parse_expr
    >>> format_expr(parse_expr('sum by(job)(rate(x{b="1",a="2"}[300s]))'))
    'sum by (job) (rate(x{a="2",b="1"}[5m]))'
    """
    try:
        return _fmt(e)
    except RecursionError:
        raise ParseError("", "maximum nesting depth exceeded", [(0, 0)]) from None


format_float = format_f


def format_label_name(name: str) -> str:
    """A label name as Prometheus prints it: bare when legacy-valid, else Go-quoted."""
    ok = name != "" and all(
        c == "_" or ("a" <= c <= "z") or ("A" <= c <= "Z") or (i > 0 and "0" <= c <= "9")
        for i, c in enumerate(name)
    )
    return name if ok else go_quote(name)


def format_matcher(m: Matcher) -> str:
    """Prometheus' ``labels.Matcher.String()``: ``name="value"`` with Go quoting."""
    return f"{format_label_name(m.name)}{m.type.value}{go_quote(m.value)}"


def _labels(names: list[str]) -> str:
    return ", ".join(format_label_name(n) for n in names)


def _duration_literal(value: float) -> str:
    if value < 0:
        return "-" + format_duration_ms(_trunc_ms(-value))
    return format_duration_ms(_trunc_ms(value))


def _trunc_ms(seconds: float) -> int:
    # Go converts float seconds to an int64 of nanoseconds (truncating), then to ms.
    if math.isnan(seconds) or math.isinf(seconds):
        return 0
    return int(seconds * 1e9) // 1_000_000


def _offset(ms: int, expr: Expr | None) -> str:
    if expr is not None:
        return " offset " + _fmt(expr)
    if ms > 0:
        return " offset " + format_duration_ms(ms)
    if ms < 0:
        return " offset -" + format_duration_ms(-ms)
    return ""


def _at(ts: int | None, start_or_end: AtModifier | None) -> str:
    if ts is not None:
        return f" @ {ts / 1000.0:.3f}"
    if start_or_end is AtModifier.START:
        return " @ start()"
    if start_or_end is AtModifier.END:
        return " @ end()"
    return ""


def _extended(vs: VectorSelector) -> str:
    return (" anchored" if vs.anchored else "") + (" smoothed" if vs.smoothed else "")


def _selector_body(vs: VectorSelector) -> str:
    parts = [
        format_matcher(m)
        for m in vs.matchers
        if not (
            m.name == METRIC_NAME
            and m.type is MatchType.EQUAL
            and m.value == vs.name
            and m.value != ""
        )
    ]
    if not parts:
        return vs.name
    return vs.name + "{" + ",".join(sorted(parts)) + "}"


def _matching(vm: VectorMatching | None) -> str:
    if vm is None:
        return ""
    out = ""
    grouped = vm.card in (Cardinality.MANY_TO_ONE, Cardinality.ONE_TO_MANY)
    if vm.matching_labels or vm.on or grouped:
        out = f" {'on' if vm.on else 'ignoring'} ({_labels(vm.matching_labels)})"
        if grouped:
            side = "left" if vm.card is Cardinality.MANY_TO_ONE else "right"
            out += f" group_{side} ({_labels(vm.include)})"
    fl, fr = vm.fill_left, vm.fill_right
    if fl is not None and fr is not None and _same(fl, fr):
        out += f" fill ({format_float(fl)})"
    else:
        if fl is not None:
            out += f" fill_left ({format_float(fl)})"
        if fr is not None:
            out += f" fill_right ({format_float(fr)})"
    return out


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _agg_head(e: AggregateExpr) -> str:
    if e.without:
        return f"{e.op} without ({_labels(e.grouping)}) "
    if e.grouping:
        return f"{e.op} by ({_labels(e.grouping)}) "
    return e.op


def _fmt(e: Expr) -> str:
    if isinstance(e, NumberLiteral):
        return _duration_literal(e.value) if e.duration else format_float(e.value)
    if isinstance(e, StringLiteral):
        return go_quote(e.value)
    if isinstance(e, VectorSelector):
        return (
            _selector_body(e)
            + _extended(e)
            + _at(e.timestamp_ms, e.start_or_end)
            + _offset(e.offset_ms, e.offset_expr)
        )
    if isinstance(e, MatrixSelector):
        vs = e.vector_selector
        rng = _fmt(e.range_expr) if e.range_expr is not None else format_duration_ms(e.range_ms)
        return (
            f"{_selector_body(vs)}[{rng}]{_extended(vs)}"
            + _at(vs.timestamp_ms, vs.start_or_end)
            + _offset(vs.offset_ms, vs.offset_expr)
        )
    if isinstance(e, SubqueryExpr):
        return _fmt(e.expr) + subquery_suffix(e)
    if isinstance(e, Call):
        return f"{e.func}({', '.join(_fmt(a) for a in e.args)})"
    if isinstance(e, AggregateExpr):
        head = _agg_head(e)
        inner = _fmt(e.expr)
        if e.op in _PARAM_AGGREGATORS and e.param is not None:
            inner = _fmt(e.param) + ", " + inner
        return f"{head}({inner})"
    if isinstance(e, BinaryExpr):
        b = " bool" if e.return_bool else ""
        return f"{_fmt(e.lhs)} {e.op}{b}{_matching(e.matching)} {_fmt(e.rhs)}"
    if isinstance(e, UnaryExpr):
        return e.op + _fmt(e.expr)
    if isinstance(e, ParenExpr):
        return f"({_fmt(e.expr)})"
    if isinstance(e, StepInvariantExpr):
        return _fmt(e.expr)
    raise TypeError(f"cannot format {type(e).__name__}")


def subquery_suffix(e: SubqueryExpr) -> str:
    """``[<range>:<step>] @ <ts> offset <offset>`` of a subquery."""
    rng = _fmt(e.range_expr) if e.range_expr is not None else format_duration_ms(e.range_ms)
    if e.step_ms:
        step = format_duration_ms(e.step_ms)
    elif e.step_expr is not None:
        step = _fmt(e.step_expr)
    else:
        step = ""
    return (
        f"[{rng}:{step}]"
        + _at(e.timestamp_ms, e.start_or_end)
        + _offset(e.offset_ms, e.offset_expr)
    )


#: Prometheus' maxCharactersPerLine for Prettify.
MAX_CHARACTERS_PER_LINE = 100


def prettify(e: Expr, max_width: int = MAX_CHARACTERS_PER_LINE) -> str:
    """Prometheus' ``parser.Prettify`` (``/api/v1/format_query``).

    A node whose one-line form is longer than ``max_width`` bytes is split: its children go
    on their own lines, indented two spaces per level.

    >>> from promhub.promql.parser import parse_expr
    >>> print(prettify(parse_expr("sum by (job) (rate(foo[5m]))"), max_width=10))
    sum by (job) (
      rate(
        foo[5m]
      )
    )
    """
    try:
        return _Pretty(max_width).pretty(e, 0)
    except RecursionError:
        raise ParseError("", "maximum nesting depth exceeded", [(0, 0)]) from None


class _Pretty:
    def __init__(self, width: int) -> None:
        self.width = width

    def split(self, e: Expr) -> bool:
        return len(_fmt(e).encode("utf-8", "surrogateescape")) > self.width

    def pretty(self, e: Expr, level: int) -> str:
        ind = "  " * level
        if isinstance(e, StepInvariantExpr):
            return self.pretty(e.expr, level)
        if isinstance(e, SubqueryExpr):
            # Prometheus does not indent an unsplit subquery; kept for identical output.
            if not self.split(e):
                return _fmt(e)
            return self.pretty(e.expr, level) + subquery_suffix(e)
        if isinstance(e, UnaryExpr):
            return ind + e.op + self.pretty(e.expr, level).strip()
        if not isinstance(e, AggregateExpr | BinaryExpr | Call | ParenExpr) or not self.split(e):
            return ind + _fmt(e)
        if isinstance(e, AggregateExpr):
            out = ind + _agg_head(e) + "(\n"
            if e.op in _PARAM_AGGREGATORS and e.param is not None:
                out += self.pretty(e.param, level + 1) + ",\n"
            return out + self.pretty(e.expr, level + 1) + "\n" + ind + ")"
        if isinstance(e, BinaryExpr):
            b = " bool" if e.return_bool else ""
            return (
                f"{self.pretty(e.lhs, level + 1)}\n{ind}{e.op}{b}{_matching(e.matching)}\n"
                f"{self.pretty(e.rhs, level + 1)}"
            )
        if isinstance(e, Call):
            args = ",\n".join(self.pretty(a, level + 1) for a in e.args)
            return f"{ind}{e.func}(\n{args}\n{ind})"
        return f"{ind}(\n{self.pretty(e.expr, level + 1)}\n{ind})"


def to_json(e: Expr) -> dict[str, Any]:
    """The syntax tree as ``/api/v1/parse_query`` returns it (Prometheus' translateAST).

    Keys are in sorted order, as Go's encoding/json writes maps.
    """
    try:
        out: dict[str, Any] = _json(e)
    except RecursionError:
        raise ParseError("", "maximum nesting depth exceeded", [(0, 0)]) from None
    return out


def _json_matchers(ms: list[Matcher]) -> list[dict[str, Any]]:
    return [{"name": m.name, "type": m.type.value, "value": m.value} for m in ms]


def _start_or_end(v: AtModifier | None) -> str | None:
    return None if v is None else v.value


def _json(e: Expr | None) -> Any:
    if e is None:
        return None
    if isinstance(e, StepInvariantExpr):
        return _json(e.expr)
    if isinstance(e, AggregateExpr):
        return {
            "expr": _json(e.expr),
            "grouping": list(e.grouping),
            "op": e.op,
            "param": _json(e.param),
            "type": "aggregation",
            "without": e.without,
        }
    if isinstance(e, BinaryExpr):
        matching = None
        vm = e.matching
        if vm is not None:
            matching = {
                "card": vm.card.value,
                "fillValues": {"lhs": vm.fill_left, "rhs": vm.fill_right},
                "include": list(vm.include),
                "labels": list(vm.matching_labels),
                "on": vm.on,
            }
        return {
            "bool": e.return_bool,
            "lhs": _json(e.lhs),
            "matching": matching,
            "op": e.op,
            "rhs": _json(e.rhs),
            "type": "binaryExpr",
        }
    if isinstance(e, Call):
        from promhub.promql.signatures import SIGNATURES

        sig = SIGNATURES.get(e.func)
        func: dict[str, Any] = {
            "argTypes": [t.value for t in sig.arg_types] if sig else [],
            "name": e.func,
            "returnType": (sig.return_type if sig else e.return_type).value,
            "variadic": sig.variadic if sig else 0,
        }
        return {"args": [_json(a) for a in e.args], "func": func, "type": "call"}
    if isinstance(e, MatrixSelector):
        vs = e.vector_selector
        return {
            "anchored": vs.anchored,
            "matchers": _json_matchers(vs.matchers),
            "name": vs.name,
            "offset": vs.offset_ms,
            "range": e.range_ms,
            "smoothed": vs.smoothed,
            "startOrEnd": _start_or_end(vs.start_or_end),
            "timestamp": vs.timestamp_ms,
            "type": "matrixSelector",
        }
    if isinstance(e, SubqueryExpr):
        return {
            "alignEvalTime": False,
            "expr": _json(e.expr),
            "offset": e.offset_ms,
            "range": e.range_ms,
            "startOrEnd": _start_or_end(e.start_or_end),
            "step": e.step_ms,
            "timestamp": e.timestamp_ms,
            "type": "subquery",
        }
    if isinstance(e, NumberLiteral):
        return {"type": "numberLiteral", "val": format_float(e.value)}
    if isinstance(e, ParenExpr):
        return {"expr": _json(e.expr), "type": "parenExpr"}
    if isinstance(e, StringLiteral):
        return {"type": "stringLiteral", "val": e.value}
    if isinstance(e, UnaryExpr):
        return {"expr": _json(e.expr), "op": e.op, "type": "unaryExpr"}
    if isinstance(e, VectorSelector):
        return {
            "anchored": e.anchored,
            "matchers": _json_matchers(e.matchers),
            "name": e.name,
            "offset": e.offset_ms,
            "smoothed": e.smoothed,
            "startOrEnd": _start_or_end(e.start_or_end),
            "timestamp": e.timestamp_ms,
            "type": "vectorSelector",
        }
    raise TypeError(f"cannot translate {type(e).__name__}")
