"""In-memory exemplar storage: Prometheus' ``CircularExemplarStorage``.

Enabled with ``--enable-feature=exemplar-storage`` and sized by the configuration's
``storage: {exemplars: {max_exemplars: N}}`` (default 100000; 0 stores nothing)::

    store = ExemplarStorage(100_000)
    store.append([series_labels], [exemplar_labels], np.array([0.5]),
                 np.array([ts_ms]), np.array([True]))
    store.select(mint, maxt, [[Matcher.new("=", "__name__", "rpc_seconds_bucket")]])

One fixed-size ring holds every exemplar of every series, oldest overwritten first. The
ring is a set of NumPy columns (value, timestamp, has-own-timestamp, the ring position of
the same series' next exemplar) plus the exemplar label sets; each series has an index
entry pointing at its oldest and newest exemplar, so a series' exemplars form a chain
through the ring and a query walks only the chains of the series it matches. This is the
layout Prometheus uses; as there, nothing is written to disk by this module, so exemplars
do not survive a restart of promhub (Prometheus replays the exemplars of its WAL; promhub's
WAL has no exemplar records).

Appending follows Prometheus' rules: an exemplar equal to the newest one of its series is a
duplicate and silently dropped (an exporter repeats its last exemplar on every scrape;
the timestamp only counts when one of the two carried its own); one older than the newest
one of its series is out of order, rejected and counted; label sets longer than 128 runes
in total are rejected.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from promhub.model.labels import Labels
from promhub.model.matcher import Matcher

__all__ = [
    "DEFAULT_MAX_EXEMPLARS",
    "MAX_LABEL_SET_LENGTH",
    "AppendOutcome",
    "ExemplarCollector",
    "ExemplarSeries",
    "ExemplarStorage",
]

#: ``max_exemplars`` when the configuration does not set it (Prometheus' default).
DEFAULT_MAX_EXEMPLARS = 100_000
#: OpenMetrics' limit on an exemplar's label names and values together, in code points.
MAX_LABEL_SET_LENGTH = 128

_NONE = -1  # no ring position: end of a chain, or an empty slot's series


@dataclass(slots=True)
class _Chain:
    """A series' index entry: ring positions of its oldest and newest exemplar."""

    labels: Labels
    oldest: int
    newest: int


@dataclass(frozen=True, slots=True)
class ExemplarSeries:
    """The exemplars of one series in a queried time range, oldest first."""

    series_labels: Labels
    labels: list[Labels]
    values: NDArray[np.float64]
    timestamps: NDArray[np.int64]  # milliseconds


@dataclass(slots=True)
class AppendOutcome:
    """What :meth:`ExemplarStorage.append` did with a batch."""

    appended: int = 0
    duplicate: int = 0  # equal to the newest exemplar of the series: dropped, not an error
    out_of_order: int = 0
    too_long: int = 0  # label set over MAX_LABEL_SET_LENGTH runes


