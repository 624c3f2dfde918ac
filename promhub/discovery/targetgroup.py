"""Target groups: what every discovery provider produces and the scrape layer consumes.

A provider reports the complete list of its current groups each time something changes;
``source`` tells groups of one provider apart, as Prometheus' ``targetgroup.Group`` does.
This module also validates the ``[{"targets": [...], "labels": {...}}]`` document shared
by file_sd and http_sd, so both reject the same mistakes with the same messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from promhub.model.labels import LABEL_NAME_RE

#: The label holding a target's ``host:port`` before relabeling.
ADDRESS_LABEL = "__address__"


class DiscoveryError(ValueError):
    """A target group document that cannot be used; ``str()`` says where and why."""


@dataclass(frozen=True, slots=True)
class TargetGroup:
    """A set of targets sharing labels, as one provider discovered them.

    >>> TargetGroup("0", ({"__address__": "localhost:9100"},), {"env": "prod"}).source
    '0'
    """

    #: Unique within a provider, e.g. ``"targets.yml:0"``.
    source: str
    #: Each target has at least ``__address__``, plus any ``__meta_*`` labels.
    targets: tuple[dict[str, str], ...]
    #: Labels common to all targets of the group.
    labels: dict[str, str]


def groups_from_document(
    doc: object,
    *,
    source_prefix: str,
    where: str,
    extra_labels: Mapping[str, str],
    yaml_scalars: bool = False,
) -> list[TargetGroup]:
    """Validate a decoded ``[{"targets": [...], "labels": {...}}, ...]`` document.

    Group ``i`` gets source ``f"{source_prefix}:{i}"`` and ``extra_labels`` (e.g.
    ``__meta_filepath``) merged over its own labels. ``where`` names the document in
    errors. With ``yaml_scalars`` numbers and booleans are accepted as label values and
    targets, spelled as Go's YAML decoder spells them, because Prometheus accepts
    ``port: 9100`` in a YAML target file; JSON requires strings, as Prometheus does.

    Raises :class:`DiscoveryError` naming the group and field at fault.
    """
    if doc is None:
        # An empty YAML file decodes to None; Prometheus treats it as no groups.
        return []
    if not isinstance(doc, list):
        raise DiscoveryError(f"{where}: expected a list of target groups, got {_kind(doc)}")
    groups: list[TargetGroup] = []
    for i, item in enumerate(doc):
        at = f"{where}: group {i}"
        if not isinstance(item, dict):
            raise DiscoveryError(f"{at}: expected a mapping with targets and labels")
        unknown = sorted(str(k) for k in item if k not in ("targets", "labels"))
        if unknown:
            raise DiscoveryError(f"{at}: unknown field {unknown[0]!r}")
        raw_targets = item.get("targets") or []
        if not isinstance(raw_targets, list):
            raise DiscoveryError(f"{at}: field targets: expected a list of strings")
        targets = tuple(
            {ADDRESS_LABEL: _string(t, f"{at}: field targets[{j}]", yaml_scalars)}
            for j, t in enumerate(raw_targets)
        )
        raw_labels = item.get("labels") or {}
        if not isinstance(raw_labels, dict):
            raise DiscoveryError(f"{at}: field labels: expected a mapping of strings")
        labels: dict[str, str] = {}
        for name, value in raw_labels.items():
            if not isinstance(name, str) or not LABEL_NAME_RE.match(name):
                raise DiscoveryError(f"{at}: field labels: invalid label name {name!r}")
            labels[name] = _string(value, f"{at}: field labels.{name}", yaml_scalars)
        labels.update(extra_labels)
        groups.append(TargetGroup(f"{source_prefix}:{i}", targets, labels))
    return groups


def _string(value: object, at: str, yaml_scalars: bool) -> str:
    if isinstance(value, str):
        return value
    if yaml_scalars and isinstance(value, bool):
        return "true" if value else "false"
    if yaml_scalars and isinstance(value, int | float):
        return str(value)
    raise DiscoveryError(f"{at}: expected a string, got {_kind(value)}")


def _kind(value: object) -> str:
    return {dict: "a mapping", list: "a list", type(None): "null"}.get(
        type(value), type(value).__name__
    )
