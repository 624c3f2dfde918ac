"""Lexer and parser for Go's text/template language (the subset Prometheus and Alertmanager use).

The parser produces a small tree of dataclasses that :mod:`promhub.rules.template` executes.
Errors read like Go's (``template: NAME:LINE: unexpected "}" in operand``) because users
search for those messages and compare them with what Prometheus told them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TemplateError", "parse_templates"]


class TemplateError(Exception):
    """A template failed to parse or execute; the message names template, line and cause."""


# ---------------------------------------------------------------------------------------
# Tree


@dataclass
class Node:
    """Base of every parse-tree node: ``pos`` is the byte offset into the parsed text."""

    pos: int
    src: str = field(default="", kw_only=True)  # the node's text, for error context


@dataclass
class TextNode(Node):
    text: str


@dataclass
class FieldNode(Node):
    names: list[str]


@dataclass
class VariableNode(Node):
    name: str
    names: list[str]


@dataclass
class DotNode(Node):
    pass


@dataclass
class NilNode(Node):
    pass


@dataclass
class LiteralNode(Node):
    value: Any


@dataclass
class IdentifierNode(Node):
    name: str


@dataclass
class ChainNode(Node):
    node: Node
    names: list[str]


@dataclass
class CommandNode(Node):
    args: list[Node]


@dataclass
class PipeNode(Node):
    decl: list[str]
    is_assign: bool
    cmds: list[CommandNode]


@dataclass
class ActionNode(Node):
    pipe: PipeNode


@dataclass
class BranchNode(Node):
    kind: str  # "if" | "range" | "with"
    pipe: PipeNode
    body: list[Node]
    else_body: list[Node] | None


@dataclass
class TemplateNode(Node):
    name: str
    pipe: PipeNode | None


@dataclass
class LoopControlNode(Node):
    kind: str  # "break" | "continue"


# ---------------------------------------------------------------------------------------
# Lexer

_SPACE = " \t\r\n"
_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break",
             "continue", "nil", "true", "false"}  # fmt: skip
_NUMBER = re.compile(
    r"[+-]?(0[xX][0-9a-fA-F_]+|0[oObB][0-7_]+|(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][+-]?\d+)?)"
)
_IDENT = re.compile(r"[^\W\d]\w*")  # Go identifiers: Unicode letters, digits, "_"
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
            "\\": "\\", '"': '"', "'": "'"}  # fmt: skip


@dataclass
class Token:
    """One lexical item: kind, text, value (for literals) and byte offset."""

    kind: str  # text, left, right, space, field, var, ident, keyword, string, number, char,
    #             pipe, lparen, rparen, declare, assign, comma, dot, eof
    text: str
    pos: int
    value: Any = None


class _Lexer:
    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self.tokens: list[Token] = []

    def fail(self, pos: int, msg: str) -> TemplateError:
        return TemplateError(f"template: {self.name}:{self.text.count(chr(10), 0, pos) + 1}: {msg}")

    def run(self) -> list[Token]:
        text = self.text
        pos = 0
        trim_next = False
        while True:
            start = text.find("{{", pos)
            chunk = text[pos:] if start < 0 else text[pos:start]
            if trim_next:
                chunk = chunk.lstrip(_SPACE)
            inner = start + 2
            # "{{- " trims only with the space: "{{-3}}" is the number -3.
            trim_left = (
                start >= 0
                and text.startswith("-", inner)
                and text[inner + 1 : inner + 2] in (" ", "\t", "\r", "\n")
            )
            if trim_left:
                chunk = chunk.rstrip(_SPACE)
                inner += 2
            if chunk:
                self.tokens.append(Token("text", chunk, pos))
            if start < 0:
                break
            self.tokens.append(Token("left", "{{", start))
            pos, trim_next = self.lex_action(inner, start)
        self.tokens.append(Token("eof", "", len(text)))
        return self.tokens

    def lex_action(self, pos: int, start: int) -> tuple[int, bool]:
        text = self.text
        # Comments must hug the delimiters: {{/* ... */}} (optionally with trim markers).
        if text.startswith("/*", pos):
            end = text.find("*/", pos + 2)
            if end < 0:
                raise self.fail(start, "unclosed comment")
            after = end + 2
            trim = text.startswith(" -}}", after)
            if trim:
                after += 4
            elif text.startswith("}}", after):
                after += 2
            else:
                raise self.fail(end, "comment ends before closing delimiter")
            self.tokens.pop()  # drop the "left" token: comments produce nothing
            return after, trim
        paren_depth = 0
        while True:
            if pos >= len(text):
                raise self.fail(start, "unclosed action")
            ch = text[pos]
            if text.startswith("}}", pos) or (
                text[pos - 1 : pos] in (" ", "\t", "\r", "\n") and text.startswith("-}}", pos)
            ):
                trim = ch == "-"
                if paren_depth > 0:
                    raise self.fail(pos, "unclosed left paren")
                self.tokens.append(Token("right", "}}", pos))
                return pos + (3 if trim else 2), trim
            if ch in _SPACE:
                end = pos
                while end < len(text) and text[end] in _SPACE and not text.startswith("-}}", end):
                    end += 1
                self.tokens.append(Token("space", text[pos:end], pos))
                pos = end if end > pos else pos + 1
                continue
            if ch == "\n":  # pragma: no cover - handled as space
                pos += 1
                continue
            if ch == '"':
                pos = self.lex_quote(pos)
                continue
            if ch == "`":
                end = text.find("`", pos + 1)
                if end < 0:
                    raise self.fail(pos, "unterminated raw quoted string")
                self.tokens.append(Token("string", text[pos : end + 1], pos, text[pos + 1 : end]))
                pos = end + 1
                continue
            if ch == "'":
                m = re.compile(r"'(\\.[^']*|[^'\\])'").match(text, pos)
                if m is None:
                    raise self.fail(pos, "unterminated character constant")
                val = self.unescape(m.group(1), pos)
                self.tokens.append(Token("char", m.group(0), pos, ord(val[0]) if val else 0))
                pos = m.end()
                continue
            if ch == "$":
                m = _IDENT.match(text, pos + 1)
                end = m.end() if m else pos + 1
                self.tokens.append(Token("var", text[pos:end], pos))
                pos = end
                continue
            if ch == ".":
                m = _IDENT.match(text, pos + 1)
                if m:
                    self.tokens.append(Token("field", "." + m.group(0), pos))
                    pos = m.end()
                    continue
                if not (pos + 1 < len(text) and text[pos + 1].isdigit()):
                    self.tokens.append(Token("dot", ".", pos))
                    pos += 1
                    continue
            if ch.isdigit() or ch in "+-.":
                m = _NUMBER.match(text, pos)
                if m and m.end() > pos and not (ch in "+-" and m.end() == pos + 1):
                    end = m.end()
                    if end < len(text) and (text[end].isalnum() or text[end] == "_"):
                        raise self.fail(pos, f"bad number syntax: {text[pos : end + 1]!r}")
                    self.tokens.append(Token("number", m.group(0), pos))
                    pos = end
                    continue
            if ch == "_" or ch.isalpha():
                m = _IDENT.match(text, pos)
                assert m is not None
                word = m.group(0)
                kind = "keyword" if word in _KEYWORDS else "ident"
                self.tokens.append(Token(kind, word, pos))
                pos = m.end()
                continue
            if text.startswith(":=", pos):
                self.tokens.append(Token("declare", ":=", pos))
                pos += 2
                continue
            simple = {"|": "pipe", "(": "lparen", ")": "rparen", "=": "assign", ",": "comma"}
            if ch in simple:
                if ch == "(":
                    paren_depth += 1
                elif ch == ")":
                    paren_depth -= 1
                    if paren_depth < 0:
                        raise self.fail(pos, "unexpected right paren")
                self.tokens.append(Token(simple[ch], ch, pos))
                pos += 1
                continue
            if ch.isprintable() and ord(ch) < 128:
                self.tokens.append(Token("char_op", ch, pos))
                pos += 1
                continue
            raise self.fail(pos, f"unrecognized character in action: U+{ord(ch):04X}")

    def lex_quote(self, pos: int) -> int:
        text = self.text
        i = pos + 1
        while True:
            if i >= len(text) or text[i] == "\n":
                raise self.fail(pos, "unterminated quoted string")
            if text[i] == "\\":
                i += 2
                continue
            if text[i] == '"':
                break
            i += 1
        raw = text[pos : i + 1]
        self.tokens.append(Token("string", raw, pos, self.unescape(raw[1:-1], pos)))
        return i + 1

    def unescape(self, s: str, pos: int) -> str:
        out: list[str] = []
        i = 0
        while i < len(s):
            c = s[i]
            if c != "\\":
                out.append(c)
                i += 1
                continue
            nxt = s[i + 1 : i + 2]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
            elif nxt in ("x", "u", "U"):
                n = {"x": 2, "u": 4, "U": 8}[nxt]
                digits = s[i + 2 : i + 2 + n]
                if len(digits) != n or not all(d in "0123456789abcdefABCDEF" for d in digits):
                    raise self.fail(pos, f"invalid syntax: {s!r}")
                out.append(chr(int(digits, 16)))
                i += 2 + n
            elif nxt and nxt in "01234567":
                out.append(chr(int(s[i + 1 : i + 4], 8)))
                i += 4
            else:
                raise self.fail(pos, f"invalid syntax: {s!r}")
        return "".join(out)


# ---------------------------------------------------------------------------------------
# Parser

_OPERAND_START = {"field", "var", "ident", "string", "char", "number", "lparen", "dot"}


def _item_str(tok: Token) -> str:
    """Go's item.String for error messages."""
    if tok.kind == "eof":
        return "EOF"
    if tok.kind == "keyword" and tok.text not in ("nil", "true", "false"):
        return f"<{tok.text}>"
    if tok.kind == "right":
        return '"}}"'
    if len(tok.text) > 10:
        return '"' + tok.text[:10] + '"...'
    return '"' + tok.text + '"'


