"""Relabeling: Prometheus' ``relabel_configs`` applied to a label set.

:func:`relabel` runs a list of :class:`~promhub.config.model.RelabelConfig` over a label
set exactly as Prometheus' ``relabel.Process`` does, returning ``None`` when a rule drops
it. It runs once per *new* series (and once per discovered target), never per sample, so
it works on a plain dict and keeps the per-rule work to a few dict operations.

Prometheus' regexes are Go RE2 syntax. :func:`compile_regex` translates the subset that
Python's :mod:`re` spells differently (``(?i)`` in the middle of a pattern, ``\\z``,
``\\Q…\\E``, POSIX classes, ASCII-only ``\\d``/``\\w``/``\\s``…) and rejects what RE2
rejects (look-arounds, back-references, nested repetition), so a config that Prometheus
refuses is refused here too and one it accepts matches the same strings.

>>> from promhub.config.model import RelabelConfig
>>> rc = RelabelConfig(source_labels=["a"], regex="f(.*)", target_label="b", replacement="x$1")
>>> relabel({"a": "foo"}, [rc])
Labels({a="foo", b="xoo"})
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from promhub.model.labels import Labels

if TYPE_CHECKING:
    from promhub.config.model import RelabelConfig

__all__ = [
    "compile_regex",
    "expand_template",
    "is_valid_label_name",
    "relabel",
    "relabel_dict",
]

# ``\Z`` rather than ``$``: Python's ``$`` also matches before a trailing newline.
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


def is_valid_label_name(name: str) -> bool:
    """Whether ``name`` is a legal label name (``[a-zA-Z_][a-zA-Z0-9_]*``)."""
    return _LABEL_NAME.match(name) is not None


# --------------------------------------------------------------------------- relabel


def relabel(labels: Labels | Mapping[str, str], configs: Sequence[RelabelConfig]) -> Labels | None:
    """Apply ``configs`` in order; return the resulting labels or ``None`` if dropped.

    Empty values never appear in the result (an empty value means "no such label").
    """
    if not configs:
        return labels if isinstance(labels, Labels) else Labels.from_dict(labels)
    d = dict(labels) if isinstance(labels, Labels) else _sorted_nonempty(labels)
    changed = _apply(d, configs)
    if changed is None:
        return None
    if not changed and isinstance(labels, Labels):
        return labels  # the common keep/drop-only case: no new tuple, no sort
    return Labels(sorted(d.items()))


def relabel_dict(d: Mapping[str, str], configs: Sequence[RelabelConfig]) -> dict[str, str] | None:
    """Like :func:`relabel` for a plain mapping (target labels with ``__address__``,
    ``__meta_*``, ``__param_*``…). Returns a new dict, or ``None`` if dropped."""
    out = _sorted_nonempty(d)
    if configs and _apply(out, configs) is None:
        return None
    return out


def _sorted_nonempty(m: Mapping[str, str]) -> dict[str, str]:
    # Prometheus' label sets are sorted; the order matters for labelmap collisions.
    return {k: m[k] for k in sorted(m) if m[k] != ""}


def _apply(d: dict[str, str], configs: Sequence[RelabelConfig]) -> bool | None:
    """Run the rules over ``d`` in place: ``None`` when a rule drops the set, else
    whether any label changed.

    ``added`` mirrors the order of Prometheus' ``labels.Builder`` additions: labelmap
    visits untouched original labels (sorted) first and then set labels in the order
    they were first set, which decides which value wins when two names map to one.
    """
    added: dict[str, None] = {}
    changed = False
    for cfg in configs:
        action = cfg.action
        src = cfg.source_labels
        if not src:
            val = ""
        elif len(src) == 1:
            val = d.get(src[0], "")
        else:
            val = cfg.separator.join([d.get(n, "") for n in src])

        if action == "replace":
            m = cfg.pattern.match(val)
            if m is None:
                continue
            target = cfg.target_label
            if "$" in target:
                target = expand_template(target, m)
                if _LABEL_NAME.match(target) is None:
                    continue
            repl = cfg.replacement
            res = expand_template(repl, m) if "$" in repl else repl
            changed |= _set(d, added, target, res)
        elif action == "keep":
            if cfg.pattern.match(val) is None:
                return None
        elif action == "drop":
            if cfg.pattern.match(val) is not None:
                return None
        elif action == "keepequal":
            if d.get(cfg.target_label, "") != val:
                return None
        elif action == "dropequal":
            if d.get(cfg.target_label, "") == val:
                return None
        elif action == "hashmod":
            digest = hashlib.md5(val.encode()).digest()
            # Prometheus takes the last 8 bytes of the MD5 as a big-endian uint64.
            mod = int.from_bytes(digest[8:], "big") % cfg.modulus
            changed |= _set(d, added, cfg.target_label, str(mod))
        elif action == "labelmap":
            snapshot = [(k, v) for k, v in d.items() if k not in added]
            snapshot += [(k, d[k]) for k in added]
            pat = cfg.pattern
            for name, value in snapshot:
                m = pat.match(name)
                if m is not None:
                    new = expand_template(cfg.replacement, m)
                    if new:
                        changed |= _set(d, added, new, value)
        elif action == "labeldrop":
            for name in [k for k in d if cfg.pattern.match(k) is not None]:
                changed |= _set(d, added, name, "")
        elif action == "labelkeep":
            for name in [k for k in d if cfg.pattern.match(k) is None]:
                changed |= _set(d, added, name, "")
        elif action == "lowercase":
            changed |= _set(d, added, cfg.target_label, _go_lower(val))
        elif action == "uppercase":
            changed |= _set(d, added, cfg.target_label, _go_upper(val))
        else:
            raise ValueError(f"unknown relabel action {action!r}")
    return changed


def _set(d: dict[str, str], added: dict[str, None], name: str, value: str) -> bool:
    """Set (or with "" delete) a label as Prometheus' Builder does; True if it changed."""
    old = d.get(name, "")
    if value == "":
        d.pop(name, None)
        added.pop(name, None)
    else:
        d[name] = value
        added[name] = None
    return old != value


