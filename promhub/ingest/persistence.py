"""Keeping pushed groups across restarts (Pushgateway's ``--persistence.file``, made crash-safe).

Two files under ``<storage.tsdb.path>/pushgateway/``:

- ``groups.json``, a snapshot of every group, written to a temporary file, fsynced and
  renamed over the old one, so that a crash leaves the old or the new snapshot, never a
  torn one. Values are written with ``repr`` so that every float (NaN and ±Inf included)
  reads back exactly.
- ``journal.<n>``, every change since that snapshot (pushes with their raw bodies,
  deletes, wipes, expiries), appended with one unbuffered write *before* the client gets
  its answer. Like the TSDB's WAL it is written to the OS, not fsynced: an acknowledged
  push survives ``kill -9`` of promhub (not a power cut). The snapshot names the journal
  that continues it; taking a snapshot starts the next journal and deletes the old ones.

On start the snapshot is loaded and the journals from its number on are replayed through
the same push logic (a torn last record is ignored). Pushgateway itself only writes its
file every ``--persistence.interval`` (5 m), losing what came in since on a crash.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from promhub.ingest.pushgateway import Family, Group, GroupKey, GroupStore, PushError, PushLimits
from promhub.model.labels import Labels

__all__ = ["FILE_NAME", "Journal", "load_groups", "save_groups"]

log = logging.getLogger("promhub.pushgateway")

FILE_NAME = "groups.json"
_FORMAT = 1
_JOURNAL = re.compile(r"journal\.(\d+)\Z")
_RECORD = struct.Struct("<4sII")  # magic, header length, body length
_MAGIC = b"PHJ1"


class Journal:
    """The append-only log of changes since the last snapshot (see the module doc)."""

    def __init__(self, directory: Path, seq: int) -> None:
        self.dir = directory
        self.seq = seq
        directory.mkdir(parents=True, exist_ok=True)
        self._f: BinaryIO = open(self._path(seq), "ab", buffering=0)  # noqa: SIM115
        #: Bytes in the current journal file.
        self.bytes = self._f.tell()

    def _path(self, seq: int) -> Path:
        return self.dir / f"journal.{seq}"

    def __call__(self, rec: dict[str, Any], body: bytes) -> None:
        """Append one record (the store calls this under its lock)."""
        header = json.dumps(rec, separators=(",", ":")).encode()
        # One write() per record: a reader never sees a record half-written unless the
        # process died inside the call, and then only as a torn tail.
        rec_bytes = _RECORD.pack(_MAGIC, len(header), len(body)) + header + body
        self._f.write(rec_bytes)
        self.bytes += len(rec_bytes)

    def rotate(self) -> int:
        """Continue in the next journal file; returns its number."""
        self._f.close()
        self.seq += 1
        self._f = open(self._path(self.seq), "ab", buffering=0)  # noqa: SIM115
        self.bytes = self._f.tell()
        return self.seq

    def drop_before(self, seq: int) -> None:
        """Delete the journals a snapshot made obsolete."""
        for n, path in _journals(self.dir):
            if n < seq:
                with contextlib.suppress(OSError):
                    path.unlink()

    def close(self) -> None:
        self._f.close()


def _journals(directory: Path) -> list[tuple[int, Path]]:
    out = []
    for p in directory.glob("journal.*"):
        m = _JOURNAL.match(p.name)
        if m:
            out.append((int(m.group(1)), p))
    return sorted(out)


def _records(path: Path) -> list[tuple[dict[str, Any], bytes]]:
    data = path.read_bytes()
    out = []
    pos = 0
    while pos + _RECORD.size <= len(data):
        magic, hlen, blen = _RECORD.unpack_from(data, pos)
        end = pos + _RECORD.size + hlen + blen
        if magic != _MAGIC or end > len(data):
            break
        start = pos + _RECORD.size
        try:
            rec = json.loads(data[start : start + hlen])
        except ValueError:
            break
        out.append((rec, data[start + hlen : end]))
        pos = end
    if pos != len(data):
        log.warning("%s: ignoring a torn record at byte %d", path, pos)
    return out


def _group_doc(g: Group) -> dict[str, Any]:
    table = g.table
    return {
        "key": [list(p) for p in g.key],
        "ttl": g.ttl,
        "families": [
            {
                "name": f.name,
                "type": f.type,
                "help": f.help,
                "time_ns": f.time_ns,
                "series": [list(table[i]) for i in f.idx.tolist()],
                "values": [repr(v) for v in f.values.tolist()],
                "implicit_inf": f.implicit_inf,
            }
            for f in g.families.values()
        ],
    }


def snapshot(store: GroupStore, journal_seq: int = 0) -> bytes:
    """The store as the bytes :func:`save_groups` writes (taken under the store's lock)."""
    with store.lock:
        doc = {
            "format": _FORMAT,
            "journal": journal_seq,
            "groups": [_group_doc(g) for g in store.groups()],
        }
    return json.dumps(doc, separators=(",", ":")).encode()


def save_groups(store: GroupStore, directory: Path, journal: Journal | None = None) -> int:
    """Write the store atomically to ``directory/groups.json``; returns its size.

    With a ``journal``, the snapshot and the switch to a new journal happen under the
    store's lock, so that the new journal holds exactly the changes after the snapshot.
    """
    with store.lock:
        seq = journal.rotate() if journal is not None else 0
        data = snapshot(store, seq)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE_NAME
    tmp = directory / (FILE_NAME + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    if journal is not None:
        journal.drop_before(seq)
    return len(data)


def load_groups(store: GroupStore, directory: Path) -> tuple[int, int]:
    """Read the snapshot and replay the journals into the store.

    Returns (groups restored, the number the next journal should have). A missing
    snapshot is an empty store; an unreadable one is logged and set aside (renamed
    ``groups.json.corrupt``) so that promhub starts, as Pushgateway does.
    """
    path = directory / FILE_NAME
    seq = 0
    try:
        doc = json.loads(path.read_bytes())
        groups = [_group(g) for g in doc["groups"]]
        seq = int(doc.get("journal", 0))
    except FileNotFoundError:
        groups = []
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.error("cannot read pushed groups from %s, starting empty: %s", path, e)
        with contextlib.suppress(OSError):
            os.replace(path, directory / (FILE_NAME + ".corrupt"))
        groups = []
    for g in groups:
        store.restore(g)
    last = seq
    if directory.is_dir():
        limits, store.limits = store.limits, PushLimits()  # replay what was accepted then
        try:
            for n, jpath in _journals(directory):
                if n >= seq:
                    last = max(last, n)
                    for rec, body in _records(jpath):
                        _replay(store, rec, body)
        finally:
            store.limits = limits
    return len(store), last + 1


def _replay(store: GroupStore, rec: dict[str, Any], body: bytes) -> None:
    op = rec.get("op")
    if op == "push":
        with contextlib.suppress(PushError):  # a push that failed then fails again
            store.push(rec["g"], body, rec["ct"], replace=rec["r"], ttl=rec["ttl"], now=rec["t"])
    elif op == "delete":
        store.delete(rec["g"])
    elif op == "wipe":
        store.wipe()


def _group(doc: dict[str, Any]) -> Group:
    key: GroupKey = tuple(sorted((str(k), str(v)) for k, v in doc["key"]))
    g = Group(key, ttl=float(doc.get("ttl", 0.0)))
    for fd in doc["families"]:
        idx = np.array(
            [g.resolve(Labels((str(k), str(v)) for k, v in s)) for s in fd["series"]],
            dtype=np.int64,
        )
        values = np.array([float(v) for v in fd["values"]], dtype=np.float64)
        if len(values) != len(idx):
            raise ValueError(f"family {fd['name']!r}: {len(idx)} series but {len(values)} values")
        g.families[fd["name"]] = Family(
            str(fd["name"]),
            str(fd["type"]),
            str(fd["help"]),
            int(fd["time_ns"]),
            idx,
            values,
            bool(fd.get("implicit_inf", False)),
        )
    return g
