"""Blocks on real files: write, open, select, detect corruption, compact."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from promhub.model.labels import Labels
from promhub.model.matcher import Matcher, parse_selector
from promhub.model.value import STALE_NAN, STALE_NAN_BITS
from promhub.tsdb import block as block_mod
from promhub.tsdb.block import (
    Block,
    BlockMeta,
    CorruptBlockError,
    compact_blocks,
    remove_tmp_blocks,
    write_block,
)

SeriesList = list[tuple[Labels, np.ndarray, np.ndarray]]
Written = tuple[Path, SeriesList]
HOUR = 3_600_000
T0 = 1_700_000_000_000


def lbl(name: str, **kw: str) -> Labels:
    return Labels.from_dict({"__name__": name, **kw})


def make_series(
    n_targets: int = 3, t0: int = T0, n: int = 720
) -> list[tuple[Labels, np.ndarray, np.ndarray]]:
    out = []
    for t in range(n_targets):
        ts = t0 + t * 7 + np.arange(n, dtype=np.int64) * 5000
        inst = f"host{t}:9100"
        for h in ("/a", "/b", "/c"):
            vals = np.cumsum(np.full(n, 1.0 + t))
            out.append((lbl("http_requests_total", instance=inst, handler=h, job="app"), ts, vals))
        out.append(
            (lbl("temp_celsius", instance=inst, job="app"), ts, np.round(np.linspace(20, 30, n), 1))
        )
        up = np.ones(n)
        up[-1] = STALE_NAN
        out.append((lbl("up", instance=inst, job="app"), ts, up))
    out.sort(key=lambda s: s[0])
    return out


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, list[tuple[Labels, np.ndarray, np.ndarray]]]:
    series = make_series()
    meta = write_block(tmp_path, series, T0, T0 + HOUR)
    return tmp_path / meta.ulid, series


def sel(s: str) -> list[Matcher]:
    return parse_selector(s)


def test_write_then_open_reads_back_everything(written: Written) -> None:
    path, series = written
    with Block.open(path) as b:
        assert b.meta.num_series == len(series)
        assert b.meta.num_samples == sum(len(t) for _, t, _ in series)
        assert b.meta.level == 1 and b.meta.sources == [b.meta.ulid]
        got = list(b.iter_series())
        assert [g[0] for g in got] == [s[0] for s in series]
        for (_, ts, vs), (_, ts2, vs2) in zip(series, got, strict=True):
            assert ts2.tolist() == ts.tolist()
            assert vs2.view(np.uint64).tolist() == vs.view(np.uint64).tolist()
        assert b.size_bytes() > 0
        assert b.labels(0) == series[0][0]


def test_meta_json_is_prometheus_shaped(written: Written) -> None:
    path, _ = written
    doc = json.loads((path / "meta.json").read_text())
    assert doc["ulid"] == path.name and len(path.name) == 26
    assert doc["minTime"] == T0 and doc["maxTime"] == T0 + HOUR
    assert set(doc["stats"]) == {"numSamples", "numSeries", "numChunks"}
    assert doc["compaction"]["level"] == 1 and doc["version"] == 1
    assert BlockMeta.from_json(json.dumps(doc)).num_series == doc["stats"]["numSeries"]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ('http_requests_total{handler="/a"}', 3),
        ('http_requests_total{handler!="/a"}', 6),
        ('http_requests_total{handler=~"/(a|b)"}', 6),
        ('http_requests_total{handler!~"/(a|b)"}', 3),
        ('{job="app", handler=""}', 6),  # series without a handler label
        ('{__name__=~"up|temp_celsius"}', 6),
        ('up{instance="host1:9100"}', 1),
        ('nope{job="app"}', 0),
    ],
)
def test_select_with_every_matcher_type(written: Written, selector: str, expected: int) -> None:
    path, series = written
    ms = sel(selector)
    with Block.open(path) as b:
        got = b.select(ms, T0, T0 + HOUR)
        want = [s for s in series if all(m.matches_labels(s[0]) for m in ms)]
        assert [g.labels for g in got] == [w[0] for w in want]
        assert len(got) == expected
        assert b.series(ms, T0, T0 + HOUR) == [w[0] for w in want]


def test_select_time_range_is_inclusive_and_omits_empty(written: Written) -> None:
    path, series = written
    with Block.open(path) as b:
        # host0's samples are at T0 + k*5000; host1's at T0 + 7 + k*5000.
        got = b.select(sel('up{instance="host0:9100"}'), T0 + 5000, T0 + 15000)
        assert got[0].timestamps.tolist() == [T0 + 5000, T0 + 10000, T0 + 15000]
        assert b.select(sel('up{instance="host1:9100"}'), T0 + 8, T0 + 5006) == []
        assert b.series(sel('up{instance="host1:9100"}'), T0 + 8, T0 + 5006) == []
        assert b.select(sel("up"), T0 + 2 * HOUR, T0 + 3 * HOUR) == []
        stale = b.select(sel('up{instance="host2:9100"}'), T0, T0 + HOUR)[0].values[-1:]
        assert stale.view(np.uint64)[0] == STALE_NAN_BITS


def test_label_names_and_values(written: Written) -> None:
    path, _ = written
    with Block.open(path) as b:
        assert b.label_names() == ["__name__", "handler", "instance", "job"]
        assert b.label_names(sel("up")) == ["__name__", "instance", "job"]
        assert b.label_values("handler") == ["/a", "/b", "/c"]
        assert b.label_values("instance", sel('temp_celsius{instance=~"host[01].*"}')) == [
            "host0:9100",
            "host1:9100",
        ]


def test_many_series_span_many_frames(tmp_path: Path) -> None:
    series = make_series(n_targets=120, n=50)
    meta = write_block(tmp_path, series, T0, T0 + HOUR)
    with Block.open(tmp_path / meta.ulid) as b:
        assert meta.num_chunks > 2
        got = b.select(sel('temp_celsius{instance="host117:9100"}'), T0, T0 + HOUR)
        assert got[0].values.tolist() == np.round(np.linspace(20, 30, 50), 1).tolist()
        assert sum(1 for _ in b.iter_series()) == len(series)


def test_bad_input_is_refused_without_leaving_a_block(tmp_path: Path) -> None:
    ts = np.array([T0, T0 + 1000])
    with pytest.raises(ValueError, match="not after"):
        write_block(
            tmp_path, [(lbl("b"), ts, np.ones(2)), (lbl("a"), ts, np.ones(2))], T0, T0 + HOUR
        )
    with pytest.raises(ValueError, match="outside the block range"):
        write_block(tmp_path, [(lbl("a"), ts + HOUR, np.ones(2))], T0, T0 + HOUR)
    with pytest.raises(ValueError, match="strictly increasing"):
        write_block(tmp_path, [(lbl("a"), ts[::-1].copy(), np.ones(2))], T0, T0 + HOUR)
    assert list(tmp_path.iterdir()) == []


def test_crash_mid_write_leaves_only_a_tmp_dir(tmp_path: Path) -> None:
    def exploding() -> Iterator[tuple[Labels, np.ndarray, np.ndarray]]:
        yield from make_series()[:3]
        raise KeyboardInterrupt  # the process dying mid-write

    with pytest.raises(KeyboardInterrupt):
        write_block(tmp_path, exploding(), T0, T0 + HOUR)
    # A leftover like a real crash would leave is ignored by open and removed by cleanup.
    leftover = tmp_path / "01ARZ3NDEKTSV4RRFFQ69G5FAV.tmp"
    (leftover / "chunks").mkdir(parents=True)
    with pytest.raises(CorruptBlockError, match="incomplete block"):
        Block.open(leftover)
    assert remove_tmp_blocks(tmp_path) == [leftover]
    assert list(tmp_path.iterdir()) == []


def flip(path: Path, pos: int) -> None:
    data = bytearray(path.read_bytes())
    data[pos] ^= 0x01
    path.write_bytes(bytes(data))


def test_bit_flip_in_chunks_is_reported_at_select(written: Written) -> None:
    path, _ = written
    chunks = path / "chunks" / "000001"
    flip(chunks, chunks.stat().st_size - 10)  # inside the last (value) frame
    with Block.open(path) as b:
        with pytest.raises(CorruptBlockError, match=r"chunks/000001 value frame 0 .*checksum"):
            b.select(sel("up"), T0, T0 + HOUR)
        with pytest.raises(CorruptBlockError, match=str(path)):
            list(b.iter_series())


def test_truncated_chunks_are_reported_at_open(written: Written) -> None:
    path, _ = written
    chunks = path / "chunks" / "000001"
    os.truncate(chunks, chunks.stat().st_size - 100)
    with pytest.raises(CorruptBlockError, match="000001: is .* bytes, the index expects"):
        Block.open(path)


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_damaged_index_is_reported_at_open(written: Written, damage: str) -> None:
    path, _ = written
    index = path / "index"
    if damage == "flip":
        flip(index, index.stat().st_size // 2)
    elif damage == "truncate":
        os.truncate(index, index.stat().st_size - 1)
    else:
        index.unlink()
    with pytest.raises(CorruptBlockError, match="index"):
        Block.open(path)


def test_damaged_meta_is_reported_at_open(written: Written) -> None:
    path, _ = written
    (path / "meta.json").write_text('{"ulid": "x"')
    with pytest.raises(CorruptBlockError, match=r"meta.json: not valid JSON"):
        Block.open(path)
    (path / "meta.json").write_text('{"ulid": "x", "minTime": 0, "maxTime": 1}')
    with pytest.raises(CorruptBlockError, match=r"meta.json: missing field 'stats'"):
        Block.open(path)


def test_compaction_merges_and_dedupes(tmp_path: Path) -> None:
    a = make_series(n_targets=2, t0=T0, n=400)  # covers [T0, T0 + 2000 s)
    b = make_series(n_targets=3, t0=T0 + 1000 * 1000, n=400)  # overlaps a by 1000 s
    ma = write_block(tmp_path, a, T0, T0 + HOUR)
    mb = write_block(tmp_path, b, T0, T0 + 2 * HOUR)
    blocks = [Block.open(tmp_path / ma.ulid), Block.open(tmp_path / mb.ulid)]
    meta = compact_blocks(tmp_path, blocks)
    assert meta.level == 2
    assert meta.sources == sorted([ma.ulid, mb.ulid])
    assert (meta.min_time, meta.max_time) == (T0, T0 + 2 * HOUR)
    with Block.open(tmp_path / meta.ulid) as c:
        assert c.meta.num_series == len(b)  # host2 only in b, the rest in both
        got = c.select(sel('up{instance="host0:9100"}'), T0, T0 + 2 * HOUR)[0]
        # 400 + 400 samples overlapping in 200 identical timestamps.
        assert len(got.timestamps) == 600
        assert bool(np.all(np.diff(got.timestamps) > 0))
        assert [ls for ls, _, _ in c.iter_series()] == sorted({s[0] for s in a + b})
    # Compacting the compacted block with a level-2 source climbs a level again.
    for blk in blocks:
        blk.close()
    with Block.open(tmp_path / meta.ulid) as c:
        assert compact_blocks(tmp_path, [c]).level == 3


def test_closed_block_refuses_queries(written: Written) -> None:
    path, _ = written
    b = Block.open(path)
    b.close()
    with pytest.raises(ValueError, match="closed"):
        b.select(sel("up"), T0, T0 + HOUR)
    assert block_mod.FRAME_CACHE > 0