def _go_lower(s: str) -> str:
    if s.isascii():
        return s.lower()
    # Go maps rune by rune with the simple case mapping (no context, one rune out), so
    # 'Σ' is always 'σ' and 'İ' becomes 'i' where Python's full mapping differs.
    return "".join([low if len(low := c.lower()) == 1 else low[0] for c in s])


def _go_upper(s: str) -> str:
    if s.isascii():
        return s.upper()
    return "".join([up if len(up := c.upper()) == 1 else c for c in s])


# --------------------------------------------------------------------------- templates

#: A parsed template: literal strings, and group references as ``int`` (by number) or
#: ``(name,)`` (by name).
_Token = str | int | tuple[str]


@functools.lru_cache(maxsize=1024)
def _parse_template(template: str) -> tuple[_Token, ...]:
    """Split a replacement template the way Go's ``regexp.Expand`` reads it."""
    out: list[_Token] = []
    lit: list[str] = []
    i, n = 0, len(template)
    while i < n:
        j = template.find("$", i)
        if j < 0:
            lit.append(template[i:])
            break
        lit.append(template[i:j])
        i = j + 1
        if i < n and template[i] == "$":
            lit.append("$")
            i += 1
            continue
        brace = i < n and template[i] == "{"
        k = i + 1 if brace else i
        start = k
        while k < n and (template[k].isalpha() or template[k].isdecimal() or template[k] == "_"):
            k += 1
        name = template[start:k]
        if not name or (brace and (k >= n or template[k] != "}")):
            lit.append("$")  # malformed: Go keeps the '$' as text
            continue
        i = k + 1 if brace else k
        if lit:
            out.append("".join(lit))
            lit = []
        if name.isascii() and name.isdigit() and (name[0] != "0" or len(name) == 1):
            out.append(int(name) if len(name) < 9 else -1)
        else:
            out.append((name,))
    if lit:
        out.append("".join(lit))
    return tuple(out)


