"""Route matching and inherited settings, ported from Alertmanager's
dispatch/route_test.go (TestRouteMatch, TestRouteMatchers, TestRouteWalk,
TestInheritParentGroupByAll)."""

from __future__ import annotations

import pytest

from promhub.alerting.dispatch import Route
from tests.alerting.conftest import am_config

RECEIVERS = ("notify-def", "notify-A", "notify-testing", "notify-productionA",
             "notify-productionB", "notify-BC")  # fmt: skip

LEGACY = """
route:
  receiver: 'notify-def'
  routes:
  - match:
      owner: 'team-A'
    receiver: 'notify-A'
    routes:
    - match:
        env: 'testing'
      receiver: 'notify-testing'
      group_by: [...]
    - match:
        env: "production"
      receiver: 'notify-productionA'
      group_wait: 1m
      continue: true
    - match_re:
        env: "produ.*"
        job: ".*"
      receiver: 'notify-productionB'
      group_wait: 30s
      group_interval: 5m
      repeat_interval: 1h
      group_by: ['job']
  - match_re:
      owner: 'team-(B|C)'
    group_by: ['foo', 'bar']
    group_wait: 2m
    receiver: 'notify-BC'
  - match:
      group_by: 'role'
    group_by: ['role']
    routes:
    - match:
        env: 'testing'
      receiver: 'notify-testing'
      routes:
      - match:
          wait: 'long'
        group_wait: 2m
"""

MATCHERS = """
route:
  receiver: 'notify-def'
  routes:
  - matchers: ['{owner="team-A"}', '{level!="critical"}']
    receiver: 'notify-A'
    routes:
    - matchers: ['{env="testing"}', '{baz!~".*quux"}']
      receiver: 'notify-testing'
      group_by: [...]
    - matchers: ['{env="production"}']
      receiver: 'notify-productionA'
      group_wait: 1m
      continue: true
    - matchers: [ env=~"produ.*", job=~".*"]
      receiver: 'notify-productionB'
      group_wait: 30s
      group_interval: 5m
      repeat_interval: 1h
      group_by: ['job']
  - matchers: [owner=~"team-(B|C)"]
    group_by: ['foo', 'bar']
    group_wait: 2m
    receiver: 'notify-BC'
  - matchers: [group_by="role"]
    group_by: ['role']
    routes:
    - matchers: ['{env="testing"}']
      receiver: 'notify-testing'
      routes:
      - matchers: [wait="long"]
        group_wait: 2m
"""

DEF = ("", False, 30.0, 300.0, 14400.0)  # group_by, all, wait, interval, repeat


def opts(r: Route) -> tuple[str, str, bool, float, float, float]:
    return (r.receiver, ",".join(sorted(r.group_by)), r.group_by_all, r.group_wait,
            r.group_interval, r.repeat_interval)  # fmt: skip


def _cases(
    a: str, bc: str, prod_b: str, testing: str
) -> list[tuple[dict[str, str], list[tuple[object, ...]], list[str]]]:  # noqa: E501
    return [
        ({"owner": "team-A"}, [("notify-A", *DEF)], [f"{{}}/{a}"]),
        ({"owner": "team-A", "env": "unset"}, [("notify-A", *DEF)], [f"{{}}/{a}"]),
        ({"owner": "team-C"}, [("notify-BC", "bar,foo", False, 120.0, 300.0, 14400.0)],
         [f"{{}}/{bc}"]),
        ({"owner": "team-A", "env": "testing"},
         [("notify-testing", "", True, 30.0, 300.0, 14400.0)],
         [f"{{}}/{a}/{testing}"]),
        ({"owner": "team-A", "env": "production"},
         [("notify-productionA", "", False, 60.0, 300.0, 14400.0),
          ("notify-productionB", "job", False, 30.0, 300.0, 3600.0)],
         [f'{{}}/{a}/{{env="production"}}', f"{{}}/{a}/{prod_b}"]),
        ({"group_by": "role"}, [("notify-def", "role", False, 30.0, 300.0, 14400.0)],
         ['{}/{group_by="role"}']),
        ({"env": "testing", "group_by": "role"},
         [("notify-testing", "role", False, 30.0, 300.0, 14400.0)],
         ['{}/{group_by="role"}/{env="testing"}']),
        ({"env": "testing", "group_by": "role", "wait": "long"},
         [("notify-testing", "role", False, 120.0, 300.0, 14400.0)],
         ['{}/{group_by="role"}/{env="testing"}/{wait="long"}']),
    ]  # fmt: skip


LEGACY_CASES = _cases(
    '{owner="team-A"}', '{owner=~"^(?:team-(B|C))$"}',
    '{env=~"^(?:produ.*)$",job=~"^(?:.*)$"}', '{env="testing"}',
)  # fmt: skip
MATCHER_CASES = _cases(
    '{level!="critical",owner="team-A"}', '{owner=~"team-(B|C)"}',
    '{env=~"produ.*",job=~".*"}', '{baz!~".*quux",env="testing"}',
)  # fmt: skip


@pytest.mark.parametrize(("labels", "want", "keys"), LEGACY_CASES)
def test_route_match_legacy(labels: dict[str, str], want: list[tuple[object, ...]],
                            keys: list[str]) -> None:  # fmt: skip
    tree = Route.from_config(am_config(LEGACY, RECEIVERS).route)
    got = tree.match(labels)
    assert [opts(r) for r in got] == want
    assert [r.key for r in got] == keys


@pytest.mark.parametrize(("labels", "want", "keys"), MATCHER_CASES)
def test_route_match_matchers(labels: dict[str, str], want: list[tuple[object, ...]],
                              keys: list[str]) -> None:  # fmt: skip
    tree = Route.from_config(am_config(MATCHERS, RECEIVERS).route)
    got = tree.match(labels)
    assert [opts(r) for r in got] == want
    assert [r.key for r in got] == keys


def test_route_walk_order() -> None:
    tree = Route.from_config(am_config(LEGACY, RECEIVERS).route)
    assert [r.receiver for r in tree.walk()] == [
        "notify-def", "notify-A", "notify-testing", "notify-productionA",
        "notify-productionB", "notify-BC", "notify-def", "notify-testing", "notify-testing",
    ]  # fmt: skip


def test_group_by_all_is_inherited_until_overridden() -> None:
    cfg = am_config(
        """
        route:
          receiver: r
          routes:
          - match: {env: parent}
            group_by: ['...']
            routes:
            - match: {env: child1}
            - match: {env: child2}
              group_by: ['foo']
        """,
        ("r",),
    )
    parent = Route.from_config(cfg.route).routes[0]
    assert parent.group_by_all
    assert parent.routes[0].group_by_all
    assert not parent.routes[1].group_by_all


def test_no_matching_child_falls_back_to_parent() -> None:
    tree = Route.from_config(am_config(LEGACY, RECEIVERS).route)
    assert [r.receiver for r in tree.match({"owner": "nobody"})] == ["notify-def"]
