"""Label matchers (``=``, ``!=``, ``=~``, ``!~``) and series-selector parsing."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from promhub.model.labels import METRIC_NAME, Labels
from promhub.model.relabel import compile_regex


class MatchType(enum.Enum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher. Regexes are fully anchored, as in Prometheus."""

    type: MatchType
    name: str
    value: str
    _re: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def new(cls, type: MatchType | str, name: str, value: str) -> Matcher:
        t = MatchType(type)
        rx = None
        if t in (MatchType.REGEX, MatchType.NOT_REGEX):
            # Go (RE2) syntax translated and fully anchored, as Prometheus matches.
            rx = compile_regex(value)
        return cls(t, name, value, rx)

    def matches(self, value: str) -> bool:
        t = self.type
        if t is MatchType.EQUAL:
            return value == self.value
        if t is MatchType.NOT_EQUAL:
            return value != self.value
        assert self._re is not None
        m = self._re.match(value) is not None
        return m if t is MatchType.REGEX else not m

    def matches_empty(self) -> bool:
        """Whether a series *without* this label matches (its value counts as "")."""
        return self.matches("")

    def matches_labels(self, labels: Labels) -> bool:
        return self.matches(labels.get(self.name))

    def __str__(self) -> str:
        v = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.type.value}"{v}"'


def matches_all(matchers: list[Matcher], labels: Labels) -> bool:
    return all(m.matches_labels(labels) for m in matchers)


class SelectorError(ValueError):
    """A series selector could not be parsed; the message names the position."""


_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LNAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_OP = re.compile(r"=~|!~|!=|=")
_WS = re.compile(r"\s*")


def _string(s: str, i: int) -> tuple[str, int]:
    q = s[i]
    if q not in "\"'`":
        raise SelectorError(f"1:{i + 1}: expected a quoted string")
    j = i + 1
    out: list[str] = []
    while j < len(s):
        c = s[j]
        if c == q:
            return "".join(out), j + 1
        if c == "\\" and q != "`":
            j += 1
            if j >= len(s):
                break
            e = s[j]
            out.append({"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}.get(e, "\\" + e))
        else:
            out.append(c)
        j += 1
    raise SelectorError(f"1:{i + 1}: unterminated quoted string")


def parse_selector(s: str) -> list[Matcher]:
    """Parse ``metric{a="b", c=~"d"}`` (or ``{...}`` alone) into matchers.

    >>> [str(m) for m in parse_selector('up{job="node"}')]
    ['__name__="up"', 'job="node"']
    """
    matchers: list[Matcher] = []
    i = _WS.match(s, 0).end()  # type: ignore[union-attr]
    m = _NAME.match(s, i)
    if m:
        matchers.append(Matcher.new(MatchType.EQUAL, METRIC_NAME, m.group()))
        i = _WS.match(s, m.end()).end()  # type: ignore[union-attr]
    if i < len(s) and s[i] == "{":
        i += 1
        while True:
            i = _WS.match(s, i).end()  # type: ignore[union-attr]
            if i < len(s) and s[i] == "}":
                i += 1
                break
            if i < len(s) and s[i] in "\"'":
                name, i = _string(s, i)
            else:
                nm = _LNAME.match(s, i)
                if not nm:
                    raise SelectorError(f"1:{i + 1}: expected a label name")
                name, i = nm.group(), nm.end()
            i = _WS.match(s, i).end()  # type: ignore[union-attr]
            om = _OP.match(s, i)
            if not om:
                raise SelectorError(f"1:{i + 1}: expected a label matching operator")
            i = _WS.match(s, om.end()).end()  # type: ignore[union-attr]
            if i >= len(s):
                raise SelectorError(f"1:{i + 1}: unexpected end of input")
            value, i = _string(s, i)
            try:
                matchers.append(Matcher.new(om.group(), name, value))
            except ValueError as e:
                raise SelectorError(f"1:{i + 1}: {e}") from e
            i = _WS.match(s, i).end()  # type: ignore[union-attr]
            if i < len(s) and s[i] == ",":
                i += 1
                continue
            if i < len(s) and s[i] == "}":
                i += 1
                break
            raise SelectorError(f"1:{i + 1}: expected ',' or '}}'")
    i = _WS.match(s, i).end()  # type: ignore[union-attr]
    if i != len(s):
        raise SelectorError(f"1:{i + 1}: unexpected character {s[i]!r}")
    if not matchers:
        raise SelectorError("1:1: empty selector")
    if all(mm.matches_empty() for mm in matchers):
        raise SelectorError("1:1: vector selector must contain at least one non-empty matcher")
    return matchers
