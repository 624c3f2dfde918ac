"""Start timestamps from storage into PromQL's counter functions, through a real TSDB.

A counter that restarts between scrapes but whose value never drops below the previous
one is invisible to classic reset detection; its start timestamp (ST) tells the truth.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from promhub.model.labels import Labels
from promhub.promql.engine import Engine
from promhub.promql.testscript import LoadCommand, ScriptError, parse_script
from promhub.promql.value import VectorSeries
from promhub.tsdb import DB

MIN = 60_000
REQS = Labels.from_dict({"__name__": "reqs_total", "job": "api"})


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DB]:
    with DB.open(tmp_path, min_block_duration_ms=MIN) as d:
        yield d


def _load(db: DB, labels: Labels, values: list[float], sts: list[int] | None) -> None:
    """Samples at 1m, 2m, ...; ``sts`` are absolute start timestamps (0 = none)."""
    app = db.appender()
    ref = app.ref(labels)
    ts = MIN * np.arange(1, len(values) + 1, dtype=np.int64)
    st = None if sts is None else np.array(sts, dtype=np.int64)
    app.append(np.full(len(values), ref), ts, np.array(values, dtype=np.float64), st)
    app.commit()


def _value(db: DB, expr: str, at_ms: int) -> float | None:
    res = Engine().instant(db, expr, at_ms)
    v = res.value
    assert isinstance(v, VectorSeries)
    if not v.num_series:
        return None
    return float(v.values[0, 0])


# The counter restarted at 2m30s and reached 40 by 3m: the value went 30 -> 40, no drop.
VALUES = [10.0, 30.0, 40.0, 50.0]
STS = [1, 1, 2 * MIN + 30_000, 2 * MIN + 30_000]


def test_a_restart_without_a_value_drop_counts_as_a_reset(db: DB) -> None:
    _load(db, REQS, VALUES, STS)
    # 1m..4m lie inside (30s, 4m]: 50 - 10 plus the 30 lost at the restart (70), then
    # extrapolated back to the counter's zero point (10 more).
    res = Engine().instant(db, "increase(reqs_total[3m30s])", 4 * MIN)
    assert res.warnings == []
    assert _value(db, "increase(reqs_total[3m30s])", 4 * MIN) == pytest.approx(80.0)
    assert _value(db, "resets(reqs_total[5m])", 4 * MIN) == 1
    # irate across the restart: the newer value is the whole increase since the start.
    assert _value(db, "irate(reqs_total[5m])", 3 * MIN) == pytest.approx(40 / 60)


def test_subqueries_cut_start_timestamps(db: DB) -> None:
    _load(db, REQS, VALUES, STS)
    # Through a subquery the values are computed, so only value drops count (none here).
    assert _value(db, "resets(reqs_total[5m:1m])", 4 * MIN) == 0
    assert _value(db, "resets(reqs_total[5m])", 4 * MIN) == 1


def test_a_start_inside_the_window_replaces_extrapolation(db: DB) -> None:
    # A counter created at 1m30s: zero then, 10 at 2m, 20 at 3m.
    _load(db, REQS, [0.0, 10.0, 20.0], [0, MIN + 30_000, MIN + 30_000])
    # (1m, 3m] holds 2m and 3m; the start at 1m30s is inside: 20 counted from zero.
    assert _value(db, "increase(reqs_total[2m])", 3 * MIN) == pytest.approx(20.0)
    # One sample in (2m, 3m]: its start (1m30s) lies outside, so there is no rate.
    assert _value(db, "increase(reqs_total[1m])", 3 * MIN) is None


def test_a_single_sample_with_a_known_start_has_an_increase(db: DB) -> None:
    # Created at 2m30s, 20 at 3m: the only sample in (2m, 3m], counted from zero.
    _load(db, REQS, [0.0, 0.0, 20.0], [0, 0, 2 * MIN + 30_000])
    assert _value(db, "increase(reqs_total[1m])", 3 * MIN) == pytest.approx(20.0)
    assert _value(db, "rate(reqs_total[1m])", 3 * MIN) == pytest.approx(20.0 / 60)
    assert _value(db, "delta(reqs_total[1m])", 3 * MIN) is None  # gauges ignore starts


def test_start_timestamps_reach_the_engine_from_blocks(db: DB) -> None:
    _load(db, REQS, VALUES, STS)
    db.maintain()
    db.maintain()
    assert db.blocks, "no block was cut"
    assert _value(db, "resets(reqs_total[5m])", 4 * MIN) == 1


def test_overlapping_start_timestamps_warn(db: DB) -> None:
    # Every sample claims to count from 0 to the previous sample's time minus a minute:
    # neither a delta nor a cumulative series.
    _load(db, REQS, [60.0, 120.0, 180.0], [1, 2, 3])
    res = Engine().instant(db, "rate(reqs_total[3m])", 3 * MIN)
    assert res.warnings == [
        "PromQL warning: sample has start time that overlaps with previous sample "
        'timestamp for metric "reqs_total" (1:6)'
    ]


def test_script_start_timestamp_lines() -> None:
    script = parse_script(
        "load 1m\n  c@st _ -30s-1mx2\n  c _ 1 2 3\n  d 1 2\n\n"
        "eval instant at 3m increase(c[3m])\n  {} 4\n"
    )
    load = script[0]
    assert isinstance(load, LoadCommand)
    c = Labels.from_dict({"__name__": "c"})
    st = load.start_timestamps[c]
    assert st.present.tolist() == [False, True, True, True]
    assert st.values[1:].tolist() == [-30_000, -90_000, -150_000]
    assert Labels.from_dict({"__name__": "d"}) not in load.start_timestamps
    with pytest.raises(ScriptError, match="next series"):
        parse_script("load 1m\n  c@st -1m\n  d 1\n")
    with pytest.raises(ScriptError, match="positions"):
        parse_script("load 1m\n  c@st -1m -1m\n  c 1\n")
    with pytest.raises(ScriptError, match="invalid start timestamp"):
        parse_script("load 1m\n  c@st -1q\n  c 1\n")
