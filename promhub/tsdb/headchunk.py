"""The head's frame codec: many series' samples in one compressed frame.

Deliberately simpler than the block format (:mod:`promhub.tsdb.encoding`): the head
freezes every active series every minute, so a frame is one vectorised pass with no
per-series Python work (timestamp deltas and value XORs against the previous sample of the
same series, byte-transposed, zstd). Blocks, written once per block duration, spend the
extra CPU on the denser encoding.
"""

from __future__ import annotations

import struct
import threading

import numpy as np
import zstandard
from numpy.typing import NDArray

from promhub.storage.interface import Refs, Timestamps, Values

__all__ = ["decode_frame", "encode_frame"]

_FRAME_HEAD = struct.Struct("<II")
#: Set in a frame header's sample count when the frame carries start timestamps.
_FRAME_ST = 1 << 31
_ZC = threading.local()


def _zstd() -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
    # zstandard contexts are not thread-safe; freezing and queries run on several threads.
    pair = getattr(_ZC, "pair", None)
    if pair is None:
        pair = (zstandard.ZstdCompressor(level=3), zstandard.ZstdDecompressor())
        _ZC.pair = pair
    return pair


def _starts(lens: Refs) -> NDArray[np.bool_]:
    """Mask of the first sample of each series in a CSR array (lens all > 0)."""
    first = np.zeros(int(lens.sum()), dtype=bool)
    first[np.concatenate(([0], np.cumsum(lens)[:-1]))] = True
    return first


def _shuffle8(a: NDArray[np.uint64]) -> bytes:
    return a.view(np.uint8).reshape(-1, 8).T.tobytes()


def _unshuffle8(b: bytes, n: int) -> NDArray[np.uint64]:
    planes = np.frombuffer(b, dtype=np.uint8, count=8 * n).reshape(8, n)
    # One strided copy per byte plane: faster than a transposing copy of the whole.
    out = np.empty((n, 8), dtype=np.uint8)
    for k in range(8):
        out[:, k] = planes[k]
    return out.view(np.uint64).reshape(n)


def encode_frame(lens: Refs, ts: Timestamps, vals: Values, sts: Timestamps | None) -> bytes:
    """Series lengths, then timestamp deltas and value XORs per series, transposed, zstd;
    start timestamps, if any sample of the frame has one, as deltas per series after them.
    """
    n = len(ts)
    first = _starts(lens)
    dt = np.diff(ts, prepend=np.int64(0))
    dt[first] = ts[first]  # each series starts from an absolute timestamp
    bits = vals.view(np.uint64)
    x = bits.copy()
    x[1:] ^= bits[:-1]
    x[first] = bits[first]
    body = lens.astype(np.uint32).tobytes() + _shuffle8(dt.view(np.uint64)) + _shuffle8(x)
    count = n
    if sts is not None and sts.any():
        if n >= _FRAME_ST:
            raise ValueError(f"head frame of {n} samples is too large")
        dst = np.diff(sts, prepend=np.int64(0))
        dst[first] = sts[first]
        body += _shuffle8(dst.view(np.uint64))
        count |= _FRAME_ST
    return _FRAME_HEAD.pack(len(lens), count) + _zstd()[0].compress(body)


def decode_frame(data: bytes) -> tuple[Refs, Timestamps, Values, Timestamps | None]:
    nseries, count = _FRAME_HEAD.unpack_from(data)
    n = count & ~_FRAME_ST
    body = _zstd()[1].decompress(data[_FRAME_HEAD.size :])
    lens = np.frombuffer(body, dtype=np.uint32, count=nseries).astype(np.int64)
    off = 4 * nseries
    dt = _unshuffle8(body[off : off + 8 * n], n).view(np.int64)
    x = _unshuffle8(body[off + 8 * n : off + 16 * n], n)
    ends = np.cumsum(lens)
    before = ends - lens - 1  # index of the sample before each series' first
    cs = np.cumsum(dt)
    base = np.where(before >= 0, cs[np.maximum(before, 0)], 0)
    ts = cs - np.repeat(base, lens)
    px = np.bitwise_xor.accumulate(x) if n else x
    xbase = np.where(before >= 0, px[np.maximum(before, 0)], np.uint64(0))
    vals = (px ^ np.repeat(xbase, lens)).view(np.float64)
    sts: Timestamps | None = None
    if count & _FRAME_ST:
        dst = _unshuffle8(body[off + 16 * n : off + 24 * n], n).view(np.int64)
        cst = np.cumsum(dst)
        sts = cst - np.repeat(np.where(before >= 0, cst[np.maximum(before, 0)], 0), lens)
    return lens, ts, vals, sts
