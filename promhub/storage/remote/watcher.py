"""Tails promhub's WAL for one remote_write queue, as Prometheus' ``wlog.Watcher`` does.

The format is :mod:`promhub.tsdb.wal`'s. Two properties shape this reader:

- SAMPLES values are XOR'd against the previous value of the same ref *in the same
  segment*, so a segment is always decoded from its start; resuming at an offset means
  decoding the records before it silently (:meth:`WALWatcher.start`).
- A commit is one ``write()``, so the segment being written may end in a partial record:
  that is "not yet", never corruption, until a newer segment exists (then the writer has
  moved on and the tail really is torn, e.g. after ``kill -9``).

Series come from SERIES records of the checkpoint and of every segment up to the reading
position. When head checkpointing deletes segments the watcher has not read, it goes on
from the oldest remaining one (series come back from the new checkpoint) and counts the
segments it lost. The segment being read is held open, so deleting it under the reader
loses nothing.

All methods block (file reads, zstd); the queue calls them through a worker thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import zstandard
from numpy.typing import NDArray

from promhub.model.labels import Labels
from promhub.tsdb.wal import (
    SAMPLES,
    SERIES,
    TOMBSTONES,
    RecordCodec,
    SamplesRecord,
    SeriesRecord,
    last_checkpoint,
    list_segments,
)

__all__ = ["Position", "SamplesChunk", "WALWatcher", "WatchResult"]

log = logging.getLogger(__name__)

# u32 length | u32 crc32(type + payload) | u8 type: the record framing of promhub.tsdb.wal.
_HEADER = struct.Struct("<IIB")
_KINDS = {SERIES: "series", SAMPLES: "samples", TOMBSTONES: "tombstones"}
#: Distinct label pairs kept for sharing before the table may be rebuilt (series churn).
_MAX_PAIRS = 100_000


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A point in the WAL: everything before ``offset`` of ``segment`` has been handled."""

    segment: int
    offset: int


@dataclass(slots=True)
class SamplesChunk:
    """The samples of one WAL record, one entry per sample, and where the record ends."""

    refs: NDArray[np.int64]
    timestamps: NDArray[np.int64]
    values: NDArray[np.float64]
    end: Position


@dataclass(slots=True)
class WatchResult:
    """What one :meth:`WALWatcher.read` found, in WAL order."""

    #: Refs (re)defined by SERIES records read; a queue drops its cached labels for them.
    series_refs: list[int] = field(default_factory=list)
    chunks: list[SamplesChunk] = field(default_factory=list)
    samples: int = 0


class _Corrupt(Exception):
    pass


