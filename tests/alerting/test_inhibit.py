"""Inhibition, ported from Alertmanager's inhibit/inhibit_test.go."""

from __future__ import annotations

import pytest

from promhub.alerting.alert import Alert
from promhub.alerting.config import InhibitRule
from promhub.alerting.inhibit import Inhibitor
from promhub.alerting.matcher import parse_matchers
from tests.alerting.conftest import am_config

NOW = 1_700_000_000.0


def alert(labels: dict[str, str], resolved: bool = False) -> Alert:
    return Alert(labels, starts_at=NOW - 60, ends_at=NOW - 1 if resolved else NOW + 3600)


def rule(source: str, target: str, equal: list[str]) -> InhibitRule:
    return InhibitRule(parse_matchers(source), parse_matchers(target), equal)


@pytest.mark.parametrize(
    ("sources", "equal", "target", "muted"),
    [
        ([], [], {"a": "b"}, False),  # no source alerts at all
        ([alert({})], [], {"a": "b"}, True),  # no equal labels: any source will do
        ([alert({"a": "b", "b": "f"}, True), alert({"a": "b", "b": "c"}, True)],
         ["a", "b"], {"a": "b", "b": "c"}, False),  # matching but resolved
        ([alert({"a": "b", "c": "d"}, True), alert({"a": "b", "c": "f"})],
         ["a"], {"a": "b"}, True),  # matching and one unresolved
        ([alert({"a": "c", "c": "d"}, True), alert({"a": "c", "c": "f"}, True)],
         ["a"], {"a": "b"}, False),  # equal label differs
    ],
)  # fmt: skip
def test_rule_has_equal(
    sources: list[Alert], equal: list[str], target: dict[str, str], muted: bool
) -> None:
    # hasEqual is called without the two-sided exclusion there; a "src" label keeps the
    # sources off the target side here to the same effect.
    ih = Inhibitor([rule('src="1"', 'src!="1"', equal)])
    ih.put(*[Alert({**a.labels, "src": "1"}, starts_at=a.starts_at, ends_at=a.ends_at)
             for a in sources])  # fmt: skip
    assert ih.mutes(target, NOW) is muted


CASES_MATCH = [
    ({"t1": "1", "e": "1"}, True),
    ({"t2": "1", "e": "1"}, True),
    ({"t1": "1", "t3": "1", "e": "1"}, True),
    ({"t1": "1", "t2": "1", "e": "1"}, True),
    ({"t1": "0", "e": "1"}, False),
    # Both sides of rule1 match, but the source alert only matches the source side.
    ({"s1": "1", "t1": "1", "e": "1"}, True),
    # Both sides of rule2 match, and so does its source alert: no self-inhibition.
    ({"s2": "1", "t2": "1", "e": "1"}, False),
    ({"t1": "1", "e": "0"}, False),
]
SOURCES = [alert({"s1": "1", "t1": "2", "e": "1"}), alert({"s2": "1", "t2": "1", "e": "1"})]


@pytest.mark.parametrize(("target", "muted"), CASES_MATCH)
def test_rule_matches_legacy_match(target: dict[str, str], muted: bool) -> None:
    cfg = am_config(
        """
        route: {receiver: r}
        inhibit_rules:
          - {source_match: {s1: "1"}, target_match: {t1: "1"}, equal: [e]}
          - {source_match: {s2: "1"}, target_match: {t2: "1"}, equal: [e]}
        """,
        ("r",),
    )
    ih = Inhibitor(cfg.inhibit_rules)
    ih.put(*SOURCES)
    assert ih.mutes(target, NOW) is muted


@pytest.mark.parametrize(
    ("target", "muted"),
    [
        ({"t1": "1", "e": "1"}, False),
        ({"t2": "1", "e": "1"}, True),
        ({"t1": "1", "t3": "1", "e": "1"}, False),
        ({"t1": "1", "t2": "1", "e": "1"}, True),
        ({"t1": "0", "e": "1"}, True),
        ({"s1": "1", "t1": "1", "e": "1"}, False),
        ({"s2": "1", "t2": "1", "e": "1"}, True),
        ({"t1": "1", "e": "0"}, False),
    ],
)
def test_rule_matchers(target: dict[str, str], muted: bool) -> None:
    ih = Inhibitor([rule('s1="1"', 't1!="1"', ["e"]), rule('s2="1"', 't2="1"', ["e"])])
    ih.put(*SOURCES)
    assert ih.mutes(target, NOW) is muted


@pytest.mark.parametrize(
    ("alerts", "expected"),
    [
        # The target is not muted while the source has not fired.
        ([alert({"t": "1", "e": "f"})], [({"t": "1", "e": "f"}, False)]),
        # Muted while the source fires; the source itself is not.
        ([alert({"t": "1", "e": "f"}), alert({"s": "1", "e": "f"})],
         [({"t": "1", "e": "f"}, True), ({"s": "1", "e": "f"}, False)]),
        # Unmuted again once the source resolves.
        ([alert({"t": "1", "e": "f"}), alert({"s": "1", "e": "f"}),
          alert({"s": "1", "e": "f"}, resolved=True)],
         [({"t": "1", "e": "f"}, False), ({"s": "1", "e": "f"}, False)]),
    ],
)  # fmt: skip
def test_inhibit_follows_source_state(
    alerts: list[Alert], expected: list[tuple[dict[str, str], bool]]
) -> None:
    ih = Inhibitor([rule('s="1"', 't="1"', ["e"])])
    ih.put(*alerts)
    for labels, muted in expected:
        assert ih.mutes(labels, NOW) is muted, labels


def test_inhibited_by_names_the_source_fingerprint() -> None:
    ih = Inhibitor([rule('severity="critical"', 'severity="warning"', ["alertname"])])
    crit = alert({"alertname": "Down", "severity": "critical"})
    ih.put(crit)
    assert ih.inhibited_by({"alertname": "Down", "severity": "warning"}, NOW) == [
        crit.fingerprint_hex
    ]
    assert ih.inhibited_by({"alertname": "Other", "severity": "warning"}, NOW) == []


def test_resolved_sources_are_forgotten() -> None:
    ih = Inhibitor([rule('s="1"', 't="1"', [])])
    src = Alert({"s": "1"}, starts_at=NOW - 60, ends_at=NOW + 10)
    ih.put(src)
    assert ih.mutes({"t": "1"}, NOW)
    assert not ih.mutes({"t": "1"}, NOW + 10)
    ih.gc(NOW + 10)
    ih.put(Alert({"x": "1"}))
    assert not ih.mutes({"t": "1"}, NOW)  # gone, even at a time it was firing
