"""Typed access to a YAML document that remembers where every value came from.

The loader composes YAML to nodes (not plain dicts) so an error can name the file, the
line and the field path, e.g. ``promhub.yml:12: field scrape_configs[0].scrape_interval:
not a valid duration string: "5x"``. A :class:`Section` is one mapping with a fixed set
of allowed keys; its getters convert scalars with the rules Go's ``yaml.v2`` applies to
Prometheus' config structs (any scalar reads as a string, booleans and integers must be
typed as such, ``null`` means "unset").
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator
from typing import Any, TypeVar

import yaml

from promhub.config.model import ConfigError
from promhub.config.units import parse_duration, parse_size

# libyaml is ~10x faster; the pure-Python loader gives the same nodes and marks.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

__all__ = ["ANY_KEY", "Section", "compose", "item_nodes", "node_line"]

T = TypeVar("T")

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"

_SHORT_TAGS = {_STR: "!!str", _INT: "!!int", _FLOAT: "!!float", _BOOL: "!!bool", _NULL: "!!null"}


class _AnyKey:
    """An ``allowed`` set admitting every key, for free-form maps such as ``params``."""

    def __contains__(self, key: object) -> bool:
        return True


ANY_KEY: Container[str] = _AnyKey()


def compose(text: str, file: str) -> yaml.Node | None:
    """Parse ``text`` to a node tree; a syntax error becomes a :class:`ConfigError`."""
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 0
        what = " ".join(p for p in (e.context, e.problem) if p)
        raise ConfigError(f"yaml: {what}", file, line) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"yaml: {e}", file) from None


def node_line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL


def describe(node: yaml.Node) -> str:
    """How yaml.v2 names a node in "cannot unmarshal" errors."""
    if isinstance(node, yaml.MappingNode):
        return "!!map"
    if isinstance(node, yaml.SequenceNode):
        return "!!seq"
    tag = _SHORT_TAGS.get(node.tag, node.tag)
    return f"{tag} `{node.value}`"


def construct(node: yaml.Node) -> Any:
    """Plain Python value of a subtree (for sections kept as raw mappings)."""
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def item_nodes(node: yaml.Node, file: str, path: str, line: int) -> list[yaml.Node]:
    """The items of a sequence (``null`` is an empty one)."""
    if is_null(node):
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise ConfigError(f"cannot unmarshal {describe(node)} into a list", file, line, path)
    return list(node.value)


class Section:
    """One YAML mapping read as a Prometheus config struct named ``type_name``.

    Unknown and repeated keys are errors, as with Prometheus' strict YAML decoding.
    """

    def __init__(
        self,
        node: yaml.Node,
        file: str,
        path: str,
        type_name: str,
        allowed: Container[str],
        line: int = 0,
    ) -> None:
        self.file = file
        self.path = path
        self.type_name = type_name
        self.line = node_line(node) if line == 0 else line
        self.keys: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        if is_null(node):
            return
        if not isinstance(node, yaml.MappingNode):
            raise ConfigError(
                f"cannot unmarshal {describe(node)} into {type_name}", file, self.line, path
            )
        for knode, vnode in _flatten(node):
            if not isinstance(knode, yaml.ScalarNode):
                raise ConfigError(
                    f"cannot unmarshal {describe(knode)} as a key", file, node_line(knode), path
                )
            key = str(knode.value)
            where = self.child(key)
            if key not in allowed:
                raise ConfigError(f"not found in type {type_name}", file, node_line(knode), where)
            if key in self.keys:
                raise ConfigError(f"already set in type {type_name}", file, node_line(knode), where)
            self.keys[key] = (knode, vnode)

    # -- where things are

    def child(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def line_of(self, key: str) -> int:
        """The line of ``key`` if present, else of the mapping itself."""
        return node_line(self.keys[key][0]) if key in self.keys else self.line

    def error(self, key: str, msg: str) -> ConfigError:
        """An error about field ``key`` (or about the whole section if ``key`` is "")."""
        if not key:
            return ConfigError(msg, self.file, self.line, self.path)
        return ConfigError(msg, self.file, self.line_of(key), self.child(key))

    def __contains__(self, key: str) -> bool:
        return key in self.keys and not is_null(self.keys[key][1])

    def node(self, key: str) -> yaml.Node | None:
        return self.keys[key][1] if key in self else None

    # -- typed getters; each returns ``default`` when the key is absent or null

    def _get(self, key: str, default: T, conv: Callable[[yaml.Node], T]) -> T:
        node = self.node(key)
        if node is None:
            return default
        try:
            return conv(node)
        except ValueError as e:
            raise self.error(key, str(e)) from None

    def get_str(self, key: str, default: str = "") -> str:
        return self._get(key, default, _scalar_str)

    def get_bool(self, key: str, default: bool) -> bool:
        return self._get(key, default, _scalar_bool)

    def get_uint(self, key: str, default: int = 0) -> int:
        return self._get(key, default, _scalar_uint)

    def get_float(self, key: str, default: float = 0.0) -> float:
        return self._get(key, default, _scalar_float)

    def get_duration(self, key: str, default: float = 0.0) -> float:
        return self._get(key, default, lambda n: parse_duration(_scalar_str(n)))

    def get_size(self, key: str, default: int = 0) -> int:
        def conv(n: yaml.Node) -> int:
            v = parse_size(_scalar_str(n))
            if v < 0:
                raise ValueError(f"size must not be negative: {n.value}")
            return v

        return self._get(key, default, conv)

    def str_list(self, key: str) -> list[str]:
        node = self.node(key)
        if node is None:
            return []
        out = []
        for item in item_nodes(node, self.file, self.child(key), self.line_of(key)):
            try:
                out.append(_scalar_str(item))
            except ValueError as e:
                raise ConfigError(str(e), self.file, node_line(item), self.child(key)) from None
        return out

    def str_map(self, key: str) -> dict[str, str]:
        """A mapping of strings to strings (labels, headers…), in file order."""
        return {k: v for k, (_, v) in self.str_map_lines(key).items()}

    def str_map_lines(self, key: str) -> dict[str, tuple[int, str]]:
        """Like :meth:`str_map` with each entry's line, for per-entry validation."""
        node = self.node(key)
        if node is None:
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise self.error(key, f"cannot unmarshal {describe(node)} into a map")
        out: dict[str, tuple[int, str]] = {}
        for knode, vnode in _flatten(node):
            try:
                k, v = _scalar_str(knode), _scalar_str(vnode)
            except ValueError as e:
                raise ConfigError(str(e), self.file, node_line(knode), self.child(key)) from None
            if k in out:
                raise ConfigError(
                    f'key "{k}" already set in map', self.file, node_line(knode), self.child(key)
                )
            out[k] = (node_line(knode), v)
        return out

    def section(self, key: str, type_name: str, allowed: Container[str]) -> Section | None:
        node = self.node(key)
        if node is None:
            return None
        return Section(node, self.file, self.child(key), type_name, allowed, self.line_of(key))

    def sections(self, key: str, type_name: str, allowed: Container[str]) -> Iterator[Section]:
        """The mappings of a sequence field; a null item is an error, as in Prometheus."""
        node = self.node(key)
        if node is None:
            return
        for i, item in enumerate(item_nodes(node, self.file, self.child(key), self.line_of(key))):
            path = f"{self.child(key)}[{i}]"
            if is_null(item):
                raise ConfigError(
                    f"empty or null section in {key}", self.file, node_line(item), path
                )
            yield Section(item, self.file, path, type_name, allowed)

    def raw(self, key: str) -> Any:
        node = self.node(key)
        return None if node is None else construct(node)


