"""Immutable on-disk blocks: writing, opening, querying and compacting them.

A block is a directory named by a ULID, as in Prometheus::

    01HF.../meta.json        ulid, time range (maxTime exclusive), stats, compaction
    01HF.../index            labels, timestamp columns, frame table (see blockindex)
    01HF.../chunks/000001    timestamp frames and value frames (see encoding)
    01HF.../tombstones       deleted intervals per series, if any (see tombstones)

Series are stored in label order, ``SERIES_PER_FRAME`` to a value frame, so a query for
one metric name touches few frames. Timestamps are stored once per distinct timestamp
array for the whole block (the series of one scrape share it) in timestamp frames.
Reading a series decodes one value frame and one timestamp frame, both kept in a small
LRU cache; nothing else of the block is touched.

Start timestamps (optional per sample, 0 = none) are stored in a start-timestamp frame
beside each value frame whose series have any, one column per series; the index (version
2) says where. A block without start timestamps has no such frames and a version 1 index,
exactly as before they existed.

A block is written to ``<ULID>.tmp``, fsynced and renamed into place, so a crash leaves
at most a ``.tmp`` directory (see :func:`remove_tmp_blocks`), never a half block.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import json
import mmap
import os
import secrets
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from promhub.model.labels import Labels
from promhub.model.matcher import Matcher
from promhub.storage.interface import Series, SeriesBatch
from promhub.tsdb.blockindex import (
    BlockIndex,
    IndexFormatError,
    LabelTableBuilder,
    decode_index,
    encode_index,
)
from promhub.tsdb.encoding import (
    CorruptFrameError,
    FrameView,
    encode_timestamp_frame,
    encode_value_frame,
)
from promhub.tsdb.postings import BlockPostings
from promhub.tsdb.tombstones import (
    Tombstones,
    TombstonesFormatError,
    read_tombstones,
    visible_label_names,
    visible_label_values,
    write_tombstones,
)

__all__ = [
    "Block",
    "BlockMeta",
    "CorruptBlockError",
    "compact_blocks",
    "batch_of_series",
    "new_ulid",
    "remove_tmp_blocks",
    "write_block",
]

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
#: What :func:`write_block` takes per series: labels, timestamps, values and optionally
#: start timestamps (aligned with the timestamps, 0 = none; None = none at all).
SeriesData = tuple[Labels, I64, F64] | tuple[Labels, I64, F64, I64 | None]

SERIES_PER_FRAME = 128
COLUMNS_PER_FRAME = 64
META_FILE = "meta.json"
INDEX_FILE = "index"
CHUNKS_FILE = os.path.join("chunks", "000001")
TMP_SUFFIX = ".tmp"
#: Decoded frames kept per block: enough for a query's working set, small in memory.
FRAME_CACHE = 32

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class CorruptBlockError(Exception):
    """A block's files are missing, truncated or fail their checksums."""


