"""Agent storage: a WAL-only Appendable in the TSDB's own WAL format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from promhub.model.labels import Labels
from promhub.tsdb.agent import AgentStorage, UnsupportedError
from promhub.tsdb.wal import SamplesRecord, SeriesRecord, WALReader, last_checkpoint, list_segments

T = 1_700_000_000_000


def L(name: str, **kw: str) -> Labels:
    return Labels.from_dict({"__name__": name, **kw})


def append(agent: AgentStorage, labels: list[Labels], ts: int | list[int], vals: list[float]):  # type: ignore[no-untyped-def]
    app = agent.appender()
    refs = np.array([app.ref(ls) for ls in labels], dtype=np.int64)
    t = np.array([ts] if isinstance(ts, int) else ts, dtype=np.int64)
    app.append(refs, t, np.array(vals, dtype=np.float64))
    return app.commit()


def read_wal(path: Path) -> tuple[dict[int, Labels], list[tuple[int, int, float]]]:
    series: dict[int, Labels] = {}
    samples: list[tuple[int, int, float]] = []
    for rec in WALReader(path / "wal", repair=False):
        if isinstance(rec, SeriesRecord):
            series.update(zip(rec.refs.tolist(), rec.labels, strict=True))
        elif isinstance(rec, SamplesRecord):
            ts = np.broadcast_to(rec.timestamps, rec.refs.shape)
            samples += zip(rec.refs.tolist(), ts.tolist(), rec.values.tolist(), strict=True)
    return series, samples


def test_wal_is_readable_by_the_tsdb_wal_reader(tmp_path: Path) -> None:
    agent = AgentStorage.open(tmp_path)
    res = append(agent, [L("up", job="a"), L("up", job="b")], T, [1.0, 0.0])
    assert res.appended == 2
    append(agent, [L("up", job="a")], T + 15_000, [1.0])
    agent.close()
    series, samples = read_wal(tmp_path)
    by_labels = {ls: r for r, ls in series.items()}
    a, b = by_labels[L("up", job="a")], by_labels[L("up", job="b")]
    assert sorted(samples) == sorted([(a, T, 1.0), (b, T, 0.0), (a, T + 15_000, 1.0)])
    # No blocks, no chunks: the WAL is all there is.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wal"]


def test_restart_replays_series_refs_and_last_timestamps(tmp_path: Path) -> None:
    agent = AgentStorage.open(tmp_path)
    append(agent, [L("x", i=str(i)) for i in range(100)], T, [float(i) for i in range(100)])
    refs = {i: agent.ref(L("x", i=str(i))) for i in range(100)}
    agent.close()

    agent = AgentStorage.open(tmp_path)
    assert agent.num_series() == 100
    assert {i: agent.ref(L("x", i=str(i))) for i in range(100)} == refs
    # The newest timestamp survived the restart: an older sample is out of order.
    res = append(agent, [L("x", i="1")], T - 1, [5.0])
    assert (res.appended, res.out_of_order) == (0, 1)
    new = agent.ref(L("x", i="new"))
    assert new not in refs.values()
    append(agent, [L("x", i="1"), L("x", i="new")], T + 1, [1.0, 2.0])
    agent.close()
    series, samples = read_wal(tmp_path)
    assert series[new] == L("x", i="new") and series[refs[1]] == L("x", i="1")
    assert (refs[1], T + 1, 1.0) in samples and (new, T + 1, 2.0) in samples


def test_out_of_order_samples_are_rejected(tmp_path: Path) -> None:
    agent = AgentStorage.open(tmp_path)
    a, b = L("m", s="a"), L("m", s="b")
    append(agent, [a, b], T, [1.0, 1.0])
    res = append(agent, [a, b], [T - 1000, T + 1000], [2.0, 2.0])
    assert (res.appended, res.out_of_order) == (1, 1)
    # Equal timestamps are accepted, as in Prometheus' agent; order within a batch counts.
    res = append(agent, [a, a, a], [T, T + 5, T + 2], [3.0, 4.0, 5.0])
    assert (res.appended, res.out_of_order) == (2, 1)
    agent.close()
    _, samples = read_wal(tmp_path)
    assert len(samples) == 2 + 1 + 2


def test_truncation_keeps_live_series_and_drops_old_segments(tmp_path: Path) -> None:
    agent = AgentStorage.open(tmp_path, segment_size=4096)
    live = [L("live", i=str(i)) for i in range(50)]
    gone = [L("gone", i=str(i)) for i in range(50)]
    append(agent, live + gone, T, [1.0] * 100)
    rng = np.random.default_rng(1)
    for k in range(1, 60):  # random values: zstd cannot shrink them below a segment
        append(agent, live, T + k * 1000, rng.random(50).tolist())
    assert len(list_segments(tmp_path / "wal")) > 3
    # Series not appended to since T + 1 s are forgotten…
    assert agent.gc(T + 1) == 50
    upto = agent.truncate(agent.wal.segment)
    assert upto == agent.wal.segment - 1
    cp = last_checkpoint(tmp_path / "wal")
    assert cp is not None and cp[0] == upto
    assert list_segments(tmp_path / "wal") == [agent.wal.segment]
    # …and the checkpoint holds every live series, so a reader knows every ref it meets.
    series, _ = read_wal(tmp_path)
    assert set(series.values()) == set(live)
    append(agent, live, T + 100_000, [7.0] * 50)
    refs = [agent.ref(ls) for ls in live]
    agent.close()

    agent = AgentStorage.open(tmp_path, segment_size=4096)
    assert agent.num_series() == 50
    assert [agent.ref(ls) for ls in live] == refs
    # A forgotten series comes back as a new one.
    assert agent.ref(gone[0]) not in refs
    agent.close()


def test_agent_storage_cannot_be_queried(tmp_path: Path) -> None:
    agent = AgentStorage.open(tmp_path)
    with pytest.raises(UnsupportedError, match="unsupported operation with WAL-only storage"):
        agent.querier(0, T)
    agent.close()
