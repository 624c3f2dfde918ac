"""Start timestamps (created timestamps) survive every stage of the TSDB: head batches,
frozen head chunks, WAL replay (and checkpoints), blocks cut from the head, compaction;
and series without them are stored exactly as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from promhub.model.labels import Labels
from promhub.model.matcher import parse_selector
from promhub.storage.interface import MAX_TIME, MIN_TIME, Series
from promhub.tsdb import DB
from promhub.tsdb.block import Block, write_block

MIN = 60_000  # a one-minute block duration keeps these tests small
STEP = 5000

COUNTER = Labels.from_dict({"__name__": "requests_total", "kind": "cumulative"})
DELTA = Labels.from_dict({"__name__": "requests_total", "kind": "delta"})
PLAIN = Labels.from_dict({"__name__": "requests_total", "kind": "plain"})


def _expected_st(kind: str, t: int) -> int:
    """The start timestamp a sample at ``t`` gets: a counter that restarts every 2 minutes,
    a delta series (ST = previous sample), or none."""
    if kind == "cumulative":
        return t // (2 * MIN) * (2 * MIN) + 1
    if kind == "delta":
        return t - STEP
    return 0


def _fill(db: DB, start: int, end: int) -> None:
    app = db.appender()
    refs = np.array([app.ref(ls) for ls in (COUNTER, DELTA, PLAIN)])
    for t in range(start, end, STEP):
        sts = np.array([_expected_st(k, t) for k in ("cumulative", "delta", "plain")])
        app.append(refs, np.array([t]), np.full(3, t / 1000), sts)
        app.commit()


def _select(db: DB) -> dict[str, Series]:
    q = db.querier(MIN_TIME, MAX_TIME)
    try:
        return {s.labels.get("kind"): s for s in q.select(parse_selector("requests_total"))}
    finally:
        q.close()


def _check(db: DB, start: int, end: int) -> None:
    got = _select(db)
    want_ts = list(range(start, end, STEP))
    for kind in ("cumulative", "delta"):
        s = got[kind]
        assert s.timestamps.tolist() == want_ts
        assert s.start_timestamps is not None, f"{kind} lost its start timestamps"
        assert s.start_timestamps.tolist() == [_expected_st(kind, t) for t in want_ts]
    assert got["plain"].timestamps.tolist() == want_ts
    assert got["plain"].start_timestamps is None


def test_start_timestamps_survive_head_freeze_and_wal_replay(tmp_path: Path) -> None:
    with DB.open(tmp_path, min_block_duration_ms=10 * MIN) as db:
        _fill(db, 0, 3 * MIN)
        _check(db, 0, 3 * MIN)  # raw head batches
        db.head.freeze()
        assert db.head.num_chunks() == 1
        _fill(db, 3 * MIN, 4 * MIN)
        _check(db, 0, 4 * MIN)  # a frozen chunk plus fresh batches
    with DB.open(tmp_path, min_block_duration_ms=10 * MIN) as db:
        _check(db, 0, 4 * MIN)  # replayed from the WAL


def test_start_timestamps_survive_head_cut_checkpoint_and_compaction(tmp_path: Path) -> None:
    with DB.open(tmp_path, min_block_duration_ms=MIN) as db:
        for m in range(0, 8):
            _fill(db, m * MIN, (m + 1) * MIN)
            db.maintain()
        assert len(db.blocks) >= 2
        assert any(b.meta.level > 1 for b in db.blocks), "nothing was compacted"
        assert all(b.meta.format == "frames-v2" for b in db.blocks)
        _check(db, 0, 8 * MIN)
    # Reopen: blocks from disk, head from the WAL checkpoint and the segments after it.
    with DB.open(tmp_path, min_block_duration_ms=MIN) as db:
        _check(db, 0, 8 * MIN)


def test_partial_start_timestamps_read_as_zero_where_missing(tmp_path: Path) -> None:
    with DB.open(tmp_path) as db:
        app = db.appender()
        r = app.ref(COUNTER)
        app.append(np.array([r, r]), np.array([1000, 2000]), np.array([1.0, 2.0]))
        app.append(np.array([r]), np.array([3000]), np.array([3.0]), np.array([2500]))
        app.commit()
        s = _select(db)["cumulative"]
        assert s.start_timestamps is not None
        assert s.start_timestamps.tolist() == [0, 0, 2500]
        # A range without any start timestamp reports none at all.
        q = db.querier(0, 2000)
        (only,) = q.select(parse_selector("requests_total"))
        assert only.start_timestamps is None


def test_blocks_without_start_timestamps_keep_the_old_format(tmp_path: Path) -> None:
    ts = np.arange(0, 600_000, 15_000, dtype=np.int64)
    vals = np.arange(len(ts), dtype=np.float64)
    plain = write_block(tmp_path, [(PLAIN, ts, vals)], 0, 600_000)
    with_st = write_block(tmp_path, [(PLAIN, ts, vals, ts - 15_000)], 0, 600_000)
    assert plain.format == "frames-v1"
    assert with_st.format == "frames-v2"
    # The index of a block without start timestamps is still version 1, readable by
    # builds that predate them; its chunks hold exactly the value and timestamp frames.
    assert (tmp_path / plain.ulid / "index").read_bytes()[4] == 1
    assert (tmp_path / with_st.ulid / "index").read_bytes()[4] == 2
    assert with_st.size_bytes > plain.size_bytes
    with Block.open(tmp_path / plain.ulid) as b:
        (s,) = b.select(parse_selector("requests_total"), 0, 600_000)
        assert s.start_timestamps is None
    with Block.open(tmp_path / with_st.ulid) as b:
        (s,) = b.select(parse_selector("requests_total"), 30_000, 60_000)
        assert s.timestamps.tolist() == [30_000, 45_000, 60_000]
        assert s.start_timestamps is not None
        assert s.start_timestamps.tolist() == [15_000, 30_000, 45_000]


def test_wal_without_start_timestamps_costs_no_extra_bytes(tmp_path: Path) -> None:
    sizes = []
    for with_st in (False, True):
        path = tmp_path / str(with_st)
        with DB.open(path) as db:
            app = db.appender()
            refs = np.array([app.ref(ls) for ls in (COUNTER, DELTA, PLAIN)])
            for t in range(0, 60_000, STEP):
                sts = np.array([1, t - STEP, 0]) if with_st else np.zeros(3, np.int64)
                app.append(refs, np.array([t]), np.full(3, 1.5), sts)
                app.commit()
            sizes.append(db.wal.size_bytes() if db.wal else 0)
    with DB.open(tmp_path / "False") as db:
        assert _select(db)["cumulative"].start_timestamps is None
    # All-zero start timestamps are "none": the WAL is what it would be without them.
    with DB.open(tmp_path / "ref") as db:
        app = db.appender()
        refs = np.array([app.ref(ls) for ls in (COUNTER, DELTA, PLAIN)])
        for t in range(0, 60_000, STEP):
            app.append(refs, np.array([t]), np.full(3, 1.5))
            app.commit()
        ref_size = db.wal.size_bytes() if db.wal else 0
    assert sizes[0] == ref_size
    assert sizes[1] > ref_size