class ExemplarStorage:
    """A fixed-size ring of exemplars with per-series chains. Thread-safe.

    ``max_exemplars`` <= 0 makes an empty storage that accepts nothing (but can be grown
    later with :meth:`resize`, as on a configuration reload).
    """

    def __init__(self, max_exemplars: int = DEFAULT_MAX_EXEMPLARS) -> None:
        self._lock = threading.Lock()
        self._appended_total = 0
        self._out_of_order_total = 0
        self._allocate(max(0, max_exemplars))

    def _allocate(self, n: int) -> None:
        self._values = np.zeros(n, dtype=np.float64)
        self._ts = np.zeros(n, dtype=np.int64)
        self._has_ts = np.zeros(n, dtype=np.bool_)
        self._next = np.full(n, _NONE, dtype=np.int64)
        self._labels: list[Labels] = [Labels()] * n
        #: The series chain each ring position belongs to; None while never written.
        self._owner: list[_Chain | None] = [None] * n
        self._index: dict[Labels, _Chain] = {}
        self._next_index = 0

    # -- properties ---------------------------------------------------------------------

    @property
    def max_exemplars(self) -> int:
        """The ring's capacity."""
        return len(self._values)

    @property
    def enabled(self) -> bool:
        """Whether appending can store anything (a capacity above zero)."""
        return len(self._values) > 0

    def __len__(self) -> int:
        """Exemplars currently stored."""
        with self._lock:
            return self._stored()

    def _stored(self) -> int:
        n = len(self._owner)
        if n == 0:
            return 0
        return n if self._owner[self._next_index] is not None else self._next_index

    @property
    def num_series(self) -> int:
        """Series with at least one exemplar stored."""
        return len(self._index)

    # -- appending ----------------------------------------------------------------------

    def append(
        self,
        series: Sequence[Labels],
        labels: Sequence[Labels],
        values: NDArray[np.float64],
        timestamps: NDArray[np.int64],
        has_ts: NDArray[np.bool_],
    ) -> AppendOutcome:
        """Add one exemplar per element, in order (oldest first within a series).

        ``series`` are the label sets of the series the exemplars belong to, ``labels``
        the exemplars' own label sets; ``timestamps`` are milliseconds (the scrape's time
        where the exemplar carried none, which ``has_ts`` records: it matters for
        duplicate detection).
        """
        out = AppendOutcome()
        if not self.enabled or not len(series):
            return out
        vals = values.tolist()
        tss = timestamps.tolist()
        own = has_ts.tolist()
        with self._lock:
            for s, lb, v, t, h in zip(series, labels, vals, tss, own, strict=True):
                if sum(len(k) + len(x) for k, x in lb) > MAX_LABEL_SET_LENGTH:
                    out.too_long += 1
                    continue
                chain = self._index.get(s)
                if chain is not None:
                    i = chain.newest
                    same_ts = not (h or self._has_ts[i]) or self._ts[i] == t
                    if same_ts and self._values[i] == v and self._labels[i] == lb:
                        out.duplicate += 1
                        continue
                    nt = int(self._ts[i])
                    nv = float(self._values[i])
                    # Equal timestamps are fine for different exemplars (native histogram
                    # buckets share one); an order on value then labels rejects repeats.
                    if t < nt or (t == nt and (v < nv or (v == nv and lb < self._labels[i]))):
                        out.out_of_order += 1
                        continue
                self._put(s, chain, lb, v, t, h)
                out.appended += 1
            self._appended_total += out.appended
            self._out_of_order_total += out.out_of_order
        return out

    def _put(
        self, series: Labels, chain: _Chain | None, labels: Labels, v: float, t: int, h: bool
    ) -> None:
        """Write at the ring's next position, unlinking the exemplar overwritten there."""
        pos = self._next_index
        victim = self._owner[pos]
        if victim is not None:
            after = int(self._next[pos])
            if after == _NONE:
                del self._index[victim.labels]  # its last exemplar: the series leaves
                if victim is chain:
                    chain = None
            else:
                victim.oldest = after
        if chain is None:
            chain = _Chain(series, pos, pos)
            self._index[series] = chain
        else:
            self._next[chain.newest] = pos
            chain.newest = pos
        self._values[pos] = v
        self._ts[pos] = t
        self._has_ts[pos] = h
        self._next[pos] = _NONE
        self._labels[pos] = labels
        self._owner[pos] = chain
        self._next_index = (pos + 1) % len(self._owner)

    # -- querying -----------------------------------------------------------------------

    def select(
        self, mint: int, maxt: int, matcher_sets: Sequence[Sequence[Matcher]]
    ) -> list[ExemplarSeries]:
        """Exemplars in ``[mint, maxt]`` (ms) of series matching any of the matcher sets.

        Series come sorted by their labels, each with its exemplars oldest first; series
        with none in the range are left out (Prometheus' ``Select``).
        """
        out: list[ExemplarSeries] = []
        with self._lock:
            if not self.enabled:
                return out
            ts, nxt = self._ts, self._next
            for chain in self._index.values():
                if ts[chain.oldest] > maxt or ts[chain.newest] < mint:
                    continue
                if not any(_matches(ms, chain.labels) for ms in matcher_sets):
                    continue
                positions = []
                i = chain.oldest
                while i != _NONE and ts[i] <= maxt:
                    positions.append(i)
                    i = int(nxt[i])
                pos = np.array(positions, dtype=np.intp)
                pos = pos[ts[pos] >= mint]
                if len(pos):
                    out.append(
                        ExemplarSeries(
                            chain.labels,
                            [self._labels[p] for p in pos.tolist()],
                            self._values[pos],
                            ts[pos],
                        )
                    )
        out.sort(key=lambda e: e.series_labels)
        return out

    # -- sizing -------------------------------------------------------------------------

    def resize(self, max_exemplars: int) -> int:
        """Change the capacity, keeping the newest exemplars that fit; returns how many.

        As Prometheus on a configuration reload: a negative size counts as 0, an unchanged
        one is a no-op, and shrinking drops the oldest exemplars (in order of appending).
        """
        n = max(0, max_exemplars)
        with self._lock:
            if n == len(self._owner):
                return 0
            old_n = len(self._owner)
            count = min(self._stored(), n)
            start = (self._next_index - count) % old_n if old_n else 0
            order = [(start + k) % old_n for k in range(count)]
            old = (self._values, self._ts, self._has_ts, self._labels, self._owner)
            self._allocate(n)
            values, ts, has_ts, labels, owner = old
            for p in order:
                ch = owner[p]
                assert ch is not None
                self._put(ch.labels, self._index.get(ch.labels), labels[p], 0.0, 0, False)
            if count:
                idx = np.array(order, dtype=np.intp)
                self._values[:count] = values[idx]
                self._ts[:count] = ts[idx]
                self._has_ts[:count] = has_ts[idx]
            return count

    # -- metrics ------------------------------------------------------------------------

    def collector(self) -> ExemplarCollector:
        """A prometheus_client collector of Prometheus' ``prometheus_tsdb_exemplar_*``."""
        return ExemplarCollector(self)

    def _gauges(self) -> tuple[int, int, float, int, int, int]:
        with self._lock:
            stored = self._stored()
            oldest_ts = 0.0
            if stored:
                # The ring position written next holds the oldest exemplar once full.
                first = self._next_index if stored == len(self._owner) else 0
                oldest_ts = float(self._ts[first]) / 1000
            return (
                stored,
                len(self._index),
                oldest_ts,
                len(self._owner),
                self._appended_total,
                self._out_of_order_total,
            )


