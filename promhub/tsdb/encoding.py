"""Compressed frames of series samples: the unit of a block's chunk data.

A *frame* holds the samples of ~100 series. It is built for size first (these bytes are
what a block costs on disk) and for decoding one series out of it cheaply second:

- **Timestamps** are stored as *columns*: series with identical timestamp arrays (scraped
  together) share one column. A column is delta-of-delta encoded; a perfectly regular
  scrape costs a few bytes in total.
- **Values** that are exact decimals (integers, ``0.25``, ``1234.5``...) are stored as
  integer mantissas with a per-series decimal scale, delta or delta-of-delta encoded. The
  few samples that do not fit (the staleness NaN, ``-0.0``, ``±Inf``, an odd float) are kept
  verbatim as *exceptions*. Series of arbitrary floats fall back to XOR with the previous
  value (Gorilla's idea) or to the delta of the IEEE bit patterns, whichever is smaller.
- Every integer stream is cut to the fewest bytes its largest element needs and the bytes
  are *transposed* (all low bytes, then all second bytes, ...), so zstd sees long runs of
  similar bytes instead of interleaved noise.
- The frame carries a CRC32 of its compressed payload; a flipped bit is reported as
  :class:`CorruptFrameError` instead of returning wrong samples.

All work is NumPy over whole arrays: loops run per series or per scale, never per sample.
Round trips are bit-exact for every float64, including NaN payloads.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import zstandard
from numpy.typing import NDArray

__all__ = [
    "CorruptFrameError",
    "FrameView",
    "encode_frame",
    "encode_timestamp_frame",
    "encode_value_frame",
    "decode_frame",
]

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
U64 = NDArray[np.uint64]

_MAGIC = b"PHF"
_VERSION = 1
# magic, version, crc32 of the compressed payload, decompressed length
_HEADER = struct.Struct("<3sBII")
_ZSTD_LEVEL = 3
_MAX_SCALE = 15
_NO_SCALE = 255
_PROBE = 32  # samples tried first to tell decimal series from float ones
_MANTISSA_LIMIT = float(2**53)
_POW10 = np.array([10.0**d for d in range(_MAX_SCALE + 1)], dtype=np.float64)
#: Marks a series whose timestamps live outside the frame (a block's shared columns).
EXTERNAL = 0xFFFFFFFF

# Value modes.
_DEC1 = 0  # decimal mantissa, delta
_DEC2 = 1  # decimal mantissa, delta of delta
_XOR = 2  # IEEE bits XOR previous
_BITDELTA = 3  # delta of IEEE bits as int64
_DEC0 = 4  # decimal mantissa, offset from the first (noisy gauges around a level)
_BITS0 = 5  # IEEE bits XOR the first value (floats that jump around)
_DEC_ORDER = {_DEC0: 0, _DEC1: 1, _DEC2: 2}

_tls = threading.local()


class CorruptFrameError(ValueError):
    """A frame failed its checksum or does not parse."""


def _compressor() -> zstandard.ZstdCompressor:
    # zstd contexts are not thread-safe but are costly to create: one per thread.
    c = getattr(_tls, "c", None)
    if c is None:
        c = _tls.c = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d = getattr(_tls, "d", None)
    if d is None:
        d = _tls.d = zstandard.ZstdDecompressor()
    return d


# --- integer stream helpers ---------------------------------------------------------


def _zigzag(x: I64) -> U64:
    return ((x << 1) ^ (x >> 63)).view(np.uint64)


def _unzigzag(z: U64) -> I64:
    return ((z >> np.uint64(1)) ^ (np.uint64(0) - (z & np.uint64(1)))).view(np.int64)


def _diff(x: I64, order: int) -> I64:
    """Deltas of ``x`` (modular int64), ``len(x) - 1`` long; order 2 keeps the first delta."""
    d = np.diff(x)
    if order == 2 and len(d) > 1:
        d = np.concatenate((d[:1], np.diff(d)))
    elif order == 0:
        d = x[1:] - x[0]
    return d


def _undiff(first: int, d: I64, order: int) -> I64:
    if order == 0:
        return np.concatenate((np.array([first], dtype=np.int64), d + np.int64(first)))
    if order == 2:
        d = np.cumsum(d, dtype=np.int64)
    out = np.empty(len(d) + 1, dtype=np.int64)
    out[0] = first
    np.cumsum(d, dtype=np.int64, out=out[1:])
    out[1:] += out[0]
    return out


def _ranges(starts: I64, lens: I64) -> I64:
    """``concat(arange(s, s + n) for s, n in zip(starts, lens))`` without a Python loop."""
    total = int(lens.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    before = np.cumsum(lens) - lens
    return np.repeat(starts - before, lens) + np.arange(total, dtype=np.int64)


def _join_planes(planes: NDArray[np.uint8]) -> U64:
    """Little-endian integers from byte planes (``planes[j]`` = byte j of every element):
    shifting and OR-ing whole planes is several times faster than a strided byte copy."""
    out: U64 = planes[0].astype(np.uint64)
    for j in range(1, len(planes)):
        out |= planes[j].astype(np.uint64) << np.uint64(8 * j)
    return out


def _undo(mode: int, z: U64, n: I64, scale: NDArray[np.uint8]) -> U64:
    """Undo one value mode for several series at once, as IEEE bits.

    ``z`` holds the series one after another (``n`` elements each, none empty): each
    series' first value, then its stream elements. Consumes ``z``.
    """
    starts = np.cumsum(n) - n
    if mode == _BITS0:
        firsts = z[starts]
        z ^= np.repeat(firsts, n)
        z[starts] = firsts
        return z
    if mode == _XOR:
        np.bitwise_xor.accumulate(z, out=z)
        base = np.zeros(len(n), dtype=np.uint64)
        base[1:] = z[starts[1:] - 1]
        z ^= np.repeat(base, n)
        return z
    firsts = z[starts].view(np.int64)  # a copy: fancy indexing
    d = z  # unzigzag in place: (z >> 1) ^ -(z & 1)
    sign = d & np.uint64(1)
    d >>= np.uint64(1)
    np.negative(sign, out=sign)
    d ^= sign
    x = d.view(np.int64)
    if mode == _DEC0:
        x += np.repeat(firsts, n)
        x[starts] = firsts
    else:
        if mode == _DEC2:
            x[starts] = 0
            _segment_cumsum(x, starts, n)
        x[starts] = firsts
        _segment_cumsum(x, starts, n)
    if mode == _BITDELTA:
        return x.view(np.uint64)
    vals = x.astype(np.float64)
    if scale.any():
        vals /= np.repeat(_POW10[scale], n)
    return vals.view(np.uint64)


def _segment_cumsum(x: I64, starts: I64, n: I64) -> None:
    """In place: cumulative sums restarting at each segment (modular int64 arithmetic,
    like :func:`_undiff`)."""
    np.cumsum(x, out=x)
    base = np.zeros(len(n), dtype=np.int64)
    base[1:] = x[starts[1:] - 1]
    x -= np.repeat(base, n)


def _width(z: U64) -> int:
    """Bytes needed for the largest element of an unsigned stream."""
    return 0 if len(z) == 0 else (int(z.max()).bit_length() + 7) // 8


def _cost(z: U64) -> float:
    """Estimated compressed bits of a stream: the order-0 entropy of its byte planes.

    That is close to what zstd's entropy stage achieves on transposed planes, and unlike
    the magnitude of the numbers it sees that a few distinct deltas are cheap.
    """
    n, w = len(z), _width(z)
    if w == 0:
        return 0.0
    planes = z.view(np.uint8).reshape(n, 8)[:, :w].astype(np.int64)
    counts = np.bincount((planes + np.arange(w) * 256).ravel(), minlength=256 * w)
    p = counts[counts > 0] / n
    return float(-(p * np.log2(p)).sum() * n) + 8.0 * w


def _shuffle(a: NDArray[np.generic]) -> bytes:
    """Byte-transpose a fixed-width array so equal byte positions sit together."""
    n, size = len(a), a.dtype.itemsize
    return np.ascontiguousarray(a).view(np.uint8).reshape(n, size).T.tobytes()


def _unshuffle(buf: memoryview, offset: int, n: int, dtype: str) -> tuple[NDArray[Any], int]:
    size = np.dtype(dtype).itemsize
    end = offset + n * size
    if end > len(buf):
        raise CorruptFrameError("frame is truncated")
    planes = np.frombuffer(buf, np.uint8, n * size, offset).reshape(size, n)
    return np.ascontiguousarray(planes.T).view(dtype).reshape(n), end


# --- decimal detection ----------------------------------------------------------------


def _sample_scales(v: F64) -> NDArray[np.uint8]:
    """Per sample, the smallest decimal scale ``d`` with ``v == m / 10**d`` exactly."""
    out = np.full(len(v), _NO_SCALE, dtype=np.uint8)
    idx = np.arange(len(v))
    cand = v
    with np.errstate(all="ignore"):
        for d in range(_MAX_SCALE + 1):
            p = _POW10[d]
            m = np.rint(cand * p) + 0.0  # +0.0 turns -0.0 into 0.0: it must not pass
            ok = (np.abs(m) <= _MANTISSA_LIMIT) & ((m / p).view(np.uint64) == cand.view(np.uint64))
            out[idx[ok]] = d
            keep = ~ok
            idx, cand = idx[keep], cand[keep]
            if len(idx) == 0:
                break
    return out


@dataclass(slots=True)
class _SeriesCode:
    n: int
    col: int
    mode: int
    scale: int
    first: int
    stream: U64
    exc_pos: NDArray[np.uint32]
    exc_bits: U64


def _encode_values(v: F64, scales: NDArray[np.uint8], col: int) -> _SeriesCode:
    """Pick the smallest representation of one series' values."""
    n = len(v)
    bits = v.view(np.uint64)
    empty_pos = np.empty(0, np.uint32)
    empty_bits = np.empty(0, np.uint64)
    if n == 0:
        return _SeriesCode(0, col, _DEC1, 0, 0, empty_bits, empty_pos, empty_bits)
    valid = scales != _NO_SCALE
    n_valid = int(valid.sum())
    best: _SeriesCode | None = None
    best_cost = np.inf
    # Decimal: worth it when nearly every sample is an exact decimal at one scale.
    if n_valid * 8 >= n * 7:
        d = int(scales[valid].max())
        p = _POW10[d]
        with np.errstate(all="ignore"):
            m = np.rint(v * p) + 0.0
            ok = (np.abs(m) <= _MANTISSA_LIMIT) & ((m / p).view(np.uint64) == bits)
        n_exc = n - int(ok.sum())
        if n_exc * 8 <= n:
            mant = np.where(ok, m, 0.0).astype(np.int64)
            if n_exc:
                # Exceptions repeat the previous mantissa so they cost no delta.
                last = np.maximum.accumulate(np.where(ok, np.arange(n), 0))
                mant = mant[last]
            exc = np.flatnonzero(~ok).astype(np.uint32)
            for mode, order in _DEC_ORDER.items():
                z = _zigzag(_diff(mant, order))
                c = _cost(z) + 64.0 * n_exc
                if c < best_cost:
                    best_cost = c
                    best = _SeriesCode(n, col, mode, d, int(mant[0]), z, exc, bits[exc])
    xor = bits[1:] ^ bits[:-1]
    c = _cost(xor)
    if c < best_cost:
        best_cost = c
        best = _SeriesCode(n, col, _XOR, 0, int(bits.view(np.int64)[0]), xor, empty_pos, empty_bits)
    ib = bits.view(np.int64)
    z = _zigzag(_diff(ib, 1))
    c = _cost(z)
    if c < best_cost:
        best_cost = c
        best = _SeriesCode(n, col, _BITDELTA, 0, int(ib[0]), z, empty_pos, empty_bits)
    raw = bits[1:] ^ bits[0]
    if _cost(raw) < best_cost:
        best = _SeriesCode(n, col, _BITS0, 0, int(ib[0]), raw, empty_pos, empty_bits)
    assert best is not None
    return best


