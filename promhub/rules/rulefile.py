"""Prometheus rule files: loading and validating ``groups:`` of recording and alerting rules.

Errors read like ``promtool check rules``: ``FILE: LINE:COL: group "g", rule 2, "name":
reason``. Structural problems (YAML syntax, unknown fields, wrong types) stop the file at
the first one, as Go's strict YAML decoding does; semantic problems (bad expressions,
invalid names, repeated groups) are all collected so a user fixes them in one pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from promhub.config.model import ConfigError
from promhub.config.yaml_lines import Section, compose, node_line
from promhub.model.labels import METRIC_NAME_RE
from promhub.model.relabel import is_valid_label_name
from promhub.promql import parse_expr

__all__ = [
    "GroupDef",
    "RuleDef",
    "RuleFileError",
    "TemplateCheck",
    "load_rule_file",
    "parse_rule_text",
    "rule_count",
]

_GROUP_KEYS = {"name", "interval", "limit", "query_offset", "labels", "rules"}
_RULE_KEYS = {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}

#: Checks a label/annotation template's syntax; returns an error message or None.
TemplateCheck = Callable[[str, str], "str | None"]


class RuleFileError(ValueError):
    """A rule file that cannot be used; ``errors`` lists every problem found."""

    def __init__(self, file: str, errors: list[str]) -> None:
        self.file = file
        self.errors = errors
        super().__init__("; ".join(errors))


@dataclass(frozen=True, slots=True)
class RuleDef:
    """One rule as written. Equal definitions compare equal (reload keeps their state)."""

    kind: Literal["record", "alert"]
    name: str
    expr: str
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class GroupDef:
    """One rule group; ``interval_s``/``query_offset_s`` None mean "the global setting"."""

    name: str
    file: str
    rules: tuple[RuleDef, ...] = ()
    interval_s: float | None = None
    limit: int = 0
    query_offset_s: float | None = None
    labels: tuple[tuple[str, str], ...] = field(default=())


def load_rule_file(path: str, check_template: TemplateCheck | None = None) -> list[GroupDef]:
    """Read and validate one rule file; raise :class:`RuleFileError` listing the problems."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise RuleFileError(path, [f"{path}: {e.strerror or e}"]) from None
    except UnicodeDecodeError as e:
        raise RuleFileError(path, [f"{path}: not valid UTF-8: {e.reason}"]) from None
    return parse_rule_text(text, path, check_template)


def parse_rule_text(
    text: str, path: str, check_template: TemplateCheck | None = None
) -> list[GroupDef]:
    """Like :func:`load_rule_file` for text already read (``path`` names it in errors)."""
    try:
        root = compose(text, path)
        if root is None:
            return []
        top = Section(root, path, "", "rulefmt.RuleGroups", {"groups"})
        raw = [_read_group(sec) for sec in top.sections("groups", "rulefmt.RuleGroup", _GROUP_KEYS)]
    except ConfigError as e:
        raise RuleFileError(path, [str(e)]) from None
    errors: list[str] = []
    seen: set[str] = set()
    groups: list[GroupDef] = []
    for sec, name, rules in raw:
        where = f"{path}: {sec.line}:3" if sec.line else f"{path}:"
        if not name:
            errors.append(f"{where}: Groupname must not be empty")
        elif name in seen:
            errors.append(f'{where}: groupname: "{name}" is repeated in the same file')
        seen.add(name)
        for key in sec.str_map("labels"):
            if not is_valid_label_name(key):
                errors.append(f'{path}: group "{name}": invalid label name: {key}')
        defs = []
        for i, (rsec, rdef) in enumerate(rules, start=1):
            prefix = f'{path}: {{}}group "{name}", rule {i}, '
            errors.extend(_validate(rsec, rdef, prefix, check_template))
            defs.append(rdef)
        interval = sec.get_duration("interval") if "interval" in sec else None
        offset = sec.get_duration("query_offset") if "query_offset" in sec else None
        groups.append(
            GroupDef(
                name=name,
                file=path,
                rules=tuple(defs),
                interval_s=interval or None,
                limit=sec.get_uint("limit"),
                query_offset_s=offset,
                labels=tuple(sorted(sec.str_map("labels").items())),
            )
        )
    if errors:
        raise RuleFileError(path, errors)
    return groups


def _read_group(sec: Section) -> tuple[Section, str, list[tuple[Section, RuleDef]]]:
    name = sec.get_str("name")
    # Read the typed fields now so a wrong type is reported like an unknown field.
    sec.get_duration("interval")
    sec.get_duration("query_offset")
    sec.get_uint("limit")
    sec.str_map("labels")
    rules = []
    for rsec in sec.sections("rules", "rulefmt.RuleNode", _RULE_KEYS):
        record, alert = rsec.get_str("record"), rsec.get_str("alert")
        rdef = RuleDef(
            kind="alert" if alert else "record",
            name=alert or record,
            expr=rsec.get_str("expr"),
            for_s=rsec.get_duration("for"),
            keep_firing_for_s=rsec.get_duration("keep_firing_for"),
            labels=tuple(sorted(rsec.str_map("labels").items())),
            annotations=tuple(sorted(rsec.str_map("annotations").items())),
        )
        rules.append((rsec, rdef))
    return sec, name, rules


def _pos(rsec: Section, key: str) -> str:
    if key in rsec.keys:
        node = rsec.keys[key][1]
        return f"{node_line(node)}:{int(node.start_mark.column) + 1}: "
    return ""


def _validate(
    rsec: Section, r: RuleDef, prefix: str, check_template: TemplateCheck | None
) -> list[str]:
    """Semantic checks of one rule (promtool's rulefmt.RuleNode.Validate)."""
    errs: list[str] = []
    record, alert = rsec.get_str("record"), rsec.get_str("alert")

    def err(key: str, msg: str) -> None:
        errs.append(prefix.format(_pos(rsec, key)) + f'"{r.name}": {msg}')

    if record and alert:
        err("record", "only one of 'record' and 'alert' must be set")
    elif not record and not alert:
        err("", "one of 'record' or 'alert' must be set")
    if not r.expr:
        err("expr", "field 'expr' must be set in rule")
    else:
        try:
            parse_expr(r.expr)
        except Exception as e:  # the parser's message, as promtool shows it
            err("expr", f"could not parse expression: {e}")
    if record and not alert:
        if "annotations" in rsec:
            err("annotations", "invalid field 'annotations' in recording rule")
        if "for" in rsec:
            err("for", "invalid field 'for' in recording rule")
        if "keep_firing_for" in rsec:
            err("keep_firing_for", "invalid field 'keep_firing_for' in recording rule")
        if not METRIC_NAME_RE.match(record):
            err("record", f"invalid recording rule name: {record}")
    for name, value in r.labels:
        if not is_valid_label_name(name):
            err("labels", f"invalid label name: {name}")
        if check_template is not None and alert:
            msg = check_template(f"__alert_{alert}", value)
            if msg:
                err("labels", f'label "{name}": {msg}')
    if record and "__name__" in dict(r.labels):
        err("labels", "invalid recording rule label __name__")
    for name, value in r.annotations:
        if not is_valid_label_name(name):
            err("annotations", f"invalid annotation name: {name}")
        if check_template is not None and alert:
            msg = check_template(f"__alert_{alert}", value)
            if msg:
                err("annotations", f'annotation "{name}": {msg}')
    return errs


def rule_count(groups: list[GroupDef]) -> int:
    """How many rules the groups hold (``promtool check rules``' "N rules found")."""
    return sum(len(g.rules) for g in groups)
