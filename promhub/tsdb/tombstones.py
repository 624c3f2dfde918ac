"""Tombstones: deleted time ranges per series, as Prometheus keeps them.

``DB.delete(matchers, mint, maxt)`` does not rewrite data. It records, per series ref, the
inclusive intervals ``[mint, maxt]`` whose samples are gone:

- in the head, in memory (:attr:`Head.tombstones`), logged to the WAL as a ``TOMBSTONES``
  record so that a restart replays them, and carried into WAL checkpoints;
- in a block, in its ``tombstones`` file (see :func:`write_tombstones`), read on open.

Every read applies them (queries, dumps, compaction), so deleted samples are never
returned, and the data disappears for good when the head is cut into a block, when blocks
are compacted, or when ``DB.clean_tombstones()`` rewrites a block without them.

A :class:`Tombstones` is immutable: adding intervals returns a new one, so a query that
took a reference keeps a consistent view while a delete publishes the next one.

The ``tombstones`` file::

    u32 magic 0x0130BA30 | u8 version 1 | u32 n_series | u32 n_intervals
    i64 refs[n_series] | u32 counts[n_series] | i64 mint[n_intervals] | i64 maxt[n_intervals]
    u32 crc32 of everything before it

It is written to ``tombstones.tmp``, fsynced and renamed over ``tombstones``, so a crash
leaves either the old or the new file, never a half one.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from promhub.storage.interface import Refs, Timestamps
from promhub.tsdb.postings import Postings

__all__ = [
    "TOMBSTONES_FILE",
    "Interval",
    "Tombstones",
    "TombstonesFormatError",
    "read_tombstones",
    "shrink_csr",
    "visible_label_names",
    "visible_label_values",
    "write_tombstones",
]

TOMBSTONES_FILE = "tombstones"
_MAGIC = 0x0130BA30
_VERSION = 1
_HEAD = struct.Struct("<IBII")
_CRC = struct.Struct("<I")

#: An inclusive time range ``(mint, maxt)`` in milliseconds.
Interval = tuple[int, int]
Mask = NDArray[np.bool_]


class TombstonesFormatError(ValueError):
    """A tombstones file is truncated, has a bad checksum or impossible contents."""


def _merge(intervals: Sequence[Interval]) -> tuple[Interval, ...]:
    """Sorted, non-overlapping, non-adjacent intervals covering the same times."""
    out: list[Interval] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


class Tombstones:
    """Deleted intervals per series ref (immutable; see the module docstring).

    >>> t = Tombstones().added([7], [10], [20]).added([7], [21], [30])
    >>> t.get(7)
    ((10, 30),)
    >>> t.keep_mask(7, np.array([5, 10, 30, 31])).tolist()
    [True, False, False, True]
    """

    __slots__ = ("_by_ref", "_refs")

    def __init__(self, by_ref: Mapping[int, tuple[Interval, ...]] | None = None) -> None:
        self._by_ref: dict[int, tuple[Interval, ...]] = dict(by_ref or {})
        self._refs: Refs = np.fromiter(sorted(self._by_ref), np.int64, len(self._by_ref))

    def __len__(self) -> int:
        return len(self._by_ref)

    def __bool__(self) -> bool:
        return bool(self._by_ref)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tombstones) and self._by_ref == other._by_ref

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._by_ref.items())))

    def __repr__(self) -> str:
        return f"Tombstones({self._by_ref!r})"

    def get(self, ref: int) -> tuple[Interval, ...]:
        """The deleted intervals of series ``ref`` (empty if none)."""
        return self._by_ref.get(ref, ())

    def items(self) -> Iterator[tuple[int, tuple[Interval, ...]]]:
        """``(ref, intervals)`` in ref order."""
        for r in self._refs.tolist():
            yield r, self._by_ref[r]

    @property
    def refs(self) -> Refs:
        """Sorted refs that have tombstones."""
        return self._refs

    def total(self) -> int:
        """Number of intervals (Prometheus' ``numTombstones``)."""
        return sum(len(v) for v in self._by_ref.values())

    def added(
        self, refs: Sequence[int] | Refs, mints: Sequence[int] | Refs, maxts: Sequence[int] | Refs
    ) -> Tombstones:
        """A copy with ``[mints[i], maxts[i]]`` deleted from series ``refs[i]`` too."""
        new = dict(self._by_ref)
        r_l = np.asarray(refs, np.int64).tolist()
        lo_l = np.asarray(mints, np.int64).tolist()
        hi_l = np.asarray(maxts, np.int64).tolist()
        for r, lo, hi in zip(r_l, lo_l, hi_l, strict=True):
            if lo > hi:
                continue
            new[r] = _merge([*new.get(r, ()), (lo, hi)])
        return Tombstones(new)

    def merged(self, other: Tombstones) -> Tombstones:
        """A copy with ``other``'s intervals added."""
        new = dict(self._by_ref)
        for r, ivs in other._by_ref.items():
            new[r] = _merge([*new.get(r, ()), *ivs])
        return Tombstones(new)

    def restricted(self, keep: Refs | None = None, *, before: int | None = None) -> Tombstones:
        """A copy with only the refs in ``keep`` and without intervals ending before
        ``before`` (data the head no longer holds)."""
        new: dict[int, tuple[Interval, ...]] = {}
        refs = self._refs
        if keep is not None:
            refs = refs[np.isin(refs, keep)]
        for r in refs.tolist():
            ivs = self._by_ref[r]
            if before is not None:
                ivs = tuple(iv for iv in ivs if iv[1] >= before)
            if ivs:
                new[r] = ivs
        if len(new) == len(self._by_ref):
            return self
        return Tombstones(new)

    def keep_mask(self, ref: int, ts: Timestamps) -> Mask:
        """True for the timestamps of series ``ref`` that are not deleted."""
        return _keep(ts, self._by_ref.get(ref, ()))

    def covered(self, refs: Refs, mints: Timestamps, maxts: Timestamps) -> Mask:
        """For each series ``refs[i]``: is all of ``[mints[i], maxts[i]]`` deleted?"""
        out = np.zeros(len(refs), dtype=bool)
        if not self._by_ref or not len(refs):
            return out
        hit = np.flatnonzero(np.isin(refs, self._refs))
        for i in hit.tolist():
            lo, hi = int(mints[i]), int(maxts[i])
            out[i] = any(a <= lo and hi <= b for a, b in self._by_ref[int(refs[i])])
        return out

    def csr_keep_mask(self, refs: Refs, offsets: Refs, ts: Timestamps) -> Mask | None:
        """Keep mask over CSR samples (series ``refs[i]`` is ``ts[offsets[i]:offsets[i+1]]``),
        or None when none of them is deleted. Work is per tombstoned series only."""
        if not self._by_ref or not len(refs):
            return None
        hit = np.flatnonzero(np.isin(refs, self._refs))
        if not len(hit):
            return None
        keep = np.ones(len(ts), dtype=bool)
        for i in hit.tolist():
            a, b = int(offsets[i]), int(offsets[i + 1])
            keep[a:b] = _keep(ts[a:b], self._by_ref[int(refs[i])])
        return None if keep.all() else keep


def _keep(ts: Timestamps, intervals: Sequence[Interval]) -> Mask:
    if not intervals or not len(ts):
        return np.ones(len(ts), dtype=bool)
    lo = np.fromiter((a for a, _ in intervals), np.int64, len(intervals))
    hi = np.fromiter((b for _, b in intervals), np.int64, len(intervals))
    # Intervals are sorted and disjoint: only the last one starting at or before t can
    # contain t.
    j = np.searchsorted(lo, ts, side="right") - 1
    deleted = (j >= 0) & (ts <= hi[np.maximum(j, 0)])
    keep: Mask = ~deleted
    return keep


def shrink_csr(refs: Refs, offsets: Refs, keep: Mask) -> tuple[Refs, Refs]:
    """Refs and offsets of CSR series after dropping the samples where ``keep`` is False;
    series left without samples are dropped too (index the sample arrays by ``keep``)."""
    cum = np.concatenate(([0], np.cumsum(keep))).astype(np.int64)
    lens = np.diff(cum[offsets])
    live = lens > 0
    new_offsets = np.concatenate(([0], np.cumsum(lens[live]))).astype(np.int64)
    return refs[live], new_offsets


def _has_alive(postings: Postings, name: str, value: str, dead: Refs) -> bool:
    refs = postings.get(name, value)
    return len(refs) > len(dead) or not np.isin(refs, dead).all()


def visible_label_names(postings: Postings, dead: Refs) -> list[str]:
    """Label names of the series in ``postings`` that are not entirely deleted (``dead``,
    sorted). Stops at the first live value of each name, so few lookups are needed."""
    if not len(dead):
        return postings.label_names()
    return [
        n
        for n in postings.label_names()
        if any(_has_alive(postings, n, v, dead) for v in postings.label_values(n))
    ]


def visible_label_values(postings: Postings, name: str, dead: Refs) -> list[str]:
    """Values of label ``name`` among the series that are not entirely deleted."""
    values = postings.label_values(name)
    if not len(dead):
        return values
    return [v for v in values if _has_alive(postings, name, v, dead)]


def encode_tombstones(t: Tombstones) -> bytes:
    """The ``tombstones`` file's bytes for ``t``."""
    refs = t.refs
    counts = np.fromiter((len(t.get(r)) for r in refs.tolist()), np.uint32, len(refs))
    flat = [iv for _, ivs in t.items() for iv in ivs]
    mints = np.fromiter((a for a, _ in flat), np.int64, len(flat))
    maxts = np.fromiter((b for _, b in flat), np.int64, len(flat))
    body = (
        _HEAD.pack(_MAGIC, _VERSION, len(refs), len(flat))
        + refs.astype("<i8").tobytes()
        + counts.astype("<u4").tobytes()
        + mints.astype("<i8").tobytes()
        + maxts.astype("<i8").tobytes()
    )
    return body + _CRC.pack(zlib.crc32(body))


def decode_tombstones(data: bytes) -> Tombstones:
    """Parse a ``tombstones`` file; raises :class:`TombstonesFormatError` saying what is wrong."""
    if len(data) < _HEAD.size + _CRC.size:
        raise TombstonesFormatError(f"too short ({len(data)} bytes)")
    magic, version, n, m = _HEAD.unpack_from(data)
    if magic != _MAGIC:
        raise TombstonesFormatError(f"bad magic {magic:#010x}")
    if version != _VERSION:
        raise TombstonesFormatError(f"unsupported version {version}")
    want = _HEAD.size + 12 * n + 16 * m + _CRC.size
    if len(data) != want:
        raise TombstonesFormatError(f"is {len(data)} bytes, {want} expected (truncated?)")
    (crc,) = _CRC.unpack_from(data, len(data) - _CRC.size)
    if zlib.crc32(data[: -_CRC.size]) != crc:
        raise TombstonesFormatError("checksum mismatch")
    off = _HEAD.size
    refs = np.frombuffer(data, "<i8", n, off).astype(np.int64)
    off += 8 * n
    counts = np.frombuffer(data, "<u4", n, off).astype(np.int64)
    off += 4 * n
    mints = np.frombuffer(data, "<i8", m, off).astype(np.int64)
    maxts = np.frombuffer(data, "<i8", m, off + 8 * m).astype(np.int64)
    if int(counts.sum()) != m or (n and (refs.min() < 0 or (np.diff(refs) <= 0).any())):
        raise TombstonesFormatError("inconsistent series table")
    if (mints > maxts).any():
        raise TombstonesFormatError("an interval ends before it starts")
    ends = np.cumsum(counts).tolist()
    lo_l, hi_l = mints.tolist(), maxts.tolist()
    by_ref: dict[int, tuple[Interval, ...]] = {}
    start = 0
    for r, end in zip(refs.tolist(), ends, strict=True):
        by_ref[r] = _merge(list(zip(lo_l[start:end], hi_l[start:end], strict=True)))
        start = end
    return Tombstones(by_ref)


def write_tombstones(block_dir: str | os.PathLike[str], t: Tombstones) -> int:
    """Atomically replace ``block_dir/tombstones`` with ``t``; returns the bytes written."""
    d = Path(block_dir)
    data = encode_tombstones(t)
    tmp = d / (TOMBSTONES_FILE + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, d / TOMBSTONES_FILE)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return len(data)


def read_tombstones(block_dir: str | os.PathLike[str]) -> Tombstones:
    """The tombstones of a block directory (none if it has no ``tombstones`` file).

    Raises :class:`TombstonesFormatError` (naming the file) for a corrupt one and
    ``OSError`` when it cannot be read.
    """
    path = Path(block_dir) / TOMBSTONES_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Tombstones()
    try:
        return decode_tombstones(data)
    except TombstonesFormatError as e:
        raise TombstonesFormatError(f"{path}: {e}") from None