# --- frame building -------------------------------------------------------------------


def _encode(columns: Sequence[I64], codes: Sequence[_SeriesCode]) -> bytes:
    n_cols, n_series = len(columns), len(codes)
    col_n = np.array([len(c) for c in columns], dtype=np.uint32)
    col_first = np.array([int(c[0]) if len(c) else 0 for c in columns], dtype=np.int64)
    col_streams = [_zigzag(_diff(c, 2)) for c in columns]
    streams: list[U64] = col_streams + [c.stream for c in codes]
    widths = np.array([_width(s) for s in streams], dtype=np.uint8)
    parts: list[bytes] = [
        struct.pack("<II", n_series, n_cols),
        _shuffle(col_n),
        _shuffle(col_first),
        _shuffle(np.array([c.n for c in codes], dtype=np.uint32)),
        _shuffle(np.array([c.col for c in codes], dtype=np.uint32)),
        np.array([c.mode for c in codes], dtype=np.uint8).tobytes(),
        np.array([c.scale for c in codes], dtype=np.uint8).tobytes(),
        _shuffle(np.array([c.first for c in codes], dtype=np.int64)),
        _shuffle(np.array([len(c.exc_pos) for c in codes], dtype=np.uint32)),
        widths.tobytes(),
    ]
    if any(len(c.exc_pos) for c in codes):
        parts.append(_shuffle(np.concatenate([c.exc_pos for c in codes])))
        parts.append(_shuffle(np.concatenate([c.exc_bits for c in codes])))
    for w in range(1, 9):
        group = [s for s, sw in zip(streams, widths, strict=True) if sw == w]
        if group:
            cat = np.concatenate(group)
            parts.append(cat.view(np.uint8).reshape(len(cat), 8)[:, :w].T.tobytes())
    raw = b"".join(parts)
    payload = _compressor().compress(raw)
    return _HEADER.pack(_MAGIC, _VERSION, zlib.crc32(payload), len(raw)) + payload


