"""The queue behind every :class:`~promhub.storage.interface.Appender`: appends are kept as
the caller's arrays and handed to the storage as one batch at commit.

The embedded TSDB's head and agent mode's WAL-only storage differ only in what a commit
does with the batch, so both appenders are this class over a :class:`BatchSink`.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from promhub.model.labels import Labels
from promhub.storage.interface import AppendResult, Refs, Timestamps, Values

__all__ = ["BatchSink", "QueuedAppender", "normalize_start_timestamps"]

_EMPTY_I = np.zeros(0, np.int64)
_EMPTY_F = np.zeros(0, np.float64)


class BatchSink(Protocol):
    """A storage that takes a whole batch of samples at once."""

    def ref(self, labels: Labels) -> int: ...

    def commit(
        self, refs: Refs, ts: Timestamps, vals: Values, *, sts: Timestamps | None = None
    ) -> AppendResult: ...


def normalize_start_timestamps(sts: Timestamps | None, n: int) -> Timestamps | None:
    """Start timestamps as an int64 array of length ``n``, or None if none is set."""
    if sts is None:
        return None
    sts = np.asarray(sts, dtype=np.int64)
    if len(sts) not in (1, n):
        raise ValueError(f"append: {n} samples but {len(sts)} start timestamps")
    if not sts.any():
        return None
    return np.broadcast_to(sts, (n,)).copy() if len(sts) != n else sts


class QueuedAppender:
    """An :class:`~promhub.storage.interface.Appender` that commits into a :class:`BatchSink`."""

    def __init__(self, sink: BatchSink) -> None:
        self._sink = sink
        self._refs: list[Refs] = []
        self._ts: list[Timestamps] = []
        self._vals: list[Values] = []
        self._sts: list[Timestamps | None] = []

    def ref(self, labels: Labels) -> int:
        return self._sink.ref(labels)

    def append(
        self,
        refs: Refs,
        timestamps: Timestamps,
        values: Values,
        start_timestamps: Timestamps | None = None,
    ) -> None:
        refs = np.asarray(refs, dtype=np.int64)
        timestamps = np.asarray(timestamps, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        if len(values) != len(refs) or len(timestamps) not in (1, len(refs)):
            raise ValueError(
                f"append: {len(refs)} refs, {len(timestamps)} timestamps and "
                f"{len(values)} values do not match"
            )
        self._refs.append(refs)
        self._ts.append(timestamps)
        self._vals.append(values)
        self._sts.append(normalize_start_timestamps(start_timestamps, len(refs)))

    def commit(self) -> AppendResult:
        refs, ts, vals, sts = self._refs, self._ts, self._vals, self._sts
        self.rollback()
        if not refs:
            return self._sink.commit(_EMPTY_I, np.zeros(1, np.int64), _EMPTY_F)
        if len(refs) == 1:
            return self._sink.commit(refs[0], ts[0], vals[0], sts=sts[0])
        full = [np.broadcast_to(t, r.shape) for t, r in zip(ts, refs, strict=True)]
        cat_ts = np.concatenate(full)
        # One shared timestamp (a scrape) keeps the WAL's compact "all equal" form.
        if len(cat_ts) and bool((cat_ts == cat_ts[0]).all()):
            cat_ts = cat_ts[:1]
        cat_sts = None
        if any(s is not None for s in sts):
            cat_sts = np.concatenate(
                [
                    np.zeros(len(r), np.int64) if s is None else s
                    for s, r in zip(sts, refs, strict=True)
                ]
            )
        return self._sink.commit(np.concatenate(refs), cat_ts, np.concatenate(vals), sts=cat_sts)

    def rollback(self) -> None:
        self._refs, self._ts, self._vals, self._sts = [], [], [], []
