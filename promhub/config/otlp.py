"""The ``otlp:`` section of the configuration: how the OTLP receiver translates names.

Prometheus' ``OTLPConfig`` fields and checks; promhub stores classic (escaped) metric
names, so only the ``UnderscoreEscaping...`` translation strategies are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from promhub.ingest.otlp_names import label_name

#: ``translation_strategy`` values promhub can store (its metric names are the classic,
#: escaped ones); the UTF-8 strategies need UTF-8 metric names.
STRATEGIES = {"UnderscoreEscapingWithSuffixes": True, "UnderscoreEscapingWithoutSuffixes": False}
_SETTINGS_FIELDS = {
    "promote_all_resource_attributes",
    "promote_resource_attributes",
    "ignore_resource_attributes",
    "translation_strategy",
    "keep_identifying_resource_attributes",
    "convert_histograms_to_nhcb",
    "promote_scope_metadata",
    "label_name_underscore_sanitization",
    "label_name_preserve_multiple_underscores",
}


@dataclass(frozen=True, slots=True)
class TranslationSettings:
    """The ``otlp:`` section of the configuration (Prometheus' field names)."""

    suffixes: bool = True
    promote_all_resource_attributes: bool = False
    promote_resource_attributes: tuple[str, ...] = ()
    ignore_resource_attributes: frozenset[str] = frozenset()
    keep_identifying_resource_attributes: bool = False
    promote_scope_metadata: bool = False
    underscore_sanitization: bool = False
    preserve_underscores: bool = False

    def label(self, name: str) -> str:
        return label_name(
            name,
            underscore_sanitization=self.underscore_sanitization,
            preserve_underscores=self.preserve_underscores,
        )


def parse_settings(raw: Mapping[str, Any]) -> TranslationSettings:
    """Validate the raw ``otlp:`` mapping as Prometheus does; raises ValueError."""
    unknown = sorted(set(raw) - _SETTINGS_FIELDS)
    if unknown:
        raise ValueError(f"field {unknown[0]} not found in type config.OTLPConfig")

    def flag(key: str) -> bool:
        v = raw.get(key, False)
        if not isinstance(v, bool):
            raise ValueError(f"{key} must be true or false, not {v!r}")
        return v

    def names(key: str, adjective: str) -> list[str]:
        v = raw.get(key) or []
        if not isinstance(v, list) or not all(isinstance(a, str) for a in v):
            raise ValueError(f"{key} must be a list of strings")
        out: list[str] = []
        for a in (a.strip() for a in v):
            if not a:
                raise ValueError(f"invalid '{key}': empty {adjective} OTel resource attribute")
            if a in out:
                raise ValueError(
                    f"invalid '{key}': duplicated {adjective} OTel resource attribute {a!r}"
                )
            out.append(a)
        return out

    promote_all = flag("promote_all_resource_attributes")
    promote = names("promote_resource_attributes", "promoted")
    ignore = names("ignore_resource_attributes", "ignored")
    if promote_all and promote:
        raise ValueError(
            "'promote_all_resource_attributes' and 'promote_resource_attributes' "
            "cannot be configured simultaneously"
        )
    if ignore and not promote_all:
        raise ValueError(
            "'ignore_resource_attributes' cannot be configured unless "
            "'promote_all_resource_attributes' is true"
        )
    if flag("convert_histograms_to_nhcb"):
        raise ValueError("convert_histograms_to_nhcb: native histograms are not supported")
    strategy = raw.get("translation_strategy", "UnderscoreEscapingWithSuffixes")
    if strategy not in STRATEGIES:
        raise ValueError(
            f"translation_strategy {strategy!r} is not supported; promhub stores classic "
            f"metric names: use one of {', '.join(STRATEGIES)}"
        )
    return TranslationSettings(
        suffixes=STRATEGIES[strategy],
        promote_all_resource_attributes=promote_all,
        promote_resource_attributes=tuple(promote),
        ignore_resource_attributes=frozenset(ignore),
        keep_identifying_resource_attributes=flag("keep_identifying_resource_attributes"),
        promote_scope_metadata=flag("promote_scope_metadata"),
        underscore_sanitization=flag("label_name_underscore_sanitization"),
        preserve_underscores=flag("label_name_preserve_multiple_underscores"),
    )