def _columns_of(
    series: Sequence[tuple[I64, F64]],
) -> tuple[list[I64], list[int]]:
    """Deduplicate timestamp arrays: series scraped together share one column."""
    columns: list[I64] = []
    seen: dict[bytes, int] = {}
    ids: list[int] = []
    for ts, _ in series:
        t = np.ascontiguousarray(ts, dtype=np.int64)
        key = t.tobytes()
        col = seen.get(key)
        if col is None:
            col = seen[key] = len(columns)
            columns.append(t)
        ids.append(col)
    return columns, ids


def _value_codes(values: Sequence[F64], cols: Sequence[int]) -> list[_SeriesCode]:
    arrays = [np.ascontiguousarray(v, dtype=np.float64) for v in values]
    if not arrays:
        return []
    # Trying all 16 scales on every sample of a float series is most of the encoding
    # time, so a short probe first rules out series that are plainly not decimal.
    probes = [a[:_PROBE] for a in arrays]
    probe_scales = _sample_scales(np.concatenate(probes))
    pb = np.cumsum([0] + [len(p) for p in probes])
    decimal = [
        int(np.count_nonzero(probe_scales[pb[i] : pb[i + 1]] != _NO_SCALE)) * 4 >= len(p) * 3
        for i, p in enumerate(probes)
    ]
    chosen = [a for a, d in zip(arrays, decimal, strict=True) if d]
    cat = np.concatenate(chosen) if chosen else np.empty(0)
    scales = _sample_scales(cat)
    out = []
    pos = 0
    for i, a in enumerate(arrays):
        if decimal[i]:
            s = scales[pos : pos + len(a)]
            pos += len(a)
        else:
            s = np.full(len(a), _NO_SCALE, dtype=np.uint8)
        out.append(_encode_values(a, s, cols[i]))
    return out


