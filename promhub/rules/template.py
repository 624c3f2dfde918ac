"""Go text/template for Prometheus rule templates and Alertmanager notification templates.

>>> from promhub.rules.template import Template
>>> Template.parse("t", "{{ range $i, $v := . }}{{ $i }}={{ $v | printf \\"%.1f\\" }} {{ end }}")\\
...     .execute([1.25, 2.0])
'0=1.2 1=2.0 '

Data is plain Python: mappings are indexed by key (``.Labels.instance``), other objects by
attribute, and callable attributes are Go methods (``.Alerts.Firing``,
``.CommonLabels.SortedPairs``). A missing map key prints ``<no value>`` as in Go, except for
:class:`StrMap` (Go's ``map[string]string``), whose missing keys are the empty string.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from promhub.rules.goformat import (
    NO_VALUE,
    GoDuration,
    GoTime,
    go_printf,
    go_sprint,
    go_sprintln,
    go_str,
    go_type_name,
)
from promhub.rules.template_parse import (
    ActionNode,
    BranchNode,
    ChainNode,
    CommandNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    LiteralNode,
    LoopControlNode,
    NilNode,
    Node,
    PipeNode,
    TemplateError,
    TemplateNode,
    TextNode,
    VariableNode,
    parse_templates,
)

__all__ = ["FuncMap", "StrMap", "Template", "TemplateError"]

FuncMap = Mapping[str, Callable[..., Any]]
_MAX_DEPTH = 1000  # Go allows 100000; Python's own stack gives out far earlier


class StrMap(dict[str, str]):
    """A ``map[string]string`` (labels, annotations): a missing key reads as ``""``."""


class _LoopBreak(Exception):
    pass


class _LoopContinue(Exception):
    pass


class _ExecError(Exception):
    """Raised inside execution; carries the node so the message can name its position."""

    def __init__(self, node: Node | None, msg: str) -> None:
        super().__init__(msg)
        self.node = node
        self.msg = msg
        self.template: str | None = None  # set by the innermost template being executed


def _truth(v: Any) -> bool:
    """Go's template truth: zero values and empty containers are false."""
    if v is None or v is NO_VALUE:
        return False
    if isinstance(v, bool | int | float | str | Sequence | Mapping):
        return bool(v)
    if isinstance(v, GoDuration):
        return v.ns != 0
    return True


_BASIC = (bool, int, float, str)


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    return "other"


def _eq(a: Any, *bs: Any) -> bool:
    if not bs:
        raise ValueError("missing argument for comparison")
    for b in bs:
        ka, kb = _kind(a), _kind(b)
        if ka != "other" and kb != "other" and ka != kb:
            raise ValueError("incompatible types for comparison")
        if ka == "other" and kb == "other" and (a is None or b is None):
            if (a is None or a is NO_VALUE) and (b is None or b is NO_VALUE):
                return True
            continue
        if a == b:
            return True
    return False