def _flatten(node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
    """The key/value pairs of a mapping with YAML merge keys (``<<: *base``) applied;
    explicit keys win over merged ones, as in yaml.v2."""
    own: list[tuple[yaml.Node, yaml.Node]] = []
    merged: list[tuple[yaml.Node, yaml.Node]] = []
    for knode, vnode in node.value:
        if knode.tag == _MERGE:
            sources = vnode.value if isinstance(vnode, yaml.SequenceNode) else [vnode]
            for src in sources:
                if isinstance(src, yaml.MappingNode):
                    merged.extend(_flatten(src))
        else:
            own.append((knode, vnode))
    if not merged:
        return own
    names = {k.value for k, _ in own if isinstance(k, yaml.ScalarNode)}
    seen: set[str] = set()
    out = []
    for k, v in merged:
        if k.value not in names and k.value not in seen:
            seen.add(k.value)
            out.append((k, v))
    return out + own


def _scalar_str(node: yaml.Node) -> str:
    # yaml.v2 decodes any non-null scalar into a string field as written.
    if isinstance(node, yaml.ScalarNode):
        return "" if node.tag == _NULL else str(node.value)
    raise ValueError(f"cannot unmarshal {describe(node)} into string")


def _scalar_bool(node: yaml.Node) -> bool:
    if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL:
        return bool(construct(node))
    raise ValueError(f"cannot unmarshal {describe(node)} into bool")


def _scalar_uint(node: yaml.Node) -> int:
    if isinstance(node, yaml.ScalarNode) and node.tag == _INT:
        v = construct(node)
        if isinstance(v, int) and v >= 0:
            return v
    raise ValueError(f"cannot unmarshal {describe(node)} into a non-negative integer")


def _scalar_float(node: yaml.Node) -> float:
    if isinstance(node, yaml.ScalarNode) and node.tag in (_INT, _FLOAT):
        return float(construct(node))
    raise ValueError(f"cannot unmarshal {describe(node)} into float64")
