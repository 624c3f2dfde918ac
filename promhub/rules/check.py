"""``promhub check rules FILE...``: the output and exit status of ``promtool check rules``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from promhub.rules.rulefile import RuleFileError, TemplateCheck, load_rule_file, rule_count

__all__ = ["check_rules"]


def check_rules(
    files: Sequence[str],
    out: TextIO,
    err: TextIO,
    check_template: TemplateCheck | None = None,
    error_indent: str = "",
) -> int:
    """Check each file; print ``SUCCESS: N rules found`` or the ``FAILED:`` reasons
    (to ``err``, as promtool does). Exit status 1 if any file failed.

    ``error_indent`` prefixes each reason: ``promtool check config`` indents them by five
    spaces where ``promtool check rules`` does not."""
    failed = False
    for f in files:
        print(f"Checking {f}", file=out)
        try:
            groups = load_rule_file(f, check_template)
        except RuleFileError as e:
            failed = True
            print("  FAILED:", file=err)
            for line in e.errors:
                print(error_indent + line, file=err)
            print(file=out)
            continue
        print(f"  SUCCESS: {rule_count(groups)} rules found", file=out)
        print(file=out)
    return 1 if failed else 0
