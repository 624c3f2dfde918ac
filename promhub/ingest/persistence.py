"""Saving pushed groups across restarts (Pushgateway's ``--persistence.file``).

The groups are written as one JSON document to ``<storage.tsdb.path>/pushgateway/groups.json``:
to a temporary file first, fsynced, then renamed over the old one, so that a crash leaves
either the old or the new snapshot, never a torn one. Values are written with ``repr`` so
that every float (NaN and ±Inf included) reads back bit-exact enough for Prometheus'
purposes (NaN payloads aside).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from promhub.ingest.pushgateway import Family, Group, GroupKey, GroupStore
from promhub.model.labels import Labels

__all__ = ["FILE_NAME", "load_groups", "save_groups"]

log = logging.getLogger("promhub.pushgateway")

FILE_NAME = "groups.json"
_FORMAT = 1


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


def snapshot(store: GroupStore) -> bytes:
    """The store as the bytes :func:`save_groups` writes (taken under the store's lock)."""
    with store.lock:
        doc = {"format": _FORMAT, "groups": [_group_doc(g) for g in store.groups()]}
    return json.dumps(doc, separators=(",", ":")).encode()


def save_groups(store: GroupStore, directory: Path) -> None:
    """Write the store atomically to ``directory/groups.json``."""
    data = snapshot(store)
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


def load_groups(store: GroupStore, directory: Path) -> int:
    """Read ``directory/groups.json`` into the store; returns the number of groups.

    A missing file is an empty store; an unreadable one is logged and set aside (renamed
    ``groups.json.corrupt``) so that promhub starts, as Pushgateway does.
    """
    path = directory / FILE_NAME
    try:
        doc = json.loads(path.read_bytes())
        groups = [_group(g) for g in doc["groups"]]
    except FileNotFoundError:
        return 0
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.error("cannot read pushed groups from %s, starting empty: %s", path, e)
        with contextlib.suppress(OSError):
            os.replace(path, directory / (FILE_NAME + ".corrupt"))
        return 0
    for g in groups:
        store.restore(g)
    return len(groups)


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
