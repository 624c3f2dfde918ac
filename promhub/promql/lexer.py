"""The PromQL lexer: a port of the state machine in Prometheus' ``promql/parser/lex.go``.

The lexer decides on its own (from brackets, braces and parentheses it has seen) which
characters form which token, exactly as Prometheus' does, so that error messages and their
positions match: ``foo[5s x 5s]`` fails with ``unexpected character: 'x', expected ':'`` at
the ``x``, ``(1))`` with ``unexpected right parenthesis ')'`` after the first ``)``.

It also defines :class:`ParseError` and Prometheus' ``line:column`` error positions.
"""

from __future__ import annotations

from dataclasses import dataclass

from promhub.promql.literals import go_quote, go_quote_rune, go_rune_u

# Token kinds (Prometheus' ItemType names).
EOF = "EOF"
ERROR = "ERROR"
COMMENT = "COMMENT"
IDENTIFIER = "IDENTIFIER"
METRIC_IDENTIFIER = "METRIC_IDENTIFIER"
NUMBER = "NUMBER"
DURATION = "DURATION"
STRING = "STRING"
LEFT_PAREN = "LEFT_PAREN"
RIGHT_PAREN = "RIGHT_PAREN"
LEFT_BRACE = "LEFT_BRACE"
RIGHT_BRACE = "RIGHT_BRACE"
LEFT_BRACKET = "LEFT_BRACKET"
RIGHT_BRACKET = "RIGHT_BRACKET"
COMMA = "COMMA"
EQL = "EQL"
COLON = "COLON"

#: Operators (Item.String renders them as ``<op:+>``).
OPERATORS: dict[str, str] = {
    "ADD": "+",
    "SUB": "-",
    "MUL": "*",
    "DIV": "/",
    "MOD": "%",
    "POW": "^",
    "EQLC": "==",
    "NEQ": "!=",
    "LTE": "<=",
    "LSS": "<",
    "GTE": ">=",
    "GTR": ">",
    "EQL_REGEX": "=~",
    "NEQ_REGEX": "!~",
    "AT": "@",
    "LAND": "and",
    "LOR": "or",
    "LUNLESS": "unless",
    "ATAN2": "atan2",
    # Native-histogram trim operators.
    "TRIM_UPPER": "</",
    "TRIM_LOWER": ">/",
}
#: Aggregation operators (rendered ``<aggr:sum>``).
AGGREGATORS: dict[str, str] = {
    k.upper(): k
    for k in [
        "sum",
        "avg",
        "count",
        "min",
        "max",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "count_values",
        "quantile",
        "limitk",
        "limit_ratio",
    ]
}
#: Keywords (rendered ``<by>``).
KEYWORDS: dict[str, str] = {
    k.upper(): k
    for k in [
        "offset",
        "smoothed",
        "anchored",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "fill",
        "fill_left",
        "fill_right",
    ]
}
#: Preprocessors and duration functions (rendered quoted, ``"start"``).
PREPROCESSORS: dict[str, str] = {
    k.upper(): k for k in ["start", "end", "step", "range", "min_of", "max_of"]
}

#: Fixed spellings of tokens (Prometheus' ItemTypeStr).
TOKEN_TEXT: dict[str, str] = {
    LEFT_PAREN: "(",
    RIGHT_PAREN: ")",
    LEFT_BRACE: "{",
    RIGHT_BRACE: "}",
    LEFT_BRACKET: "[",
    RIGHT_BRACKET: "]",
    COMMA: ",",
    EQL: "=",
    COLON: ":",
    **OPERATORS,
    **AGGREGATORS,
    **KEYWORDS,
    **PREPROCESSORS,
}

#: Lower-cased word → token kind for words lexed outside braces.
_WORDS: dict[str, str] = {
    text: kind
    for kind, text in {**OPERATORS, **AGGREGATORS, **KEYWORDS, **PREPROCESSORS}.items()
    if text[0].isalpha()
}
_WORDS["inf"] = NUMBER
_WORDS["nan"] = NUMBER

