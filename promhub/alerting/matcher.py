"""Alertmanager's matcher syntax: ``foo="bar"``, ``foo=~"a|b"``, ``{x!="y", z!~w}``.

This is the parser of Alertmanager's ``pkg/labels`` (the one ``amtool`` 0.25 and the
config's ``matchers:`` use): optional braces, comma-separated matchers, values quoted or
bare, ``\\n``, ``\\"`` and ``\\\\`` escapes. As an extension from 0.27's UTF-8 syntax a
label name may be double-quoted (``"service name"="api"``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from promhub.model.matcher import Matcher, MatchType

__all__ = ["MatcherError", "format_matchers", "matches", "parse_matcher", "parse_matchers"]

_RE = re.compile(
    r'\s*([a-zA-Z_:][a-zA-Z0-9_:]*|"(?:[^"\\]|\\.)*")\s*(=~|=|!=|!~)\s*(.*?)\s*\Z', re.S
)


class MatcherError(ValueError):
    """A matcher string that does not parse."""


def parse_matchers(s: str) -> list[Matcher]:
    """All matchers of one string such as ``{a="1",b=~"x|y"}``."""
    s = s.removeprefix("{").removesuffix("}")
    tokens: list[str] = []
    token: list[str] = []
    inside = escaped = False
    for ch in s:
        if ch == "," and not inside:
            tokens.append("".join(token))
            token = []
            continue
        if ch == '"':
            if not escaped:
                inside = not inside
            else:
                escaped = False
        elif ch == "\\":
            escaped = not escaped
        else:
            escaped = False
        token.append(ch)
    last = "".join(token).strip()
    if last:
        tokens.append(last)
    return [parse_matcher(t) for t in tokens]


def parse_matcher(s: str) -> Matcher:
    """One matcher; errors read as Alertmanager's (``bad matcher format: …``)."""
    m = _RE.match(s)
    if m is None:
        raise MatcherError(f"bad matcher format: {s}")
    name, op, raw = m.group(1), m.group(2), m.group(3)
    if name.startswith('"'):
        name = _unescape(name[1:-1], name)
        if not name:
            raise MatcherError(f"bad matcher format: {s}")
    quoted = raw.startswith('"')
    if quoted:
        raw = raw[1:]
    out: list[str] = []
    escaped = False
    for i, ch in enumerate(raw):
        if escaped:
            escaped = False
            out.append({"n": "\n", '"': '"', "\\": "\\"}.get(ch, "\\" + ch))
            continue
        if ch == "\\":
            if i < len(raw) - 1:
                escaped = True
                continue
            out.append("\\")  # a trailing backslash is literal
        elif ch == '"':
            if not quoted or i < len(raw) - 1:
                raise MatcherError(f"matcher value contains unescaped double quote: {m.group(3)}")
            quoted = False
        else:
            out.append(ch)
    if quoted:
        raise MatcherError(f"matcher value contains unescaped double quote: {m.group(3)}")
    try:
        return Matcher.new(op, name, "".join(out))
    except ValueError as e:
        raise MatcherError(f"invalid regular expression {''.join(out)!r}: {e}") from None


def _unescape(s: str, orig: str) -> str:
    return s.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def sort_key(m: Matcher) -> tuple[str, str, str]:
    """Alertmanager's matcher order: name, then type, then value."""
    order = {MatchType.EQUAL: "0", MatchType.NOT_EQUAL: "1", MatchType.REGEX: "2"}
    return (m.name, order.get(m.type, "3"), m.value)


def format_matchers(ms: Iterable[Matcher]) -> str:
    """``{a="1",b=~"x"}`` as Alertmanager's ``Matchers.String()`` (used in route keys)."""
    return "{" + ",".join(str(m) for m in ms) + "}"


def matches(ms: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher accepts ``labels`` (a missing label reads as "")."""
    return all(m.matches(labels.get(m.name, "")) for m in ms)
