"""A hand-written PromQL parser with Prometheus' grammar, precedence and error messages.

Precedence climbing over the token stream of :mod:`promhub.promql.lexer`, mirroring
Prometheus' ``generated_parser.y`` rule by rule: the same operator precedence (``^``
right-associative, unary minus binding like ``*`` so ``-2 ^ 2`` is ``-(2 ^ 2)``), the same
postfix modifiers (``[range]``, ``[range:step]``, ``offset``, ``@``, ``anchored``,
``smoothed``), the same semantic errors raised by grammar actions, and — once the tree is
syntactically valid — the same type checks as ``parser.checkAST``
(see :mod:`promhub.promql.checker`-like code at the end of this module).

Where goyacc would recover from a syntax error by popping states until one accepts the
``error`` token, the message names that state's context (``in grouping opts``, ``in
aggregation``...). The parser keeps a stack of those contexts so its messages match.

Duration expressions (``[5m+1m]``, ``offset -step()``, ``min_of(range(), 8s)``) are kept
as ordinary nodes: ``BinaryExpr``/``UnaryExpr``/``ParenExpr``/``NumberLiteral`` and
``Call`` with ``func`` in ``step``, ``range``, ``min_of``, ``max_of``;
:func:`evaluate_duration` computes them once the query's step and range are known.
"""

from __future__ import annotations

import math

from promhub.model.labels import METRIC_NAME
from promhub.model.matcher import Matcher, MatchType
from promhub.promql import lexer as lx
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
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    ValueType,
    VectorMatching,
    VectorSelector,
)
from promhub.promql.checker import check
from promhub.promql.lexer import ParseError, Token
from promhub.promql.literals import (
    MAX_DURATION_S,
    evaluate_duration,
    go_format_f,
    go_quote,
    go_unquote,
    parse_duration_ms,
    parse_go_number,
    round_half_away,
    seconds_to_ms,
    valid_label_name,
)
from promhub.promql.signatures import DURATION_FUNCTIONS, SIGNATURES

#: Deepest allowed nesting of the syntax tree; deeper queries are refused with a ParseError
#: instead of exhausting the interpreter's stack here or in the engine.
MAX_DEPTH = 200
#: Longest accepted query, in characters.
MAX_QUERY_LENGTH = 1 << 20

_BINARY_PREC = {
    "LOR": 1,
    "LAND": 2,
    "LUNLESS": 2,
    "EQLC": 3,
    "NEQ": 3,
    "LTE": 3,
    "LSS": 3,
    "GTE": 3,
    "GTR": 3,
    "ADD": 4,
    "SUB": 4,
    "MUL": 5,
    "DIV": 5,
    "MOD": 5,
    "ATAN2": 5,
    "TRIM_UPPER": 5,
    "TRIM_LOWER": 5,
    "POW": 6,
}
_MUL_PREC = 5
_DURATION_PREC = {"ADD": 4, "SUB": 4, "MUL": 5, "DIV": 5, "MOD": 5, "POW": 6}
_OP_TEXT = lx.OPERATORS
_MATCH_OPS = {"EQL": "=", "NEQ": "!=", "EQL_REGEX": "=~", "NEQ_REGEX": "!~"}

# Keywords that may also name a metric (Prometheus' metric_identifier rule).
_METRIC_KEYWORDS = frozenset(
    set(lx.AGGREGATORS)
    | {"BY", "LAND", "LOR", "LUNLESS", "OFFSET", "WITHOUT", "START", "END", "STEP", "RANGE"}
    | {"ANCHORED", "SMOOTHED", "FILL", "FILL_LEFT", "FILL_RIGHT", "MIN_OF", "MAX_OF"}
)
# Tokens that may name a label in grouping clauses (Prometheus' maybe_label rule).
_LABEL_TOKENS = frozenset(
    _METRIC_KEYWORDS
    | {"IDENTIFIER", "METRIC_IDENTIFIER", "BOOL", "GROUP_LEFT", "GROUP_RIGHT", "IGNORING"}
    | {"ON", "ATAN2"}
)
_PARAM_AGGREGATORS = frozenset({"topk", "bottomk", "count_values", "quantile", "limitk"}) | {
    "limit_ratio"
}
_DUR_EXPECTED = "number, duration, step(), or range()"


