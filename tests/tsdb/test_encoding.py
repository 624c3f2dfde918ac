"""Frames round-trip every float64 bit-exactly and refuse corrupted bytes."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promhub.model.value import STALE_NAN, STALE_NAN_BITS
from promhub.tsdb.encoding import CorruptFrameError, decode_frame, encode_frame

HARD = [
    STALE_NAN,
    float("nan"),
    struct.unpack("<d", struct.pack("<Q", 0xFFF8_0000_DEAD_BEEF))[0],  # NaN with payload, sign
    -0.0,
    0.0,
    float("inf"),
    float("-inf"),
    5e-324,  # smallest denormal
    -2.2250738585072014e-308,
    1.7976931348623157e308,
    0.1,
    1e15 + 0.3,
    2.0**53,
    2.0**53 + 2,
    -123456.789,
]


def bits(a: np.ndarray) -> list[int]:
    return np.asarray(a, dtype=np.float64).view(np.uint64).tolist()  # type: ignore[no-any-return]


def assert_roundtrip(series: list[tuple[np.ndarray, np.ndarray]]) -> bytes:
    data = encode_frame(series)
    out = decode_frame(data)
    assert len(out) == len(series)
    for (ts, vs), (ts2, vs2) in zip(series, out, strict=True):
        assert ts2.dtype == np.int64 and vs2.dtype == np.float64
        assert ts2.tolist() == np.asarray(ts).tolist()
        assert bits(vs2) == bits(vs)
    return data


def test_hard_values_survive_bit_exactly() -> None:
    ts = np.arange(len(HARD), dtype=np.int64) * 15_000
    vs = np.array(HARD)
    data = assert_roundtrip([(ts, vs), (ts, vs[::-1].copy())])
    out = decode_frame(data)
    assert out[0][1].view(np.uint64)[0] == STALE_NAN_BITS


def test_staleness_marker_inside_a_decimal_series() -> None:
    # A counter that goes stale and comes back: the decimal path keeps the NaN exactly.
    ts = np.arange(100, dtype=np.int64) * 5000
    vs = np.arange(100, dtype=np.float64) * 0.5
    vs[50] = STALE_NAN
    vs[99] = -0.0
    assert_roundtrip([(ts, vs)])


def test_empty_series_and_extreme_timestamps() -> None:
    empty = (np.empty(0, np.int64), np.empty(0, np.float64))
    extreme = (np.array([-(2**63), 0, 2**63 - 1], np.int64), np.array([1.0, 2.0, 3.0]))
    assert_roundtrip([empty, extreme, empty])
    assert_roundtrip([])


def test_series_scraped_together_share_timestamps() -> None:
    rng = np.random.default_rng(7)
    ts = 1_700_000_000_000 + np.arange(720, dtype=np.int64) * 5000 + rng.integers(0, 3, 720)
    one = encode_frame([(ts, np.full(720, 1.0))])
    many = encode_frame([(ts, np.full(720, float(i))) for i in range(100)])
    # 99 more constant series with the same jittered timestamps cost almost nothing.
    assert len(many) < len(one) + 400


def test_typical_data_is_small() -> None:
    rng = np.random.default_rng(3)
    ts = np.arange(720, dtype=np.int64) * 5000
    counters = [(ts, np.cumsum(rng.poisson(5, 720)).astype(float)) for _ in range(50)]
    gauges = [(ts, np.round(rng.normal(20, 1, 720), 1)) for _ in range(50)]
    data = assert_roundtrip(counters + gauges)
    assert len(data) / (100 * 720) < 1.2


def test_frame_with_length_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="series 0: 2 timestamps but 1 values"):
        encode_frame([(np.array([1, 2]), np.array([1.0]))])


def test_corruption_is_detected() -> None:
    ts = np.arange(200, dtype=np.int64) * 1000
    data = bytearray(encode_frame([(ts, np.sin(ts / 1e4))]))
    for pos in (0, 5, 12, len(data) // 2, len(data) - 1):
        bad = bytearray(data)
        bad[pos] ^= 0x10
        with pytest.raises(CorruptFrameError):
            decode_frame(bytes(bad))
    with pytest.raises(CorruptFrameError):
        decode_frame(bytes(data[: len(data) - 3]))
    with pytest.raises(CorruptFrameError, match="shorter than its header"):
        decode_frame(b"PH")


floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
    st.integers(0, 2**64 - 1).map(lambda b: struct.unpack("<d", struct.pack("<Q", b))[0]),
    st.decimals(-(10**9), 10**9, places=3, allow_nan=False).map(float),
    st.sampled_from(HARD),
)


@st.composite
def frames(draw: st.DrawFn) -> list[tuple[np.ndarray, np.ndarray]]:
    n_series = draw(st.integers(0, 6))
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for _ in range(n_series):
        vals = draw(st.lists(floats, max_size=40))
        start = draw(st.integers(-(2**40), 2**40))
        steps = draw(st.lists(st.integers(1, 10**6), min_size=len(vals), max_size=len(vals)))
        ts = start + np.cumsum(np.array(steps, dtype=np.int64))
        share = draw(st.booleans())
        if out and share and len(out[-1][0]) == len(vals):
            ts = out[-1][0]  # share a column with the previous series
        out.append((ts.astype(np.int64), np.array(vals, dtype=np.float64)))
    return out


@settings(max_examples=150, deadline=None)
@given(frames())
def test_any_frame_roundtrips(series: list[tuple[np.ndarray, np.ndarray]]) -> None:
    assert_roundtrip(series)


def test_seeded_random_mixtures_roundtrip() -> None:
    rng = np.random.default_rng(11)
    for _ in range(20):
        series = []
        for _ in range(rng.integers(1, 30)):
            n = int(rng.integers(1, 300))
            ts = np.cumsum(rng.integers(1, 20_000, n)).astype(np.int64)
            kind = rng.integers(0, 4)
            if kind == 0:
                vs = rng.integers(0, 2**64, n, dtype=np.uint64).view(np.float64)
            elif kind == 1:
                vs = np.round(rng.normal(0, 1e4, n), int(rng.integers(0, 6)))
            elif kind == 2:
                vs = np.cumsum(rng.exponential(1.0, n))
            else:
                vs = np.array(HARD)[rng.integers(0, len(HARD), n)]
            mask = rng.random(n) < 0.05
            vs[mask] = STALE_NAN
            series.append((ts, vs))
        assert_roundtrip(series)
