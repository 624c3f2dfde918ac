"""WAL durability: replay, torn and corrupt tails, kill -9, full disk, size per sample."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from promhub.model.labels import Labels
from promhub.model.matcher import parse_selector
from promhub.storage.interface import MAX_TIME, MIN_TIME, StorageFullError
from promhub.tsdb import DB
from promhub.tsdb.wal import list_segments


def _scrape(db: DB, n_series: int, ts: int, vals: np.ndarray) -> None:
    app = db.appender()
    refs = np.array(
        [app.ref(Labels.from_dict({"__name__": "m", "i": str(i)})) for i in range(n_series)]
    )
    app.append(refs, np.array([ts]), vals)
    app.commit()


def _all(db: DB) -> dict[str, tuple[list[int], list[float]]]:
    q = db.querier(MIN_TIME, MAX_TIME)
    return {
        s.labels.get("i"): (s.timestamps.tolist(), s.values.tolist())
        for s in q.select(parse_selector('{__name__=~".+"}'))
    }


def _last_segment(path: Path) -> Path:
    wal = path / "wal"
    return wal / f"{max(list_segments(wal)):08d}"


def test_replay_restores_head_after_close(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    with DB.open(tmp_path) as db:
        for t in range(20):
            _scrape(db, 50, 1000 * t, rng.normal(size=50))
            if t == 10:
                db.head.freeze()
        before = _all(db)
    with DB.open(tmp_path) as db:
        assert _all(db) == before
        # And the reopened DB keeps accepting where it left off.
        _scrape(db, 50, 1000 * 20, np.zeros(50))
        assert len(_all(db)["3"][0]) == 21


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_torn_or_corrupt_tail_is_dropped_with_a_warning(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    with DB.open(tmp_path) as db:
        for t in range(5):
            _scrape(db, 10, 1000 * t, np.full(10, float(t)))
    seg = _last_segment(tmp_path)
    data = bytearray(seg.read_bytes())
    if damage == "truncate":
        data = data[:-7]  # a torn write of the last commit
    else:
        data[-5] ^= 0xFF  # a flipped byte inside the last record
    seg.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING), DB.open(tmp_path) as db:
        got = _all(db)
        assert got["0"] == ([0, 1000, 2000, 3000], [0.0, 1.0, 2.0, 3.0])
        assert "WAL corruption" in caplog.text
        assert db.counters.wal_corruptions == 1
        _scrape(db, 10, 9000, np.ones(10))
    # The repaired WAL replays cleanly afterwards.
    caplog.clear()
    with caplog.at_level(logging.WARNING), DB.open(tmp_path) as db:
        assert _all(db)["0"][0] == [0, 1000, 2000, 3000, 9000]
        assert "WAL corruption" not in caplog.text


_WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from promhub.model.labels import Labels
    from promhub.tsdb import DB
    db = DB.open(sys.argv[1], wal_segment_size=64 * 1024)
    app = db.appender()
    refs = np.array([app.ref(Labels.from_dict({"__name__": "m", "i": str(i)})) for i in range(200)])
    t = 0
    while True:
        t += 1
        app.append(refs, np.array([t * 1000]), np.full(200, t * 0.5))
        app.commit()
        print(t, flush=True)
        if t % 50 == 0:
            db.maintain()
    """
)


def test_kill_9_loses_no_committed_sample(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(data)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    committed = 0
    deadline = time.monotonic() + 60
    while committed < 400 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        committed = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert committed >= 400, "writer did not get going"
    with DB.open(data) as db:
        got = _all(db)
    assert len(got) == 200
    for ts, vals in got.values():
        n = len(ts)
        assert n >= committed  # every acknowledged commit is there ...
        assert ts == [1000 * (k + 1) for k in range(n)]  # ... once, in order
        assert vals == [0.5 * (k + 1) for k in range(n)]


def test_full_disk_fails_the_commit_and_shows_nothing(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with DB.open(tmp_path) as db:
        _scrape(db, 5, 1000, np.ones(5))
        assert db.wal is not None
        # The disk fills up under the running DB: point its segment at /dev/full.
        fd = db.wal._fd
        saved = os.dup(fd)
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, fd)
        os.close(full)
        try:
            with pytest.raises(StorageFullError, match="wal"):
                _scrape(db, 5, 2000, np.full(5, 2.0))
            assert _all(db)["0"] == ([1000], [1.0])
            assert "prometheus_tsdb_wal_writes_failed_total 1.0" in _metrics(db)
        finally:
            os.dup2(saved, fd)
            os.close(saved)
        # Space is back: the same appender state works and the WAL stays consistent.
        _scrape(db, 5, 3000, np.full(5, 3.0))
    with DB.open(tmp_path) as db:
        assert _all(db)["0"] == ([1000, 3000], [1.0, 3.0])


def _metrics(db: DB) -> str:
    from prometheus_client import CollectorRegistry, generate_latest

    reg = CollectorRegistry()
    reg.register(db.collector())
    return generate_latest(reg).decode()


def test_wal_bytes_per_sample_is_well_under_prometheus(tmp_path: Path) -> None:
    """1,000 series, 30% changing by a full-precision float per scrape (Prometheus: 8.7 B)."""
    rng = np.random.default_rng(7)
    vals = rng.integers(0, 1000, 1000).astype(np.float64)
    changing = rng.random(1000) < 0.3
    scrapes = 60
    with DB.open(tmp_path) as db:
        for t in range(scrapes):
            vals[changing] += rng.random(int(changing.sum()))
            _scrape(db, 1000, 5000 * t, vals)
        size = sum(p.stat().st_size for p in (tmp_path / "wal").iterdir())
    per_sample = size / (1000 * scrapes)
    assert per_sample < 4.0, per_sample