class _End(Exception):
    """Raised internally when {{end}} / {{else}} closes a list."""

    def __init__(self, tok: Token, kind: str) -> None:
        self.tok = tok
        self.kind = kind


class _Parser:
    def __init__(self, name: str, text: str, funcs: set[str]) -> None:
        self.name = name
        self.text = text
        self.funcs = funcs
        self.tokens = _Lexer(name, text).run()
        self.i = 0
        self.vars: list[str] = ["$"]
        self.defined: dict[str, list[Node]] = {}
        self.loop_depth = 0

    # token helpers -----------------------------------------------------------------
    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def peek_non_space(self) -> Token:
        j = self.i
        while self.tokens[j].kind == "space":
            j += 1
        return self.tokens[j]

    def next_non_space(self) -> Token:
        tok = self.next()
        while tok.kind == "space":
            tok = self.next()
        return tok

    def fail(self, tok: Token, msg: str) -> TemplateError:
        line = self.text.count("\n", 0, tok.pos) + 1
        return TemplateError(f"template: {self.name}:{line}: {msg}")

    def unexpected(self, tok: Token, context: str) -> TemplateError:
        return self.fail(tok, f"unexpected {_item_str(tok)} in {context}")

    # structure -------------------------------------------------------------------
    def parse(self) -> dict[str, list[Node]]:
        try:
            body = self.item_list(top=True)
        except _End as e:
            raise self.fail(e.tok, "unexpected {{" + e.kind + "}}") from None
        # As Go's associate(): a blank top level does not replace a same-named define.
        blank = all(isinstance(n, TextNode) and not n.text.strip() for n in body)
        if not (blank and self.name in self.defined):
            self.defined[self.name] = body
        return self.defined

    def item_list(self, top: bool = False) -> list[Node]:
        nodes: list[Node] = []
        while True:
            tok = self.peek()
            if tok.kind == "eof":
                if top:
                    return nodes
                raise self.fail(tok, "unexpected EOF")
            if tok.kind == "text":
                self.next()
                nodes.append(TextNode(tok.pos, tok.text))
                continue
            node = self.action(top)
            if node is not None:
                nodes.append(node)

    def action(self, top: bool) -> Node | None:
        left = self.next()  # "{{"
        tok = self.peek_non_space()
        if tok.kind == "keyword":
            kw = tok.text
            if kw in ("end", "else"):
                self.next_non_space()
                raise _End(tok, kw)
            if kw in ("if", "range", "with"):
                self.next_non_space()
                return self.branch(kw, tok)
            if kw in ("define", "block"):
                if kw == "define" and not top:
                    raise self.fail(tok, "unexpected <define> in command")
                self.next_non_space()
                return self.define(kw, tok)
            if kw == "template":
                self.next_non_space()
                return self.template_call(tok)
            if kw in ("break", "continue"):
                self.next_non_space()
                if self.loop_depth == 0:
                    raise self.fail(tok, f"{{{{{kw}}}}} outside {{{{range}}}}")
                end = self.next_non_space()
                if end.kind != "right":
                    raise self.unexpected(end, f"{{{{{kw}}}}}")
                return LoopControlNode(tok.pos, kw, src=kw)
        pipe = self.pipeline("command", left)
        return ActionNode(left.pos, pipe, src=pipe.src)

    def branch(self, kind: str, kw: Token) -> Node:
        mark = len(self.vars)
        pipe = self.pipeline(kind, kw)
        if kind == "range":
            self.loop_depth += 1
        body, end_kind, end_tok = self.body_until_end()
        if kind == "range":
            self.loop_depth -= 1
        else_body: list[Node] | None = None
        if end_kind == "else":
            nxt = self.peek_non_space()
            # "{{else if …}}" / "{{else with …}}" chain: parse as a nested branch.
            if nxt.kind == "keyword" and nxt.text == kind and kind in ("if", "with"):
                self.next_non_space()
                del self.vars[mark:]
                mark2 = len(self.vars)
                nested = self.branch(kind, nxt)
                del self.vars[mark2:]
                else_body = [nested]
            else:
                close = self.next_non_space()
                if close.kind != "right":
                    raise self.unexpected(close, "else")
                else_body, end_kind2, end_tok2 = self.body_until_end()
                if end_kind2 != "end":
                    raise self.fail(end_tok2, "expected end; found {{else}}")
        del self.vars[mark:]
        return BranchNode(kw.pos, kind, pipe, body, else_body, src=kind)

    def body_until_end(self) -> tuple[list[Node], str, Token]:
        """Parse a list up to its {{end}} or {{else}}; returns (nodes, "end"|"else", token)."""
        nodes: list[Node] = []
        while True:
            tok = self.peek()
            if tok.kind == "eof":
                raise self.fail(tok, "unexpected EOF")
            if tok.kind == "text":
                self.next()
                nodes.append(TextNode(tok.pos, tok.text))
                continue
            try:
                node = self.action(top=False)
            except _End as e:
                if e.kind == "end":
                    close = self.next_non_space()
                    if close.kind != "right":
                        raise self.unexpected(close, "end") from None
                return nodes, e.kind, e.tok
            if node is not None:
                nodes.append(node)

    def define(self, kw: str, kwtok: Token) -> Node | None:
        name_tok = self.next_non_space()
        if name_tok.kind != "string":
            raise self.unexpected(name_tok, f"{kw} clause")
        name = name_tok.value
        pipe: PipeNode | None = None
        if kw == "block":
            pipe = self.pipeline("block clause", kwtok)
        else:
            close = self.next_non_space()
            if close.kind != "right":
                raise self.unexpected(close, "define clause")
        saved_vars, self.vars = self.vars, ["$"]
        saved_loop, self.loop_depth = self.loop_depth, 0
        body, end_kind, end_tok = self.body_until_end()
        self.vars, self.loop_depth = saved_vars, saved_loop
        if end_kind != "end":
            raise self.fail(end_tok, "unexpected {{else}}")
        # A later definition replaces an earlier one, as Go allows since 1.x: user template
        # files override the defaults this way.
        self.defined[name] = body
        if kw == "block":
            return TemplateNode(name_tok.pos, name, pipe, src=_template_src(name_tok, pipe))
        return None

    def template_call(self, kwtok: Token) -> Node:
        name_tok = self.next_non_space()
        if name_tok.kind != "string":
            raise self.unexpected(name_tok, "template clause")
        if self.peek_non_space().kind == "right":
            self.next_non_space()
            return TemplateNode(
                name_tok.pos, name_tok.value, None, src=_template_src(name_tok, None)
            )
        pipe = self.pipeline("template clause", kwtok)
        return TemplateNode(name_tok.pos, name_tok.value, pipe, src=_template_src(name_tok, pipe))

    # pipelines ---------------------------------------------------------------------
    def pipeline(self, context: str, start: Token, end: str = "right") -> PipeNode:
        decl: list[str] = []
        is_assign = False
        first = self.peek_non_space()
        # Declarations: $x := / $x = / $i, $v :=
        if first.kind == "var":
            j = self.i
            names: list[Token] = []
            while True:
                while self.tokens[j].kind == "space":
                    j += 1
                t = self.tokens[j]
                if t.kind != "var":
                    break
                names.append(t)
                j += 1
                while self.tokens[j].kind == "space":
                    j += 1
                t = self.tokens[j]
                if t.kind in ("declare", "assign"):
                    if len(names) > 2 or (len(names) == 2 and context != "range"):
                        raise self.fail(t, f"too many declarations in {context}")
                    is_assign = t.kind == "assign"
                    decl = [n.text for n in names]
                    self.i = j + 1
                    break
                if t.kind == "comma" and context == "range" and len(names) == 1:
                    j += 1
                    continue
                names = []
                break
        cmds: list[CommandNode] = []
        pipe_start = self.peek_non_space().pos
        while True:
            tok = self.peek_non_space()
            if tok.kind == end:
                self.next_non_space()
                break
            if tok.kind not in _OPERAND_START and not (
                tok.kind == "keyword" and tok.text in ("nil", "true", "false")
            ):
                raise self.unexpected(tok, context)
            cmds.append(self.command(context))
            tok = self.peek_non_space()
            if tok.kind == "pipe":
                self.next_non_space()
                if self.peek_non_space().kind in (end, "right", "rparen"):
                    raise self.unexpected(self.peek_non_space(), "operand")
            elif tok.kind not in (end,):
                raise self.unexpected(tok, context)
        if not cmds:
            raise self.fail(start, f"missing value for {context}")
        for name in decl:
            if is_assign:
                if name not in self.vars:
                    raise self.fail(start, f"undefined variable {name!r}".replace("'", '"'))
            else:
                self.vars.append(name)
        src = self.text[pipe_start : self.tokens[self.i - 1].pos].strip()
        return PipeNode(cmds[0].pos, decl, is_assign, cmds, src=src)

    def command(self, context: str) -> CommandNode:
        args: list[Node] = []
        start = self.peek_non_space().pos
        end_pos = start
        while True:
            tok = self.peek()
            if tok.kind == "space":
                self.next()
                nxt = self.peek()
                if nxt.kind in ("right", "rparen", "pipe", "eof"):
                    break
                continue
            if tok.kind in ("right", "rparen", "pipe", "eof"):
                break
            if args and self.tokens[self.i - 1].kind != "space" and tok.kind not in ("space",):
                raise self.fail(tok, f"missing space? unexpected {_item_str(tok)} in operand")
            node = self.operand()
            args.append(node)
            end_pos = self.tokens[self.i - 1].pos + len(self.tokens[self.i - 1].text)
        if not args:
            raise self.fail(self.peek(), "empty command")
        return CommandNode(start, args, src=self.text[start:end_pos])

    def operand(self) -> Node:
        node = self.term()
        start = node.pos
        fields: list[str] = []
        chain_pos = self.peek().pos
        while self.peek().kind == "field":
            fields.append(self.next().text[1:])
        if fields:
            if isinstance(node, FieldNode | VariableNode):
                node.names.extend(fields)
            elif isinstance(node, LiteralNode | NilNode | DotNode):
                raise self.fail(self.tokens[self.i - 1], f"unexpected . after term {node.src!r}")
            else:
                node = ChainNode(node.pos, node, fields, src=node.src)
            node.pos = chain_pos
        end = self.tokens[self.i - 1]
        node.src = self.text[start : end.pos + len(end.text)]
        nxt = self.peek()
        if nxt.kind not in ("space", "right", "rparen", "pipe", "eof"):
            raise self.unexpected(nxt, "operand")
        return node

    def term(self) -> Node:
        tok = self.next()
        kind = tok.kind
        if kind == "ident":
            if tok.text not in self.funcs:
                raise self.fail(tok, f'function "{tok.text}" not defined')
            return IdentifierNode(tok.pos, tok.text)
        if kind == "dot":
            return DotNode(tok.pos)
        if kind == "keyword" and tok.text == "nil":
            return NilNode(tok.pos)
        if kind == "keyword" and tok.text in ("true", "false"):
            return LiteralNode(tok.pos, tok.text == "true")
        if kind == "var":
            if tok.text not in self.vars:
                raise self.fail(tok, f'undefined variable "{tok.text}"')
            return VariableNode(tok.pos, tok.text, [])
        if kind == "field":
            return FieldNode(tok.pos, [tok.text[1:]])
        if kind == "string":
            return LiteralNode(tok.pos, tok.value)
        if kind == "char":
            return LiteralNode(tok.pos, tok.value)
        if kind == "number":
            return LiteralNode(tok.pos, self.number(tok))
        if kind == "lparen":
            pipe = self.pipeline("parenthesized pipeline", tok, end="rparen")
            return pipe
        raise self.unexpected(tok, "operand")

    def number(self, tok: Token) -> int | float:
        text = tok.text.replace("_", "")
        try:
            if re.fullmatch(r"[+-]?0\d+", text):
                return int(text, 8)
            if re.fullmatch(r"[+-]?(0[xXoObB][0-9a-fA-F]+|\d+)", text):
                return int(text, 0)
            return float(text)
        except ValueError:
            raise self.fail(tok, f"illegal number syntax: {tok.text!r}") from None


def _template_src(name_tok: Token, pipe: PipeNode | None) -> str:
    """Go's TemplateNode.String: ``{{template "name" pipeline}}``."""
    return "{{template " + name_tok.text + (" " + pipe.src if pipe else "") + "}}"


def parse_templates(name: str, text: str, funcs: set[str]) -> dict[str, list[Node]]:
    """Parse ``text`` as template ``name``; returns every template it defines by name.

    Raises:
        TemplateError: with Go's message format, e.g.
            ``template: name:1: unexpected "}" in operand``.
    """
    try:
        return _Parser(name, text, funcs).parse()
    except TemplateError:
        raise
    except RecursionError:
        raise TemplateError(f"template: {name}: nesting too deep") from None
    except Exception as e:  # noqa: BLE001 - a parser slip must surface as a template error
        raise TemplateError(f"template: {name}: {type(e).__name__}: {e}") from None
