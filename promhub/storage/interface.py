"""The storage seam: how samples go in (Appender) and come out (Querier).

Everything that writes (scrape, push, rules) talks to an :class:`Appendable`; everything
that reads (PromQL, the API, ``tsdb dump``) talks to a :class:`Queryable`. The embedded TSDB,
remote storage and the fanout between them all implement these two protocols.

Contract (see DESIGN.md):
- timestamps are int64 milliseconds since the epoch, values float64;
- a series is identified by its sorted :class:`~promhub.model.labels.Labels`; inside a
  storage by a dense integer *ref* handed out by :meth:`Appender.ref`;
- samples move as NumPy arrays, never one Python object per sample;
- a sample may carry a *start timestamp* (ST, OpenMetrics' "created" time, OTel's start
  time): when the counter it belongs to started counting. As in Prometheus, 0 means "no
  start timestamp" (:data:`NO_START_TIMESTAMP`); start timestamps are optional everywhere
  and cost nothing when absent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from promhub.model.labels import Labels
from promhub.model.matcher import Matcher

Refs = NDArray[np.int64]
Timestamps = NDArray[np.int64]
Values = NDArray[np.float64]

#: The smallest and largest timestamps a query range may use.
MIN_TIME = -(2**63)
MAX_TIME = 2**63 - 1
#: The start timestamp of a sample that has none (Prometheus' convention: ST == 0 is unset).
NO_START_TIMESTAMP = 0


class StorageError(Exception):
    """Base class of storage errors."""


class OutOfOrderSampleError(StorageError):
    """A sample is older than the newest sample of its series."""


class DuplicateSampleError(StorageError):
    """A sample has the timestamp of the newest sample of its series but another value."""


class TooOldSampleError(StorageError):
    """A sample is older than what the head still accepts (already in a block)."""


class StorageFullError(StorageError):
    """The data directory cannot be written (full disk, no permission); nothing was stored."""


@dataclass(slots=True)
class AppendResult:
    """What a commit did. Rejected samples are counted, never silently reordered."""

    appended: int = 0
    out_of_order: int = 0
    duplicate: int = 0
    too_old: int = 0
    #: Refs of series that received their first sample in this commit.
    new_series: int = 0


@dataclass(frozen=True, slots=True)
class Series:
    """One series' samples in a time range, ascending by timestamp."""

    labels: Labels
    timestamps: Timestamps
    values: Values
    #: Start timestamps aligned with ``timestamps`` (:data:`NO_START_TIMESTAMP` where a
    #: sample has none), or None when no sample of the series in the range has one.
    start_timestamps: Timestamps | None = None


@dataclass(frozen=True, slots=True)
class SeriesBatch:
    """Many series' samples at once, concatenated (CSR): what a bulk select returns.

    Series ``i`` has ``labels[i]`` and the samples ``timestamps[offsets[i]:offsets[i+1]]``
    (ascending) with the values at the same positions; series are sorted by labels and
    each has at least one sample. One object for N series instead of N :class:`Series`
    keeps selecting tens of thousands of series cheap.
    """

    labels: list[Labels]
    offsets: Timestamps  # [N + 1], offsets[0] == 0
    timestamps: Timestamps
    values: Values
    #: Start timestamps aligned with ``timestamps`` (0 = none), or None when none has one.
    start_timestamps: Timestamps | None = None


@dataclass(frozen=True, slots=True)
class Metadata:
    """Metric metadata as Prometheus keeps it per metric family."""

    type: str = (
        "unknown"  # counter, gauge, histogram, summary, info, stateset, gaugehistogram, unknown
    )
    help: str = ""
    unit: str = ""


class Appender(Protocol):
    """A batch of appends, made visible and durable together by :meth:`commit`."""

    def ref(self, labels: Labels) -> int:
        """The ref of the series with these labels, creating the series if it is new.

        Labels must be valid (a metric name, no empty values, no duplicate names).
        """
        ...

    def append(
        self,
        refs: Refs,
        timestamps: Timestamps,
        values: Values,
        start_timestamps: Timestamps | None = None,
    ) -> None:
        """Queue samples; ``timestamps`` may be a length-1 array shared by all refs.

        ``start_timestamps``, if given, is aligned with ``refs`` (one per sample, or length 1
        shared by all); :data:`NO_START_TIMESTAMP` (0) marks a sample without one.
        """
        ...

    def commit(self) -> AppendResult:
        """Write the queued samples to the WAL and make them queryable.

        When this returns, every accepted sample is in the WAL (written to the OS, so it
        survives ``kill -9``). Raises :class:`StorageFullError` if the WAL cannot be
        written, in which case nothing of the batch is visible.
        """
        ...

    def rollback(self) -> None:
        """Drop the queued samples."""
        ...


class Appendable(Protocol):
    def appender(self) -> Appender: ...


class Querier(Protocol):
    """Reads a fixed time range ``[mint, maxt]`` (inclusive, milliseconds)."""

    def select(self, matchers: Sequence[Matcher]) -> list[Series]:
        """Series matching all matchers with their samples in the range, sorted by labels.

        Series without samples in the range are omitted.
        """
        ...

    def series(self, matchers: Sequence[Matcher]) -> list[Labels]:
        """Label sets of the matching series that have samples in the range, sorted."""
        ...

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]: ...

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]: ...

    def close(self) -> None: ...


class BatchQuerier(Querier, Protocol):
    """A :class:`Querier` that can also return a selection as one :class:`SeriesBatch`.

    Optional: readers check for ``select_batch`` and fall back to :meth:`Querier.select`.
    """

    def select_batch(self, matchers: Sequence[Matcher]) -> SeriesBatch:
        """The same series and samples as :meth:`Querier.select`, in CSR form."""
        ...


class Queryable(Protocol):
    def querier(self, mint: int, maxt: int) -> Querier: ...


@dataclass(slots=True)
class MetadataStore:
    """Latest metadata per (job, instance, metric family), fed by scrapes."""

    by_target: dict[tuple[str, str], dict[str, Metadata]] = field(default_factory=dict)


def empty_refs() -> Refs:
    return np.empty(0, dtype=np.int64)
