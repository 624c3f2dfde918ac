"""Fanout reads: local storage plus every ``remote_read`` endpoint, merged.

What Prometheus' ``storage/fanout.go`` and ``storage/remote/read.go`` do, in one place:

- each selector goes to local storage and, in parallel, to every remote whose
  ``required_matchers`` it contains (as equality matchers);
- with ``read_recent: false`` (the default) a remote is only asked for the part of the
  range before local storage's oldest sample, and not at all when local storage covers
  the whole range;
- with ``filter_external_labels: true`` (the default) the external labels are sent as
  equality matchers (except names the selector already constrains) and stripped from
  what comes back, so remote series line up with local ones;
- series with the same labels are merged; where local and remote both have a
  timestamp, local wins;
- a remote failure never fails the query: it becomes a warning and the query answers
  from what the other sources returned, as Prometheus treats secondary queriers.

Queries run in worker threads (``api.v1.blocking``); remote requests are handed to the
server's event loop, where the HTTP sessions live, and the worker waits for them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram

from promhub.config.model import Config, RemoteReadConfig
from promhub.model.labels import Labels
from promhub.model.matcher import Matcher, MatchType
from promhub.storage.interface import (
    Querier,
    Queryable,
    Series,
    SeriesBatch,
)
from promhub.storage.remote_read import (
    ReadQuery,
    RemoteReadClient,
    RemoteReadError,
    empty_batch,
)

__all__ = ["Fanout", "FanoutQuerier", "merge_batches"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Remote:
    cfg: RemoteReadConfig
    client: RemoteReadClient
    #: External labels to add as matchers and strip from results ({} when not filtering).
    external: dict[str, str]


class _Metrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.queries = Counter(
            "prometheus_remote_storage_remote_read_queries_total",
            "The total number of remote read queries.",
            ["remote_name", "url", "code"],
            registry=registry,
        )
        self.duration = Histogram(
            "prometheus_remote_storage_read_request_duration_seconds",
            "Histogram of the latency for remote read requests.",
            ["remote_name", "url"],
            registry=registry,
        )


class Fanout:
    """A :class:`Queryable` over local storage and the configured remote_read endpoints.

    ``local_start`` returns local storage's oldest timestamp (None when empty); it decides
    what ``read_recent: false`` leaves out. Call :meth:`apply_config` on the event loop.
    """

    def __init__(
        self,
        local: Queryable,
        local_start: Callable[[], int | None],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.local = local
        self.local_start = local_start
        self._remotes: list[_Remote] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._metrics = _Metrics(registry)

    @property
    def has_remotes(self) -> bool:
        return bool(self._remotes)

    def apply_config(self, cfg: Config) -> None:
        """Swap in the endpoints of ``cfg``; unchanged endpoints keep their sessions."""
        self._loop = asyncio.get_running_loop()
        old = {_key(r.cfg): r for r in self._remotes}
        ext = dict(cfg.global_.external_labels)
        remotes = []
        for rc in cfg.remote_read:
            prev = old.pop(_key(rc), None)
            client = prev.client if prev is not None else RemoteReadClient(rc, _name(rc))
            remotes.append(_Remote(rc, client, ext if rc.filter_external_labels else {}))
        self._remotes = remotes  # one assignment: queriers in flight keep the old list
        for r in old.values():
            self._loop.create_task(r.client.close())

    async def close(self) -> None:
        remotes, self._remotes = self._remotes, []
        for r in remotes:
            await r.client.close()

    def querier(self, mint: int, maxt: int) -> Querier:
        remotes = self._remotes
        if not remotes:
            # Nothing to merge: the local querier itself, so its fast paths stay direct.
            return self.local.querier(mint, maxt)
        return FanoutQuerier(self, mint, maxt, remotes)

    def _read(self, remote: _Remote, q: ReadQuery) -> concurrent.futures.Future[list[SeriesBatch]]:
        loop = self._loop
        assert loop is not None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            # Waiting here for the loop would wait forever: queries belong in a worker.
            raise RuntimeError("remote_read from the event loop thread; run queries in a worker")
        return asyncio.run_coroutine_threadsafe(self._timed(remote, q), loop)

    async def _timed(self, remote: _Remote, q: ReadQuery) -> list[SeriesBatch]:
        name, url = remote.client.name, remote.cfg.url
        t0 = time.monotonic()
        try:
            res = await remote.client.read([q])
        except Exception:
            self._metrics.queries.labels(name, url, "error").inc()
            raise
        finally:
            self._metrics.duration.labels(name, url).observe(time.monotonic() - t0)
        self._metrics.queries.labels(name, url, "200").inc()
        return res


class FanoutQuerier:
    """Reads ``[mint, maxt]`` from local storage and the remotes; see :class:`Fanout`.

    ``warnings`` collects what went wrong with remotes, for the API to show.
    """

    def __init__(self, fanout: Fanout, mint: int, maxt: int, remotes: list[_Remote]) -> None:
        self.fanout = fanout
        self.mint = mint
        self.maxt = maxt
        self.remotes = remotes
        self.local: Querier = fanout.local.querier(mint, maxt)
        self.warnings: list[str] = []

    def select_batch(self, matchers: Sequence[Matcher]) -> SeriesBatch:
        """Local and remote series matching ``matchers``, merged (local wins ties)."""
        pending = self._ask_remotes(matchers)
        local = _local_batch(self.local, matchers)
        if not pending:
            return local
        parts: list[SeriesBatch] = []
        for remote, fut in pending:
            try:
                # The client's own timeout ends the request; the margin covers handover.
                res = fut.result(remote.cfg.remote_timeout + 5)
            except (RemoteReadError, concurrent.futures.TimeoutError, OSError) as e:
                msg = str(e) or type(e).__name__
                self.warnings.append(f"remote_read {remote.client.name}: {msg}")
                log.warning("remote_read %s failed: %s", remote.client.name, msg)
                continue
            if res:
                parts.append(self._clean(res[0], remote))
        if not parts:
            return local
        return merge_batches([*parts, local])

    def select(self, matchers: Sequence[Matcher]) -> list[Series]:
        b = self.select_batch(matchers)
        o = b.offsets.tolist()
        return [
            Series(ls, b.timestamps[o[i] : o[i + 1]], b.values[o[i] : o[i + 1]])
            for i, ls in enumerate(b.labels)
        ]

    def series(self, matchers: Sequence[Matcher]) -> list[Labels]:
        local = self.local.series(matchers)
        if not self.remotes:
            return local
        return sorted(set(local) | set(self.select_batch(matchers).labels))

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        # The remote read protocol has no label API (nor does Prometheus' remote querier).
        return self.local.label_names(matchers)

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        return self.local.label_values(name, matchers)

    def close(self) -> None:
        self.local.close()

    # -- internals ---------------------------------------------------------------------

    def _ask_remotes(
        self, matchers: Sequence[Matcher]
    ) -> list[tuple[_Remote, concurrent.futures.Future[list[SeriesBatch]]]]:
        out = []
        local_start: int | None = None
        asked_start = False
        for r in self.remotes:
            if not _has_required(matchers, r.cfg.required_matchers):
                continue
            maxt = self.maxt
            if not r.cfg.read_recent:
                if not asked_start:
                    local_start, asked_start = self.fanout.local_start(), True
                if local_start is not None:
                    # Local storage holds everything from its oldest sample on.
                    if self.mint > local_start:
                        continue
                    maxt = min(maxt, local_start)
            ms = list(matchers)
            constrained = {m.name for m in matchers}
            for name, value in r.external.items():
                if name not in constrained:
                    ms.append(Matcher.new(MatchType.EQUAL, name, value))
            out.append((r, self.fanout._read(r, ReadQuery(self.mint, maxt, ms))))
        return out

    def _clean(self, b: SeriesBatch, r: _Remote) -> SeriesBatch:
        """Strip the external labels this remote was asked with; keep the query range."""
        labels = b.labels
        constrained = r.external
        if constrained:
            labels = [
                Labels(p for p in ls if not (p[0] in constrained and constrained[p[0]] == p[1]))
                for ls in labels
            ]
        keep = (b.timestamps >= self.mint) & (b.timestamps <= self.maxt)
        if bool(keep.all()):
            return SeriesBatch(labels, b.offsets, b.timestamps, b.values)
        sid = np.repeat(np.arange(len(labels), dtype=np.int64), np.diff(b.offsets))[keep]
        counts = np.bincount(sid, minlength=len(labels))
        nz = np.flatnonzero(counts)
        offsets = np.zeros(len(nz) + 1, dtype=np.int64)
        np.cumsum(counts[nz], out=offsets[1:])
        return SeriesBatch(
            [labels[i] for i in nz.tolist()], offsets, b.timestamps[keep], b.values[keep]
        )


def _local_batch(q: Querier, matchers: Sequence[Matcher]) -> SeriesBatch:
    sb = getattr(q, "select_batch", None)
    if sb is not None:
        b: SeriesBatch = sb(matchers)
        return b
    return _concat(q.select(matchers))


def _concat(series: list[Series]) -> SeriesBatch:
    if not series:
        return empty_batch()
    counts = np.array([len(s.timestamps) for s in series], dtype=np.int64)
    offsets = np.zeros(len(series) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return SeriesBatch(
        [s.labels for s in series],
        offsets,
        np.concatenate([s.timestamps for s in series]),
        np.concatenate([s.values for s in series]),
    )


def merge_batches(parts: Sequence[SeriesBatch]) -> SeriesBatch:
    """Merge batches by labels; where several have a sample at the same timestamp, the
    *last* part's wins. Start timestamps are not carried (remote read has none)."""
    parts = [p for p in parts if p.labels]
    if not parts:
        return empty_batch()
    if len(parts) == 1:
        ls = parts[0].labels
        # One source, already sorted and unique (stripping labels could break that).
        if all(ls[i] < ls[i + 1] for i in range(len(ls) - 1)):
            return parts[0]
    labels = [ls for p in parts for ls in p.labels]
    # Rank series by labels; a series in several parts gets one id.
    uniq = sorted(set(labels))
    rank = {ls: i for i, ls in enumerate(uniq)}
    sid_of_series = np.array([rank[ls] for ls in labels], dtype=np.int64)
    counts = np.concatenate([np.diff(p.offsets) for p in parts])
    sid = np.repeat(sid_of_series, counts)
    part = np.repeat(np.arange(len(parts), dtype=np.int64), [len(p.timestamps) for p in parts])
    ts = np.concatenate([p.timestamps for p in parts])
    vals = np.concatenate([p.values for p in parts])
    # Sort by (series, time, part): the last row of each (series, time) run is the
    # highest-priority part's sample.
    o = np.lexsort((part, ts, sid))
    ts, vals, sid = ts[o], vals[o], sid[o]
    keep = np.append((sid[1:] != sid[:-1]) | (ts[1:] != ts[:-1]), True)
    ts, vals, sid = ts[keep], vals[keep], sid[keep]
    offsets = np.zeros(len(uniq) + 1, dtype=np.int64)
    np.cumsum(np.bincount(sid, minlength=len(uniq)), out=offsets[1:])
    return SeriesBatch(uniq, offsets, ts, vals)


def _has_required(matchers: Sequence[Matcher], required: dict[str, str]) -> bool:
    for name, value in required.items():
        if not any(
            m.type is MatchType.EQUAL and m.name == name and m.value == value for m in matchers
        ):
            return False
    return True


def _key(rc: RemoteReadConfig) -> str:
    return repr(rc)


def _name(rc: RemoteReadConfig) -> str:
    """The configured name, else a short hash of the config, as Prometheus names it."""
    if rc.name:
        return rc.name
    return hashlib.sha256(repr(rc).encode()).hexdigest()[:6]
