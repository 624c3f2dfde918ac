"""Label sets: the identity of a series.

A :class:`Labels` is a tuple of ``(name, value)`` pairs sorted by name, with no empty
values (Prometheus treats an empty value as an absent label). Being a tuple it is hashable
and cheap to compare, so it can key dicts directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

METRIC_NAME = "__name__"
#: Labels starting with ``__`` are reserved for internal use and dropped after relabeling.
RESERVED_PREFIX = "__"

LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


class Labels(tuple[tuple[str, str], ...]):
    """An immutable, sorted label set.

    >>> ls = Labels.from_dict({"job": "node", "__name__": "up"})
    >>> str(ls)
    'up{job="node"}'
    """

    __slots__ = ()

    @classmethod
    def from_dict(cls, d: Mapping[str, str]) -> Labels:
        return cls(sorted((k, v) for k, v in d.items() if v != ""))

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Labels:
        """Build from pairs in any order; a later duplicate name wins."""
        return cls.from_dict(dict(pairs))

    def get(self, name: str, default: str = "") -> str:
        for k, v in self:
            if k == name:
                return v
        return default

    def to_dict(self) -> dict[str, str]:
        return dict(self)

    @property
    def name(self) -> str:
        return self.get(METRIC_NAME)

    def without(self, *names: str) -> Labels:
        drop = set(names)
        return Labels(p for p in self if p[0] not in drop)

    def __str__(self) -> str:
        name = ""
        parts = []
        for k, v in self:
            if k == METRIC_NAME and METRIC_NAME_RE.match(v):
                name = v
                continue
            key = k if LABEL_NAME_RE.match(k) else quote(k)
            parts.append(f"{key}={quote(v)}")
        return name + "{" + ", ".join(parts) + "}" if parts or not name else name

    def __repr__(self) -> str:
        return f"Labels({str(self)})"


EMPTY = Labels(())


def quote(s: str) -> str:
    """Quote a label value the way Prometheus prints it (Go's strconv.Quote subset)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