def encode_frame(series: Sequence[tuple[NDArray[np.int64], NDArray[np.float64]]]) -> bytes:
    """Encode series (timestamps, values) into one self-contained, checksummed frame.

    >>> ts = np.array([1000, 2000, 3000]); vs = np.array([1.5, 2.5, float("nan")])
    >>> [(t.tolist(), v.tolist()[:2]) for t, v in decode_frame(encode_frame([(ts, vs)]))]
    [([1000, 2000, 3000], [1.5, 2.5])]
    """
    for i, (ts, vs) in enumerate(series):
        if len(ts) != len(vs):
            raise ValueError(f"series {i}: {len(ts)} timestamps but {len(vs)} values")
    columns, ids = _columns_of(series)
    return _encode(columns, _value_codes([v for _, v in series], ids))


def encode_value_frame(values: Sequence[NDArray[np.float64]]) -> bytes:
    """Encode only values; the timestamps live in a separate :func:`encode_timestamp_frame`."""
    return _encode([], _value_codes(values, [EXTERNAL] * len(values)))


def encode_timestamp_frame(columns: Sequence[NDArray[np.int64]]) -> bytes:
    """Encode timestamp columns only (a block shares them across value frames)."""
    return _encode([np.ascontiguousarray(c, dtype=np.int64) for c in columns], [])


