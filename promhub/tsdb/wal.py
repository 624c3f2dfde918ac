"""The write-ahead log: every committed series and sample, durable before it is visible.

Layout (mirrors Prometheus' ``wlog``)::

    <data>/wal/00000001 00000002 ...      segments, appended to, rotated at ``segment_size``
    <data>/wal/checkpoint.00000002        series + head samples of segments <= 2

A record is ``u32 length | u32 crc32(type + payload) | u8 type | payload``:

- ``SERIES``: ``u32 n | i64 refs[n] | u16 label_counts[n] | zstd(names and values joined
  by 0xFF)`` (UTF-8 never contains 0xFF, so the separator is unambiguous);
- ``SAMPLES``: ``u32 n | u8 flags | i64 t0 | zstd(body)``. The body holds the refs as
  deltas (int32 when they fit), the timestamps once when all are equal (a scrape) or as
  deltas, and the values XOR'd against the previous value of the same ref in the same
  segment, byte-transposed so that zstd sees the zero bytes of unchanged values together.
  With flag ``_F_START_TS`` the body ends with the samples' start timestamps (0 = none) as
  byte-transposed deltas; records without start timestamps (and WALs written before the
  flag existed) carry no such section and cost nothing extra.
- ``TOMBSTONES``: ``u32 n | i64 refs[n] | i64 mint[n] | i64 maxt[n]``, deleted inclusive
  intervals (see :mod:`promhub.tsdb.tombstones`). WALs written before deletion existed
  have none and replay unchanged; a promhub from before then stops replay at the first
  one as at an unknown record, so do not downgrade a data directory after a delete.

A commit is one ``write()`` of all its records to an ``O_APPEND`` descriptor, so after
``kill -9`` it is either wholly in the file or torn at the end; replay truncates a torn or
corrupt tail with a warning instead of failing. Segments are fsynced when they are
rotated and on close.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import stat
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zstandard
from numpy.typing import NDArray

from promhub.model.labels import Labels
from promhub.storage.interface import StorageFullError

log = logging.getLogger(__name__)

SERIES = 1
SAMPLES = 2
TOMBSTONES = 3

_HEADER = struct.Struct("<IIB")
_SAMPLES_HEAD = struct.Struct("<IBq")
_F_SHARED_TS = 1
_F_REFS32 = 2
_F_START_TS = 4
_KNOWN_FLAGS = _F_SHARED_TS | _F_REFS32 | _F_START_TS
_SEGMENT_RE = re.compile(r"^\d{8}$")
_CHECKPOINT_RE = re.compile(r"^checkpoint\.(\d{8})$")
DEFAULT_SEGMENT_SIZE = 128 * 1024 * 1024
_SEP = b"\xff"


class WALCorruptionError(Exception):
    """A record failed its length or checksum test (internal to replay)."""


@dataclass(slots=True)
class SeriesRecord:
    refs: NDArray[np.int64]
    labels: list[Labels]


@dataclass(slots=True)
class SamplesRecord:
    refs: NDArray[np.int64]
    #: Length 1 when every sample of the record shares one timestamp.
    timestamps: NDArray[np.int64]
    values: NDArray[np.float64]
    #: Per-sample start timestamps (0 = none), or None when the record carries none.
    start_timestamps: NDArray[np.int64] | None = None


@dataclass(slots=True)
class TombstonesRecord:
    """Samples of series ``refs[i]`` in ``[mints[i], maxts[i]]`` (inclusive) are deleted."""

    refs: NDArray[np.int64]
    mints: NDArray[np.int64]
    maxts: NDArray[np.int64]


Record = SeriesRecord | SamplesRecord | TombstonesRecord


def _shuffle(a: NDArray[np.uint64]) -> bytes:
    """Byte-transpose 8-byte words: byte 0 of every word, then byte 1, ..."""
    return a.view(np.uint8).reshape(-1, 8).T.tobytes()


def _unshuffle(b: bytes, n: int) -> NDArray[np.uint64]:
    planes = np.frombuffer(b, dtype=np.uint8, count=8 * n).reshape(8, n)
    return np.ascontiguousarray(planes.T).view(np.uint64).reshape(n)


class RecordCodec:
    """Encodes and decodes records; keeps the per-ref previous value of one segment."""

    def __init__(self) -> None:
        self._prev = np.zeros(1024, dtype=np.uint64)
        self._cctx = zstandard.ZstdCompressor(level=1)
        self._dctx = zstandard.ZstdDecompressor()

    def reset(self) -> None:
        """Start a new segment: XOR state begins from zero again."""
        self._prev[:] = 0

    def _grow(self, max_ref: int) -> None:
        if max_ref >= len(self._prev):
            new = np.zeros(max(max_ref + 1, 2 * len(self._prev)), dtype=np.uint64)
            new[: len(self._prev)] = self._prev
            self._prev = new

    @staticmethod
    def _frame(rtype: int, payload: bytes) -> bytes:
        crc = zlib.crc32(payload, zlib.crc32(bytes((rtype,))))
        return _HEADER.pack(len(payload), crc, rtype) + payload

    def encode_series(self, refs: Sequence[int], labels: Sequence[Labels]) -> bytes:
        n = len(refs)
        counts = np.fromiter((len(ls) for ls in labels), dtype=np.uint16, count=n)
        text = _SEP.join(s.encode() for ls in labels for pair in ls for s in pair)
        payload = (
            struct.pack("<I", n)
            + np.asarray(refs, dtype=np.int64).tobytes()
            + counts.tobytes()
            + self._cctx.compress(text)
        )
        return self._frame(SERIES, payload)

    def encode_samples(
        self,
        refs: NDArray[np.int64],
        ts: NDArray[np.int64],
        vals: NDArray[np.float64],
        sts: NDArray[np.int64] | None = None,
    ) -> tuple[bytes, NDArray[np.int64], NDArray[np.uint64]]:
        """Encode a SAMPLES record; returns it with the state update for :meth:`advance`.

        ``sts`` (start timestamps aligned with ``refs``, 0 = none) adds the ST section.

        The XOR state is only advanced once the record is durably written, so that a
        failed write leaves the codec consistent with the file.
        """
        n = len(refs)
        self._grow(int(refs.max()) if n else 0)
        bits = vals.view(np.uint64)
        flags = 0
        t0 = int(ts[0]) if len(ts) else 0
        parts: list[bytes] = []
        rd = np.diff(refs, prepend=np.int64(0))
        if n and int(rd.min()) >= -(2**31) and int(rd.max()) < 2**31:
            flags |= _F_REFS32
            parts.append(rd.astype(np.int32).tobytes())
        else:
            parts.append(rd.tobytes())
        if len(ts) == 1:
            flags |= _F_SHARED_TS
        else:
            parts.append(_shuffle(np.diff(ts, prepend=np.int64(t0)).view(np.uint64)))
        parts.append(_shuffle(bits ^ self._prev[refs]))
        if sts is not None:
            if len(sts) != n:
                raise ValueError(f"encode_samples: {n} samples but {len(sts)} start timestamps")
            flags |= _F_START_TS
            parts.append(_shuffle(np.diff(sts, prepend=np.int64(0)).view(np.uint64)))
        payload = _SAMPLES_HEAD.pack(n, flags, t0) + self._cctx.compress(b"".join(parts))
        # Last occurrence of each ref wins the state (a ref may repeat within a batch).
        rev_refs = refs[::-1]
        uniq, idx = np.unique(rev_refs, return_index=True)
        return self._frame(SAMPLES, payload), uniq, bits[::-1][idx]

    def advance(self, refs: NDArray[np.int64], bits: NDArray[np.uint64]) -> None:
        if len(refs):
            self._grow(int(refs[-1]))
            self._prev[refs] = bits

    def encode_tombstones(
        self, refs: NDArray[np.int64], mints: NDArray[np.int64], maxts: NDArray[np.int64]
    ) -> bytes:
        """Encode a TOMBSTONES record (no codec state involved)."""
        n = len(refs)
        if len(mints) != n or len(maxts) != n:
            raise ValueError(f"encode_tombstones: {n} refs, {len(mints)} mints, {len(maxts)} maxts")
        payload = struct.pack("<I", n) + b"".join(
            np.asarray(a, dtype="<i8").tobytes() for a in (refs, mints, maxts)
        )
        return self._frame(TOMBSTONES, payload)

    def decode(self, rtype: int, payload: bytes) -> Record:
        if rtype == SERIES:
            (n,) = struct.unpack_from("<I", payload)
            off = 4
            refs = np.frombuffer(payload, dtype=np.int64, count=n, offset=off).copy()
            off += 8 * n
            counts = np.frombuffer(payload, dtype=np.uint16, count=n, offset=off)
            off += 2 * n
            text = self._dctx.decompress(payload[off:])
            strs = [s.decode() for s in text.split(_SEP)] if n else []
            labels: list[Labels] = []
            i = 0
            for c in counts.tolist():
                pairs = tuple((strs[i + 2 * k], strs[i + 2 * k + 1]) for k in range(c))
                labels.append(Labels(pairs))
                i += 2 * c
            return SeriesRecord(refs, labels)
        if rtype == SAMPLES:
            n, flags, t0 = _SAMPLES_HEAD.unpack_from(payload)
            if flags & ~_KNOWN_FLAGS:
                raise WALCorruptionError(f"unknown samples record flags {flags:#x}")
            body = self._dctx.decompress(payload[_SAMPLES_HEAD.size :])
            off = 0
            if flags & _F_REFS32:
                rd = np.frombuffer(body, dtype=np.int32, count=n).astype(np.int64)
                off = 4 * n
            else:
                rd = np.frombuffer(body, dtype=np.int64, count=n)
                off = 8 * n
            refs = np.cumsum(rd, dtype=np.int64)
            if flags & _F_SHARED_TS:
                ts = np.array([t0], dtype=np.int64)
            else:
                d = _unshuffle(body[off : off + 8 * n], n).view(np.int64)
                ts = t0 + np.cumsum(d, dtype=np.int64)
                off += 8 * n
            x = _unshuffle(body[off : off + 8 * n], n)
            off += 8 * n
            sts: NDArray[np.int64] | None = None
            if flags & _F_START_TS:
                sts = np.cumsum(_unshuffle(body[off : off + 8 * n], n).view(np.int64))
                off += 8 * n
            if off != len(body):
                raise WALCorruptionError(f"samples record body has {len(body) - off} extra bytes")
            if n:
                self._grow(int(refs.max()))
            bits = x ^ self._prev[refs]
            uniq, idx = np.unique(refs[::-1], return_index=True)
            self._prev[uniq] = bits[::-1][idx]
            return SamplesRecord(refs, ts, bits.view(np.float64), sts)
        if rtype == TOMBSTONES:
            (n,) = struct.unpack_from("<I", payload)
            if len(payload) != 4 + 24 * n:
                raise WALCorruptionError(f"tombstones record of {len(payload)} bytes for {n} refs")
            cols = [
                np.frombuffer(payload, "<i8", n, 4 + 8 * n * k).astype(np.int64) for k in range(3)
            ]
            return TombstonesRecord(*cols)
        raise WALCorruptionError(f"unknown record type {rtype}")


def read_records(data: bytes, codec: RecordCodec) -> Iterator[tuple[int, Record]]:
    """Yield ``(end_offset, record)``; raises WALCorruptionError at the first bad record."""
    off = 0
    size = len(data)
    while off < size:
        if size - off < _HEADER.size:
            raise WALCorruptionError(f"torn record header at offset {off}")
        length, crc, rtype = _HEADER.unpack_from(data, off)
        start = off + _HEADER.size
        end = start + length
        if end > size:
            raise WALCorruptionError(f"torn record at offset {off}")
        payload = data[start:end]
        if zlib.crc32(payload, zlib.crc32(bytes((rtype,)))) != crc:
            raise WALCorruptionError(f"checksum mismatch in record at offset {off}")
        try:
            rec = codec.decode(rtype, payload)
        except (zstandard.ZstdError, ValueError, struct.error, UnicodeDecodeError) as e:
            raise WALCorruptionError(f"undecodable record at offset {off}: {e}") from e
        yield end, rec
        off = end


def _segment_name(n: int) -> str:
    return f"{n:08d}"


def list_segments(wal_dir: Path) -> list[int]:
    if not wal_dir.is_dir():
        return []
    return sorted(int(p.name) for p in wal_dir.iterdir() if _SEGMENT_RE.match(p.name))


def last_checkpoint(wal_dir: Path) -> tuple[int, Path] | None:
    if not wal_dir.is_dir():
        return None
    found = [
        (int(m.group(1)), p)
        for p in wal_dir.iterdir()
        if (m := _CHECKPOINT_RE.match(p.name)) and p.is_file()
    ]
    return max(found) if found else None


class WALReader:
    """Iterates the records of the last checkpoint, then of the segments after it.

    A corrupt or torn record ends the replay at that point: with ``repair`` the segment is
    truncated there and later segments are removed (their records could depend on the
    lost ones); without it (read-only tools) the rest is just ignored. Each corruption is
    logged and counted in :attr:`corruptions`.
    """

    def __init__(self, wal_dir: Path, *, repair: bool) -> None:
        self.dir = wal_dir
        self.repair = repair
        self.corruptions = 0
        self.records = 0

    def __iter__(self) -> Iterator[Record]:
        cp = last_checkpoint(self.dir)
        sources: list[tuple[Path, bool]] = []
        first_seg = 0
        if cp is not None:
            sources.append((cp[1], True))
            first_seg = cp[0] + 1
        sources += [
            (self.dir / _segment_name(n), False) for n in list_segments(self.dir) if n >= first_seg
        ]
        for i, (path, is_cp) in enumerate(sources):
            codec = RecordCodec()
            data = _read_regular(path)
            good = 0
            try:
                for end, rec in read_records(data, codec):
                    self.records += 1
                    yield rec
                    good = end
            except WALCorruptionError as e:
                self.corruptions += 1
                later = [] if is_cp else [p for p, _ in sources[i + 1 :]]
                log.warning(
                    "WAL corruption in %s: %s; dropping %d bytes after offset %d%s",
                    path,
                    e,
                    len(data) - good,
                    good,
                    f" and {len(later)} later segment(s)" if later else "",
                )
                if is_cp:
                    # A checkpoint is written atomically, so a bad one means the disk
                    # lied; the segments after it are still worth reading.
                    continue
                if self.repair:
                    with open(path, "r+b") as f:
                        f.truncate(good)
                    for p in later:
                        p.unlink(missing_ok=True)
                return


class WAL:
    """The writer side: append encoded records, rotate, checkpoint, truncate."""

    def __init__(self, wal_dir: Path, *, segment_size: int = DEFAULT_SEGMENT_SIZE) -> None:
        self.dir = wal_dir
        self.segment_size = segment_size
        self.codec = RecordCodec()
        self.truncations = 0
        self.truncations_failed = 0
        self.checkpoints = 0
        self.writes_failed = 0
        wal_dir.mkdir(parents=True, exist_ok=True)
        segs = list_segments(wal_dir)
        cp = last_checkpoint(wal_dir)
        # Always start a fresh segment: the XOR state of the old one is not rebuilt here.
        nxt = max([*segs, cp[0] if cp else 0]) + 1
        self._fd = -1
        self._open_segment(nxt)

    @property
    def segment(self) -> int:
        return self._segment

    def _open_segment(self, n: int) -> None:
        path = self.dir / _segment_name(n)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._segment = n
        self._offset = os.fstat(self._fd).st_size
        self.codec.reset()
        _fsync_dir(self.dir)

    def write(self, data: bytes) -> None:
        """Write records with one ``write()``; on failure undo and raise StorageFullError."""
        if self._offset + len(data) > self.segment_size and self._offset > 0:
            raise RuntimeError("rotate before writing past the segment size")
        view = memoryview(data)
        written = 0
        try:
            while written < len(data):
                written += os.write(self._fd, view[written:])
        except OSError as e:
            self.writes_failed += 1
            try:
                os.ftruncate(self._fd, self._offset)
            except OSError:
                log.error("cannot truncate WAL segment %s after a failed write", self._segment)
            raise StorageFullError(
                f"cannot write WAL segment {self.dir / _segment_name(self._segment)}: "
                f"{os.strerror(e.errno) if e.errno else e}"
            ) from e
        self._offset += len(data)

    def needs_rotation(self, incoming: int) -> bool:
        return self._offset > 0 and self._offset + incoming > self.segment_size

    def rotate(self) -> int:
        """Fsync and close the current segment, open the next; returns the closed one."""
        old = self._segment
        os.fsync(self._fd)
        os.close(self._fd)
        self._open_segment(old + 1)
        return old

    def sync(self) -> None:
        os.fsync(self._fd)

    def size_bytes(self) -> int:
        total = 0
        for p in self.dir.iterdir():
            with contextlib.suppress(FileNotFoundError):
                total += p.stat().st_size
        return total

    def write_checkpoint(self, upto: int, records: Iterator[bytes]) -> None:
        """Atomically write ``checkpoint.<upto>`` and drop segments and checkpoints <= upto."""
        self.truncations += 1
        tmp = self.dir / f"checkpoint.{upto:08d}.tmp"
        try:
            with open(tmp, "wb") as f:
                for rec in records:
                    f.write(rec)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.dir / f"checkpoint.{upto:08d}")
            _fsync_dir(self.dir)
        except OSError:
            self.truncations_failed += 1
            tmp.unlink(missing_ok=True)
            raise
        self.checkpoints += 1
        for n in list_segments(self.dir):
            if n <= upto:
                (self.dir / _segment_name(n)).unlink(missing_ok=True)
        for p in self.dir.iterdir():
            m = _CHECKPOINT_RE.match(p.name)
            if m and int(m.group(1)) < upto:
                p.unlink(missing_ok=True)

    def close(self) -> None:
        if self._fd >= 0:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = -1


def _read_regular(path: Path) -> bytes:
    """A segment's bytes; anything but a regular file (a device, a FIFO) reads as empty."""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            log.warning("WAL segment %s is not a regular file; ignoring its contents", path)
            return b""
        return f.read(st.st_size)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as e:  # some filesystems refuse directory fsync
        if e.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)