def new_ulid(ms: int | None = None) -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, Crockford base32."""
    t = int(time.time() * 1000) if ms is None else ms
    n = (t & (2**48 - 1)) << 80 | secrets.randbits(80)
    return "".join(_CROCKFORD[(n >> (5 * i)) & 31] for i in range(25, -1, -1))


@dataclass
class BlockMeta:
    """What ``meta.json`` says about a block. ``max_time`` is exclusive, as in Prometheus."""

    ulid: str
    min_time: int
    max_time: int
    num_series: int
    num_samples: int
    level: int
    sources: list[str]
    size_bytes: int
    num_chunks: int = 0
    #: ``frames-v1``; ``frames-v2`` when the block holds start timestamps.
    format: str = "frames-v1"

    def to_json(self) -> str:
        doc: dict[str, Any] = {
            "ulid": self.ulid,
            "minTime": self.min_time,
            "maxTime": self.max_time,
            "stats": {
                "numSamples": self.num_samples,
                "numSeries": self.num_series,
                "numChunks": self.num_chunks,
            },
            "compaction": {"level": self.level, "sources": list(self.sources)},
            "version": 1,
            "promhub": {"format": self.format, "sizeBytes": self.size_bytes},
        }
        return json.dumps(doc, indent="\t") + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> BlockMeta:
        """Parse ``meta.json``; raises ``ValueError`` naming the missing or bad field."""
        try:
            doc = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"not valid JSON: {e}") from e
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        try:
            stats, comp = doc["stats"], doc["compaction"]
            ph = doc.get("promhub", {})
            meta = cls(
                ulid=str(doc["ulid"]),
                min_time=int(doc["minTime"]),
                max_time=int(doc["maxTime"]),
                num_series=int(stats["numSeries"]),
                num_samples=int(stats["numSamples"]),
                level=int(comp["level"]),
                sources=[str(s) for s in comp.get("sources", [])],
                size_bytes=int(ph.get("sizeBytes", 0)),
                num_chunks=int(stats.get("numChunks", 0)),
                format=str(ph.get("format", "frames-v1")),
            )
        except KeyError as e:
            raise ValueError(f"missing field {e}") from e
        except (TypeError, ValueError) as e:
            raise ValueError(f"bad field: {e}") from e
        if doc.get("version") != 1:
            raise ValueError(f"unsupported version {doc.get('version')!r}")
        return meta


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Writer:
    """Streams series into frames; keeps only one frame of pending data in memory."""

    def __init__(self, chunks: Any) -> None:
        self.f = chunks
        self.offset = 0
        self.labels = LabelTableBuilder()
        self.series_column: list[int] = []
        self.col_ids: dict[bytes, int] = {}
        self.col_mint: list[int] = []
        self.col_maxt: list[int] = []
        self.col_len: list[int] = []
        self.pending_cols: list[I64] = []
        self.pending_vals: list[F64] = []
        self.pending_sts: list[I64 | None] = []
        self.vframes: list[tuple[int, int]] = []
        self.stframes: list[tuple[int, int]] = []
        self.tframes: list[tuple[int, int]] = []
        self.samples = 0
        self.mint = 2**63 - 1
        self.maxt = -(2**63)

    def _emit(self, data: bytes, table: list[tuple[int, int]]) -> None:
        self.f.write(data)
        table.append((self.offset, len(data)))
        self.offset += len(data)

    def add(self, labels: Labels, ts: I64, vals: F64, sts: I64 | None = None) -> None:
        # A digest, not the bytes, keys the column table so memory stays per column small.
        key = hashlib.blake2b(ts.tobytes(), digest_size=16).digest()
        col = self.col_ids.get(key)
        if col is None:
            col = self.col_ids[key] = len(self.col_len)
            self.col_mint.append(int(ts[0]))
            self.col_maxt.append(int(ts[-1]))
            self.col_len.append(len(ts))
            self.pending_cols.append(ts)
            if len(self.pending_cols) == COLUMNS_PER_FRAME:
                self.flush_columns()
        self.labels.add(labels)
        self.series_column.append(col)
        self.pending_vals.append(vals)
        self.pending_sts.append(sts)
        self.samples += len(ts)
        self.mint = min(self.mint, int(ts[0]))
        self.maxt = max(self.maxt, int(ts[-1]))
        if len(self.pending_vals) == SERIES_PER_FRAME:
            self.flush_values()

    def flush_columns(self) -> None:
        if self.pending_cols:
            self._emit(encode_timestamp_frame(self.pending_cols), self.tframes)
            self.pending_cols = []

    def flush_values(self) -> None:
        if self.pending_vals:
            self._emit(encode_value_frame(self.pending_vals), self.vframes)
            if any(s is not None for s in self.pending_sts):
                cols = [
                    np.zeros(len(v), np.int64) if s is None else s
                    for s, v in zip(self.pending_sts, self.pending_vals, strict=True)
                ]
                self._emit(encode_timestamp_frame(cols), self.stframes)
            else:
                self.stframes.append((self.offset, 0))
            self.pending_vals = []
            self.pending_sts = []

    @property
    def has_start_timestamps(self) -> bool:
        return any(n for _, n in self.stframes)

    def index(self) -> BlockIndex:
        def arr(xs: Sequence[int]) -> I64:
            return np.asarray(xs, dtype=np.int64).reshape(len(xs))

        return BlockIndex(
            labels=self.labels.build(),
            series_column=arr(self.series_column).astype(np.int32),
            column_mint=arr(self.col_mint),
            column_maxt=arr(self.col_maxt),
            column_len=arr(self.col_len),
            value_frames=arr([o for o, _ in self.vframes]),
            value_frame_len=arr([n for _, n in self.vframes]),
            ts_frames=arr([o for o, _ in self.tframes]),
            ts_frame_len=arr([n for _, n in self.tframes]),
            series_per_frame=SERIES_PER_FRAME,
            columns_per_frame=COLUMNS_PER_FRAME,
            chunks_size=self.offset,
            st_frames=arr([o for o, _ in self.stframes]) if self.has_start_timestamps else None,
            st_frame_len=arr([n for _, n in self.stframes]) if self.has_start_timestamps else None,
        )


def _check_series(
    labels: Labels, ts: I64, vals: F64, sts: I64 | None, prev: Labels | None, mint: int, maxt: int
) -> None:
    if len(ts) != len(vals):
        raise ValueError(f"series {labels}: {len(ts)} timestamps but {len(vals)} values")
    if sts is not None and len(sts) != len(ts):
        raise ValueError(f"series {labels}: {len(ts)} timestamps but {len(sts)} start timestamps")
    if prev is not None and not prev < labels:
        raise ValueError(f"series {labels} is not after {prev}: series must be sorted and unique")
    if len(ts) == 0:
        return
    if len(ts) > 1 and not bool(np.all(ts[1:] > ts[:-1])):
        raise ValueError(f"series {labels}: timestamps are not strictly increasing")
    if int(ts[0]) < mint or int(ts[-1]) >= maxt:
        raise ValueError(
            f"series {labels}: samples [{int(ts[0])}, {int(ts[-1])}] outside the block "
            f"range [{mint}, {maxt})"
        )


def write_block(
    parent_dir: str | Path,
    series: Iterable[SeriesData],
    mint: int,
    maxt: int,
    level: int = 1,
    sources: Sequence[str] = (),
) -> BlockMeta:
    """Write series (sorted by labels) as a new block under ``parent_dir``.

    ``[mint, maxt)`` is the block's time range (``maxt`` exclusive); samples outside it,
    unsorted series or timestamps raise ``ValueError`` and leave no block behind. Series
    without samples are skipped. A series may come with a fourth element, its start
    timestamps (aligned with the timestamps, 0 = none). Returns the new block's meta; the
    block directory is ``parent_dir / meta.ulid``.
    """
    if maxt <= mint:
        raise ValueError(f"empty block range [{mint}, {maxt})")
    parent = Path(parent_dir)
    ulid = new_ulid()
    tmp = parent / (ulid + TMP_SUFFIX)
    final = parent / ulid
    (tmp / "chunks").mkdir(parents=True)
    try:
        with open(tmp / CHUNKS_FILE, "wb") as chunks:
            w = _Writer(chunks)
            prev: Labels | None = None
            for item in series:
                labels, ts_in, vals_in = item[0], item[1], item[2]
                sts_in = item[3] if len(item) > 3 else None
                ts = np.ascontiguousarray(ts_in, dtype=np.int64)
                vals = np.ascontiguousarray(vals_in, dtype=np.float64)
                sts = None
                if sts_in is not None:
                    sts = np.ascontiguousarray(sts_in, dtype=np.int64)
                    sts = sts if sts.any() else None
                _check_series(labels, ts, vals, sts, prev, mint, maxt)
                prev = labels
                if len(ts):
                    w.add(labels, ts, vals, sts)
            w.flush_columns()
            w.flush_values()
            chunks.flush()
            os.fsync(chunks.fileno())
        index = encode_index(w.index())
        with open(tmp / INDEX_FILE, "wb") as f:
            f.write(index)
            f.flush()
            os.fsync(f.fileno())
        meta = BlockMeta(
            ulid=ulid,
            min_time=mint,
            max_time=maxt,
            num_series=len(w.labels),
            num_samples=w.samples,
            level=level,
            sources=sorted(set(sources)) if sources else [ulid],
            size_bytes=w.offset + len(index),
            num_chunks=len(w.vframes),
            format="frames-v2" if w.has_start_timestamps else "frames-v1",
        )
        with open(tmp / META_FILE, "w", encoding="utf-8") as f:
            f.write(meta.to_json())
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(tmp / "chunks")
        _fsync_dir(tmp)
        os.rename(tmp, final)
        _fsync_dir(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def remove_tmp_blocks(parent_dir: str | Path) -> list[Path]:
    """Delete ``*.tmp`` block directories left by a crash mid-write; returns them."""
    removed = []
    for p in Path(parent_dir).iterdir():
        if p.name.endswith(TMP_SUFFIX) and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


class Block:
    """An opened, immutable block. Thread-safe for concurrent queries."""

    meta: BlockMeta
    path: Path
    postings: BlockPostings

    def __init__(self, path: Path, meta: BlockMeta, index: BlockIndex, chunks_fd: int) -> None:
        self.path = path
        self.meta = meta
        self._ix = index
        self._table = index.labels
        self._fd = chunks_fd
        self._mm: mmap.mmap | None = (
            mmap.mmap(chunks_fd, 0, access=mmap.ACCESS_READ) if index.chunks_size else None
        )
        self._lock = threading.Lock()
        self._frames: OrderedDict[tuple[int, int], FrameView] = OrderedDict()
        t = index.labels
        self.postings = BlockPostings(t.symbols, t.pairs, t.starts)
        self.tombstones = Tombstones()
        self._dead = np.empty(0, dtype=np.int64)

    @classmethod
    def open(cls, path: str | Path) -> Block:
        """Open a block directory, verifying meta.json, the index and the chunks' size.

        Raises :class:`CorruptBlockError` naming the file and the problem.
        """
        p = Path(path)
        if p.name.endswith(TMP_SUFFIX):
            raise CorruptBlockError(f"{p}: an incomplete block (crash while writing)")
        try:
            meta_text = (p / META_FILE).read_bytes()
            index_data = (p / INDEX_FILE).read_bytes()
        except OSError as e:
            raise CorruptBlockError(f"{p}: cannot read block: {e}") from e
        try:
            meta = BlockMeta.from_json(meta_text)
        except ValueError as e:
            raise CorruptBlockError(f"{p / META_FILE}: {e}") from e
        try:
            index = decode_index(index_data)
        except IndexFormatError as e:
            raise CorruptBlockError(f"{p / INDEX_FILE}: {e}") from e
        if len(index.labels) != meta.num_series:
            raise CorruptBlockError(
                f"{p / META_FILE}: says {meta.num_series} series, index has {len(index.labels)}"
            )
        chunks = p / CHUNKS_FILE
        try:
            fd = os.open(chunks, os.O_RDONLY)
        except OSError as e:
            raise CorruptBlockError(f"{chunks}: cannot open: {e}") from e
        size = os.fstat(fd).st_size
        if size != index.chunks_size:
            os.close(fd)
            raise CorruptBlockError(
                f"{chunks}: is {size} bytes, the index expects {index.chunks_size} (truncated?)"
            )
        meta.size_bytes = size + len(index_data) + len(meta_text)
        block = cls(p, meta, index, fd)
        try:
            block._set_tombstones(read_tombstones(p))
        except (TombstonesFormatError, OSError) as e:
            block.close()
            raise CorruptBlockError(f"{p}: {e}") from e
        return block

    def _set_tombstones(self, t: Tombstones) -> None:
        refs = t.refs[t.refs < len(self._table)]
        cols = self._ix.series_column[refs]
        dead = t.covered(refs, self._ix.column_mint[cols], self._ix.column_maxt[cols])
        # One assignment each: a concurrent query sees the old or the new deletions.
        self._dead = refs[dead]
        self.tombstones = t

    def delete(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> int:
        """Tombstone the samples of matching series in ``[mint, maxt]`` (inclusive).

        Like Prometheus, each interval is clamped to the series' data and merged with the
        existing ones, and the block's ``tombstones`` file is replaced atomically. Returns
        the number of series affected.
        """
        refs = self.postings.select(matchers)
        cols = self._ix.series_column[refs]
        t0 = np.maximum(self._ix.column_mint[cols], mint)
        t1 = np.minimum(self._ix.column_maxt[cols], maxt)
        ok = t0 <= t1
        if not ok.any():
            return 0
        new = self.tombstones.added(refs[ok], t0[ok], t1[ok])
        if new != self.tombstones:
            write_tombstones(self.path, new)
            self._set_tombstones(new)
        return int(ok.sum())

    def __enter__(self) -> Block:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the chunks file. Queries after this raise ``ValueError``."""
        with self._lock:
            self._frames.clear()
            if self._mm is not None:
                self._mm.close()
                self._mm = None
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def size_bytes(self) -> int:
        """Bytes the block's files take on disk."""
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())

    def labels(self, ref: int) -> Labels:
        """Labels of the series with this ref (its position in label order).

        Built from the block's symbol table on each call: a block keeps no ``Labels``.
        """
        return self._table.labels(ref)

    def _symbol_id(self, s: str) -> int:
        """Id of a symbol in this block, or -1."""
        syms = self._table.symbols
        i = bisect.bisect_left(syms, s)
        return i if i < len(syms) and syms[i] == s else -1

    # --- frame access -------------------------------------------------------------

    def _frame(self, kind: int, k: int) -> FrameView:
        key = (kind, k)
        with self._lock:
            view = self._frames.get(key)
            if view is not None:
                self._frames.move_to_end(key)
                return view
            if self._fd < 0:
                raise ValueError(f"block {self.path} is closed")
            if kind == 0:
                offs, lens = self._ix.value_frames, self._ix.value_frame_len
            elif kind == 1:
                offs, lens = self._ix.ts_frames, self._ix.ts_frame_len
            else:
                assert self._ix.st_frames is not None and self._ix.st_frame_len is not None
                offs, lens = self._ix.st_frames, self._ix.st_frame_len
            off, n = int(offs[k]), int(lens[k])
            assert self._mm is not None
            data = self._mm[off : off + n]
        try:
            view = FrameView(data)
        except CorruptFrameError as e:
            what = ("value", "timestamp", "start-timestamp")[kind]
            raise CorruptBlockError(
                f"block {self.path}: {CHUNKS_FILE} {what} frame {k} (bytes {off}-{off + n}): {e}"
            ) from e
        with self._lock:
            self._frames[key] = view
            while len(self._frames) > FRAME_CACHE:
                self._frames.popitem(last=False)
        return view

    def _timestamps(self, ref: int) -> I64:
        col = int(self._ix.series_column[ref])
        cpf = self._ix.columns_per_frame
        view = self._frame(1, col // cpf)
        try:
            return view.column(col % cpf)
        except (CorruptFrameError, IndexError) as e:
            raise CorruptBlockError(f"block {self.path}: timestamp column {col}: {e}") from e

    def _samples(self, ref: int) -> tuple[I64, F64]:
        ts = self._timestamps(ref)
        spf = self._ix.series_per_frame
        view = self._frame(0, ref // spf)
        try:
            vals = view.values(ref % spf)
        except (CorruptFrameError, IndexError) as e:
            raise CorruptBlockError(f"block {self.path}: series {ref}: {e}") from e
        if len(vals) != len(ts):
            raise CorruptBlockError(
                f"block {self.path}: series {ref} has {len(vals)} values, {len(ts)} timestamps"
            )
        return ts, vals

    def _start_timestamps(self, ref: int, n: int) -> I64 | None:
        """Series ``ref``'s start timestamps (``n`` of them), or None if it has none."""
        lens = self._ix.st_frame_len
        spf = self._ix.series_per_frame
        if lens is None or not lens[ref // spf]:
            return None
        view = self._frame(2, ref // spf)
        try:
            sts = view.column(ref % spf)
        except (CorruptFrameError, IndexError) as e:
            raise CorruptBlockError(f"block {self.path}: start timestamps of {ref}: {e}") from e
        if len(sts) != n:
            raise CorruptBlockError(
                f"block {self.path}: series {ref} has {len(sts)} start timestamps, {n} samples"
            )
        return sts if sts.any() else None

    def _candidates(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> I64:
        refs = self.postings.select(matchers)
        cols = self._ix.series_column[refs]
        keep = (self._ix.column_mint[cols] <= maxt) & (self._ix.column_maxt[cols] >= mint)
        return refs[keep]

    # --- queries ------------------------------------------------------------------

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[Series]:
        """Series matching all matchers with their samples in ``[mint, maxt]``, by labels."""
        found: list[tuple[int, I64, F64, I64 | None]] = []
        tomb = self.tombstones
        for ref in self._candidates(matchers, mint, maxt).tolist():
            ts, vals = self._samples(ref)
            lo = np.searchsorted(ts, mint, side="left")
            hi = np.searchsorted(ts, maxt, side="right")
            if hi > lo:
                sts = self._start_timestamps(ref, len(ts))
                ts, vals = ts[lo:hi], vals[lo:hi]
                if sts is not None:
                    sts = sts[lo:hi]
                if tomb.get(ref):
                    keep = tomb.keep_mask(ref, ts)
                    ts, vals = ts[keep], vals[keep]
                    sts = None if sts is None else sts[keep]
                    if not len(ts):
                        continue
                if sts is not None and not sts.any():
                    sts = None
                found.append((ref, ts, vals, sts))
        labels = self._table.labels_of(np.array([f[0] for f in found], dtype=np.int64))
        return [Series(ls, ts, vs, sts) for ls, (_, ts, vs, sts) in zip(labels, found, strict=True)]

    def select_batch(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> SeriesBatch:
        """What :meth:`select` returns, as one CSR :class:`SeriesBatch`.

        Each shared timestamp column is decoded and cut to ``[mint, maxt]`` once, and value
        frames most of whose series are wanted are decoded whole
        (:meth:`FrameView.all_values`); the samples are then gathered with index arrays.
        """
        ix = self._ix
        refs = self._candidates(matchers, mint, maxt)
        if ix.st_frames is not None or (
            self.tombstones and bool(np.isin(refs, self.tombstones.refs).any())
        ):
            # Start timestamps and deletions are rare; the per-series path handles them.
            return batch_of_series(self.select(matchers, mint, maxt))
        if not len(refs):
            return batch_of_series([])
        ucols, inv = np.unique(ix.series_column[refs], return_inverse=True)
        col_ts = [self._column(int(c)) for c in ucols.tolist()]
        col_len = np.array([len(t) for t in col_ts], dtype=np.int64)
        col_lo = np.array([np.searchsorted(t, mint, "left") for t in col_ts], dtype=np.int64)
        col_hi = np.array([np.searchsorted(t, maxt, "right") for t in col_ts], dtype=np.int64)
        col_base = np.cumsum(col_len) - col_len
        lo, count = col_lo[inv], (col_hi - col_lo)[inv]
        keep = count > 0
        refs, inv, lo, count = refs[keep], inv[keep], lo[keep], count[keep]
        if not len(refs):
            return batch_of_series([])
        val_index, values = self._values_of(refs, col_len[inv])
        offsets = np.zeros(len(refs) + 1, dtype=np.int64)
        np.cumsum(count, out=offsets[1:])
        # Output position p of series i reads source position p + shift_i: one repeat and
        # one in-place add per column, the fewest passes over the samples.
        pos = np.arange(int(offsets[-1]), dtype=np.int64)
        ts_all = np.concatenate(col_ts) if col_ts else np.empty(0, np.int64)
        idx = np.repeat(col_base[inv] + lo - offsets[:-1], count)
        idx += pos
        ts = ts_all[idx]
        idx = np.repeat(val_index + lo - offsets[:-1], count)
        idx += pos
        vals = values[idx]
        return SeriesBatch(self._table.labels_of(refs), offsets, ts, vals)

    def _column(self, col: int) -> I64:
        cpf = self._ix.columns_per_frame
        view = self._frame(1, col // cpf)
        try:
            return view.column(col % cpf)
        except (CorruptFrameError, IndexError) as e:
            raise CorruptBlockError(f"block {self.path}: timestamp column {col}: {e}") from e

    def _values_of(self, refs: I64, want_len: I64) -> tuple[I64, F64]:
        """The values of every series in ``refs`` (ascending) concatenated, and where each
        series starts; ``want_len`` is each series' number of timestamps."""
        spf = self._ix.series_per_frame
        frames = refs // spf
        bounds = np.flatnonzero(np.diff(frames)) + 1
        parts: list[F64] = []
        starts: list[I64] = []
        base = 0
        for a, b in zip([0, *bounds.tolist()], [*bounds.tolist(), len(refs)], strict=True):
            k = int(frames[a])
            local = refs[a:b] - k * spf
            view = self._frame(0, k)
            try:
                if (b - a) * 4 >= view.n_series:  # most of the frame: decode it whole
                    off, vals = view.all_values()
                    lens = off[local + 1] - off[local]
                    starts.append(off[local] + base)
                else:
                    got = [view.values(i) for i in local.tolist()]
                    lens = np.array([len(v) for v in got], dtype=np.int64)
                    vals = np.concatenate(got)
                    starts.append(np.cumsum(lens) - lens + base)
            except (CorruptFrameError, IndexError) as e:
                raise CorruptBlockError(f"block {self.path}: value frame {k}: {e}") from e
            if not np.array_equal(lens, want_len[a:b]):
                i = int(np.flatnonzero(lens != want_len[a:b])[0])
                raise CorruptBlockError(
                    f"block {self.path}: series {int(refs[a + i])} has {int(lens[i])} values, "
                    f"{int(want_len[a + i])} timestamps"
                )
            parts.append(vals)
            base += len(vals)
        return np.concatenate(starts), np.concatenate(parts)

    def series(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[Labels]:
        """Label sets of matching series with at least one sample in ``[mint, maxt]``."""
        refs = self._candidates(matchers, mint, maxt)
        ix = self._ix
        cols = ix.series_column[refs]
        partial = (ix.column_mint[cols] < mint) | (ix.column_maxt[cols] > maxt)
        tomb = self.tombstones
        if tomb:
            partial |= np.isin(refs, tomb.refs)
        keep = np.ones(len(refs), dtype=bool)
        for i in np.flatnonzero(partial).tolist():
            # Partly covered: only the timestamps (not the values) say if one is inside.
            ref = int(refs[i])
            ts = self._timestamps(ref)
            ts = ts[np.searchsorted(ts, mint, "left") : np.searchsorted(ts, maxt, "right")]
            if not len(ts) or not tomb.keep_mask(ref, ts).any():
                keep[i] = False
        return self._table.labels_of(refs[keep])

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        """Label names of the block's series (of those matching, if matchers are given)."""
        if not matchers:
            return visible_label_names(self.postings, self._dead)
        rows, _ = self._table.rows(self._live(self.postings.select(matchers)))
        syms = self._table.symbols
        return [syms[i] for i in np.unique(rows[:, 0]).tolist()]

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        """Values of label ``name`` (among the matching series, if matchers are given)."""
        if not matchers:
            return visible_label_values(self.postings, name, self._dead)
        rows, _ = self._table.rows(self._live(self.postings.select(matchers)))
        syms = self._table.symbols
        # Symbol ids are in string order, so unique ids come out sorted by value.
        ids = np.unique(rows[rows[:, 0] == self._symbol_id(name), 1]).tolist()
        return [v for v in (syms[i] for i in ids) if v]

    def _live(self, refs: I64) -> I64:
        """``refs`` without the series whose samples are all deleted."""
        dead = self._dead
        return refs[~np.isin(refs, dead)] if len(dead) else refs

    def iter_series(self) -> Iterator[tuple[Labels, NDArray[np.int64], NDArray[np.float64]]]:
        """Every series with all its samples, in label order (for compaction and dumps);
        deleted samples are left out, and so are series left without any."""
        for labels, ts, vals, _ in self.iter_series_st():
            yield labels, ts, vals

    def iter_series_st(self) -> Iterator[tuple[Labels, I64, F64, I64 | None]]:
        """Like :meth:`iter_series`, with each series' start timestamps (or None)."""
        n = len(self._table)
        spf = self._ix.series_per_frame
        tomb = self.tombstones
        for start in range(0, n, spf):
            refs = self._live(np.arange(start, min(start + spf, n), dtype=np.int64))
            for ref, labels in zip(refs.tolist(), self._table.labels_of(refs), strict=True):
                ts, vals = self._samples(ref)
                sts = self._start_timestamps(ref, len(ts))
                if tomb.get(ref):
                    keep = tomb.keep_mask(ref, ts)
                    ts, vals = ts[keep], vals[keep]
                    if sts is not None:
                        sts = sts[keep]
                        sts = sts if sts.any() else None
                    if not len(ts):
                        continue
                yield labels, ts, vals, sts


def batch_of_series(series: Sequence[Series]) -> SeriesBatch:
    """Series (sorted, non-empty) as one :class:`SeriesBatch`."""
    counts = np.fromiter((len(s.timestamps) for s in series), dtype=np.int64, count=len(series))
    offsets = np.zeros(len(series) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    if not series:
        return SeriesBatch([], offsets, np.empty(0, np.int64), np.empty(0, np.float64))
    sts = None
    if any(s.start_timestamps is not None for s in series):
        sts = np.concatenate(
            [
                np.zeros(len(s.timestamps), np.int64)
                if s.start_timestamps is None
                else s.start_timestamps
                for s in series
            ]
        )
    return SeriesBatch(
        [s.labels for s in series],
        offsets,
        np.concatenate([s.timestamps for s in series]),
        np.concatenate([s.values for s in series]),
        sts,
    )


_Part = tuple[I64, F64, I64 | None]


def _merge_samples(parts: list[_Part]) -> _Part:
    """Merge one series' samples from several blocks; one sample per timestamp survives.

    Identical duplicates collapse; for conflicting values at one timestamp the sample of
    the later block in the input order wins (as a re-ingested, corrected sample would),
    start timestamp included.
    """
    if len(parts) == 1:
        return parts[0]
    ts = np.concatenate([p[0] for p in parts])
    vals = np.concatenate([p[1] for p in parts])
    sts = None
    if any(p[2] is not None for p in parts):
        sts = np.concatenate(
            [np.zeros(len(p[0]), np.int64) if p[2] is None else p[2] for p in parts]
        )
    order = np.argsort(ts, kind="stable")
    ts, vals = ts[order], vals[order]
    last = np.append(ts[1:] != ts[:-1], True)
    return ts[last], vals[last], None if sts is None else sts[order][last]


def compact_blocks(parent_dir: str | Path, blocks: Sequence[Block]) -> BlockMeta:
    """Merge blocks into one new block under ``parent_dir`` and return its meta.

    The new block spans all inputs, has level ``max(levels) + 1`` and the union of their
    sources. Overlapping blocks are merged per series with duplicates removed. The input
    blocks are left in place: the caller deletes them once the new one is open.
    """
    if not blocks:
        raise ValueError("compact_blocks needs at least one block")
    streams = [
        ((ls, i, ts, vs, st) for ls, ts, vs, st in b.iter_series_st()) for i, b in enumerate(blocks)
    ]

    def merged() -> Iterator[SeriesData]:
        cur: Labels | None = None
        parts: list[_Part] = []
        for ls, _, ts, vs, st in heapq.merge(*streams, key=lambda x: (x[0], x[1])):
            if ls != cur:
                if cur is not None:
                    yield (cur, *_merge_samples(parts))
                cur, parts = ls, []
            parts.append((ts, vs, st))
        if cur is not None:
            yield (cur, *_merge_samples(parts))

    sources = sorted({s for b in blocks for s in (b.meta.sources or [b.meta.ulid])})
    return write_block(
        parent_dir,
        merged(),
        mint=min(b.meta.min_time for b in blocks),
        maxt=max(b.meta.max_time for b in blocks),
        level=max(b.meta.level for b in blocks) + 1,
        sources=sources,
    )