_TYPE_DESC = {
    ERROR: "error",
    EOF: "end of input",
    COMMENT: "comment",
    IDENTIFIER: "identifier",
    METRIC_IDENTIFIER: "metric identifier",
    STRING: "string",
    NUMBER: "number",
    DURATION: "duration",
}


class ParseError(ValueError):
    """A query could not be parsed or type-checked.

    ``str(err)`` is Prometheus' text (``1:5: parse error: unexpected <op:+>``); ``message``
    is the part after ``parse error: ``; ``positions`` the 0-based ``(start, end)`` character
    range of every error found (the first is the one reported).
    """

    def __init__(self, query: str, message: str, positions: list[tuple[int, int]]) -> None:
        self.query = query
        self.message = message
        self.positions = positions
        super().__init__(f"{position_text(query, positions[0][0])}: parse error: {message}")


def position_text(query: str, pos: int) -> str:
    """``line:column`` of a character offset, counted in bytes as Prometheus does."""
    if query == "":
        return "unknown position"
    if pos < 0 or pos > len(query):
        return "invalid position"
    head = query[:pos]
    line = head.count("\n") + 1
    last = head.rfind("\n")
    col = len(head[last + 1 :].encode("utf-8", "surrogatepass")) + 1
    return f"{line}:{col}"


@dataclass(slots=True)
class Token:
    kind: str
    pos: int  # 0-based character offset of the first character
    val: str

    @property
    def end(self) -> int:
        return self.pos + len(self.val)

    def __str__(self) -> str:
        """Prometheus' Item.String()."""
        k = self.kind
        if k == EOF:
            return "EOF"
        if k == ERROR:
            return self.val
        if k in (IDENTIFIER, METRIC_IDENTIFIER):
            return go_quote(self.val)
        if k in KEYWORDS:
            return f"<{self.val}>"
        if k in OPERATORS:
            return f"<op:{self.val}>"
        if k in AGGREGATORS:
            return f"<aggr:{self.val}>"
        if len(self.val) > 10:
            return go_quote(self.val[:10]) + "..."
        return go_quote(self.val)

    def desc(self) -> str:
        """Prometheus' Item.desc(), used in ``unexpected ...`` messages."""
        if self.kind in TOKEN_TEXT:
            return str(self)
        if self.kind == EOF:
            return "end of input"
        return f"{_TYPE_DESC.get(self.kind, self.kind)} {self}"


def _is_space(c: str) -> bool:
    return c in " \t\n\r"


def _is_alpha(c: str) -> bool:
    return c == "_" or ("a" <= c <= "z") or ("A" <= c <= "Z")


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def _is_alnum(c: str) -> bool:
    return _is_alpha(c) or _is_digit(c)


class _LexError(Exception):
    def __init__(self, pos: int, message: str) -> None:
        self.pos = pos
        self.message = message