class WALWatcher:
    """Reads new records of one WAL directory from a :class:`Position` onwards."""

    def __init__(self, wal_dir: Path) -> None:
        self.dir = wal_dir
        #: Labels of every series ref defined so far (WAL order: a later definition wins).
        self.series: dict[int, Labels] = {}
        #: Segments deleted (by head checkpointing) before this watcher could read them.
        self.segments_lost = 0
        #: Records read by type ("series", "samples", "tombstones").
        self.records_by_type: dict[str, int] = {}
        self.decode_failures = 0
        self._segment = -1
        self._fd = -1
        self._read_off = 0  # next byte of the file to read
        self._buf = b""  # read but not yet parsed (a partial record)
        self._buf_off = 0  # file offset of _buf[0]
        self._skip_to = 0  # records ending at or before this are replayed silently
        self._codec = RecordCodec()
        self._cp_seen = -1  # index of the newest checkpoint the series map reflects
        self._segment_done = False  # the current segment was abandoned (corrupt)
        #: Series dropped from the map because the head no longer has them.
        self.series_collected = 0
        #: One object per distinct label pair in :attr:`series` (see :meth:`_share`).
        self._pairs: dict[tuple[str, str], tuple[str, str]] = {}

    @property
    def position(self) -> Position:
        """Where reading continues (the end of the last complete record read)."""
        return Position(max(self._segment, 0), self._buf_off)

    # -- starting ------------------------------------------------------------------------

    def start(self, pos: Position | None) -> Position:
        """Load series and seek to ``pos`` (None: the end of the WAL as it is now).

        Returns the position actually started from (later than ``pos`` when the segments
        holding it were deleted; those are counted in :attr:`segments_lost`).
        """
        segs = list_segments(self.dir)
        cp = last_checkpoint(self.dir)
        first = cp[0] + 1 if cp is not None else (segs[0] if segs else 0)
        if pos is None:
            last = segs[-1] if segs else first
            size = 0
            with contextlib.suppress(OSError):
                size = (self.dir / f"{last:08d}").stat().st_size
            pos = Position(last, size)
        if segs and pos.segment > segs[-1]:
            # A WAL younger than the saved position: the data directory was replaced.
            log.warning("remote_write: saved position %s is past the WAL's end", pos)
            pos = Position(max(first, segs[0]), 0)
        if cp is not None and pos.segment <= cp[0]:
            self._lose(cp[0] + 1 - pos.segment, pos.segment)
            pos = Position(cp[0] + 1, 0)
        elif segs and pos.segment < segs[0]:
            self._lose(segs[0] - pos.segment, pos.segment)
            pos = Position(segs[0], 0)
        if cp is not None:
            self._read_series_only(cp[1])
            self._cp_seen = cp[0]
        for s in segs:
            if first <= s < pos.segment:
                self._read_series_only(self.dir / f"{s:08d}")
        self._open(pos.segment)
        # The first read() decodes the segment from its start (XOR state, series) and
        # returns only the samples of records ending after the position.
        self._skip_to = pos.offset
        return pos

    def _lose(self, n: int, seg: int) -> None:
        if n > 0:
            self.segments_lost += n
            log.warning(
                "remote_write: %d WAL segment(s) from %08d were deleted before they were "
                "sent; their samples are lost to this queue",
                n,
                seg,
            )

    def _read_series_only(self, path: Path, into: dict[int, Labels] | None = None) -> None:
        series = self.series if into is None else into
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return
        codec = RecordCodec()
        off = 0
        while off + _HEADER.size <= len(data):
            length, crc, rtype = _HEADER.unpack_from(data, off)
            end = off + _HEADER.size + length
            if end > len(data):
                break
            if rtype == SERIES:
                payload = data[off + _HEADER.size : end]
                if zlib.crc32(payload, zlib.crc32(bytes((rtype,)))) != crc:
                    break
                try:
                    rec = codec.decode(rtype, payload)
                except (zstandard.ZstdError, ValueError, struct.error, UnicodeDecodeError):
                    self.decode_failures += 1
                    break
                assert isinstance(rec, SeriesRecord)
                for r, ls in zip(rec.refs.tolist(), rec.labels, strict=True):
                    series[r] = self._share(ls)
            off = end

    def _share(self, ls: Labels) -> Labels:
        """``ls`` made of label pairs shared with the other series.

        Every series decoded from the WAL comes with its own strings and pair tuples,
        about 1 KiB for a typical series, held for as long as the series lives. Most
        pairs (``job``, ``instance``, the metric name, ``le``) recur across series, so
        sharing them cuts the map to a fifth: it is most of an agent's memory beyond
        the scrape caches. The table is rebuilt when it outgrows the series it serves.
        """
        pairs = self._pairs
        if len(pairs) > _MAX_PAIRS and len(pairs) > 4 * len(self.series):
            pairs.clear()
        return Labels(tuple([pairs.setdefault(p, p) for p in ls]))

    def _open(self, segment: int) -> bool:
        self.close()
        self._segment = segment
        self._read_off = self._buf_off = 0
        self._buf = b""
        self._skip_to = 0
        self._segment_done = False
        self._codec.reset()
        try:
            self._fd = os.open(self.dir / f"{segment:08d}", os.O_RDONLY)
        except FileNotFoundError:
            self._fd = -1
            return False
        return True

    def close(self) -> None:
        """Release the open segment."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # -- reading -------------------------------------------------------------------------

    def read(self, limit: int = 100_000) -> WatchResult:
        """New records since the last call, stopping after about ``limit`` samples."""
        res = WatchResult()
        while res.samples < limit:
            # The segment to read may not exist yet (a WAL that has only a checkpoint).
            if self._fd < 0 and not (self._reopen() or self._advance_segment()):
                break
            # Look for a newer segment *before* reading: if one exists now, everything the
            # writer will ever put in the current segment is already there.
            newer = any(s > self._segment for s in list_segments(self.dir))
            self._fill()
            try:
                progressed = self._parse(res, limit)
            except _Corrupt as e:
                self.decode_failures += 1
                log.warning(
                    "remote_write: WAL segment %08d: %s; skipping its rest", self._segment, e
                )
                if not self._advance_segment():
                    self.close()
                    self._segment_done = True
                    break
                continue
            if progressed:
                continue
            if not newer:
                break  # caught up: wait for the writer
            if self._buf:
                log.warning(
                    "remote_write: WAL segment %08d ends in a torn record (%d bytes); skipping",
                    self._segment,
                    len(self._buf),
                )
            if not self._advance_segment():
                break
        cp = last_checkpoint(self.dir)
        if cp is not None and cp[0] > self._cp_seen and self._segment > cp[0]:
            self._collect(cp)
        return res

    def _collect(self, cp: tuple[int, Path]) -> None:
        """Forget series the head dropped: a new checkpoint holds every live series, and
        the segments after it the ones created since (Prometheus' watcher does the same,
        or its series map would grow with every series ever seen)."""
        fresh: dict[int, Labels] = {}
        self._read_series_only(cp[1], fresh)
        for s in list_segments(self.dir):
            if cp[0] < s <= self._segment:
                self._read_series_only(self.dir / f"{s:08d}", fresh)
        self.series_collected += len(self.series.keys() - fresh.keys())
        self.series = fresh
        self._cp_seen = cp[0]

    def _reopen(self) -> bool:
        if self._segment_done or self._segment < 0:
            return False
        skip = self._skip_to
        if not self._open(self._segment):
            return False
        self._skip_to = skip
        return True

    def _advance_segment(self) -> bool:
        """Move to the segment after the current one (or the oldest one that still exists)."""
        segs = [s for s in list_segments(self.dir) if s > self._segment]
        if not segs:
            return False
        nxt = segs[0]
        if self._segment >= 0 and nxt > self._segment + 1:
            self._lose(nxt - self._segment - 1, self._segment + 1)
            cp = last_checkpoint(self.dir)
            if cp is not None:
                self._read_series_only(cp[1])
        return self._open(nxt)

    def _fill(self) -> None:
        if self._fd < 0:
            return
        size = os.fstat(self._fd).st_size
        if size > self._read_off:
            data = os.pread(self._fd, size - self._read_off, self._read_off)
            self._read_off += len(data)
            self._buf += data

    def _parse(self, res: WatchResult, limit: int) -> bool:
        buf = self._buf
        off = 0
        progressed = False
        while off + _HEADER.size <= len(buf) and res.samples < limit:
            length, crc, rtype = _HEADER.unpack_from(buf, off)
            end = off + _HEADER.size + length
            if end > len(buf):
                break
            payload = buf[off + _HEADER.size : end]
            if zlib.crc32(payload, zlib.crc32(bytes((rtype,)))) != crc:
                raise _Corrupt(f"checksum mismatch at offset {self._buf_off + off}")
            try:
                rec = self._codec.decode(rtype, payload) if rtype in (SERIES, SAMPLES) else None
            except (zstandard.ZstdError, ValueError, struct.error, UnicodeDecodeError) as e:
                raise _Corrupt(f"undecodable record at offset {self._buf_off + off}: {e}") from e
            off = end
            progressed = True
            kind = _KINDS.get(rtype, "unknown")
            self.records_by_type[kind] = self.records_by_type.get(kind, 0) + 1
            file_end = self._buf_off + end
            if isinstance(rec, SeriesRecord):
                refs = rec.refs.tolist()
                for r, ls in zip(refs, rec.labels, strict=True):
                    self.series[r] = self._share(ls)
                res.series_refs.extend(refs)
            elif isinstance(rec, SamplesRecord) and file_end > self._skip_to and len(rec.refs):
                n = len(rec.refs)
                ts = rec.timestamps
                if len(ts) != n:  # one shared timestamp (a scrape)
                    ts = np.full(n, int(ts[0]), dtype=np.int64)
                res.chunks.append(
                    SamplesChunk(rec.refs, ts, rec.values, Position(self._segment, file_end))
                )
                res.samples += n
        self._buf = buf[off:]
        self._buf_off += off
        return progressed