def _less(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka in ("bool", "other") or kb in ("bool", "other"):
        raise ValueError("invalid type for comparison")
    if ka != kb:
        raise ValueError("incompatible types for comparison")
    return bool(a < b)


def _length(v: Any) -> int:
    if isinstance(v, str):
        return len(v.encode())  # Go counts bytes
    if isinstance(v, Sequence | Mapping):
        return len(v)
    raise ValueError(f"len of type {go_type_name(v)}")


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(item, Mapping):
            missing = "" if isinstance(item, StrMap) else NO_VALUE
            item = item.get(key, missing)
        elif isinstance(item, str | Sequence):
            if not isinstance(key, int) or isinstance(key, bool):
                raise ValueError(f"cannot index slice/array with type {go_type_name(key)}")
            if key < 0 or key >= len(item):
                raise ValueError(f"index out of range: {key}")
            # Go indexes a string by byte and yields the byte's value.
            item = item.encode()[key] if isinstance(item, str) else item[key]
        elif item is None or item is NO_VALUE:
            raise ValueError("index of untyped nil")
        else:
            raise ValueError(f"can't index item of type {go_type_name(item)}")
    return item


def _slice(item: Any, *idx: Any) -> Any:
    if not isinstance(item, str | Sequence):
        raise ValueError(f"can't slice item of type {go_type_name(item)}")
    if len(idx) > 3:
        raise ValueError(f"too many slice indexes: {len(idx)}")
    bounds = [int(i) for i in idx]
    if any(b < 0 or b > len(item) for b in bounds):
        raise ValueError(f"index out of range: {max(bounds)}")
    if len(bounds) >= 2 and bounds[0] > bounds[1]:
        raise ValueError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    start = bounds[0] if bounds else 0
    stop = bounds[1] if len(bounds) >= 2 else len(item)
    return item[start:stop]


def _html_escape(*args: Any) -> str:
    s = go_sprint(*args)
    return (
        s.replace("&", "&amp;").replace("'", "&#39;").replace('"', "&#34;")
        .replace("<", "&lt;").replace(">", "&gt;").replace("\x00", "\ufffd")
    )  # fmt: skip


def _js_escape(*args: Any) -> str:
    out: list[str] = []
    for ch in go_sprint(*args):
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch in "<>&=" or ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _urlquery(*args: Any) -> str:
    return urllib.parse.quote_plus(go_sprint(*args), safe="-_.~")


def _not(v: Any) -> bool:
    return not _truth(v)


BUILTINS: dict[str, Callable[..., Any]] = {
    "not": _not,
    "len": _length,
    "index": _index,
    "slice": _slice,
    "print": go_sprint,
    "printf": go_printf,
    "println": go_sprintln,
    "html": _html_escape,
    "js": _js_escape,
    "urlquery": _urlquery,
    "eq": _eq,
    "ne": lambda a, b: not _eq(a, b),
    "lt": _less,
    "le": lambda a, b: _less(a, b) or _eq(a, b),
    "gt": lambda a, b: not (_less(a, b) or _eq(a, b)),
    "ge": lambda a, b: not _less(a, b),
    "call": lambda f, *a: f(*a),
}
_LAZY = {"and", "or"}  # evaluated argument by argument, as Go 1.18+ does


class Template:
    """A parsed template set: one named entry template plus every ``define``/``block``.

    Use :meth:`parse` to build one and :meth:`execute` to render it; :meth:`add` parses more
    text (e.g. template files) into the same set, as Go's ``Template.Parse`` / ``ParseFiles``.
    """

    def __init__(self, name: str, funcs: FuncMap | None = None) -> None:
        self.name = name
        self.funcs: dict[str, Callable[..., Any]] = {**BUILTINS, **(funcs or {})}
        self.trees: dict[str, list[Node]] = {}
        self.sources: dict[str, tuple[str, str]] = {}  # template -> (parse name, text)

    @classmethod
    def parse(cls, name: str, text: str, funcs: FuncMap | None = None) -> Template:
        """Parse ``text`` as template ``name`` with extra functions ``funcs``.

        Raises:
            TemplateError: ``template: NAME:LINE: what`` for syntax errors.
        """
        tmpl = cls(name, funcs)
        tmpl.add(name, text)
        return tmpl

    def add(self, name: str, text: str) -> Template:
        """Parse more template text (a file of ``define`` blocks) into this set."""
        known = set(self.funcs) | _LAZY
        for tname, body in parse_templates(name, text, known).items():
            # A file's own top-level text only replaces an existing entry if non-blank.
            blank = all(isinstance(n, TextNode) and not n.text.strip() for n in body)
            if tname == name and blank and tname in self.trees:
                continue
            self.trees[tname] = body
            self.sources[tname] = (name, text)
        return self

    def derive(self, name: str, text: str) -> Template:
        """A copy of this set with ``text`` parsed as entry template ``name`` — how a
        receiver field (``'{{ template "slack.default.title" . }}'``) sees every define."""
        new = Template(name)
        new.funcs = self.funcs
        new.trees = dict(self.trees)
        new.sources = dict(self.sources)
        new.trees.pop(name, None)
        return new.add(name, text)

    def with_funcs(self, funcs: FuncMap) -> Template:
        """The same parsed set executing with other implementations of its functions.

        Parse trees are never changed by execution, so a cached parse can be shared by
        many executions that each bring their own ``query`` callback.
        """
        new = Template(self.name, funcs)
        new.trees = self.trees
        new.sources = self.sources
        return new

    def names(self) -> list[str]:
        """Names of every template defined in this set, sorted."""
        return sorted(self.trees)

    def execute(self, data: Any = None, name: str | None = None) -> str:
        """Render template ``name`` (default: the entry template) with dot = ``data``.

        Raises:
            TemplateError: ``template: NAME:LINE:COL: executing "NAME" at <node>: what``.
        """
        target = name or self.name
        if target not in self.trees:
            raise TemplateError(f'template: no template "{target}" associated with template '
                                f'"{self.name}"')  # fmt: skip
        state = _State(self)
        try:
            state.run_template(target, data, None)
        except _ExecError as e:
            raise TemplateError(state.describe(e)) from None
        except RecursionError:
            raise TemplateError(f"template: {target}: exceeded maximum template depth") from None
        except (_LoopBreak, _LoopContinue):  # pragma: no cover - parser forbids them outside range
            raise TemplateError(f"template: {target}: break or continue outside range") from None
        except Exception as e:  # noqa: BLE001 - a template must never crash its caller
            raise TemplateError(f"template: {target}: {type(e).__name__}: {e}") from None
        return "".join(state.out)

    def execute_named(self, name: str, data: Any) -> str:
        """Render a ``define``d template by name (e.g. ``slack.default.title``)."""
        return self.execute(data, name)


class _State:
    def __init__(self, tmpl: Template) -> None:
        self.tmpl = tmpl
        self.out: list[str] = []
        self.vars: list[tuple[str, Any]] = []
        self.current = tmpl.name
        self.depth = 0

    # errors ------------------------------------------------------------------------
    def describe(self, e: _ExecError) -> str:
        current = e.template or self.tmpl.name
        parse_name, text = self.tmpl.sources.get(current, (current, ""))
        if e.node is None:
            return f'template: {parse_name}: executing "{current}": {e.msg}'
        pos = e.node.pos
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1)
        ctx = e.node.src.strip()
        return (f'template: {parse_name}:{line}:{col}: executing "{current}" at <{ctx}>: '
                f"{e.msg}")  # fmt: skip

    # walking -----------------------------------------------------------------------
    def run_template(self, name: str, dot: Any, node: Node | None) -> None:
        if name not in self.tmpl.trees:
            raise _ExecError(node, f'template "{name}" not defined')
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _ExecError(node, f"exceeded maximum template depth ({_MAX_DEPTH})")
        saved_vars, saved_current = self.vars, self.current
        self.vars, self.current = [("$", dot)], name
        try:
            self.walk_list(dot, self.tmpl.trees[name])
        except _ExecError as e:
            if e.template is None:
                e.template = name
            raise
        finally:
            self.vars, self.current = saved_vars, saved_current
            self.depth -= 1

    def walk_list(self, dot: Any, nodes: list[Node]) -> None:
        for node in nodes:
            self.walk(dot, node)

    def walk(self, dot: Any, node: Node) -> None:
        if isinstance(node, TextNode):
            self.out.append(node.text)
        elif isinstance(node, ActionNode):
            val = self.eval_pipe(dot, node.pipe)
            if not node.pipe.decl:
                self.out.append(self.printable(node, val))
        elif isinstance(node, BranchNode):
            mark = len(self.vars)
            try:
                if node.kind == "range":
                    self.walk_range(dot, node)
                else:
                    val = self.eval_pipe(dot, node.pipe, decl=node.kind != "range")
                    if _truth(val):
                        self.walk_list(val if node.kind == "with" else dot, node.body)
                    elif node.else_body is not None:
                        self.walk_list(dot, node.else_body)
            finally:
                del self.vars[mark:]
        elif isinstance(node, TemplateNode):
            val = self.eval_pipe(dot, node.pipe) if node.pipe is not None else NO_VALUE
            self.run_template(node.name, val, node)
        elif isinstance(node, LoopControlNode):
            raise _LoopBreak() if node.kind == "break" else _LoopContinue()

    def walk_range(self, dot: Any, node: BranchNode) -> None:
        val = self.eval_pipe(dot, node.pipe, decl=False)
        items: list[tuple[Any, Any]]
        if val is None or val is NO_VALUE:
            items = []
        elif isinstance(val, Mapping):
            items = [(k, val[k]) for k in sorted(val, key=_map_key)]
        elif isinstance(val, int) and not isinstance(val, bool):
            items = [(i, i) for i in range(val)]
        elif isinstance(val, Sequence) and not isinstance(val, str):
            items = list(enumerate(val))
        else:
            raise _ExecError(node.pipe, f"range can't iterate over {go_str(val)}")
        if not items:
            if node.else_body is not None:
                self.walk_list(dot, node.else_body)
            return
        decl = node.pipe.decl
        mark = len(self.vars)
        for key, elem in items:
            del self.vars[mark:]
            if len(decl) == 1:
                self.set_or_push(decl[0], elem, node.pipe.is_assign)
            elif len(decl) == 2:
                self.set_or_push(decl[0], key, node.pipe.is_assign)
                self.set_or_push(decl[1], elem, node.pipe.is_assign)
            try:
                self.walk_list(elem, node.body)
            except _LoopBreak:
                break
            except _LoopContinue:
                continue

    def set_or_push(self, name: str, value: Any, assign: bool) -> None:
        if assign:
            for i in range(len(self.vars) - 1, -1, -1):
                if self.vars[i][0] == name:
                    self.vars[i] = (name, value)
                    return
        self.vars.append((name, value))

    def printable(self, node: Node, val: Any) -> str:
        if callable(val) and not hasattr(val, "String"):
            raise _ExecError(node, f"can't print {node.src.strip()} of type {go_type_name(val)}")
        return go_str(val)

    # evaluation ----------------------------------------------------------------------
    def eval_pipe(self, dot: Any, pipe: PipeNode | None, decl: bool = True) -> Any:
        if pipe is None:
            return NO_VALUE
        val: Any = _NO_FINAL
        for cmd in pipe.cmds:
            val = self.eval_command(dot, cmd, val)
        if isinstance(val, dt.datetime):
            val = GoTime(val)
        if decl:
            for name in pipe.decl:
                self.set_or_push(name, val, pipe.is_assign)
        return val

    def eval_command(self, dot: Any, cmd: CommandNode, final: Any) -> Any:
        first = cmd.args[0]
        rest = cmd.args[1:]
        if isinstance(first, FieldNode):
            return self.eval_fields(dot, first, dot, first.names, rest, final)
        if isinstance(first, VariableNode):
            value = self.lookup_var(first)
            if not first.names:
                self.no_args(first, rest, final)
                return value
            return self.eval_fields(dot, first, value, first.names, rest, final)
        if isinstance(first, ChainNode):
            base = self.eval_arg(dot, first.node)
            return self.eval_fields(dot, first, base, first.names, rest, final)
        if isinstance(first, IdentifierNode):
            return self.call_function(dot, cmd, first.name, rest, final)
        if isinstance(first, PipeNode):
            self.no_args(first, rest, final)
            return self.eval_pipe(dot, first, decl=False)
        if isinstance(first, NilNode):
            raise _ExecError(first, "nil is not a command")
        self.no_args(first, rest, final)
        return self.eval_arg(dot, first)

    def no_args(self, node: Node, rest: list[Node], final: Any) -> None:
        if rest or final is not _NO_FINAL:
            raise _ExecError(node, f"can't give argument to non-function {node.src.strip()}")

    def lookup_var(self, node: VariableNode) -> Any:
        for name, value in reversed(self.vars):
            if name == node.name:
                return value
        raise _ExecError(node, f"undefined variable: {node.name}")

    def eval_arg(self, dot: Any, node: Node) -> Any:
        if isinstance(node, DotNode):
            return dot
        if isinstance(node, NilNode):
            return None
        if isinstance(node, LiteralNode):
            return node.value
        if isinstance(node, FieldNode):
            return self.eval_fields(dot, node, dot, node.names, [], _NO_FINAL)
        if isinstance(node, VariableNode):
            value = self.lookup_var(node)
            return self.eval_fields(dot, node, value, node.names, [], _NO_FINAL)
        if isinstance(node, ChainNode):
            base = self.eval_arg(dot, node.node)
            return self.eval_fields(dot, node, base, node.names, [], _NO_FINAL)
        if isinstance(node, PipeNode):
            return self.eval_pipe(dot, node, decl=False)
        if isinstance(node, IdentifierNode):
            return self.call_function(dot, CommandNode(node.pos, [node], src=node.src),
                                      node.name, [], _NO_FINAL)  # fmt: skip
        raise _ExecError(node, f"can't evaluate {node.src}")  # pragma: no cover

    def eval_fields(
        self, dot: Any, node: Node, recv: Any, names: list[str], rest: list[Node], final: Any
    ) -> Any:
        for i, name in enumerate(names):
            last = i == len(names) - 1
            args = [self.eval_arg(dot, a) for a in rest] if last else []
            if last and final is not _NO_FINAL:
                args.append(final)
            recv = self.field(
                node, recv, name, args, has_args=last and (bool(rest) or final is not _NO_FINAL)
            )
        return recv

    def field(self, node: Node, recv: Any, name: str, args: list[Any], has_args: bool) -> Any:
        if recv is NO_VALUE or recv is None:
            # Go: a nil interface is an invalid value; a field of it is again "no value".
            return NO_VALUE
        if isinstance(recv, dt.datetime):
            recv = GoTime(recv)
        elif isinstance(recv, dt.timedelta):
            recv = GoDuration(round(recv.total_seconds() * 1e9))
        # Methods win over map keys, as in Go (a KV's SortedPairs is a method).
        if not isinstance(recv, _BASIC) and not name.startswith("_"):
            attr = getattr(type(recv), name, None)
            if callable(attr):
                method = getattr(recv, name)
                arity = _arity_error(method, len(args))
                if arity:
                    raise _ExecError(node, f"wrong number of args for {name}: {arity}")
                try:
                    return method(*args)
                except Exception as e:  # noqa: BLE001 - a method's failure is a template error
                    raise _ExecError(node, f"error calling {name}: {e}") from None
        if isinstance(recv, Mapping):
            if has_args:
                raise _ExecError(node, f"{name} is not a method but has arguments")
            if name in recv:
                return recv[name]
            return "" if isinstance(recv, StrMap) else NO_VALUE
        if not isinstance(recv, (*_BASIC, Sequence)) and not name.startswith("_"):
            try:
                value = getattr(recv, name)
            except AttributeError:
                pass
            else:
                if has_args:
                    raise _ExecError(node, f"{name} has arguments but cannot be invoked as "
                                           "function")  # fmt: skip
                return value
        raise _ExecError(node, f"can't evaluate field {name} in type {go_type_name(recv)}")

    def call_function(
        self, dot: Any, cmd: CommandNode, name: str, rest: list[Node], final: Any
    ) -> Any:
        if name in _LAZY:
            nodes = list(rest)
            if not nodes and final is _NO_FINAL:
                raise _ExecError(cmd, f"wrong number of args for {name}: want at least 1 got 0")
            val: Any = None
            for idx in range(len(nodes) + (final is not _NO_FINAL)):
                val = final if idx == len(nodes) else self.eval_arg(dot, nodes[idx])
                if _truth(val) == (name == "or"):
                    return val
            return val
        fn = self.tmpl.funcs.get(name)
        if fn is None:
            raise _ExecError(cmd, f'"{name}" is not a defined function')
        args = [self.eval_arg(dot, a) for a in rest]
        if final is not _NO_FINAL:
            args.append(final)
        args = [GoTime(a) if isinstance(a, dt.datetime) else a for a in args]
        arity = _arity_error(fn, len(args))
        if arity:
            raise _ExecError(cmd, f"wrong number of args for {name}: {arity}")
        try:
            return fn(*args)
        except Exception as e:  # noqa: BLE001 - every function failure is a template error
            raise _ExecError(cmd, f"error calling {name}: {e}") from None


@functools.lru_cache(maxsize=512)
def _arity(fn: Callable[..., Any]) -> tuple[int, int | None]:
    """(required, maximum or None for variadic) positional arguments of ``fn``."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 0, None
    required, maximum = 0, 0
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            return required, None
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            maximum += 1
            if p.default is p.empty:
                required += 1
    return required, maximum


def _arity_error(fn: Callable[..., Any], got: int) -> str:
    """Go's message when a function gets the wrong number of arguments, else ""."""
    required, maximum = _arity(fn)
    if maximum is None:
        return f"want at least {required} got {got}" if got < required else ""
    if required <= got <= maximum:
        return ""
    return f"want {required} got {got}"


def _map_key(k: Any) -> tuple[int, Any]:
    if isinstance(k, int | float) and not isinstance(k, bool):
        return (0, k)
    return (1, str(k))


class _NoFinal:
    """Marker: no piped-in value for this command."""


_NO_FINAL: Any = _NoFinal()