class Lexer:
    """Produces tokens on demand (the parser pulls one at a time, as goyacc does)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.pos = 0
        self.start = 0
        self.paren_depth = 0
        self.brace_open = False
        self.bracket_open = False
        self.got_colon = False
        self.got_duration = False
        # True right after '[' until the first number: the duration-expression state.
        self.in_duration = False
        self.done = False

    # -- character helpers ------------------------------------------------------------
    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < self.n else ""

    def _next(self) -> str:
        if self.pos >= self.n:
            self.pos += 1  # so that a following backup is symmetric
            return ""
        c = self.text[self.pos]
        self.pos += 1
        return c

    def _backup(self) -> None:
        self.pos -= 1

    def _accept(self, valid: str) -> bool:
        c = self._next()
        if c and c in valid:
            return True
        self._backup()
        return False

    def _emit(self, kind: str) -> Token:
        tok = Token(kind, self.start, self.text[self.start : self.pos])
        self.start = self.pos
        return tok

    def _error(self, message: str) -> _LexError:
        return _LexError(self.start, message)

    # -- public -----------------------------------------------------------------------
    def next_token(self) -> Token:
        """The next token; an ``ERROR`` token ends the stream (then ``EOF`` forever)."""
        if self.done:
            return Token(EOF, self.n, "")
        try:
            while True:
                tok = self._scan()
                if tok is not None:
                    if tok.kind == EOF:
                        self.done = True
                    return tok
        except _LexError as e:
            self.done = True
            return Token(ERROR, e.pos, e.message)

    # -- states -----------------------------------------------------------------------
    def _scan(self) -> Token | None:
        if self.brace_open:
            return self._inside_braces()
        if self.in_duration:
            return self._duration_expr()
        return self._statements()

    def _skip_spaces(self) -> None:
        while self.pos < self.n and _is_space(self.text[self.pos]):
            self.pos += 1
        self.start = self.pos

    def _statements(self) -> Token | None:
        if self.text.startswith("#", self.pos):
            return self._line_comment()
        c = self._next()
        if c == "":
            self._backup()
            if self.paren_depth != 0:
                raise self._error("unclosed left parenthesis")
            if self.bracket_open:
                raise self._error("unclosed left bracket")
            return self._emit(EOF)
        if c == ",":
            return self._emit(COMMA)
        if _is_space(c):
            self._skip_spaces()
            return None
        simple = {"*": "MUL", "/": "DIV", "%": "MOD", "+": "ADD", "-": "SUB", "^": "POW"}
        if c in simple:
            return self._emit(simple[c])
        if c == "=":
            t = self._peek()
            if t == "=":
                self._next()
                return self._emit("EQLC")
            if t == "~":
                raise self._error("unexpected character after '=': '~'")
            return self._emit(EQL)
        if c == "!":
            t = self._next()
            if t != "=":
                raise self._error(f"unexpected character after '!': {go_quote_rune(t)}")
            return self._emit("NEQ")
        if c in "<>":
            if self._peek() == "/":
                self._next()
                return self._emit("TRIM_UPPER" if c == "<" else "TRIM_LOWER")
            if self._peek() == "=":
                self._next()
                return self._emit("LTE" if c == "<" else "GTE")
            return self._emit("LSS" if c == "<" else "GTR")
        if _is_digit(c) or (c == "." and _is_digit(self._peek())):
            self._backup()
            return self._number_or_duration()
        if c in "\"'":
            return self._string(c)
        if c == "`":
            return self._raw_string()
        if _is_alpha(c) or c == ":":
            if not self.bracket_open:
                self._backup()
                return self._keyword_or_identifier()
            if c == ":":
                if self.got_colon:
                    raise self._error("unexpected colon ':'")
                self.got_colon = True
                return self._emit(COLON)
            if c in "sSmMrR":
                kw = self._duration_keyword()
                if kw is not None:
                    return kw
            raise self._error(f"unexpected character: {go_quote_rune(c)}, expected ':'")
        if c == "(":
            self.paren_depth += 1
            return self._emit(LEFT_PAREN)
        if c == ")":
            tok = self._emit(RIGHT_PAREN)
            self.paren_depth -= 1
            if self.paren_depth < 0:
                raise self._error("unexpected right parenthesis ')'")
            return tok
        if c == "{":
            self.brace_open = True
            return self._emit(LEFT_BRACE)
        if c == "[":
            if self.bracket_open:
                raise self._error("unexpected left bracket '['")
            self.got_colon = False
            self.got_duration = False
            tok = self._emit(LEFT_BRACKET)
            self._skip_spaces()
            self.bracket_open = True
            self.in_duration = True
            return tok
        if c == "]":
            if not self.bracket_open:
                raise self._error("unexpected right bracket ']'")
            self.bracket_open = False
            return self._emit(RIGHT_BRACKET)
        if c == "@":
            return self._emit("AT")
        raise self._error(f"unexpected character: {go_quote_rune(c)}")

    def _duration_expr(self) -> Token | None:
        c = self._next()
        if c == "":
            self._backup()
            raise self._error("unexpected end of input in duration expression")
        if c == "]":
            self.bracket_open = False
            self.in_duration = False
            self.got_colon = False
            return self._emit(RIGHT_BRACKET)
        if c == ":":
            tok = self._emit(COLON)
            if not self.got_duration:
                raise self._error("unexpected colon before duration in duration expression")
            if self.got_colon:
                raise self._error("unexpected repeated colon in duration expression")
            self.got_colon = True
            return tok
        if c == "(":
            self.paren_depth += 1
            return self._emit(LEFT_PAREN)
        if c == ")":
            tok = self._emit(RIGHT_PAREN)
            self.paren_depth -= 1
            if self.paren_depth < 0:
                raise self._error("unexpected right parenthesis ')'")
            return tok
        if _is_space(c):
            self._skip_spaces()
            return None
        simple = {
            "+": "ADD",
            "-": "SUB",
            "*": "MUL",
            "/": "DIV",
            "%": "MOD",
            "^": "POW",
            ",": COMMA,
        }
        if c in simple:
            return self._emit(simple[c])
        if c in "sSmMrR":
            kw = self._duration_keyword()
            if kw is not None:
                return kw
            raise self._error(f"unexpected character in duration expression: {go_quote_rune(c)}")
        if _is_digit(c) or (c == "." and _is_digit(self._peek())):
            self._backup()
            self.got_duration = True
            # Like Prometheus, the rest of the bracket is lexed by the statement state.
            self.in_duration = False
            return self._number_or_duration()
        raise self._error(f"unexpected character in duration expression: {go_quote_rune(c)}")

    def _duration_keyword(self) -> Token | None:
        while self.pos < self.n and _is_alpha(self.text[self.pos]):
            self.pos += 1
        word = self.text[self.start : self.pos].lower()
        kind = {"step": "STEP", "range": "RANGE", "min_of": "MIN_OF", "max_of": "MAX_OF"}.get(word)
        if kind is None:
            return None
        return self._emit(kind)

    def _inside_braces(self) -> Token | None:
        if self.text.startswith("#", self.pos):
            return self._line_comment()
        c = self._next()
        if c == "":
            self._backup()
            raise self._error("unexpected end of input inside braces")
        if _is_space(c):
            self._skip_spaces()
            return None
        if _is_alpha(c):
            while self.pos < self.n and _is_alnum(self.text[self.pos]):
                self.pos += 1
            return self._emit(IDENTIFIER)
        if c == ",":
            return self._emit(COMMA)
        if c in "\"'":
            return self._string(c)
        if c == "`":
            return self._raw_string()
        if c == "=":
            if self._next() == "~":
                return self._emit("EQL_REGEX")
            self._backup()
            return self._emit(EQL)
        if c == "!":
            nc = self._next()
            if nc == "~":
                return self._emit("NEQ_REGEX")
            if nc == "=":
                return self._emit("NEQ")
            raise self._error(f"unexpected character after '!' inside braces: {go_quote_rune(nc)}")
        if c == "{":
            raise self._error("unexpected left brace '{'")
        if c == "}":
            self.brace_open = False
            return self._emit(RIGHT_BRACE)
        raise self._error(f"unexpected character inside braces: {go_quote_rune(c)}")

    def _line_comment(self) -> Token:
        while self.pos < self.n and self.text[self.pos] not in "\r\n":
            self.pos += 1
        return self._emit(COMMENT)

    def _string(self, quote: str) -> Token:
        text, n = self.text, self.n
        while True:
            if self.pos >= n:
                raise self._error("unterminated quoted string")
            c = text[self.pos]
            self.pos += 1
            if c == "\\":
                self._escape(quote)
            elif c == "\ufffd":
                # Go decodes invalid UTF-8 (and U+FFFD itself) as utf8.RuneError.
                raise self._error("invalid UTF-8 rune")
            elif c == "\n":
                raise self._error("unterminated quoted string")
            elif c == quote:
                return self._emit(STRING)

    def _escape(self, quote: str) -> None:
        c = self._next()
        if c in ("a", "b", "f", "n", "r", "t", "v", "\\") or c == quote:
            return
        if c == "":
            raise self._error("escape sequence not terminated")
        if c in "01234567":
            count, base, maxval = 3, 8, 255
        elif c == "x":
            c = self._next()
            count, base, maxval = 2, 16, 255
        elif c == "u":
            c = self._next()
            count, base, maxval = 4, 16, 0x10FFFF
        elif c == "U":
            c = self._next()
            count, base, maxval = 8, 16, 0x10FFFF
        else:
            raise self._error(f"unknown escape sequence {go_rune_u(c)}")
        x = 0
        while count > 0:
            d = int(c, 16) if c and c in "0123456789abcdefABCDEF" else 16
            if d >= base:
                if c == "":
                    raise self._error("escape sequence not terminated")
                raise self._error(f"illegal character {go_rune_u(c)} in escape sequence")
            x = x * base + d
            count -= 1
            if count > 0:
                c = self._next()
        if x > maxval or 0xD800 <= x < 0xE000:
            raise self._error("escape sequence is an invalid Unicode code point")

    def _raw_string(self) -> Token:
        while True:
            if self.pos >= self.n:
                raise self._error("unterminated raw string")
            c = self.text[self.pos]
            self.pos += 1
            if c == "\ufffd":
                raise self._error("invalid UTF-8 rune")
            if c == "`":
                return self._emit(STRING)

    def _number_or_duration(self) -> Token:
        if self._scan_number():
            return self._emit(NUMBER)
        if self._remaining_duration():
            self._backup()
            return self._emit(DURATION)
        bad = self.text[self.start : min(self.pos, self.n)]
        raise self._error(f"bad number or duration syntax: {go_quote(bad)}")

    def _remaining_duration(self) -> bool:
        if not self._accept("smhdwy"):
            return False
        self._accept("s")
        while self._accept("0123456789"):
            while self._accept("0123456789"):
                pass
            if not self._accept("smhdw"):
                return False
            self._accept("s")
        return not _is_alnum(self._next())

    def _scan_number(self) -> bool:
        # A faithful port of Prometheus' scanNumber (its quirks decide which inputs are
        # "bad number syntax" errors, so they are kept).
        initial = self.pos
        digits = "0123456789"
        if self._accept("0") and self._accept("xX"):
            self._accept("_")
            digits = "0123456789abcdefABCDEF"
        self._accept(".")
        self._accept(digits)
        dot = exp = False
        run = digits + "._eE"
        while self.pos < self.n and self.text[self.pos] in run:
            c = self.text[self.pos]
            if c == "." and dot:
                self.pos += 1
                return False
            if c in "eE" and exp:
                self.pos += 1
                return False
            if self._accept("."):
                dot = True
                if self._accept("_."):
                    return False
                if len(digits) > 10:  # no fractional hexadecimal literals
                    return False
                continue
            if self._accept("eE"):
                exp = True
                self._accept("+-")
                if self._accept("._eE") or self.pos >= self.n:
                    return False
                continue
            if self._accept("_"):
                if self._accept("._eE") or self.pos >= self.n:
                    return False
                continue
            while self.pos < self.n and self.text[self.pos] in digits:
                self.pos += 1
        if self.pos == initial:
            return False
        return not _is_alnum(self._peek())

    def _keyword_or_identifier(self) -> Token:
        while self.pos < self.n and (_is_alnum(self.text[self.pos]) or self.text[self.pos] == ":"):
            self.pos += 1
        word = self.text[self.start : self.pos]
        kind = _WORDS.get(word.lower())
        if kind is not None:
            return self._emit(kind)
        return self._emit(METRIC_IDENTIFIER if ":" in word else IDENTIFIER)
