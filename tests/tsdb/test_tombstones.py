"""Deleting series (tombstones): head and blocks, restarts, compaction, clean_tombstones."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from promhub.model.labels import Labels
from promhub.model.matcher import parse_selector
from promhub.storage.interface import MAX_TIME, MIN_TIME
from promhub.tsdb import DB
from promhub.tsdb.tombstones import (
    TOMBSTONES_FILE,
    Tombstones,
    TombstonesFormatError,
    decode_tombstones,
    encode_tombstones,
)
from tests.conftest import run_promhub

MIN = 60_000
STEP = 5000


def _fill(db: DB, start: int, end: int, n: int = 4) -> None:
    app = db.appender()
    labels = [Labels.from_dict({"__name__": "m", "i": str(i)}) for i in range(n)]
    refs = np.array([app.ref(ls) for ls in labels])
    for t in range(start, end, STEP):
        app.append(refs, np.array([t]), np.full(n, t / 1000))
        app.commit()


def _series(
    db: DB, sel: str = "m", mint: int = MIN_TIME, maxt: int = MAX_TIME
) -> dict[str, list[int]]:
    q = db.querier(mint, maxt)
    return {s.labels.get("i"): s.timestamps.tolist() for s in q.select(parse_selector(sel))}


def _all(start: int, end: int) -> list[int]:
    return list(range(start, end, STEP))


def test_delete_from_head_partial_range_survives_restart(tmp_path: Path) -> None:
    with DB.open(tmp_path, min_block_duration_ms=MIN) as db:
        _fill(db, 0, 60_000)
        assert db.delete(parse_selector('m{i="1"}'), 10_000, 20_000) == 1
        got = _series(db)
        assert got["1"] == [t for t in _all(0, 60_000) if not 10_000 <= t <= 20_000]
        assert got["0"] == _all(0, 60_000)
        # A later sample of the deleted series is visible: the deletion was clamped.
        _fill(db, 60_000, 65_000)
        assert _series(db)["1"][-1] == 60_000
    with DB.open(tmp_path, min_block_duration_ms=MIN) as db:
        got = _series(db)
        assert got["1"] == [t for t in _all(0, 65_000) if not 10_000 <= t <= 20_000]
        assert got["2"] == _all(0, 65_000)


def test_fully_deleted_head_series_vanish_from_series_and_labels(tmp_path: Path) -> None:
    with DB.open(tmp_path, min_block_duration_ms=MIN) as db:
        _fill(db, 0, 30_000)
        db.delete(parse_selector('m{i="3"}'))
        q = db.querier(MIN_TIME, MAX_TIME)
        assert "3" not in q.label_values("i")
        assert [ls.get("i") for ls in q.series(parse_selector("m"))] == ["0", "1", "2"]
        assert q.label_values("i", parse_selector('{i=~".+"}')) == ["0", "1", "2"]
        assert db.delete(parse_selector('m{i=~"0|1|2"}')) == 3
        q = db.querier(MIN_TIME, MAX_TIME)
        assert q.label_names() == []
        assert q.select(parse_selector("m")) == []


def test_head_tombstones_survive_a_checkpoint(tmp_path: Path) -> None:
    with DB.open(tmp_path, min_block_duration_ms=MIN) as db:
        _fill(db, 0, 2 * MIN + 30_000)
        db.delete(parse_selector('m{i="0"}'), 2 * MIN, MAX_TIME)
        db.maintain()  # cuts a block and checkpoints the WAL
        assert db.blocks
        assert any(p.name.startswith("checkpoint.") for p in (tmp_path / "wal").iterdir())
        want = [t for t in _all(0, 2 * MIN + 30_000) if t < 2 * MIN]
        assert _series(db)["0"] == want
    with DB.open(tmp_path, min_block_duration_ms=MIN) as db:
        assert _series(db)["0"] == want
        assert _series(db)["1"] == _all(0, 2 * MIN + 30_000)


def _blocks_db(path: Path) -> DB:
    db = DB.open(path, min_block_duration_ms=MIN, retention_time_ms=0)
    for k in range(4):
        _fill(db, k * MIN, (k + 1) * MIN)
        db.maintain()
    return db


def test_delete_from_blocks_writes_tombstones_and_survives_restart(tmp_path: Path) -> None:
    with _blocks_db(tmp_path) as db:
        assert len(db.blocks) >= 2
        before = _series(db)["2"]
        db.delete(parse_selector('m{i="2"}'), 30_000, MIN + 30_000)
        want = [t for t in before if not 30_000 <= t <= MIN + 30_000]
        assert _series(db)["2"] == want
        assert _series(db)["1"] == before
        assert any((b.path / TOMBSTONES_FILE).is_file() for b in db.blocks)
        # The bulk read path, where the querier has one, honours them too.
        q = db.querier(MIN_TIME, MAX_TIME)
        batch = getattr(q, "select_batch", None)
        if batch is not None:
            b = batch(parse_selector("m"))
            i = [ls.get("i") for ls in b.labels].index("2")
            assert b.timestamps[b.offsets[i] : b.offsets[i + 1]].tolist() == want
    with DB.open(tmp_path, min_block_duration_ms=MIN, retention_time_ms=0) as db:
        assert _series(db)["2"] == want
        assert _series(db, mint=0, maxt=MIN + 30_000)["2"] == [t for t in want if t <= MIN + 30_000]


def test_corrupt_tombstones_file_is_reported_like_a_corrupt_block(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with _blocks_db(tmp_path) as db:
        db.delete(parse_selector('m{i="2"}'), 0, 10_000)
        damaged = next(b.path for b in db.blocks if (b.path / TOMBSTONES_FILE).is_file())
    data = bytearray((damaged / TOMBSTONES_FILE).read_bytes())
    data[-6] ^= 0xFF
    (damaged / TOMBSTONES_FILE).write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING), DB.open(tmp_path, min_block_duration_ms=MIN) as db:
        assert db.counters.corrupt_blocks == 1
        assert damaged.name not in [b.meta.ulid for b in db.blocks]
    assert "tombstones" in caplog.text and "checksum" in caplog.text


def test_compaction_drops_deleted_samples(tmp_path: Path) -> None:
    with _blocks_db(tmp_path) as db:
        db.delete(parse_selector('m{i="0"}'))
        want = {k: v for k, v in _series(db).items() if k != "0"}
        for k in range(4, 12):
            _fill(db, k * MIN, (k + 1) * MIN)
            db.maintain()
        compacted = [b for b in db.blocks if b.meta.level > 1]
        assert compacted, "nothing was compacted"
        for b in compacted:
            assert not (b.path / TOMBSTONES_FILE).exists()
            # The deletion was clamped to the data then present: later samples stay.
            for ls, ts, _ in b.iter_series():
                assert ls.get("i") != "0" or int(ts[0]) >= 4 * MIN
        got = _series(db, maxt=4 * MIN - 1)
        assert got == {k: [t for t in v if t < 4 * MIN] for k, v in want.items()}


def test_clean_tombstones_rewrites_blocks_without_the_deleted_data(tmp_path: Path) -> None:
    with _blocks_db(tmp_path) as db:
        db.delete(parse_selector('m{i="1"}'), 0, 90_000)
        db.delete(parse_selector('m{i="3"}'))
        want = _series(db)
        old = {b.meta.ulid: (b.meta.min_time, b.meta.max_time) for b in db.blocks}
        samples = sum(b.meta.num_samples for b in db.blocks)
        assert db.clean_tombstones() == len([b for b in old])
        new = {b.meta.ulid: (b.meta.min_time, b.meta.max_time) for b in db.blocks}
        assert not set(new) & set(old)
        assert sorted(new.values()) == sorted(old.values())
        assert all(not b.tombstones for b in db.blocks)
        assert sum(b.meta.num_samples for b in db.blocks) < samples
        assert _series(db) == want
        assert db.clean_tombstones() == 0
    with DB.open(tmp_path, min_block_duration_ms=MIN, retention_time_ms=0) as db:
        assert _series(db) == want
        assert sorted(b.meta.ulid for b in db.blocks) == sorted(new)
        assert not any(p.name.endswith(".tmp-for-deletion") for p in tmp_path.iterdir())


def test_dump_does_not_show_deleted_samples(tmp_path: Path) -> None:
    with _blocks_db(tmp_path) as db:
        _fill(db, 4 * MIN, 4 * MIN + 20_000)  # some head data too
        db.delete(parse_selector('m{i="2"}'), 50_000, MAX_TIME)
    out = run_promhub("tsdb", "dump", str(tmp_path), "--match", 'm{i="2"}')
    assert out.returncode == 0, out.stderr
    stamps = [int(line.split()[-1]) for line in out.stdout.splitlines()]
    assert stamps == _all(0, 50_000)
    out = run_promhub("tsdb", "dump", str(tmp_path), "--match", 'm{i="1"}')
    assert len(out.stdout.splitlines()) == len(_all(0, 4 * MIN + 20_000))


def test_tombstones_file_round_trip_and_damage() -> None:
    t = Tombstones().added([5, 2, 5], [10, 0, 12], [11, 3, 20])
    assert t.get(5) == ((10, 20),) and t.get(2) == ((0, 3),)
    data = encode_tombstones(t)
    assert decode_tombstones(data) == t
    with pytest.raises(TombstonesFormatError, match="checksum"):
        decode_tombstones(data[:-5] + bytes([data[-5] ^ 1]) + data[-4:])
    with pytest.raises(TombstonesFormatError, match="truncated"):
        decode_tombstones(data[:-1])