def _matches(matchers: Sequence[Matcher], labels: Labels) -> bool:
    return all(m.matches(labels.get(m.name)) for m in matchers)


class ExemplarCollector:
    """Exposes an :class:`ExemplarStorage`'s state under Prometheus' metric names."""

    def __init__(self, storage: ExemplarStorage) -> None:
        self._storage = storage

    def describe(self) -> Iterator[Metric]:
        return iter(())  # computed at collection time; nothing to check up front

    def collect(self) -> Iterator[Metric]:
        stored, series, oldest, cap, appended, ooo = self._storage._gauges()
        yield CounterMetricFamily(
            "prometheus_tsdb_exemplar_exemplars_appended",
            "Total number of appended exemplars.",
            value=appended,
        )
        yield GaugeMetricFamily(
            "prometheus_tsdb_exemplar_exemplars_in_storage",
            "Number of exemplars currently in circular storage.",
            value=stored,
        )
        yield GaugeMetricFamily(
            "prometheus_tsdb_exemplar_series_with_exemplars_in_storage",
            "Number of series with exemplars currently in circular storage.",
            value=series,
        )
        yield GaugeMetricFamily(
            "prometheus_tsdb_exemplar_last_exemplars_timestamp_seconds",
            "The timestamp of the oldest exemplar stored in circular storage. Useful to check "
            "for what time range the current exemplar buffer limit allows. This usually means "
            "the last timestamp for all exemplars for a typical setup. This is not true though "
            "if one of the series timestamp is in future compared to rest series.",
            value=oldest,
        )
        yield CounterMetricFamily(
            "prometheus_tsdb_exemplar_out_of_order_exemplars",
            "Total number of out of order exemplar ingestion failed attempts.",
            value=ooo,
        )
        yield GaugeMetricFamily(
            "prometheus_tsdb_exemplar_max_exemplars",
            "Total number of exemplars the exemplar storage can store, resizeable.",
            value=cap,
        )
