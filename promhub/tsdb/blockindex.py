"""A block's index file: label sets, timestamp columns and where every frame lives.

Layout (little-endian)::

    "PHIX" | u8 version | 3 pad | u32 crc32(payload) | u32 raw length | zstd(payload)

The payload holds a symbol table (every distinct label name and value once), each
series' label pairs as symbol ids, each series' timestamp column, each column's first and
last timestamp and sample count, and the offset and length of every value frame and
timestamp frame in the chunks file. Value frames hold ``series_per_frame`` consecutive
series and timestamp frames ``columns_per_frame`` consecutive columns, so a series'
position is arithmetic, not stored.

Version 2 appends a start-timestamp frame table: one (offset, length) per value frame,
length 0 where none of the frame's series has a start timestamp. It is only written when
some series has start timestamps, so blocks without them stay version 1, byte for byte;
both versions are read.

The whole file is checksummed: a flipped bit or a truncation is found when the block is
opened, before any query trusts it.

In memory the label sets stay in that symbol-id form (:class:`LabelTable`): an open block
keeps one int32 row per label instead of a ``Labels`` tuple per series, and builds a
``Labels`` only for a series a query returns. Symbols are interned, so the strings of a
series that lives in several blocks exist once.
"""

from __future__ import annotations

import array
import itertools
import struct
import sys
import zlib
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import zstandard
from numpy.typing import NDArray

from promhub.model.labels import Labels

_T = TypeVar("_T", bound=np.generic)

_MAGIC = b"PHIX"
_VERSION = 1
#: Version with the start-timestamp frame table.
_VERSION_ST = 2
_HEADER = struct.Struct("<4sB3xII")
_COUNTS = struct.Struct("<IIIIIIIIQ")


class IndexFormatError(ValueError):
    """The index file is truncated, corrupted or of an unknown version."""


