"""The WAL watcher against promhub's real WAL (written by the TSDB)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from promhub.model.labels import Labels
from promhub.storage.remote.watcher import Position, WALWatcher
from promhub.tsdb import DB
from promhub.tsdb.wal import list_segments

N = 20


def append(db: DB, t: int, name: str = "m") -> None:
    a = db.appender()
    refs = np.array(
        [a.ref(Labels.from_dict({"__name__": name, "i": str(i)})) for i in range(N)], np.int64
    )
    a.append(refs, np.array([t], np.int64), np.arange(N, dtype=np.float64) + t / 1000)
    a.commit()


def values(w: WALWatcher) -> list[tuple[str, int, float]]:
    res = w.read()
    return [
        (str(w.series[r]), t, v)
        for ch in res.chunks
        for r, t, v in zip(
            ch.refs.tolist(), ch.timestamps.tolist(), ch.values.tolist(), strict=True
        )
    ]


def test_follows_appends_across_segments_and_resumes_mid_segment(tmp_path: Path) -> None:
    db = DB.open(tmp_path / "db", wal_segment_size=512)
    w = WALWatcher(tmp_path / "db" / "wal")
    w.start(None)
    for t in range(30):
        append(db, t * 1000)
    got = values(w)
    assert len(list_segments(tmp_path / "db" / "wal")) > 2  # really crossed segments
    assert len(got) == 30 * N
    assert got[N + 3] == ('m{i="3"}', 1000, 4.0)  # the XOR'd values decode exactly
    assert values(w) == []  # caught up: nothing new
    append(db, 30_000)
    assert len(values(w)) == N
    mid = w.position
    for t in range(31, 40):
        append(db, t * 1000)
    rest = values(w)
    db.close()

    # A new watcher (a restart) from the saved position sees exactly what came after it.
    w2 = WALWatcher(tmp_path / "db" / "wal")
    assert w2.start(mid) == mid
    assert values(w2) == rest


def test_partial_tail_record_waits_until_complete(tmp_path: Path) -> None:
    src = DB.open(tmp_path / "src")
    append(src, 1000)
    src.close()
    seg = sorted((tmp_path / "src" / "wal").iterdir())[0].read_bytes()
    wal = tmp_path / "wal"
    wal.mkdir()
    path = wal / "00000001"
    path.write_bytes(seg[: len(seg) - 10])  # the writer is mid-write
    w = WALWatcher(wal)
    w.start(Position(1, 0))
    assert values(w) == []
    with open(path, "ab") as f:
        f.write(seg[len(seg) - 10 :])
    assert len(values(w)) == N


def test_segments_deleted_by_checkpoint_are_counted_and_skipped(tmp_path: Path) -> None:
    db = DB.open(tmp_path / "db", wal_segment_size=2048, min_block_duration_ms=60_000)
    wal = tmp_path / "db" / "wal"
    w = WALWatcher(wal)
    w.start(None)
    append(db, 0)
    append(db, 0, name="gone")  # no samples later: the head drops it when cut
    assert len(values(w)) == 2 * N
    for t in range(1, 40):
        append(db, t * 5_000)  # 200 s of data: the head gets cut and checkpointed
    db.maintain()
    assert any(p.name.startswith("checkpoint.") for p in wal.iterdir())
    append(db, 400_000, name="after")
    got = values(w)
    # The segment being read was held open; later deleted ones are lost, and counted.
    assert w.segments_lost > 0
    assert got[-N:] == [(f'after{{i="{i}"}}', 400_000, i + 400.0) for i in range(N)]
    # Series the head dropped are forgotten once the watcher is past the checkpoint.
    assert w.series_collected == N
    assert {ls.name for ls in w.series.values()} == {"m", "after"}
    db.close()


def test_waits_for_a_segment_not_created_yet(tmp_path: Path) -> None:
    src = DB.open(tmp_path / "src")
    append(src, 1000)
    src.close()
    seg = sorted((tmp_path / "src" / "wal").iterdir())[0].read_bytes()
    wal = tmp_path / "wal"
    wal.mkdir()
    w = WALWatcher(wal)
    w.start(Position(1, 0))  # e.g. saved just before a restart that had not written yet
    assert values(w) == []
    (wal / "00000001").write_bytes(seg)
    assert len(values(w)) == N
