"""Silences: states, Alertmanager's update/expire rules, persistence across restarts,
and promhub's recurring silences (maintenance windows)."""

from __future__ import annotations

import json
import os
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from promhub.alerting.matcher import parse_matchers
from promhub.alerting.silence import (
    RecurringSilence,
    Silence,
    SilenceError,
    Silences,
    parse_weekday_names,
)
from tests.alerting.conftest import FakeClock


def silence(clock: FakeClock, start: float = 0, end: float = 3600, m: str = 'job="db"') -> Silence:
    return Silence(parse_matchers(m), clock() + start, clock() + end, "alice", "maintenance")


def test_states_and_muting(clock: FakeClock) -> None:
    s = Silences(clock=clock)
    sid = s.set(silence(clock, start=60, end=120))
    sil = s.get(sid)
    assert sil.state(clock()) == "pending"
    assert not s.mutes({"job": "db"}, clock())
    clock.advance(60)
    assert sil.state(clock()) == "active"
    assert s.silenced_by({"job": "db", "instance": "x"}) == [sid]
    assert s.silenced_by({"job": "web"}) == []
    clock.advance(60)
    assert sil.state(clock()) == "expired"
    assert not s.mutes({"job": "db"}, clock())


def test_expire_sets_end_to_now(clock: FakeClock) -> None:
    s = Silences(clock=clock)
    active = s.set(silence(clock))
    pending = s.set(silence(clock, start=600, end=900))
    clock.advance(10)
    s.expire(active)
    s.expire(pending)
    assert s.get(active).ends_at == clock()
    assert (s.get(pending).starts_at, s.get(pending).ends_at) == (clock(), clock())
    assert s.get(active).state(clock()) == "expired"
    with pytest.raises(SilenceError, match="already expired"):
        s.expire(active)
    with pytest.raises(SilenceError, match="not found"):
        s.expire("nope")


def test_update_in_place_or_replace(clock: FakeClock) -> None:
    s = Silences(clock=clock)
    sid = s.set(silence(clock))
    # Extending an active silence keeps its id.
    longer = silence(clock, end=7200)
    longer.id, longer.starts_at = sid, s.get(sid).starts_at
    assert s.set(longer) == sid
    assert s.get(sid).ends_at == clock() + 7200
    # Changing the matchers of an active silence expires it and creates a new one.
    other = silence(clock, m='job="web"')
    other.id = sid
    new = s.set(other)
    assert new != sid
    assert s.get(sid).state(clock()) == "expired"
    assert s.get(new).state(clock()) == "active"


@pytest.mark.parametrize(
    ("m", "start", "end", "err"),
    [
        ('job=~".*"', 0, 60, "must not match the empty string"),
        ('job="db"', 60, 30, "end time must not be before start time"),
    ],
)
def test_invalid_silences(clock: FakeClock, m: str, start: float, end: float, err: str) -> None:
    with pytest.raises(SilenceError, match=err):
        Silences(clock=clock).set(silence(clock, start, end, m))
    with pytest.raises(SilenceError, match="at least one matcher"):
        Silences(clock=clock).set(Silence([], clock(), clock() + 1))


def test_silences_survive_a_restart(clock: FakeClock, tmp_path: str) -> None:
    d = str(tmp_path)
    s = Silences(d, clock=clock)
    keep = s.set(silence(clock, m='job="db", instance=~"db-[0-9]+"'))
    gone = s.set(silence(clock, m='job="x"'))
    s.expire(gone)
    rid = s.add_recurring(
        RecurringSilence(parse_matchers('env="prod"'), [0], "02:00", "04:00", "Europe/Berlin")
    )
    assert sorted(os.listdir(d)) == ["silences.json"]  # no temporary file left behind
    again = Silences(d, clock=clock)
    k = again.get(keep)
    assert [str(m) for m in k.matchers] == ['job="db"', 'instance=~"db-[0-9]+"']
    assert (k.created_by, k.comment, k.state(clock())) == ("alice", "maintenance", "active")
    assert again.get(gone).state(clock()) == "expired"
    assert again.silenced_by({"job": "db", "instance": "db-12"}) == [keep]
    assert list(again.recurring) == [rid]
    with open(os.path.join(d, "silences.json")) as f:
        doc = json.load(f)
    assert {m["name"]: m["isRegex"] for m in doc["silences"][0]["matchers"]} == {
        "job": False, "instance": True,
    }  # fmt: skip


def test_expired_silences_are_dropped_after_retention(clock: FakeClock, tmp_path: str) -> None:
    s = Silences(str(tmp_path), clock=clock, retention=3600)
    sid = s.set(silence(clock, end=60))
    clock.advance(120)
    assert s.gc() == 0  # expired, but within retention
    clock.advance(3600)
    assert s.gc() == 1
    with pytest.raises(SilenceError):
        Silences(str(tmp_path), clock=clock).get(sid)


def _berlin(y: int, mo: int, d: int, h: int, mi: int) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()


def test_recurring_maintenance_window(clock: FakeClock) -> None:
    # "every Sunday 02:00-04:00 Europe/Berlin"
    s = Silences(clock=clock)
    rid = s.add_recurring(
        RecurringSilence(
            parse_matchers('service="backup"'), parse_weekday_names(["sunday"]),
            "02:00", "04:00", "Europe/Berlin", "ops", "weekly backup",
        )
    )  # fmt: skip
    labels = {"service": "backup"}
    # Sunday 2024-03-03 (CET) and Sunday 2024-07-07 (CEST): the zone's offset is honoured.
    for day in ((2024, 3, 3), (2024, 7, 7)):
        assert s.silenced_by(labels, _berlin(*day, 2, 0)) == [rid]
        assert s.silenced_by(labels, _berlin(*day, 3, 59)) == [rid]
        assert s.silenced_by(labels, _berlin(*day, 4, 0)) == []
        assert s.silenced_by(labels, _berlin(*day, 1, 59)) == []
    assert s.silenced_by(labels, _berlin(2024, 3, 4, 2, 30)) == []  # a Monday
    assert s.silenced_by({"service": "web"}, _berlin(2024, 3, 3, 2, 30)) == []


def test_recurring_window_across_midnight(clock: FakeClock) -> None:
    r = RecurringSilence(parse_matchers("a=b"), parse_weekday_names(["saturday"]), "23:00", "01:00")
    r.validate()
    sat_2330 = datetime(2024, 3, 2, 23, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    assert r.active(sat_2330)
    assert r.active(sat_2330 + 3600)  # Sunday 00:30
    assert not r.active(sat_2330 + 2 * 3600)  # Sunday 01:30
    assert not r.active(sat_2330 - 86400)  # Friday 23:30


def test_recurring_validation() -> None:
    with pytest.raises(SilenceError, match="not a valid weekday"):
        parse_weekday_names(["funday"])
    assert parse_weekday_names(["monday:wednesday", "sunday"]) == [0, 1, 2, 3]
    with pytest.raises(SilenceError, match="invalid format"):
        RecurringSilence(parse_matchers("a=b"), [1], "25:00", "26:00").validate()
    with pytest.raises(SilenceError, match="unknown time zone"):
        RecurringSilence(parse_matchers("a=b"), [1], "01:00", "02:00", "Mars/Base").validate()