def expand_template(template: str, m: re.Match[str]) -> str:
    """Expand ``$1``, ``${1}``, ``$name``, ``${name}`` and ``$$`` like Go's
    ``regexp.Expand``: a reference to a group that does not exist or did not take part
    in the match expands to the empty string."""
    parts: list[str] = []
    ngroups = m.re.groups
    for tok in _parse_template(template):
        if isinstance(tok, str):
            parts.append(tok)
            continue
        idx = tok if isinstance(tok, int) else m.re.groupindex.get(tok[0], -1)
        if 0 <= idx <= ngroups:
            g = m.group(idx)
            if g:
                parts.append(g)
    return "".join(parts)


# --------------------------------------------------------------------------- Go regexes


class _RegexError(ValueError):
    pass


_PERL_CLASSES = {
    "d": "0-9",
    "w": "0-9A-Za-z_",
    "s": "\\t\\n\\f\\r ",
}
_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
# Escapes Go accepts with a letter or digit after the backslash.
_GO_ESCAPES = set("afnrtvxdDsSwWbBAzQEpPC0")
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")


def compile_regex(expr: str) -> re.Pattern[str]:
    """Compile a Prometheus (Go RE2) regex, fully anchored with ``.`` matching newlines,
    as Prometheus 3 does (``^(?s:expr)$``).

    Raises :class:`ValueError` naming the problem for a pattern Go would reject.
    """
    return _compile_cached(expr)


@functools.lru_cache(maxsize=4096)
def _compile_cached(expr: str) -> re.Pattern[str]:
    py = _translate(expr)
    try:
        return re.compile("(?s:" + py + ")\\Z")
    except re.error as e:
        raise ValueError(f"error parsing regexp: {e.msg}: `{expr}`") from None
    except (OverflowError, RecursionError) as e:
        raise ValueError(f"error parsing regexp: {e}: `{expr}`") from None


def _translate(expr: str) -> str:
    """Rewrite Go RE2 syntax into an equivalent Python pattern (see module doc)."""
    try:
        return _Translator(expr).run()
    except _RegexError as e:
        raise ValueError(f"error parsing regexp: {e}: `{expr}`") from None


class _Frame:
    """One open group: flag groups ``(?i)`` opened inside it, and multi-line mode."""

    __slots__ = ("flag_groups", "multiline")

    def __init__(self, multiline: bool) -> None:
        self.flag_groups: list[str] = []
        self.multiline = multiline


