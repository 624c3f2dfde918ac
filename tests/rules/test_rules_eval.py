"""Group evaluation against the real embedded TSDB at chosen timestamps: the notify hook
(firing, resend delay, resolved), stale markers, query_offset, limit and group phase."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from promhub.model.labels import Labels
from promhub.model.matcher import Matcher, MatchType
from promhub.model.value import is_stale
from promhub.promql.engine import Engine
from promhub.rules.group import Group, Settings
from promhub.rules.rule import Alert
from promhub.rules.rulefile import parse_rule_text
from promhub.tsdb import DB

T0 = 1_700_000_000_000


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DB]:
    d = DB.open(str(tmp_path / "data"))
    yield d
    d.close()


def _write(db: DB, labels: dict[str, str], ts: int, v: float) -> None:
    app = db.appender()
    app.append(
        np.array([app.ref(Labels.from_dict(labels))], dtype=np.int64),
        np.array([ts], dtype=np.int64),
        np.array([v]),
    )
    app.commit()


def _group(db: DB, text: str, sent: list[tuple[str, list[Alert]]], offset_s: float = 0) -> Group:
    (d,) = parse_rule_text(text, "r.yml")
    s = Settings(Engine(), db, db, lambda expr, alerts: sent.append((expr, alerts)))
    return Group(d, 10.0, offset_s, s)


def _samples(db: DB, name: str, **labels: str) -> list[tuple[int, float]]:
    q = db.querier(0, 2**62)
    want = {"__name__": name, **labels}
    try:
        (s,) = q.select([Matcher.new(MatchType.EQUAL, k, v) for k, v in want.items()])
    finally:
        q.close()
    return list(zip(s.timestamps.tolist(), s.values.tolist(), strict=True))


ALERT = """
groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        for: 20s
"""


def test_notify_hook_gets_firing_resends_after_delay_and_resolved(db: DB) -> None:
    sent: list[tuple[str, list[Alert]]] = []
    g = _group(db, ALERT, sent)
    for k in range(0, 12):  # up == 0 from T0 to T0+110s, then 1
        _write(db, {"__name__": "up", "job": "a"}, T0 + k * 10_000, 0.0 if k < 9 else 1.0)
    g.eval(T0)
    g.eval(T0 + 10_000)
    assert sent == []  # pending alerts are never sent
    g.eval(T0 + 20_000)
    assert [a.state for _, a_s in sent for a in a_s] == ["firing"]
    assert sent[0][0] == "up == 0"
    g.eval(T0 + 30_000)  # within the 1 m resend delay: nothing new
    assert len(sent) == 1
    g.eval(T0 + 80_000)
    assert len(sent) == 2 and sent[1][1][0].valid_until_ms == T0 + 80_000 + 4 * 60_000
    g.eval(T0 + 90_000)  # up is 1 from here: resolved, sent at once
    assert sent[-1][1][0].state == "inactive" and sent[-1][1][0].resolved_at_ms == T0 + 90_000
    n = len(sent)
    g.eval(T0 + 100_000)
    assert len(sent) == n  # a resolution is sent once (then again only after resend delay)
    # ALERTS{alertstate="firing"} ended with a stale marker when the alert resolved.
    alerts = _samples(db, "ALERTS", alertstate="firing")
    assert alerts[0] == (T0 + 20_000, 1.0)
    assert alerts[-1][0] == T0 + 90_000 and is_stale(alerts[-1][1])


def test_recording_rule_stale_markers_offset_and_limit(db: DB) -> None:
    sent: list[tuple[str, list[Alert]]] = []
    text = """
groups:
  - name: g
    limit: 2
    rules:
      - record: r:x
        expr: x > 0
"""
    g = _group(db, text, sent, offset_s=5)
    _write(db, {"__name__": "x", "i": "1"}, T0, 1.0)
    _write(db, {"__name__": "x", "i": "1"}, T0 + 10_000, -1.0)
    g.eval(T0 + 5_000)  # queries at T0 (offset 5 s) and stores at that time
    assert _samples(db, "r:x") == [(T0, 1.0)]
    g.eval(T0 + 15_000)  # x is no longer > 0: the recorded series goes stale
    ts, v = _samples(db, "r:x")[-1]
    assert ts == T0 + 10_000 and is_stale(v)
    for i in range(3):
        _write(db, {"__name__": "x", "i": f"k{i}"}, T0 + 20_000, 1.0)
    g.eval(T0 + 25_000)
    assert g.rules[0].status.health == "err"
    assert g.rules[0].status.last_error == "exceeded limit of 2 with 3 series"


def test_group_phase_is_stable_and_inside_interval(db: DB) -> None:
    g1 = _group(db, ALERT, [])
    g2 = _group(db, ALERT, [])
    assert g1.offset_ms == g2.offset_ms and 0 <= g1.offset_ms < g1.interval_ms
    t = g1.eval_time(T0 + 12_345)
    assert t <= T0 + 12_345 < t + g1.interval_ms and (t - g1.offset_ms) % g1.interval_ms == 0