# --- decoding -------------------------------------------------------------------------


class FrameView:
    """A parsed frame that decodes single series or columns on demand.

    Parsing decompresses the frame and reads the per-series headers; the sample streams
    are only unpacked for the series asked for.
    """

    __slots__ = (
        "_buf",
        "n_series",
        "n_columns",
        "_col_n",
        "_col_first",
        "_n",
        "_col",
        "_mode",
        "_scale",
        "_first",
        "_widths",
        "_offsets",
        "_bases",
        "_glen",
        "_exc_start",
        "_exc_pos",
        "_exc_bits",
    )

    def __init__(self, data: bytes | memoryview) -> None:
        mv = memoryview(data)
        if len(mv) < _HEADER.size:
            raise CorruptFrameError(f"frame is {len(mv)} bytes, shorter than its header")
        magic, version, crc, raw_len = _HEADER.unpack_from(mv)
        if magic != _MAGIC or version != _VERSION:
            raise CorruptFrameError(f"bad frame magic/version {bytes(magic)!r}/{version}")
        payload = mv[_HEADER.size :]
        if zlib.crc32(payload) != crc:
            raise CorruptFrameError("frame checksum mismatch")
        try:
            raw = _decompressor().decompress(payload, max_output_size=raw_len)
        except zstandard.ZstdError as e:
            raise CorruptFrameError(f"frame does not decompress: {e}") from e
        if len(raw) != raw_len:
            raise CorruptFrameError(f"frame decompressed to {len(raw)} bytes, want {raw_len}")
        buf = self._buf = memoryview(raw)
        try:
            self._parse(buf)
        except (ValueError, struct.error) as e:
            if isinstance(e, CorruptFrameError):
                raise
            raise CorruptFrameError(f"frame does not parse: {e}") from e

    def _parse(self, buf: memoryview) -> None:
        ns, nc = struct.unpack_from("<II", buf)
        self.n_series, self.n_columns = ns, nc
        off = 8
        col_n, off = _unshuffle(buf, off, nc, "<u4")
        col_first, off = _unshuffle(buf, off, nc, "<i8")
        n, off = _unshuffle(buf, off, ns, "<u4")
        col, off = _unshuffle(buf, off, ns, "<u4")
        mode, off = _unshuffle(buf, off, ns, "u1")
        scale, off = _unshuffle(buf, off, ns, "u1")
        first, off = _unshuffle(buf, off, ns, "<i8")
        n_exc, off = _unshuffle(buf, off, ns, "<u4")
        widths, off = _unshuffle(buf, off, nc + ns, "u1")
        self._col_n = col_n.astype(np.int64)
        self._col_first = col_first
        self._n, self._col = n.astype(np.int64), col.astype(np.int64)
        self._mode, self._scale, self._first = mode, scale, first
        if np.any(mode > _BITS0) or np.any(scale > _MAX_SCALE) or np.any(widths > 8):
            raise CorruptFrameError("frame has an unknown value mode, scale or width")
        bad_col = (self._col != EXTERNAL) & (self._col >= nc)
        if np.any(bad_col):
            raise CorruptFrameError("frame references a missing timestamp column")
        exc_counts = n_exc.astype(np.int64)
        total_exc = int(exc_counts.sum())
        self._exc_start = np.concatenate(([0], np.cumsum(exc_counts)))
        if total_exc:
            self._exc_pos, off = _unshuffle(buf, off, total_exc, "<u4")
            self._exc_bits, off = _unshuffle(buf, off, total_exc, "<u8")
        else:
            self._exc_pos = np.empty(0, np.uint32)
            self._exc_bits = np.empty(0, np.uint64)
        lengths = np.maximum(np.concatenate((self._col_n, self._n)) - 1, 0)
        self._widths = widths.astype(np.int64)
        self._offsets = np.zeros(nc + ns, dtype=np.int64)
        self._bases = np.zeros(9, dtype=np.int64)
        self._glen = np.zeros(9, dtype=np.int64)
        for w in range(1, 9):
            sel = self._widths == w
            if not sel.any():
                continue
            lw = lengths[sel]
            self._offsets[sel] = np.cumsum(lw) - lw
            self._bases[w] = off
            self._glen[w] = int(lw.sum())
            off += w * int(self._glen[w])
        if off != len(buf):
            raise CorruptFrameError(f"frame streams end at {off}, payload is {len(buf)} bytes")

    def _stream(self, k: int, n: int) -> U64:
        w = int(self._widths[k])
        if w == 0 or n == 0:
            return np.zeros(n, dtype=np.uint64)
        glen, off = int(self._glen[w]), int(self._offsets[k])
        planes = np.frombuffer(self._buf, np.uint8, w * glen, int(self._bases[w]))
        out = np.zeros((n, 8), dtype=np.uint8)
        out[:, :w] = planes.reshape(w, glen)[:, off : off + n].T
        return out.view("<u8").reshape(n)

    def column(self, c: int) -> I64:
        """Timestamps of column ``c``."""
        n = int(self._col_n[c])
        if n == 0:
            return np.empty(0, dtype=np.int64)
        d = _unzigzag(self._stream(c, n - 1))
        return _undiff(int(self._col_first[c]), d, 2)

    def column_of(self, i: int) -> int:
        """The timestamp column of series ``i`` (:data:`EXTERNAL` if outside the frame)."""
        return int(self._col[i])

    def values(self, i: int) -> F64:
        """Values of series ``i``."""
        n = int(self._n[i])
        if n == 0:
            return np.empty(0, dtype=np.float64)
        mode, first = int(self._mode[i]), int(self._first[i])
        z = self._stream(self.n_columns + i, n - 1)
        if mode == _XOR:
            bits = np.empty(n, dtype=np.uint64)
            bits[0] = np.int64(first).view(np.uint64)
            np.bitwise_xor.accumulate(z, out=bits[1:])
            bits[1:] ^= bits[0]
            return bits.view(np.float64)
        if mode == _BITDELTA:
            return _undiff(first, _unzigzag(z), 1).view(np.float64)
        if mode == _BITS0:
            bits = np.empty(n, dtype=np.uint64)
            bits[0] = np.int64(first).view(np.uint64)
            np.bitwise_xor(z, bits[0], out=bits[1:])
            return bits.view(np.float64)
        mant = _undiff(first, _unzigzag(z), _DEC_ORDER[mode])
        out: F64 = mant.astype(np.float64) / _POW10[int(self._scale[i])]
        lo, hi = int(self._exc_start[i]), int(self._exc_start[i + 1])
        if hi > lo:
            pos = self._exc_pos[lo:hi].astype(np.int64)
            if int(pos.max()) >= n:
                raise CorruptFrameError(f"series {i} has an exception past its end")
            out.view(np.uint64)[pos] = self._exc_bits[lo:hi]
        return out

    def all_values(self) -> tuple[I64, F64]:
        """Values of every series of the frame, concatenated, and ``[n_series + 1]`` offsets.

        The same values as :meth:`values` for each series, decoded for the whole frame at
        once: each width group is unpacked once, and the series of each value mode are
        undone together (segmented cumsum or prefix XOR over all of them in one pass), so
        the cost per series is a few array elements, not a few Python calls.
        """
        ns, nc = self.n_series, self.n_columns
        n = self._n
        offsets = np.zeros(ns + 1, dtype=np.int64)
        np.cumsum(n, out=offsets[1:])
        total = int(offsets[-1])
        starts = offsets[:-1]
        # z[start_i] holds series i's first value, z[start_i + 1 + j] its j-th stream
        # element (a delta, XOR or offset depending on the mode).
        z = np.zeros(total, dtype=np.uint64)
        lens = np.maximum(n - 1, 0)
        widths = self._widths[nc:]
        is_first = np.zeros(total, dtype=bool)
        is_first[starts[n > 0]] = True
        used = np.unique(widths[lens > 0]).tolist()
        # Elements of one width group are the streams of its series in series order (after
        # any timestamp-column streams), so boolean masks place them without index arrays.
        width_of = np.repeat(widths, n) if len(used) > 1 else None
        for w in used:
            if w == 0:
                continue
            sel = np.flatnonzero((widths == w) & (lens > 0))
            glen = int(self._glen[w])
            planes = np.frombuffer(self._buf, np.uint8, w * glen, int(self._bases[w]))
            group = _join_planes(planes.reshape(w, glen))
            first = int(self._offsets[nc + sel[0]])
            part = group[first : first + int(lens[sel].sum())]
            if width_of is None:
                z[~is_first] = part
            else:
                z[(width_of == w) & ~is_first] = part
        live = np.flatnonzero(n > 0)
        z[starts[live]] = self._first[live].view(np.uint64)
        modes = self._mode[live]
        present = np.unique(modes).tolist()
        if len(present) == 1:
            out = _undo(present[0], z, n[live], self._scale[live])
        else:
            out = np.empty(total, dtype=np.uint64)
            mode_of = np.repeat(self._mode, n)
            for mode in present:
                which = live[modes == mode]
                at = mode_of == mode
                out[at] = _undo(mode, z[at], n[which], self._scale[which])
        n_exc = np.diff(self._exc_start)
        if len(self._exc_pos):
            owner = np.repeat(np.arange(ns), n_exc)
            pos = self._exc_pos.astype(np.int64)
            if bool(np.any(pos >= n[owner])):
                raise CorruptFrameError("a series has an exception past its end")
            out[starts[owner] + pos] = self._exc_bits
        return offsets, out.view(np.float64)

    def length(self, i: int) -> int:
        return int(self._n[i])

    def series(self, i: int) -> tuple[I64, F64]:
        """Timestamps and values of series ``i`` (its column must be inside the frame)."""
        c = self.column_of(i)
        if c == EXTERNAL:
            raise ValueError(f"series {i} keeps its timestamps outside this frame")
        ts = self.column(c)
        if len(ts) != self._n[i]:
            raise CorruptFrameError(f"series {i} has {self._n[i]} values but {len(ts)} timestamps")
        return ts, self.values(i)


def decode_frame(data: bytes) -> list[tuple[NDArray[np.int64], NDArray[np.float64]]]:
    """Decode every series of a frame made by :func:`encode_frame`.

    Raises :class:`CorruptFrameError` if the checksum or structure is wrong.
    """
    view = FrameView(data)
    cols: dict[int, I64] = {}
    out: list[tuple[I64, F64]] = []
    used: set[int] = set()
    for i in range(view.n_series):
        c = view.column_of(i)
        if c == EXTERNAL:
            raise CorruptFrameError(f"series {i} keeps its timestamps outside this frame")
        ts = cols.get(c)
        if ts is None:
            ts = cols[c] = view.column(c)
        if len(ts) != view.length(i):
            raise CorruptFrameError(f"series {i}: {view.length(i)} values, {len(ts)} timestamps")
        # Series sharing a column get their own copy so callers may mutate it.
        out.append((ts.copy() if c in used else ts, view.values(i)))
        used.add(c)
    return out
