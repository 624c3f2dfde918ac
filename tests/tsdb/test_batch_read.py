"""The bulk read path: ``select_batch`` returns exactly what ``select`` does, in CSR form.

Queries over tens of thousands of series read through it, so every source (blocks, head,
several overlapping blocks, start timestamps) is compared with the per-series path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from promhub.model.labels import Labels
from promhub.model.matcher import Matcher, parse_selector
from promhub.model.value import STALE_NAN
from promhub.storage.interface import Series, SeriesBatch
from promhub.tsdb.block import Block, write_block
from promhub.tsdb.db import DB
from promhub.tsdb.encoding import CorruptFrameError, FrameView, encode_value_frame

rng = np.random.default_rng(7)
_Data = tuple[Labels, NDArray[np.int64], NDArray[np.float64], NDArray[np.int64] | None]


def _values(kind: int, n: int) -> NDArray[np.float64]:
    """Value shapes that pick every encoding mode: counters, decimals, floats, constants,
    huge floats, staleness markers and NaNs (exceptions), noisy gauges around a level."""
    if kind == 0:
        return np.cumsum(rng.integers(0, 100, n)).astype(float)
    if kind == 1:
        return rng.normal(size=n)
    if kind == 2:
        return np.round(rng.normal(size=n) * 100, 2)
    if kind == 3:
        v = np.cumsum(rng.integers(0, 5, n)).astype(float) * 0.25
        v[rng.integers(0, max(n, 1), 3)[: n and 3]] = np.nan
        return v
    if kind == 4:
        return np.full(n, 7.0)
    if kind == 5:
        return (np.arange(n) * 1e300).astype(np.float64)
    if kind == 6:
        v = np.round(rng.normal(size=n) * 1000)
        v[::7] = STALE_NAN
        return v
    if kind == 7:
        return 1000 + rng.integers(-3, 3, n).astype(float)
    return rng.integers(-(2**40), 2**40, n).astype(float)


def test_whole_frame_decode_is_bit_exact_per_series() -> None:
    modes: set[int] = set()
    for _ in range(150):
        vals = [
            _values(int(rng.integers(0, 9)), int(rng.integers(0, 40)))
            for _ in range(int(rng.integers(1, 130)))
        ]
        view = FrameView(encode_value_frame(vals))
        modes.update(view._mode.tolist())
        offsets, got = view.all_values()
        assert offsets[-1] == len(got) == sum(len(v) for v in vals)
        for i, v in enumerate(vals):
            part = got[offsets[i] : offsets[i + 1]]
            assert part.view(np.uint64).tolist() == v.view(np.uint64).tolist()
    assert modes == set(range(6))  # every value encoding was exercised


def test_whole_frame_decode_rejects_a_bad_exception_position() -> None:
    vals = [np.array([1.0, np.nan, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])]
    view = FrameView(encode_value_frame(vals))
    assert len(view._exc_pos) == 1
    view._exc_pos = np.array([99], dtype=np.uint32)
    with pytest.raises(CorruptFrameError):
        view.all_values()


def _as_series(b: SeriesBatch) -> list[tuple[Labels, list[int], list[int], list[int] | None]]:
    out = []
    for i, ls in enumerate(b.labels):
        a, z = int(b.offsets[i]), int(b.offsets[i + 1])
        sts = None if b.start_timestamps is None else b.start_timestamps[a:z]
        out.append(
            (
                ls,
                b.timestamps[a:z].tolist(),
                b.values[a:z].view(np.uint64).tolist(),
                None if sts is None or not sts.any() else sts.tolist(),
            )
        )
    return out


def _from_series(ss: list[Series]) -> list[tuple[Labels, list[int], list[int], list[int] | None]]:
    return [
        (
            s.labels,
            s.timestamps.tolist(),
            s.values.view(np.uint64).tolist(),
            None if s.start_timestamps is None else s.start_timestamps.tolist(),
        )
        for s in ss
    ]


def _block_series(n: int, t0: int, with_sts: bool = False) -> list[_Data]:
    out = []
    for i in range(n):
        ls = Labels.from_dict({"__name__": f"m{i % 3}", "i": f"{i:04d}", "even": str(i % 2)})
        step = 15_000 if i % 5 else 10_000  # two timestamp columns, shared by many series
        ts = t0 + step * np.arange(1, 200 - (i % 4) * 30, dtype=np.int64)
        vals = _values(i % 9, len(ts))
        sts = np.where(np.arange(len(ts)) % 50 == 0, t0, 0).astype(np.int64) if with_sts else None
        out.append((ls, ts, vals, sts))
    return sorted(out, key=lambda s: s[0])


SELECTORS = ["m0", '{even="1"}', '{__name__=~"m.",i!~"00.*"}', "nope", '{i="0007"}']
WINDOWS = [(0, 10**13), (1_000_000 + 500_000, 1_000_000 + 1_200_000), (5, 6), (0, 1_000_000)]


@pytest.mark.parametrize("with_sts", [False, True])
def test_block_batch_equals_per_series_select(tmp_path: Path, with_sts: bool) -> None:
    t0 = 1_000_000
    meta = write_block(tmp_path, _block_series(300, t0, with_sts), t0, t0 + 10**7)
    with Block.open(tmp_path / meta.ulid) as block:
        for text in SELECTORS:
            ms = parse_selector(text)
            for mint, maxt in WINDOWS:
                want = _from_series(block.select(ms, mint, maxt))
                assert _as_series(block.select_batch(ms, mint, maxt)) == want, (text, mint)


def _append(db: DB, series: list[_Data], lo: int, hi: int) -> None:
    app = db.appender()
    for ls, ts, vals, _ in series:
        keep = (ts >= lo) & (ts < hi)
        if keep.any():
            app.append(np.full(int(keep.sum()), app.ref(ls)), ts[keep], vals[keep])
    app.commit()


def _check_db(db: DB, matchers_list: list[list[Matcher]]) -> None:
    for ms in matchers_list:
        for mint, maxt in WINDOWS:
            q = db.querier(mint, maxt)
            assert _as_series(q.select_batch(ms)) == _from_series(q.select(ms))


def test_db_batch_merges_blocks_head_and_overlaps(tmp_path: Path) -> None:
    t0 = 1_000_000
    series = _block_series(200, t0)
    # Two blocks cut at 1.5e6, a backfilled block overlapping both (rewriting some values
    # at the same timestamps: the later block wins), and the head after the blocks.
    cut, end = t0 + 1_500_000, t0 + 2_400_000
    write_block(tmp_path, [(ls, ts[ts < cut], v[ts < cut]) for ls, ts, v, _ in series], 0, cut)
    later = [
        (ls, ts[(ts >= cut) & (ts < end)], v[(ts >= cut) & (ts < end)]) for ls, ts, v, _ in series
    ]
    write_block(tmp_path, later, cut, end)
    over = [
        (
            ls,
            ts[(ts > cut - 300_000) & (ts < cut + 300_000)],
            np.nan_to_num(v[(ts > cut - 300_000) & (ts < cut + 300_000)]) + 1,
        )
        for ls, ts, v, _ in series[::7]
    ]
    write_block(tmp_path, over, cut - 300_000, cut + 300_000)
    with DB.open(tmp_path) as db:
        _append(db, series, end, 10**13)
        assert len(db.blocks) == 3
        _check_db(db, [parse_selector(s) for s in SELECTORS])


def test_db_batch_from_the_head_alone(tmp_path: Path) -> None:
    series = _block_series(60, 1_000_000)
    with DB.open(tmp_path) as db:
        _append(db, series, 0, 10**13)
        _check_db(db, [parse_selector(s) for s in SELECTORS])
        batch = db.querier(0, 10**13).select_batch(parse_selector("m1"))
        assert batch.labels == sorted(batch.labels)
        assert len(batch.labels) == 20