def parse_expr(text: str) -> Expr:
    """Parse a PromQL expression, type-checked as Prometheus does.

    >>> parse_expr("sum by (job) (rate(http_requests_total[5m]))").type.value
    'vector'

    Raises :class:`ParseError` with Prometheus' message, e.g.
    ``1:5: parse error: unexpected <op:+>``.
    """
    if len(text) > MAX_QUERY_LENGTH:
        raise ParseError(
            text, f"query too long ({len(text)} characters, limit {MAX_QUERY_LENGTH})", [(0, 0)]
        )
    p = _Parser(text)
    expr = p.parse()
    check(text, expr)
    return expr


def parse_metric_selector(text: str) -> list[Matcher]:
    """Parse a series selector (``match[]``): ``up{job="x"}`` or ``{__name__=~"a.*"}``."""
    p = _Parser(text)
    vs = p.parse_selector_only()
    return vs.matchers


class _Abort(Exception):
    """Unwinds the parser after a syntax error; the error is in ``_Parser.errors``."""


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.lexer = lx.Lexer(text)
        self.errors: list[tuple[int, int, str]] = []
        self.ctx: list[tuple[str, str]] = []
        self.last_closing = 0
        self.nesting = 0
        self.depth: dict[int, int] = {}
        self.peeked: Token | None = None
        self.tok = Token(lx.EOF, 0, "")

    # -- token stream -----------------------------------------------------------------
    def _read(self) -> Token:
        while True:
            t = self.lexer.next_token()
            if t.kind == lx.COMMENT:
                continue
            if t.kind == lx.ERROR:
                self.errors.append((t.pos, len(self.text), t.val))
                raise _Abort
            return t

    def advance(self) -> Token:
        t = self.tok
        if t.kind in (lx.RIGHT_BRACE, lx.RIGHT_PAREN, lx.RIGHT_BRACKET, lx.DURATION, lx.NUMBER):
            self.last_closing = t.end
        if self.peeked is not None:
            self.tok, self.peeked = self.peeked, None
        else:
            self.tok = self._read()
        return t

    def peek(self) -> Token:
        """The token after the current one (for ``fill`` as modifier vs metric name)."""
        if self.peeked is None:
            self.peeked = self._read()
        return self.peeked

    def expect(self, kind: str) -> Token:
        if self.tok.kind != kind:
            self.unexpected()
        return self.advance()

    def error(self, start: int, end: int, message: str) -> None:
        """A semantic error from a grammar action: recorded, parsing goes on."""
        self.errors.append((start, end, message))

    def unexpected(self, tok: Token | None = None) -> None:
        t = tok or self.tok
        context, expected = self.ctx[-1] if self.ctx else ("", "")
        msg = "unexpected " + t.desc()
        if context:
            msg += " in " + context
        if expected:
            msg += ", expected " + expected
        self.errors.append((t.pos, t.end, msg))
        raise _Abort

    def fail(self) -> ParseError:
        return ParseError(self.text, self.errors[0][2], [(s, e) for s, e, _ in self.errors])

    # -- entry points -----------------------------------------------------------------
    def parse(self) -> Expr:
        try:
            self.tok = self._read()
            if self.tok.kind == lx.EOF:
                self.error(0, 0, "no expression found in input")
                raise _Abort
            expr = self.expr(0)
            if self.tok.kind != lx.EOF:
                self.unexpected()
        except _Abort:
            raise self.fail() from None
        except RecursionError:
            raise ParseError(self.text, "maximum nesting depth exceeded", [(0, 0)]) from None
        if self.errors:
            raise self.fail()
        return expr

    def parse_selector_only(self) -> VectorSelector:
        try:
            self.tok = self._read()
            t = self.tok
            if t.kind == lx.LEFT_BRACE:
                vs = self.label_matchers(None)
            elif t.kind in _METRIC_KEYWORDS or t.kind in (lx.IDENTIFIER, lx.METRIC_IDENTIFIER):
                vs = self.selector()
            else:
                self.unexpected()
            if self.tok.kind != lx.EOF:
                self.unexpected()
        except _Abort:
            raise self.fail() from None
        if self.errors:
            raise self.fail()
        check(self.text, vs)
        return vs

    # -- depth accounting -------------------------------------------------------------
    def node(self, n: Expr, *children: Expr | None) -> Expr:
        d = 1 + max((self.depth.get(id(c), 1) for c in children if c is not None), default=0)
        if d > MAX_DEPTH:
            self.errors.append(
                (n.pos[0], n.pos[1], f"maximum nesting depth of {MAX_DEPTH} exceeded")
            )
            raise _Abort
        self.depth[id(n)] = d
        return n

    # -- expressions ------------------------------------------------------------------
    def _descend(self) -> None:
        # Bounded recursion: a hostile query gets a parse error, never a RecursionError.
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            t = self.tok
            self.errors.append((t.pos, t.end, f"maximum nesting depth of {MAX_DEPTH} exceeded"))
            raise _Abort

    def expr(self, min_prec: int) -> Expr:
        self._descend()
        lhs = self.unary_or_primary()
        while True:
            lhs = self.postfix(lhs)
            prec = _BINARY_PREC.get(self.tok.kind)
            if prec is None or prec < min_prec:
                break
            op_tok = self.advance()
            matching, return_bool = self.bin_modifiers()
            rhs = self.expr(prec if op_tok.kind == "POW" else prec + 1)
            op = _OP_TEXT[op_tok.kind]
            b = BinaryExpr(
                pos=(lhs.pos[0], rhs.pos[1]),
                op=op,
                lhs=lhs,
                rhs=rhs,
                matching=matching,
                return_bool=return_bool,
            )
            lhs = self.node(b, lhs, rhs)
        self.nesting -= 1
        return lhs

    def unary_or_primary(self) -> Expr:
        t = self.tok
        if t.kind in ("ADD", "SUB"):
            self.advance()
            operand = self.expr(_MUL_PREC + 1)
            if isinstance(operand, NumberLiteral):
                if t.kind == "SUB":
                    operand.value = -operand.value
                operand.pos = (t.pos, operand.pos[1])
                return operand
            u = UnaryExpr(pos=(t.pos, operand.pos[1]), op=_OP_TEXT[t.kind], expr=operand)
            return self.node(u, operand)
        return self.primary()

    def primary(self) -> Expr:
        t = self.tok
        k = t.kind
        if k in (lx.NUMBER, lx.DURATION):
            return self.number_literal()
        if k == lx.STRING:
            self.advance()
            return StringLiteral(pos=(t.pos, t.end), value=go_unquote(t.val))
        if k == lx.LEFT_PAREN:
            self.advance()
            inner = self.expr(0)
            close = self.expect(lx.RIGHT_PAREN)
            return self.node(ParenExpr(pos=(t.pos, close.end), expr=inner), inner)
        if k == lx.LEFT_BRACE:
            return self.label_matchers(None)
        if k == lx.IDENTIFIER:
            self.advance()
            if self.tok.kind == lx.LEFT_PAREN:
                return self.function_call(t)
            return self.selector_from(t)
        if k in lx.AGGREGATORS:
            self.advance()
            if self.tok.kind in (lx.LEFT_PAREN, "BY", "WITHOUT"):
                return self.aggregation(t)
            return self.selector_from(t)
        if k in ("START", "END", "STEP", "RANGE", "MIN_OF", "MAX_OF"):
            self.advance()
            if self.tok.kind == lx.LEFT_PAREN:
                # As expressions these are ordinary (scalar) functions: min_of(x, NaN).
                return self.function_call(Token(lx.IDENTIFIER, t.pos, t.val.lower()))
            return self.selector_from(t)
        if k in _METRIC_KEYWORDS or k == lx.METRIC_IDENTIFIER:
            self.advance()
            return self.selector_from(t)
        self.unexpected()
        raise AssertionError  # unreachable

    def number_literal(self) -> NumberLiteral:
        t = self.advance()
        if t.kind == lx.DURATION:
            try:
                ms = parse_duration_ms(t.val)
            except ValueError as e:
                self.error(t.pos, t.end, str(e))
                ms = 0
            return NumberLiteral(pos=(t.pos, t.end), value=ms / 1000.0, duration=True)
        return NumberLiteral(pos=(t.pos, t.end), value=self.number(t))

    def number(self, t: Token) -> float:
        v = parse_go_number(t.val)
        if isinstance(v, str):
            self.error(t.pos, t.end, f"error parsing number: {v}")
            return 0.0
        return v

    # -- selectors --------------------------------------------------------------------
    def selector(self) -> VectorSelector:
        t = self.advance()
        return self.selector_from(t)

    def selector_from(self, name_tok: Token) -> VectorSelector:
        if self.tok.kind == lx.LEFT_BRACE:
            vs = self.label_matchers(name_tok)
        else:
            vs = VectorSelector(pos=(name_tok.pos, name_tok.end), name=name_tok.val)
        vs.name = name_tok.val
        vs.matchers.append(Matcher.new(MatchType.EQUAL, METRIC_NAME, name_tok.val))
        return vs

    def label_matchers(self, name_tok: Token | None) -> VectorSelector:
        open_tok = self.advance()
        matchers: list[Matcher] = []
        self.ctx.append(("label matching", '"," or "}"'))
        while True:
            if self.tok.kind == lx.RIGHT_BRACE:
                break
            m = self.label_matcher()
            if m is not None:
                matchers.append(m)
            if self.tok.kind == lx.COMMA:
                self.advance()
                continue
            if self.tok.kind != lx.RIGHT_BRACE:
                self.unexpected()
        close = self.advance()
        self.ctx.pop()
        start = name_tok.pos if name_tok is not None else open_tok.pos
        return VectorSelector(pos=(start, close.end), matchers=matchers)

    def label_matcher(self) -> Matcher | None:
        t = self.tok
        if t.kind == lx.IDENTIFIER:
            name = t.val
        elif t.kind == lx.STRING:
            name = go_unquote(t.val)
        else:
            self.ctx.append(("label matching", 'identifier or "}"'))
            self.unexpected()
        self.advance()
        op = self.tok
        if op.kind not in _MATCH_OPS:
            if t.kind == lx.STRING:
                # A bare quoted name inside braces is the metric name: {"my.metric"}.
                return self.new_matcher(t, t, MatchType.EQUAL, METRIC_NAME, name)
            self.ctx.append(("label matching", "label matching operator"))
            self.unexpected()
        self.advance()
        v = self.tok
        if v.kind != lx.STRING:
            self.ctx.append(("label matching", "string"))
            self.unexpected()
        self.advance()
        return self.new_matcher(t, v, MatchType(_MATCH_OPS[op.kind]), name, go_unquote(v.val))

    def new_matcher(
        self, first: Token, last: Token, mt: MatchType, name: str, value: str
    ) -> Matcher | None:
        try:
            return Matcher.new(mt, name, value)
        except ValueError as e:
            self.error(first.pos, last.end, str(e))
            return None

    # -- calls and aggregations -------------------------------------------------------
    def call_args(self) -> list[Expr]:
        self.expect(lx.LEFT_PAREN)
        args: list[Expr] = []
        if self.tok.kind == lx.RIGHT_PAREN:
            self.advance()
            return args
        while True:
            args.append(self.expr(0))
            if self.tok.kind == lx.COMMA:
                comma = self.advance()
                if self.tok.kind == lx.RIGHT_PAREN:
                    self.error(
                        comma.pos, comma.end, "trailing commas not allowed in function call args"
                    )
                    self.advance()
                    return args
                continue
            if self.tok.kind == lx.RIGHT_PAREN:
                self.advance()
                return args
            self.unexpected()

    def function_call(self, name_tok: Token) -> Expr:
        sig = SIGNATURES.get(name_tok.val)
        if sig is None:
            self.error(
                name_tok.pos, name_tok.end, f"unknown function with name {go_quote(name_tok.val)}"
            )
        args = self.call_args()
        ret = sig.return_type if sig is not None else ValueType.VECTOR
        c = Call(
            pos=(name_tok.pos, self.last_closing), func=name_tok.val, args=args, return_type=ret
        )
        return self.node(c, *args)

    def aggregation(self, op_tok: Token) -> Expr:
        self.ctx.append(("aggregation", ""))
        grouping: list[str] = []
        without = by = False
        if self.tok.kind in ("BY", "WITHOUT"):
            without = self.advance().kind == "WITHOUT"
            by = not without
            grouping = self.grouping_labels()
            if self.tok.kind != lx.LEFT_PAREN:
                self.unexpected()
            args = self.call_args()
        else:
            args = self.call_args()
            if self.tok.kind in ("BY", "WITHOUT"):
                without = self.advance().kind == "WITHOUT"
                by = not without
                grouping = self.grouping_labels()
        self.ctx.pop()
        op = op_tok.val.lower()
        agg = AggregateExpr(
            pos=(op_tok.pos, self.last_closing), op=op, grouping=grouping, without=without, by=by
        )
        desired = 2 if op in _PARAM_AGGREGATORS else 1
        if not args:
            self.error(agg.pos[0], agg.pos[1], "no arguments for aggregate expression provided")
            return agg
        if desired == 2:
            agg.param = args[0]
        if len(args) != desired:
            self.error(
                agg.pos[0],
                agg.pos[1],
                "wrong number of arguments for aggregate expression provided, "
                f"expected {desired}, got {len(args)}",
            )
            return agg
        agg.expr = args[desired - 1]
        return self.node(agg, *args)

    def grouping_labels(self) -> list[str]:
        self.ctx.append(("grouping opts", '"("'))
        self.expect(lx.LEFT_PAREN)
        labels: list[str] = []
        if self.tok.kind == lx.RIGHT_PAREN:
            self.advance()
            self.ctx.pop()
            return labels
        while True:
            t = self.tok
            if t.kind == lx.STRING:
                name = go_unquote(t.val)
                if not valid_label_name(name):
                    self.error(t.pos, t.end, f"invalid label name for grouping: {go_quote(name)}")
            elif t.kind in _LABEL_TOKENS:
                name = t.val
            else:
                self.ctx.append(("grouping opts", "label"))
                self.unexpected()
            self.advance()
            labels.append(name)
            if self.tok.kind == lx.COMMA:
                self.advance()
                if self.tok.kind == lx.RIGHT_PAREN:
                    break
                continue
            if self.tok.kind == lx.RIGHT_PAREN:
                break
            self.ctx.append(("grouping opts", '"," or ")"'))
            self.unexpected()
        self.advance()
        self.ctx.pop()
        return labels

    # -- binary operator modifiers ----------------------------------------------------
    def bin_modifiers(self) -> tuple[VectorMatching, bool]:
        vm = VectorMatching()
        return_bool = False
        if self.tok.kind == "BOOL":
            self.advance()
            return_bool = True
        if self.tok.kind in ("ON", "IGNORING"):
            vm.on = self.advance().kind == "ON"
            vm.explicit = True
            vm.matching_labels = self.grouping_labels()
            if self.tok.kind in ("GROUP_LEFT", "GROUP_RIGHT"):
                left = self.advance().kind == "GROUP_LEFT"
                vm.card = Cardinality.MANY_TO_ONE if left else Cardinality.ONE_TO_MANY
                if self.tok.kind == lx.LEFT_PAREN:
                    vm.include = self.grouping_labels()
        if (
            self.tok.kind in ("FILL", "FILL_LEFT", "FILL_RIGHT")
            and self.peek().kind != lx.LEFT_PAREN
        ):
            # A metric named fill: `a + fill`.
            return vm, return_bool
        if self.tok.kind == "FILL":
            self.advance()
            vm.fill_left = vm.fill_right = self.fill_value()
        elif self.tok.kind in ("FILL_LEFT", "FILL_RIGHT"):
            first = self.advance().kind
            v = self.fill_value()
            if first == "FILL_LEFT":
                vm.fill_left = v
            else:
                vm.fill_right = v
            other = "FILL_RIGHT" if first == "FILL_LEFT" else "FILL_LEFT"
            if self.tok.kind == other and self.peek().kind == lx.LEFT_PAREN:
                self.advance()
                v = self.fill_value()
                if other == "FILL_LEFT":
                    vm.fill_left = v
                else:
                    vm.fill_right = v
        return vm, return_bool

    def fill_value(self) -> float:
        self.ctx.append(("fill modifier", "number"))
        self.expect(lx.LEFT_PAREN)
        sign = 1.0
        if self.tok.kind in ("ADD", "SUB"):
            sign = -1.0 if self.advance().kind == "SUB" else 1.0
        if self.tok.kind not in (lx.NUMBER, lx.DURATION):
            self.unexpected()
        v = self.number_literal().value * sign
        self.ctx[-1] = ("fill modifier", '")"')
        self.expect(lx.RIGHT_PAREN)
        self.ctx.pop()
        return v

    # -- postfix modifiers ------------------------------------------------------------
    def postfix(self, e: Expr) -> Expr:
        while True:
            k = self.tok.kind
            if k == lx.LEFT_BRACKET:
                e = self.range_or_subquery(e)
            elif k == "OFFSET":
                self.offset(e)
            elif k == "AT":
                self.at(e)
            elif k in ("ANCHORED", "SMOOTHED"):
                self.advance()
                self.extended_range(e, k.lower())
            else:
                return e

    def range_or_subquery(self, e: Expr) -> Expr:
        open_tok = self.advance()
        self.ctx.append(("subquery or range selector", _DUR_EXPECTED))
        rng = self.duration_expr(0)
        self.ctx[-1] = ("subquery or range", '":" or "]"')
        self.positive(rng)
        if self.tok.kind == lx.RIGHT_BRACKET:
            close = self.advance()
            self.ctx.pop()
            return self.matrix(e, open_tok, close, rng)
        if self.tok.kind != lx.COLON:
            self.unexpected()
        self.advance()
        step: Expr | None = None
        if self.tok.kind != lx.RIGHT_BRACKET:
            self.ctx[-1] = ("subquery selector", 'number, duration, step(), range(), or "]"')
            step = self.duration_expr(0)
            self.positive(step)
            self.ctx[-1] = ("subquery selector", '"]"')
            if self.tok.kind != lx.RIGHT_BRACKET:
                self.unexpected()
        close = self.advance()
        self.ctx.pop()
        sq = SubqueryExpr(pos=(e.pos[0], close.end), expr=e)
        sq.range_ms, sq.range_expr = _split_duration(rng)
        if step is not None:
            sq.step_ms, sq.step_expr = _split_duration(step)
        return self.node(sq, e)

    def matrix(self, e: Expr, open_tok: Token, close: Token, rng: Expr) -> Expr:
        msg = ""
        if not isinstance(e, VectorSelector):
            msg = "ranges only allowed for vector selectors"
        elif e.offset_ms != 0 or e.offset_expr is not None:
            msg = "no offset modifiers allowed before range"
        elif e.timestamp_ms is not None or e.start_or_end is not None:
            msg = "no @ modifiers allowed before range"
        if msg:
            self.error(open_tok.pos, close.end, msg)
        vs = e if isinstance(e, VectorSelector) else VectorSelector(pos=e.pos)
        ms = MatrixSelector(pos=(e.pos[0], close.end), vector_selector=vs)
        ms.range_ms, ms.range_expr = _split_duration(rng)
        return self.node(ms, e)

    def positive(self, d: Expr) -> None:
        if isinstance(d, NumberLiteral) and d.value <= 0:
            self.error(d.pos[0], d.pos[1], "duration must be greater than 0")

    def modifier_target(self, e: Expr, modifier: str) -> VectorSelector | SubqueryExpr | None:
        """The node an ``offset``/``@`` after ``e`` applies to, or None (error recorded)."""
        if isinstance(e, VectorSelector | SubqueryExpr):
            return e
        if isinstance(e, MatrixSelector):
            return e.vector_selector
        self.error(
            e.pos[0],
            e.pos[1],
            f"{modifier} modifier must be preceded by an instant vector selector or range "
            "vector selector or a subquery",
        )
        return None

    def offset(self, e: Expr) -> None:
        self.advance()
        self.ctx.append(("offset", _DUR_EXPECTED))
        d = self.offset_duration()
        self.ctx.pop()
        target = self.modifier_target(e, "offset")
        if target is None:
            return
        if target.offset_ms != 0 or target.offset_expr is not None:
            self.error(e.pos[0], e.pos[1], "offset may not be set multiple times")
        else:
            target.offset_ms, target.offset_expr = _split_duration(d)
        e.pos = (e.pos[0], self.last_closing)

    def at(self, e: Expr) -> None:
        self.advance()
        self.ctx.append(("@", "timestamp"))
        t = self.tok
        ts: float | None = None
        preproc: AtModifier | None = None
        if t.kind in ("START", "END"):
            self.advance()
            self.expect(lx.LEFT_PAREN)
            self.expect(lx.RIGHT_PAREN)
            preproc = AtModifier.START if t.kind == "START" else AtModifier.END
        else:
            sign = 1.0
            if t.kind in ("ADD", "SUB"):
                sign = -1.0 if self.advance().kind == "SUB" else 1.0
            if self.tok.kind not in (lx.NUMBER, lx.DURATION):
                self.unexpected()
            ts = self.number_literal().value * sign
        self.ctx.pop()
        if ts is not None and (
            math.isinf(ts) or math.isnan(ts) or ts >= 2.0**63 or ts <= -(2.0**63)
        ):
            self.error(
                e.pos[0], e.pos[1], f"timestamp out of bounds for @ modifier: {go_format_f(ts)}"
            )
        target = self.modifier_target(e, "@")
        if target is None:
            return
        if target.timestamp_ms is not None or target.start_or_end is not None:
            self.error(e.pos[0], e.pos[1], "@ <timestamp> may not be set multiple times")
            return
        if preproc is not None:
            target.start_or_end = preproc
        elif ts is not None and not (math.isinf(ts) or math.isnan(ts)):
            target.timestamp_ms = round_half_away(ts * 1000.0)
        e.pos = (e.pos[0], self.last_closing)

    def extended_range(self, e: Expr, kind: str) -> None:
        other = "smoothed" if kind == "anchored" else "anchored"
        vs: VectorSelector | None = None
        if isinstance(e, VectorSelector):
            vs = e
        elif isinstance(e, MatrixSelector):
            vs = e.vector_selector
        elif isinstance(e, SubqueryExpr):
            self.error(e.pos[0], e.pos[1], f"{kind} modifier is not supported for subqueries")
            return
        else:
            self.error(e.pos[0], e.pos[1], f"{kind} modifier not implemented")
            return
        setattr(vs, kind, True)
        if getattr(vs, other):
            self.error(
                e.pos[0], e.pos[1], "anchored and smoothed modifiers cannot be used together"
            )

    # -- duration expressions ---------------------------------------------------------
    def duration_literal(self, sign_tok: Token | None = None) -> NumberLiteral:
        nl = self.number_literal()
        if sign_tok is not None:
            if sign_tok.kind == "SUB":
                nl.value = -nl.value
            nl.pos = (sign_tok.pos, nl.pos[1])
        if not -MAX_DURATION_S <= nl.value <= MAX_DURATION_S:
            self.error(nl.pos[0], nl.pos[1], "duration out of range")
            nl.value = 0.0
        return nl

    def duration_expr(self, min_prec: int) -> Expr:
        self._descend()
        lhs = self.duration_atom()
        while True:
            prec = _DURATION_PREC.get(self.tok.kind)
            if prec is None or prec < min_prec:
                break
            op_tok = self.advance()
            rhs = self.duration_expr(prec if op_tok.kind == "POW" else prec + 1)
            if op_tok.kind in ("DIV", "MOD") and isinstance(rhs, NumberLiteral) and rhs.value == 0:
                what = "division" if op_tok.kind == "DIV" else "modulo"
                self.error(op_tok.pos, op_tok.end, f"{what} by zero")
                lhs = NumberLiteral(pos=(0, 0), value=0.0)
                continue
            b = BinaryExpr(pos=(lhs.pos[0], rhs.pos[1]), op=_OP_TEXT[op_tok.kind], lhs=lhs, rhs=rhs)
            lhs = self.node(b, lhs, rhs)
        self.nesting -= 1
        return lhs

    def duration_atom(self) -> Expr:
        t = self.tok
        k = t.kind
        if k in (lx.NUMBER, lx.DURATION):
            return self.duration_literal()
        if k in ("ADD", "SUB"):
            self.advance()
            operand = self.duration_expr(_MUL_PREC + 1)
            if isinstance(operand, NumberLiteral):
                if k == "SUB":
                    operand.value = -operand.value
                operand.pos = (t.pos, operand.pos[1])
                if not -MAX_DURATION_S <= operand.value <= MAX_DURATION_S:
                    self.error(t.pos, t.end, "duration out of range")
                    operand.value = 0.0
                return operand
            if k == "ADD":
                return operand
            return self.node(UnaryExpr(pos=(t.pos, operand.pos[1]), op="-", expr=operand), operand)
        if k in ("STEP", "RANGE", "MIN_OF", "MAX_OF"):
            self.advance()
            return self.duration_call(t)
        if k == lx.LEFT_PAREN:
            self.advance()
            inner = self.duration_expr(0)
            close = self.expect(lx.RIGHT_PAREN)
            if isinstance(inner, NumberLiteral):
                return inner
            return self.node(ParenExpr(pos=(t.pos, close.end), expr=inner), inner)
        self.unexpected()
        raise AssertionError  # unreachable

    def duration_call(self, name_tok: Token) -> Expr:
        name = name_tok.kind.lower()
        self.expect(lx.LEFT_PAREN)
        args: list[Expr] = []
        if name in ("min_of", "max_of"):
            args.append(self.duration_expr(0))
            self.expect(lx.COMMA)
            args.append(self.duration_expr(0))
        close = self.expect(lx.RIGHT_PAREN)
        c = Call(pos=(name_tok.pos, close.end), func=name, args=args, return_type=ValueType.SCALAR)
        return self.node(c, *args)

    def offset_duration(self) -> Expr:
        """The value after ``offset``: one duration atom, so that ``x offset 5m * 2`` is
        ``(x offset 5m) * 2`` (Prometheus' offset_duration_expr)."""
        t = self.tok
        k = t.kind
        if k in (lx.NUMBER, lx.DURATION):
            return self.duration_literal()
        if k in ("ADD", "SUB"):
            self.advance()
            n = self.tok.kind
            if n in (lx.NUMBER, lx.DURATION):
                return self.duration_literal(t)
            if n in ("STEP", "RANGE", "MIN_OF", "MAX_OF"):
                inner = self.duration_call(self.advance())
            elif n == lx.LEFT_PAREN:
                open_tok = self.advance()
                d = self.duration_expr(0)
                close = self.expect(lx.RIGHT_PAREN)
                if isinstance(d, NumberLiteral):
                    if k == "SUB":
                        d.value = -d.value
                    d.pos = (t.pos, close.end)
                    return d
                inner = self.node(ParenExpr(pos=(open_tok.pos, close.end), expr=d), d)
            else:
                self.unexpected()
            if k == "ADD":
                return inner
            return self.node(UnaryExpr(pos=(t.pos, inner.pos[1]), op="-", expr=inner), inner)
        if k in ("STEP", "RANGE", "MIN_OF", "MAX_OF", lx.LEFT_PAREN):
            return self.duration_atom()
        self.unexpected()
        raise AssertionError  # unreachable


def _split_duration(d: Expr) -> tuple[int, Expr | None]:
    """A parsed duration as (milliseconds, None) for a literal, (0, expr) otherwise."""
    if isinstance(d, NumberLiteral):
        return seconds_to_ms(d.value), None
    return 0, d


__all__ = [
    "DURATION_FUNCTIONS",
    "MAX_DEPTH",
    "ParseError",
    "evaluate_duration",
    "parse_expr",
    "parse_metric_selector",
]