class _Translator:
    def __init__(self, expr: str) -> None:
        self.s = expr
        self.i = 0
        self.out: list[str] = []
        self.stack = [_Frame(False)]
        # "none", "rep" (after a quantifier) or "lazy" (after a lazy quantifier).
        self.last = "none"

    def run(self) -> str:
        s, n = self.s, len(self.s)
        while self.i < n:
            c = s[self.i]
            if c == "\\":
                self._escape()
            elif c == "[":
                self._char_class()
                self.last = "none"
            elif c == "(":
                self._open_group()
            elif c == ")":
                self._close_group()
            elif c == "|":
                frame = self.stack[-1]
                self.out.append(")" * len(frame.flag_groups) + "|")
                self.out.extend(frame.flag_groups)
                self.i += 1
                self.last = "none"
            elif c in "*+?":
                self._quantifier(c)
            elif c == "{":
                m = _REPEAT.match(s, self.i)
                if m is None:
                    self.out.append("\\{")  # Go reads a malformed repeat as a literal
                    self.i += 1
                    self.last = "none"
                else:
                    lo, hi = int(m.group(1)), m.group(3)
                    if lo > 1000 or (hi and (int(hi) > 1000 or int(hi) < lo)):
                        raise _RegexError(f"invalid repeat count: `{m.group(0)}`")
                    self._check_repeat(m.group(0))
                    self.out.append(m.group(0))
                    self.i = m.end()
                    self.last = "rep"
            elif c == "$":
                self.out.append("$" if self.stack[-1].multiline else "\\Z")
                self.i += 1
                self.last = "none"
            else:
                self.out.append(c)
                self.i += 1
                self.last = "none"
        if len(self.stack) > 1:
            raise _RegexError("missing closing )")
        self.out.append(")" * len(self.stack[0].flag_groups))
        return "".join(self.out)

    def _check_repeat(self, op: str) -> None:
        if self.last != "none":
            raise _RegexError(f"invalid nested repetition operator: `{op}`")

    def _quantifier(self, c: str) -> None:
        if c == "?" and self.last == "rep":
            self.out.append("?")
            self.last = "lazy"
        else:
            self._check_repeat(c)
            self.out.append(c)
            self.last = "rep"
        self.i += 1

    def _open_group(self) -> None:
        s = self.s
        self.last = "none"
        frame = self.stack[-1]
        if not s.startswith("(?", self.i):
            self.out.append("(")
            self.stack.append(_Frame(frame.multiline))
            self.i += 1
            return
        rest = s[self.i + 2 :]
        for prefix in ("P<", "<"):
            if rest.startswith(prefix) and not rest.startswith(("<=", "<!")):
                end = rest.find(">")
                name = rest[len(prefix) : end] if end >= 0 else ""
                if end < 0 or not re.fullmatch(r"[A-Za-z0-9_]+", name):
                    raise _RegexError(f"invalid named capture: `{s[self.i :]}`")
                self.out.append(f"(?P<{name}>")
                self.stack.append(_Frame(frame.multiline))
                self.i += 2 + end + 1
                return
        m = re.match(r"([imsU]*)(?:(-)([imsU]*))?([:)])", rest)
        if m is None:
            raise _RegexError(f"invalid or unsupported Perl syntax: `{s[self.i : self.i + 3]}`")
        on, neg, off, kind = m.group(1), m.group(2), m.group(3) or "", m.group(4)
        if kind == ":" and not on and not neg:
            self.out.append("(?:")
            self.stack.append(_Frame(frame.multiline))
            self.i += 3
            return
        if (not on and not neg) or (neg and not off):
            raise _RegexError(
                f"invalid or unsupported Perl syntax: `{s[self.i : self.i + 2 + m.end()]}`"
            )
        if "U" in on + off:
            raise _RegexError("the ungreedy flag (?U) is not supported")
        flags = "(?" + on + ("-" + off if off else "") + ":"
        multiline = frame.multiline
        if "m" in on:
            multiline = True
        if "m" in off:
            multiline = False
        self.i += 2 + m.end()
        self.out.append(flags)
        if kind == ":":
            self.stack.append(_Frame(multiline))
        else:
            # Go's "(?i)" lasts to the end of the enclosing group; Python only allows
            # flags at the very start, so open a scoped group closed with the parent.
            frame.flag_groups.append(flags)
            frame.multiline = multiline

    def _close_group(self) -> None:
        if len(self.stack) == 1:
            raise _RegexError("unexpected )")
        frame = self.stack.pop()
        self.out.append(")" * len(frame.flag_groups) + ")")
        self.i += 1
        self.last = "none"

    def _escape(self) -> None:
        s = self.s
        if self.i + 1 >= len(s):
            raise _RegexError("trailing backslash at end of expression")
        c = s[self.i + 1]
        self.i += 2
        self.last = "none"
        if c in "dws":
            self.out.append("[" + _PERL_CLASSES[c] + "]")
        elif c in "DWS":
            self.out.append("[^" + _PERL_CLASSES[c.lower()] + "]")
        elif c == "z":
            self.out.append("\\Z")
        elif c == "Q":
            end = s.find("\\E", self.i)
            lit = s[self.i :] if end < 0 else s[self.i : end]
            self.out.append("(?:" + re.escape(lit) + ")")
            self.i = len(s) if end < 0 else end + 2
        elif c == "E":
            pass  # a stray \E outside \Q is ignored by Go
        elif c in "pP":
            self.out.append(self._unicode_class(c, in_class=False))
        elif c == "x":
            self.out.append(self._hex())
        elif c == "C":
            raise _RegexError("invalid escape sequence: `\\C`")
        elif c.isascii() and c.isalnum():
            if c not in _GO_ESCAPES:
                raise _RegexError(f"invalid escape sequence: `\\{c}`")
            self.out.append("\\" + c)
        else:
            self.out.append(re.escape(c))

    def _hex(self) -> str:
        s = self.s
        if s.startswith("{", self.i):
            end = s.find("}", self.i)
            digits = s[self.i + 1 : end] if end >= 0 else ""
            if (
                not digits
                or not re.fullmatch(r"[0-9A-Fa-f]+", digits)
                or int(digits, 16) > 0x10FFFF
            ):
                raise _RegexError("invalid escape sequence: `\\x{`")
            self.i = end + 1
            return re.escape(chr(int(digits, 16)))
        digits = s[self.i : self.i + 2]
        if not re.fullmatch(r"[0-9A-Fa-f]{2}", digits):
            raise _RegexError(f"invalid escape sequence: `\\x{digits}`")
        self.i += 2
        return re.escape(chr(int(digits, 16)))

    def _unicode_class(self, c: str, in_class: bool) -> str:
        s = self.s
        if s.startswith("{", self.i):
            end = s.find("}", self.i)
            name = s[self.i + 1 : end] if end >= 0 else ""
            self.i = end + 1 if end >= 0 else len(s)
        else:
            name = s[self.i : self.i + 1]
            self.i += 1
        neg = (c == "P") != name.startswith("^")
        name = name.lstrip("^")
        if name not in ("L", "Letter"):
            raise _RegexError(f"unsupported Unicode class: `\\{c}{{{name}}}`")
        if in_class:
            if neg:
                raise _RegexError(f"unsupported negated Unicode class in []: `\\{c}{name}`")
            return "^\\W\\d_"  # only valid as a whole class body; see _char_class
        return "[\\W\\d_]" if neg else "[^\\W\\d_]"

    def _char_class(self) -> None:
        s, n = self.s, len(self.s)
        i = self.i + 1
        parts: list[str] = ["["]
        if i < n and s[i] == "^":
            parts.append("^")
            i += 1
        first = True
        while True:
            if i >= n:
                raise _RegexError(f"missing closing ]: `{s[self.i :]}`")
            c = s[i]
            if c == "]" and not first:
                i += 1
                break
            first = False
            if c == "[" and s.startswith("[:", i):
                end = s.find(":]", i + 2)
                name = s[i + 2 : end] if end >= 0 else ""
                neg = name.startswith("^")
                body = _POSIX_CLASSES.get(name.lstrip("^"))
                if body is None:
                    if end >= 0:
                        raise _RegexError(f"invalid character class range: `{s[i : end + 2]}`")
                    parts.append("\\[")
                    i += 1
                    continue
                if neg:
                    raise _RegexError(f"unsupported negated POSIX class: `{s[i : end + 2]}`")
                parts.append(body)
                i = end + 2
                continue
            if c == "\\":
                if i + 1 >= n:
                    raise _RegexError("trailing backslash at end of expression")
                e = s[i + 1]
                i += 2
                if e in "dws":
                    parts.append(_PERL_CLASSES[e])
                elif e in "DWS":
                    parts.append("\\" + e)  # Unicode-aware in Python; rare enough
                elif e == "x":
                    self.i = i
                    parts.append(self._hex())
                    i = self.i
                elif e in "pP":
                    self.i = i
                    body = self._unicode_class(e, in_class=True)
                    i = self.i
                    if len(parts) != 1 or s[i : i + 1] != "]":
                        raise _RegexError("Unicode classes are only supported alone in []")
                    parts = ["[", body]
                elif e.isascii() and e.isalnum():
                    if e not in _GO_ESCAPES or e in "bBAzQEC":
                        raise _RegexError(f"invalid escape sequence: `\\{e}`")
                    parts.append("\\" + e)
                else:
                    parts.append(re.escape(e))
                continue
            # Characters Python treats specially inside sets (nested sets and set
            # operations, which it warns about) are plain literals in Go.
            parts.append("\\" + c if c in "[&~|" else c)
            i += 1
        parts.append("]")
        self.out.append("".join(parts))
        self.i = i