@dataclass(frozen=True, slots=True)
class LabelTable:
    """Every series' label set as symbol ids, ``Labels`` built on demand.

    ``symbols`` is sorted and unique; ``pairs[i]`` is one label's (name id, value id);
    series ``ref`` has the labels ``pairs[starts[ref]:starts[ref + 1]]``, in name order.
    """

    symbols: list[str]
    pairs: NDArray[np.int32]
    starts: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.starts) - 1

    def labels(self, ref: int) -> Labels:
        """The label set of series ``ref``."""
        if not 0 <= ref < len(self):
            raise IndexError(f"series ref {ref} out of range [0, {len(self)})")
        syms = self.symbols
        row = self.pairs[self.starts[ref] : self.starts[ref + 1]].tolist()
        return Labels((syms[a], syms[b]) for a, b in row)

    def rows(self, refs: NDArray[np.int64]) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
        """The label rows of several series, concatenated, and how many each has."""
        lo = self.starts[refs]
        lens = self.starts[refs + 1] - lo
        # Index of every row: each series' start, repeated, plus a running counter.
        idx = np.repeat(lo - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()))
        return self.pairs[idx], lens

    def labels_of(self, refs: NDArray[np.int64]) -> list[Labels]:
        """The label sets of several series, in the order of ``refs``."""
        rows, lens = self.rows(refs)
        syms = self.symbols
        ns = len(syms)
        # A query's series share few distinct (name, value) pairs: build each pair's tuple
        # once and hand out references, so a series costs one slice and one tuple.
        codes = rows[:, 0].astype(np.int64) * ns + rows[:, 1]
        distinct, which = np.unique(codes, return_inverse=True)
        objs = np.empty(len(distinct), dtype=object)
        for i, c in enumerate(distinct.tolist()):
            objs[i] = (syms[c // ns], syms[c % ns])
        pairs = objs[which.reshape(-1)].tolist()
        out = []
        pos = 0
        for n in lens.tolist():
            end = pos + n
            out.append(Labels(pairs[pos:end]))
            pos = end
        return out


class LabelTableBuilder:
    """Collects label sets into a :class:`LabelTable` without keeping the ``Labels``.

    A block writer sees every series once; keeping ids (4 bytes a label) instead of the
    tuples keeps a compaction's memory flat in the number of series.
    """

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._pairs = array.array("i")
        self._counts = array.array("i")

    def add(self, labels: Labels) -> None:
        ids = self._ids
        for pair in labels:
            for s in pair:
                i = ids.get(s)
                if i is None:
                    i = ids[s] = len(ids)
                self._pairs.append(i)
        self._counts.append(len(labels))

    def __len__(self) -> int:
        return len(self._counts)

    def build(self) -> LabelTable:
        # Ids were handed out in arrival order; renumber them in string order, which
        # the encoder and BlockPostings rely on.
        first_seen = list(self._ids)
        order = sorted(range(len(first_seen)), key=first_seen.__getitem__)
        remap = np.empty(len(order), dtype=np.int32)
        remap[order] = np.arange(len(order), dtype=np.int32)
        pairs = remap[np.frombuffer(self._pairs, dtype=np.int32)] if len(order) else _NO_PAIRS
        counts = np.frombuffer(self._counts, dtype=np.int32)
        return LabelTable(
            symbols=[first_seen[i] for i in order],
            pairs=pairs.reshape(-1, 2),
            starts=np.concatenate(([0], np.cumsum(counts, dtype=np.int64))),
        )


_NO_PAIRS: NDArray[np.int32] = np.empty(0, dtype=np.int32)


@dataclass(slots=True)
class BlockIndex:
    """The decoded contents of an index file."""

    labels: LabelTable
    #: Per series: its timestamp column.
    series_column: NDArray[np.int32]
    #: Per column: first and last timestamp, and number of samples.
    column_mint: NDArray[np.int64]
    column_maxt: NDArray[np.int64]
    column_len: NDArray[np.int64]
    #: Per value frame / timestamp frame: byte offset and length in the chunks file.
    value_frames: NDArray[np.int64]
    value_frame_len: NDArray[np.int64]
    ts_frames: NDArray[np.int64]
    ts_frame_len: NDArray[np.int64]
    series_per_frame: int
    columns_per_frame: int
    chunks_size: int
    #: Per value frame: offset and length of its start-timestamp frame (length 0: none).
    #: None for blocks without start timestamps.
    st_frames: NDArray[np.int64] | None = None
    st_frame_len: NDArray[np.int64] | None = None

    @property
    def has_start_timestamps(self) -> bool:
        return self.st_frame_len is not None and bool(self.st_frame_len.any())


def _shuffle(a: NDArray[np.generic]) -> bytes:
    n, size = len(a), a.dtype.itemsize
    return np.ascontiguousarray(a).view(np.uint8).reshape(n, size).T.tobytes()


class _Cursor:
    def __init__(self, raw: bytes) -> None:
        self.buf, self.off = memoryview(raw), 0

    def array(self, n: int, dtype: str) -> NDArray[np.int64]:
        return self.array_as(n, dtype, np.int64)

    def array_as(self, n: int, dtype: str, out: type[_T]) -> NDArray[_T]:
        size = np.dtype(dtype).itemsize
        end = self.off + n * size
        if end > len(self.buf):
            raise IndexFormatError("index payload is truncated")
        planes = np.frombuffer(self.buf, np.uint8, n * size, self.off).reshape(size, n)
        self.off = end
        return np.ascontiguousarray(planes.T).view(dtype).reshape(n).astype(out)

    def bytes(self, n: int) -> bytes:
        end = self.off + n
        if end > len(self.buf):
            raise IndexFormatError("index payload is truncated")
        out = bytes(self.buf[self.off : end])
        self.off = end
        return out


def encode_index(ix: BlockIndex) -> bytes:
    """Serialise an index (the inverse of :func:`decode_index`)."""
    table = ix.labels
    symbols = table.symbols
    encoded = [s.encode("utf-8") for s in symbols]
    counts = np.diff(table.starts).astype(np.uint32)
    pairs = table.pairs.reshape(-1).astype(np.uint32)
    parts = [
        _COUNTS.pack(
            len(ix.labels),
            len(ix.column_mint),
            len(ix.value_frames),
            len(ix.ts_frames),
            ix.series_per_frame,
            ix.columns_per_frame,
            len(symbols),
            len(pairs),
            ix.chunks_size,
        ),
        _shuffle(np.array([len(b) for b in encoded], dtype=np.uint32)),
        b"".join(encoded),
        _shuffle(counts),
        _shuffle(pairs),
        _shuffle(ix.series_column.astype(np.uint32)),
        _shuffle(ix.column_mint.astype(np.int64)),
        _shuffle(ix.column_maxt.astype(np.int64)),
        _shuffle(ix.column_len.astype(np.uint32)),
        _shuffle(ix.value_frames.astype(np.uint64)),
        _shuffle(ix.value_frame_len.astype(np.uint32)),
        _shuffle(ix.ts_frames.astype(np.uint64)),
        _shuffle(ix.ts_frame_len.astype(np.uint32)),
    ]
    version = _VERSION
    if ix.has_start_timestamps:
        assert ix.st_frames is not None and ix.st_frame_len is not None
        if len(ix.st_frames) != len(ix.value_frames) != len(ix.st_frame_len):
            raise ValueError("start-timestamp frame table does not match the value frames")
        version = _VERSION_ST
        parts.append(_shuffle(ix.st_frames.astype(np.uint64)))
        parts.append(_shuffle(ix.st_frame_len.astype(np.uint32)))
    raw = b"".join(parts)
    payload = zstandard.ZstdCompressor(level=9).compress(raw)
    return _HEADER.pack(_MAGIC, version, zlib.crc32(payload), len(raw)) + payload


def decode_index(data: bytes) -> BlockIndex:
    """Parse and verify an index file's bytes; raises :class:`IndexFormatError`."""
    if len(data) < _HEADER.size:
        raise IndexFormatError(f"index is {len(data)} bytes, shorter than its header")
    magic, version, crc, raw_len = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise IndexFormatError(f"bad magic {magic!r}")
    if version not in (_VERSION, _VERSION_ST):
        raise IndexFormatError(f"unsupported index version {version}")
    payload = memoryview(data)[_HEADER.size :]
    if zlib.crc32(payload) != crc:
        raise IndexFormatError("checksum mismatch (corrupted or truncated)")
    try:
        raw = zstandard.ZstdDecompressor().decompress(payload, max_output_size=raw_len)
    except zstandard.ZstdError as e:
        raise IndexFormatError(f"payload does not decompress: {e}") from e
    if len(raw) != raw_len or len(raw) < _COUNTS.size:
        raise IndexFormatError("payload has the wrong length")
    n_series, n_cols, n_vf, n_tf, spf, cpf, n_sym, n_pairs, chunks_size = _COUNTS.unpack_from(raw)
    cur = _Cursor(raw)
    cur.off = _COUNTS.size
    sym_len = cur.array(n_sym, "<u4")
    sym_bytes = cur.bytes(int(sym_len.sum()))
    bounds = np.concatenate(([0], np.cumsum(sym_len))).tolist()
    try:
        # Interned: a series in several blocks (and the head) shares one copy of each string.
        symbols = [
            sys.intern(sym_bytes[bounds[i] : bounds[i + 1]].decode("utf-8")) for i in range(n_sym)
        ]
    except UnicodeDecodeError as e:
        raise IndexFormatError(f"symbol table is not UTF-8: {e}") from e
    # Lookups bisect the symbols and postings rely on ids in string order.
    if any(a >= b for a, b in itertools.pairwise(symbols)):
        raise IndexFormatError("symbol table is not sorted and unique")
    counts = cur.array(n_series, "<u4")
    pairs = cur.array_as(n_pairs, "<u4", np.int32)
    if int(counts.sum()) * 2 != n_pairs or (
        n_pairs and not 0 <= int(pairs.min()) <= int(pairs.max()) < n_sym
    ):
        raise IndexFormatError("label pairs do not match the symbol table")
    ix = BlockIndex(
        labels=LabelTable(
            symbols=symbols,
            pairs=pairs.reshape(-1, 2),
            starts=np.concatenate(([0], np.cumsum(counts))),
        ),
        series_column=cur.array_as(n_series, "<u4", np.int32),
        column_mint=cur.array(n_cols, "<i8"),
        column_maxt=cur.array(n_cols, "<i8"),
        column_len=cur.array(n_cols, "<u4"),
        value_frames=cur.array(n_vf, "<u8"),
        value_frame_len=cur.array(n_vf, "<u4"),
        ts_frames=cur.array(n_tf, "<u8"),
        ts_frame_len=cur.array(n_tf, "<u4"),
        series_per_frame=spf,
        columns_per_frame=cpf,
        chunks_size=chunks_size,
    )
    if version == _VERSION_ST:
        ix.st_frames = cur.array(n_vf, "<u8")
        ix.st_frame_len = cur.array(n_vf, "<u4")
        st_ends = ix.st_frames + ix.st_frame_len
        if len(st_ends) and int(st_ends.max()) > chunks_size:
            raise IndexFormatError("a start-timestamp frame lies beyond the end of the chunks file")
    if cur.off != len(raw):
        raise IndexFormatError(f"{len(raw) - cur.off} trailing bytes in payload")
    if n_series and not 0 <= int(ix.series_column.min()) <= int(ix.series_column.max()) < n_cols:
        raise IndexFormatError("a series references a missing timestamp column")
    if spf <= 0 or cpf <= 0 or n_vf * spf < n_series or n_tf * cpf < n_cols:
        raise IndexFormatError("frame tables do not cover every series and column")
    ends = np.concatenate((ix.value_frames + ix.value_frame_len, ix.ts_frames + ix.ts_frame_len))
    if len(ends) and int(ends.max()) > chunks_size:
        raise IndexFormatError("a frame lies beyond the end of the chunks file")
    return ix
