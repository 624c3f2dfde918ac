"""The scrape loop: one per target, scraping it on a fixed phase of its interval.

Each cycle fetches the body on the event loop, then parses and appends it in a worker
thread (the commit writes the WAL). A scrape is all or nothing: a parse error, a broken
limit or a failed fetch rolls back everything of that scrape and stores only the synthetic
``up``/``scrape_*`` series, plus staleness markers for the series of the previous scrape.

The parser's cache maps raw series bytes to a storage ref (or -1 for a series metric
relabeling drops), so a series' labels are built, relabelled and checked against the
limits only the first time it is seen: this is Prometheus' scrape cache. The set of
series in the last scrape is a sorted int64 array of refs; the series that vanished are
``np.setdiff1d(previous, current)`` and get a staleness marker.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from promhub.config.model import ScrapeConfig
from promhub.model.exposition import Exemplar, ExpositionError, ParsedBody, SeriesCache, parse
from promhub.model.labels import LABEL_NAME_RE, METRIC_NAME, METRIC_NAME_RE, Labels
from promhub.model.relabel import relabel
from promhub.model.value import STALE_NAN
from promhub.scrape.client import ScrapeClient
from promhub.scrape.errors import (
    BodySizeLimitError,
    InvalidSeriesError,
    LabelLimitError,
    SampleLimitError,
    ScrapeError,
)
from promhub.scrape.metrics import ScrapeMetrics
from promhub.scrape.target import Health, Target, format_duration
from promhub.storage.interface import (
    Appendable,
    Appender,
    Metadata,
    Refs,
    StorageError,
    StorageFullError,
    empty_refs,
)

if TYPE_CHECKING:
    # Only the type: scrape talks to storage through interfaces, not the TSDB package.
    from promhub.tsdb.exemplars import ExemplarStorage

log = logging.getLogger(__name__)

#: The synthetic series every scrape writes, in the order of :meth:`ScrapeLoop._report`.
REPORT_METRICS = (
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
)
#: Added with ``extra_scrape_metrics: true``, as Prometheus' feature of that name.
EXTRA_REPORT_METRICS = ("scrape_timeout_seconds", "scrape_sample_limit", "scrape_body_size_bytes")
EXPORTED_PREFIX = "exported_"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class _Outcome:
    """What one scrape did, handed from the worker thread back to the event loop."""

    error: str = ""
    samples: int = 0
    skipped: bool = False


class SeriesResolver:
    """Turns a scraped label set into a storage ref, applying the target's rules.

    Called by the parser only for series it has not cached yet. Follows Prometheus'
    ``mutateSampleLabels``: target labels are attached (with ``honor_labels: false`` a
    clashing scraped label is kept as ``exported_<name>``), ``metric_relabel_configs``
    run, and the label limits are checked; a violation fails the whole scrape.
    """

    def __init__(self, cfg: ScrapeConfig, target_labels: Labels) -> None:
        self._cfg = cfg
        self._target = target_labels.to_dict()
        self.appender: Appender | None = None
        #: ref -> labels of the series resolved so far, kept only when exemplars are
        #: stored (they name their series by ref); cleared with the scrape cache.
        self.labels_by_ref: dict[int, Labels] | None = None

    def __call__(self, scraped: Labels) -> int:
        lb = scraped.to_dict()
        if self._cfg.honor_labels:
            for k, v in self._target.items():
                lb.setdefault(k, v)
        else:
            conflicts = [(k, lb[k]) for k in self._target if lb.get(k)]
            lb.update(self._target)
            # Shorter names first, so `exported_job` is taken before `exported_exported_job`.
            for k, v in sorted(conflicts, key=lambda kv: len(kv[0])):
                name = EXPORTED_PREFIX + k
                while lb.get(name):
                    name = EXPORTED_PREFIX + name
                lb[name] = v
        if self._cfg.metric_relabel_configs:
            relabelled = relabel(lb, self._cfg.metric_relabel_configs)
            if relabelled is None or not relabelled:
                return -1
            labels = relabelled
        else:
            labels = Labels.from_dict(lb)
        self._check(labels)
        assert self.appender is not None
        try:
            ref = self.appender.ref(labels)
        except ValueError as e:
            # Not a parse error of the body: the series became invalid after relabeling.
            raise InvalidSeriesError(str(e)) from e
        if self.labels_by_ref is not None:
            self.labels_by_ref[ref] = labels
        return ref

    def _check(self, labels: Labels) -> None:
        name = labels.name
        if not name:
            raise InvalidSeriesError(f"no metric name in series {labels}")
        cfg = self._cfg
        legacy = cfg.metric_name_validation_scheme == "legacy"
        if not METRIC_NAME_RE.match(name):
            # The TSDB stores classic names only, whatever the validation scheme.
            raise InvalidSeriesError(f"invalid metric name or label names: {labels}")
        if cfg.label_limit and len(labels) > cfg.label_limit:
            raise LabelLimitError(
                f"label_limit exceeded (metric: {name:.50}, number of labels: {len(labels)}, "
                f"limit: {cfg.label_limit})"
            )
        for k, v in labels:
            if legacy and k != METRIC_NAME and not LABEL_NAME_RE.match(k):
                raise InvalidSeriesError(f"invalid label name {k!r} in series {labels}")
            if cfg.label_name_length_limit and len(k) > cfg.label_name_length_limit:
                raise LabelLimitError(
                    f"label_name_length_limit exceeded (metric: {name:.50}, label name: "
                    f"{k:.50}, length: {len(k)}, limit: {cfg.label_name_length_limit})"
                )
            if cfg.label_value_length_limit and len(v) > cfg.label_value_length_limit:
                raise LabelLimitError(
                    f"label_value_length_limit exceeded (metric: {name:.50}, label name: "
                    f"{k:.50}, value: {v[:50]!r}, length: {len(v)}, "
                    f"limit: {cfg.label_value_length_limit})"
                )


class ScrapeLoop:
    """Scrapes one target until stopped. All storage work happens in ``executor``."""

    def __init__(
        self,
        target: Target,
        cfg: ScrapeConfig,
        client: ScrapeClient,
        appendable: Appendable,
        metrics: ScrapeMetrics,
        *,
        seed: int,
        executor: Executor | None = None,
        previous: Refs | None = None,
        timestamp_tolerance: float = 0.01,
        forced_error: Callable[[], str] = lambda: "",
        exemplars: ExemplarStorage | None = None,
    ) -> None:
        self.target = target
        self.cfg = cfg
        self._client = client
        self._appendable = appendable
        self._metrics = metrics
        self._seed = seed
        self._executor = executor
        self._tolerance_ms = round(timestamp_tolerance * 1000)
        self._forced_error = forced_error
        #: Raw series bytes → ref (or -1: dropped). Owned here, filled by the parser.
        self.cache: dict[bytes, int] = SeriesCache()
        self._resolver = SeriesResolver(cfg, target.labels)
        #: Where the exemplars of successful scrapes go (``--enable-feature=exemplar-storage``).
        self._exemplars = exemplars
        if exemplars is not None:
            self._resolver.labels_by_ref = {}
        #: Sorted unique refs of the series of the last scrape that are tracked for staleness.
        self._previous: Refs = previous if previous is not None else empty_refs()
        self._report_refs: Refs | None = None
        #: (tracked refs in body order, the sorted ``_previous`` made from them).
        self._tracked_memo: tuple[Refs, Refs] | None = None
        self._last_ts = 0
        self._last_start = 0.0
        self._body_size = 0
        self._good_total = 0
        #: Latest metric metadata (family → Metadata) from a successful scrape.
        self.metadata: dict[str, Metadata] = {}
        # Serialises a scrape's commit with the end-of-run work of stop(): a scrape that
        # is still committing in its thread when the loop is cancelled must not land
        # after the staleness markers.
        self._lock = threading.Lock()
        self._stopped = False
        self._task: asyncio.Task[None] | None = None

    # -- scheduling ----------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self.run(), name=f"scrape {self.target.url}"
        )

    async def run(self) -> None:
        """Scrape at this target's phase of every interval, forever."""
        interval_ms = max(1, round(self.target.interval * 1000))
        phase = (self.target.hash ^ self._seed) % interval_ms

        def next_slot(after: int) -> int:
            return after + (phase - after) % interval_ms

        slot = next_slot(now_ms())
        while True:
            delay = (slot - now_ms()) / 1000
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await self.scrape(slot)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug here must not end the target's scraping for good.
                log.exception("scrape of %s failed unexpectedly", self.target.url)
            # A scrape that overran its interval skips the missed slots, like a ticker.
            slot = next_slot(max(slot + interval_ms, now_ms()))

    async def scrape(self, slot: int | None = None) -> None:
        """One scrape cycle: fetch, then parse, append and commit in a worker thread."""
        start = time.monotonic()
        ts = now_ms()
        if slot is not None and abs(ts - slot) <= self._tolerance_ms:
            # Timestamps exactly one interval apart compress far better in the TSDB;
            # Prometheus aligns within its --scrape.timestamp-tolerance the same way.
            ts = slot
        if self._last_start:
            self._metrics.interval_length.observe(
                start - self._last_start, format_duration(self.target.interval)
            )
        self._last_start = start
        body: bytes | None = None
        content_type = ""
        self._body_size = 0
        error = self._forced_error()
        if not error:
            try:
                resp = await self._client.fetch(self.target.url, self.target.timeout)
                body, content_type = resp.body, resp.content_type
                self._body_size = len(body)
            except BodySizeLimitError as e:
                self._metrics.exceeded_body_size_limit.inc()
                error = str(e)
                self._body_size = -1
            except ScrapeError as e:
                error = str(e)
            except Exception as e:
                # A bug, not the target's fault; still report it where users look.
                log.exception("scraping %s failed unexpectedly", self.target.url)
                error = f"unexpected error: {e!r}"
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(
            self._executor, self._ingest, body, content_type, ts, error, start
        )

    async def stop(self, *, staleness: bool) -> Refs:
        """Stop scraping; returns the refs of the last scrape's series.

        With ``staleness`` (the target went away) every series of the target, the
        synthetic ones included, gets a staleness marker, so queries stop showing it
        at once instead of five minutes later.
        """
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._finish, staleness)

    # -- storage work (worker thread) ------------------------------------------------------

    def _finish(self, staleness: bool) -> Refs:
        with self._lock:
            self._stopped = True
            previous = self._previous
            if not staleness:
                return previous
            refs = previous
            if self._report_refs is not None:
                refs = np.concatenate([previous, self._report_refs])
            if len(refs):
                ts = max(now_ms(), self._last_ts + 1)
                app = self._appendable.appender()
                app.append(refs, np.array([ts], dtype=np.int64), np.full(len(refs), STALE_NAN))
                try:
                    app.commit()
                except Exception:
                    log.exception("writing staleness markers for %s failed", self.target.url)
            self._previous = empty_refs()
            return previous

    def _ingest(
        self, body: bytes | None, content_type: str, ts: int, error: str, start: float
    ) -> _Outcome:
        with self._lock:
            if self._stopped:
                return _Outcome(skipped=True)
            try:
                outcome = self._ingest_locked(body, content_type, ts, error, start)
            except StorageError as e:
                if isinstance(e, StorageFullError):
                    raise
                # The storage forgot a series we hold a ref for (its head garbage-collects
                # series without samples). Start from scratch once: new refs for all.
                log.info("scrape of %s: %s; resolving all series again", self.target.url, e)
                self._clear_cache()
                self._report_refs = None
                self._previous = empty_refs()
                outcome = self._ingest_locked(body, content_type, ts, error, start)
            # Updated here, before the lock is released, so that whoever sees this
            # scrape's samples in storage also sees its outcome on the targets page.
            t = self.target
            t.last_scrape = ts / 1000
            t.last_duration = time.monotonic() - start
            t.last_error = outcome.error
            t.health = Health.DOWN if outcome.error else Health.UP
            t.last_samples = outcome.samples
            return outcome

    def _ingest_locked(
        self, body: bytes | None, content_type: str, ts: int, error: str, start: float
    ) -> _Outcome:
        app = self._appendable.appender()
        total = post = added = 0
        previous = self._previous
        parsed: ParsedBody | None = None
        if body is not None:
            try:
                parsed = self._append_body(app, body, content_type, ts)
                total, post, added = parsed.samples_total, len(parsed.refs), parsed.new_series
                self.metadata = parsed.metadata
            except (ExpositionError, ScrapeError) as e:
                error = _describe(e)
                if isinstance(e, SampleLimitError):
                    self._metrics.exceeded_sample_limit.inc()
                    total, post = e.args[1], e.args[2]
                elif isinstance(e, LabelLimitError):
                    self._metrics.exceeded_label_limits.inc()
                # Series resolved so far stay cached: Appender.ref() creates a series
                # whether or not the batch commits, and if the storage ever forgets one,
                # _ingest resolves everything again.
                app.rollback()
                app = self._appendable.appender()
                parsed = None
        if error:
            # A failed scrape is an empty scrape: everything it had goes stale.
            self._append_stale(app, self._previous, ts)
            self._previous = empty_refs()
        self._report(app, ts, error, time.monotonic() - start, total, post, added)
        try:
            res = app.commit()
        except StorageError as e:
            if not isinstance(e, StorageFullError):
                raise
            log.error("committing scrape of %s failed: %s", self.target.url, e)
            # Nothing was stored: the previous scrape's series are still the live ones.
            self._previous = previous
            return _Outcome(error=f"storage: {e}")
        self._last_ts = ts
        m = self._metrics
        if res.out_of_order:
            m.sample_out_of_order.inc(res.out_of_order)
        if res.duplicate:
            m.sample_duplicate.inc(res.duplicate)
        if res.too_old:
            m.sample_out_of_bounds.inc(res.too_old)
        if not error:
            self._good_total = total
            if parsed is not None and parsed.exemplars and self._exemplars is not None:
                self._append_exemplars(self._exemplars, parsed, ts)
        if len(self.cache) > 2 * self._good_total + 1000:
            # Series churn (or a target that keeps changing its labels, even in scrapes
            # that fail) would grow the cache forever; Prometheus flushes on the same
            # heuristic: twice the last good scrape plus 1000.
            self._clear_cache()
            m.cache_flush_forced.inc()
        return _Outcome(error=error, samples=post)

    def _append_body(self, app: Appender, body: bytes, content_type: str, ts: int) -> ParsedBody:
        self._resolver.appender = app
        try:
            parsed = parse(body, content_type, self.cache, self._resolver, ts)
        finally:
            self._resolver.appender = None
        refs = parsed.refs
        limit = self.cfg.sample_limit
        if limit and len(refs) > limit:
            raise SampleLimitError("sample limit exceeded", parsed.samples_total, len(refs))
        explicit = parsed.has_timestamps
        any_explicit = bool(explicit.any()) if len(explicit) else False
        if not self.cfg.honor_timestamps or not any_explicit:
            # Every sample carries the scrape's timestamp: pass it once, the TSDB shares it.
            timestamps = np.array([ts], dtype=np.int64)
            tracked = refs
        else:
            timestamps = parsed.timestamps
            # Series with their own timestamps are not marked stale (Prometheus),
            # unless track_timestamps_staleness asks for it.
            tracked = refs if self.cfg.track_timestamps_staleness else refs[~explicit]
        if len(refs):
            app.append(refs, timestamps, parsed.values)
        memo = self._tracked_memo
        if memo is not None and memo[1] is self._previous and np.array_equal(memo[0], tracked):
            # The usual case: the same series in the same order as last time. An O(n)
            # comparison instead of a sort, and nothing went stale.
            return parsed
        current = np.unique(tracked)
        stale = np.setdiff1d(self._previous, current, assume_unique=True)
        self._append_stale(app, stale, ts)
        self._previous = current
        self._tracked_memo = (tracked, current)
        return parsed

    def _clear_cache(self) -> None:
        self.cache.clear()
        if self._resolver.labels_by_ref is not None:
            self._resolver.labels_by_ref.clear()

    def _append_exemplars(self, store: ExemplarStorage, parsed: ParsedBody, ts: int) -> None:
        """Store the exemplars of a committed scrape under their series' labels.

        Only after the commit, as Prometheus' head adds exemplars when the appender
        commits: a failed scrape leaves none. An exemplar without its own timestamp gets
        its sample's (the scrape's, unless the target's timestamp was honoured).
        """
        if not store.enabled:
            return
        known = self._resolver.labels_by_ref
        assert known is not None
        kept: list[Exemplar] = [e for e in parsed.exemplars if e.series_ref in known]
        if not kept:
            return
        refs = np.array([e.series_ref for e in kept], dtype=np.int64)
        sample_ts = np.full(len(kept), ts, dtype=np.int64)
        if self.cfg.honor_timestamps and len(parsed.refs) and parsed.has_timestamps.any():
            order = np.argsort(parsed.refs, kind="stable")
            at = np.searchsorted(parsed.refs[order], refs)
            sample_ts = parsed.timestamps[order[np.minimum(at, len(order) - 1)]]
        own = np.array([e.timestamp is not None for e in kept], dtype=np.bool_)
        timestamps = np.array(
            [e.timestamp if e.timestamp is not None else 0 for e in kept], dtype=np.int64
        )
        timestamps = np.where(own, timestamps, sample_ts)
        res = store.append(
            [known[r] for r in refs.tolist()],
            [e.labels for e in kept],
            np.array([e.value for e in kept], dtype=np.float64),
            timestamps,
            own,
        )
        if res.out_of_order or res.too_long:
            log.debug(
                "scrape of %s: %d out-of-order exemplars and %d with labels over 128 runes "
                "were not stored",
                self.target.url,
                res.out_of_order,
                res.too_long,
            )

    def _append_stale(self, app: Appender, refs: Refs, ts: int) -> None:
        if len(refs):
            app.append(refs, np.array([ts], dtype=np.int64), np.full(len(refs), STALE_NAN))

    def _report(
        self,
        app: Appender,
        ts: int,
        error: str,
        duration: float,
        total: int,
        post: int,
        added: int,
    ) -> None:
        extra = self.cfg.extra_scrape_metrics
        if self._report_refs is None:
            base = self.target.labels.to_dict()
            names = REPORT_METRICS + (EXTRA_REPORT_METRICS if extra else ())
            self._report_refs = np.array(
                [app.ref(Labels.from_dict({**base, METRIC_NAME: n})) for n in names],
                dtype=np.int64,
            )
        report = [0.0 if error else 1.0, duration, total, post, added]
        if extra:
            report += [self.target.timeout, self.cfg.sample_limit, self._body_size]
        values = np.array(report, dtype=np.float64)
        app.append(self._report_refs, np.array([ts], dtype=np.int64), values)


def _describe(e: Exception) -> str:
    if isinstance(e, ExpositionError):
        msg = str(e)
        line = getattr(e, "line", 0)
        if line and f"line {line}" not in msg:
            msg = f"line {line}: {msg}"
        return msg
    if isinstance(e, SampleLimitError):
        return str(e.args[0])
    return str(e)
