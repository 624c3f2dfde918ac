"""The DB: head cut into blocks, compaction, retention, damaged blocks, concurrency."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from promhub.model.labels import Labels
from promhub.model.matcher import parse_selector
from promhub.storage.interface import MAX_TIME, MIN_TIME
from promhub.tsdb import DB, DataDirError, UnknownSeriesError

MIN = 60_000  # a one-minute block duration keeps these tests small


def _fill(db: DB, start: int, end: int, step: int = 5000, n: int = 20) -> None:
    app = db.appender()
    labels = [Labels.from_dict({"__name__": "m", "i": str(i)}) for i in range(n)]
    refs = np.array([app.ref(ls) for ls in labels])
    for t in range(start, end, step):
        app.append(refs, np.array([t]), np.full(n, t / 1000))
        app.commit()


def _series(db: DB, sel: str = "m") -> dict[str, list[int]]:
    q = db.querier(MIN_TIME, MAX_TIME)
    return {s.labels.get("i"): s.timestamps.tolist() for s in q.select(parse_selector(sel))}


def _metrics(db: DB) -> str:
    from prometheus_client import CollectorRegistry, generate_latest

    reg = CollectorRegistry()
    reg.register(db.collector())
    return generate_latest(reg).decode()


def test_head_is_cut_into_blocks_and_data_stays_whole(tmp_path: Path) -> None:
    with DB.open(tmp_path, min_block_duration_ms=MIN) as db:
        _fill(db, 0, 5 * MIN)
        db.maintain()
        assert db.blocks, "no block was cut"
        assert db.head.min_time >= db.blocks[-1].meta.max_time
        assert _series(db)["7"] == list(range(0, 5 * MIN, 5000))
        # Samples older than the head's lower bound are now refused as too old.
        app = db.appender()
        r = app.ref(Labels.from_dict({"__name__": "m", "i": "7"}))
        app.append(np.array([r]), np.array([1000]), np.array([1.0]))
        assert app.commit().too_old == 1
        # The WAL was checkpointed: old segments are gone.
        names = sorted(p.name for p in (tmp_path / "wal").iterdir())
        assert any(n.startswith("checkpoint.") for n in names)
    with DB.open(tmp_path, min_block_duration_ms=MIN) as db:
        got = _series(db)
        assert got["7"] == list(range(0, 5 * MIN, 5000))  # not one sample twice
        assert len(got) == 20


def test_blocks_are_compacted_into_longer_ranges(tmp_path: Path) -> None:
    with DB.open(tmp_path, min_block_duration_ms=MIN) as db:
        for k in range(12):
            _fill(db, k * MIN, (k + 1) * MIN)
            db.maintain()
        levels = [b.meta.level for b in db.blocks]
        assert max(levels) > 1
        spans = [b.meta.max_time - b.meta.min_time for b in db.blocks]
        assert max(spans) >= 3 * MIN
        assert "prometheus_tsdb_compactions_total" in _metrics(db)
        assert _series(db)["0"] == list(range(0, 12 * MIN, 5000))
        ulids = {b.meta.ulid for b in db.blocks}
    left = {p.name for p in tmp_path.iterdir() if p.is_dir() and p.name != "wal"}
    assert left == ulids  # compacted sources were deleted


def test_retention_by_time_drops_oldest_blocks(tmp_path: Path) -> None:
    with DB.open(tmp_path, min_block_duration_ms=MIN, retention_time_ms=4 * MIN) as db:
        for k in range(10):
            _fill(db, k * MIN, (k + 1) * MIN)
            db.maintain()
        db.maintain()
        oldest = min(b.meta.min_time for b in db.blocks)
        assert oldest >= 3 * MIN
        assert _series(db)["0"][0] >= 3 * MIN
        assert "prometheus_tsdb_time_retentions_total" in _metrics(db)
        assert db.counters.time_retentions >= 1


def test_retention_by_size_counts_blocks_and_wal(tmp_path: Path) -> None:
    with DB.open(tmp_path, min_block_duration_ms=MIN) as db:
        for k in range(8):
            _fill(db, k * MIN, (k + 1) * MIN, n=200)
            db.maintain()
        assert db.wal is not None
        blocks = sorted(db.blocks, key=lambda b: b.meta.min_time)
        wal = db.wal.size_bytes()
        used = sum(b.size_bytes() for b in blocks) + wal
        oldest = blocks[0].meta.ulid
    # Room for everything but the oldest block: the WAL counts against the budget too.
    limit = used - blocks[0].size_bytes()
    with DB.open(tmp_path, min_block_duration_ms=MIN, retention_size_bytes=limit) as db:
        db.maintain()
        assert db.wal is not None
        kept = {b.meta.ulid for b in db.blocks}
        assert oldest not in kept and len(kept) == len(blocks) - 1
        assert sum(b.size_bytes() for b in db.blocks) + db.wal.size_bytes() <= limit
        assert db.counters.size_retentions == 1
        assert f"prometheus_tsdb_retention_limit_bytes {float(limit)}" in _metrics(db)
        assert "prometheus_tsdb_size_retentions_total 1.0" in _metrics(db)


def test_corrupt_block_is_skipped_and_the_rest_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with DB.open(tmp_path, min_block_duration_ms=MIN, retention_time_ms=0) as db:
        for k in range(3):
            _fill(db, k * 2 * MIN, (k + 1) * 2 * MIN)
            db.maintain()
        blocks = sorted(db.blocks, key=lambda b: b.meta.min_time)
        assert len(blocks) >= 2
        victim = blocks[0]
    index = victim.path / "index"
    index.write_bytes(index.read_bytes()[:20])
    (tmp_path / "01ARZ3NDEKTSV4RRFFQ69G5FAV.tmp").mkdir()  # a crashed block write
    with caplog.at_level(logging.WARNING), DB.open(tmp_path, min_block_duration_ms=MIN) as db:
        assert victim.meta.ulid in caplog.text
        assert victim.meta.ulid not in {b.meta.ulid for b in db.blocks}
        ts = _series(db)["0"]
        assert ts and ts[0] >= victim.meta.max_time
        assert "prometheus_tsdb_reloads_failures_total 1.0" in _metrics(db)
    assert not (tmp_path / "01ARZ3NDEKTSV4RRFFQ69G5FAV.tmp").exists()


def test_a_file_as_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(DataDirError, match=str(f)):
        DB.open(f)


def test_unwritable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "ro"
    data.mkdir()
    # Root ignores permission bits; an immutable directory refuses even root.
    if os.geteuid() == 0:
        r = subprocess.run(["chattr", "+i", str(data)], capture_output=True, check=False)
        if r.returncode != 0:
            pytest.skip("cannot make a directory read-only here")
    else:
        data.chmod(0o555)
    try:
        with pytest.raises(DataDirError, match=f"{data} is not writable"):
            DB.open(data)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(data)], check=False)
        else:
            data.chmod(0o755)


def test_second_writer_is_refused(tmp_path: Path) -> None:
    with DB.open(tmp_path), pytest.raises(DataDirError, match="locked"):
        DB.open(tmp_path)


def test_concurrent_appends_queries_and_maintenance(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    with DB.open(tmp_path, min_block_duration_ms=MIN) as db:

        def writer(w: int) -> None:
            try:
                app = db.appender()
                ls = [
                    Labels.from_dict({"__name__": "c", "w": str(w), "i": str(i)}) for i in range(50)
                ]
                refs = np.array([app.ref(x) for x in ls])
                for t in range(0, 6 * MIN, 5000):
                    app.append(refs, np.array([t]), np.ones(50))
                    app.commit()
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        def other() -> None:
            try:
                for _ in range(20):
                    db.maintain()
                    db.querier(MIN_TIME, MAX_TIME).select(parse_selector("c"))
                    db.stats()
            except BaseException as e:  # pragma: no cover
                errors.append(e)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
        threads.append(threading.Thread(target=other))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        db.maintain()
        got = db.querier(MIN_TIME, MAX_TIME).select(parse_selector("c"))
        assert len(got) == 150
        # Appends racing with a head cut may be refused as too old, never duplicated.
        for s in got:
            assert (np.diff(s.timestamps) > 0).all()
            assert s.timestamps[-1] == 6 * MIN - 5000


def test_stats_report_head_and_cardinality(tmp_path: Path) -> None:
    with DB.open(tmp_path, min_block_duration_ms=MIN) as db:
        _fill(db, 0, 30_000, n=5)
        st = db.stats(limit=3)
        assert (st.head_series, st.head_samples) == (5, 30)
        assert (st.head_min_time, st.head_max_time) == (0, 25_000)
        assert st.cardinality["seriesCountByMetricName"] == [("m", 5)]
        assert st.cardinality["labelValueCountByLabelName"][0] == ("i", 5)
        text = _metrics(db)
        for name in (
            "prometheus_tsdb_head_series 5.0",
            'prometheus_tsdb_head_samples_appended_total{type="float"} 30.0',
            "prometheus_tsdb_head_min_time 0.0",
            "prometheus_tsdb_head_max_time 25000.0",
            "prometheus_tsdb_blocks_loaded 0.0",
            "prometheus_tsdb_lowest_timestamp 0.0",
            'prometheus_tsdb_out_of_bound_samples_total{type="float"} 0.0',
            "prometheus_tsdb_wal_corruptions_total 0.0",
        ):
            assert name in text, name


def test_a_ref_handed_out_survives_a_truncation_before_its_first_sample(tmp_path: Path) -> None:
    # The race the concurrent test once hit: a writer gets a ref, another writer's commit
    # logs the new series, a truncation runs, and only then the first sample arrives.
    with DB.open(tmp_path, min_block_duration_ms=MIN) as db:
        late = db.appender()
        r = late.ref(Labels.from_dict({"__name__": "late"}))
        _fill(db, 0, 5 * MIN)  # commits (logging `late`'s series) and fills the head
        db.maintain()  # truncates the head: `late` has no sample yet
        late.append(np.array([r]), np.array([5 * MIN]), np.array([1.0]))
        assert late.commit().appended == 1
        assert _series(db, "late") == {"": [5 * MIN]}
        # A ref that never gets a sample is not kept forever: it goes once a whole
        # maintenance run has passed after the one it was created in.
        never = Labels.from_dict({"__name__": "never"})
        r_never = late.ref(never)
        _fill(db, 5 * MIN, 8 * MIN)
        db.maintain()
        assert late.ref(never) == r_never
        _fill(db, 8 * MIN, 11 * MIN)
        db.maintain()
        _fill(db, 11 * MIN, 14 * MIN)
        db.maintain()
        assert late.ref(never) != r_never


def test_series_without_samples_are_garbage_collected_at_truncation(tmp_path: Path) -> None:
    with DB.open(tmp_path, min_block_duration_ms=MIN) as db:
        app = db.appender()
        gone = Labels.from_dict({"__name__": "gone"})
        r_gone = app.ref(gone)
        app.append(np.array([r_gone]), np.array([0]), np.array([1.0]))
        app.commit()
        _fill(db, 0, 5 * MIN)  # `gone` gets no samples after t=0
        db.maintain()
        assert db.stats().head_series == 20
        assert "prometheus_tsdb_head_series_removed_total 1.0" in _metrics(db)
        # Its old samples are still served from the block ...
        assert _series(db, "gone") == {"": [0]}
        # ... a stale ref is refused by name, and asking again yields a working ref.
        app.append(np.array([r_gone]), np.array([5 * MIN]), np.array([1.0]))
        with pytest.raises(UnknownSeriesError, match=str(r_gone)):
            app.commit()
        r_new = app.ref(gone)
        assert r_new != r_gone
        app.append(np.array([r_new]), np.array([5 * MIN]), np.array([2.0]))
        assert app.commit().appended == 1
    with DB.open(tmp_path, min_block_duration_ms=MIN) as db:
        assert _series(db, "gone") == {"": [0, 5 * MIN]}
