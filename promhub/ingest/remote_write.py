"""The remote_write 1.0 receiver: what ``POST /api/v1/write`` does with a request.

A sender (Prometheus, Grafana Agent, another promhub) posts snappy-compressed
``prometheus.WriteRequest`` s, typically a few thousand series with one sample each,
every few seconds, mostly the same series again. So the receiver keeps Prometheus'
scrape-cache idea: raw label bytes → series ref. :func:`~promhub.ingest.writerequest.scan`
looks every series up while it walks the wire; only series it has not seen are decoded,
validated and resolved; the samples go to the appender as NumPy arrays in one commit, so
a 2xx means every accepted sample is in the WAL.

Status codes follow what a sender's retry logic expects (Prometheus' handler and the
remote-write spec): 4xx is not retried, 5xx is. Unlike Prometheus' 1.0 handler, which
rolls the whole request back on the first out-of-order sample (and silently skips
series with invalid labels), the receiver writes every valid sample and then answers 400
naming what it refused: a sender does not retry a 400, so a batch refused as a whole
would lose its good samples too. This is the partial-write rule of remote-write 2.0.

- malformed snappy or protobuf, out-of-order, duplicate or too-old samples, samples more
  than 10 minutes in the future, invalid label sets, native histograms (not supported
  yet): 400, with a message naming the problem and an example series;
- a decoded size over ``max_decoded_bytes``, more series or samples than
  ``max_series_per_request``/``max_samples_per_request``: 413 (senders send a few
  thousand; the limits stop a small body that decodes into millions of empty messages);
- the WAL cannot be written (full disk): 500, nothing of the request is stored.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from prometheus_client import CollectorRegistry, Counter

from promhub.ingest.writerequest import (
    DecodeError,
    TooLargeError,
    WriteRequestScan,
    decode_exemplar,
    decode_exemplar_v2,
    decode_labels,
    decode_metadata,
    decode_metadata_v2,
    decompress,
    scan,
    scan_v2,
)
from promhub.model.labels import LABEL_NAME_RE, METRIC_NAME, METRIC_NAME_RE, Labels, quote
from promhub.storage.interface import (
    Appendable,
    AppendResult,
    Metadata,
    Refs,
    StorageError,
    StorageFullError,
    Timestamps,
)
from promhub.tsdb.exemplars import ExemplarStorage
from promhub.tsdb.head import NO_TS, Head, UnknownSeriesError

__all__ = ["MAX_AHEAD_MS", "RemoteWriteReceiver", "WriteOutcome", "validate_labels"]

log = logging.getLogger("promhub.remote_write")

#: Samples further in the future than this are refused (Prometheus' ``maxAheadTime``).
MAX_AHEAD_MS = 10 * 60 * 1000
#: Series named in one error message at most.
_EXAMPLES = 3


@dataclass(slots=True)
class WriteOutcome:
    """What one request did: the HTTP status to answer and, for errors, why."""

    status: int = 204
    message: str = ""
    samples_written: int = 0
    exemplars_written: int = 0
    #: Samples refused, by reason (``out_of_order``, ``invalid_labels``, ...).
    rejected: dict[str, int] = field(default_factory=dict)


def validate_labels(pairs: list[tuple[str, str]]) -> Labels | str:
    """The series' :class:`Labels`, or why the label set is invalid.

    Prometheus' rules: a metric name that is a valid metric name, valid label names, no
    name twice. Pairs may come in any order (they are sorted); empty values are dropped,
    since an empty value means the label is absent.
    """
    names = sorted(n for n, _ in pairs)
    for a, b in zip(names, names[1:], strict=False):
        if a == b:
            return f"duplicate label name {a!r} in {_show(pairs)}"
    for n, _ in pairs:
        if n != METRIC_NAME and not LABEL_NAME_RE.match(n):
            return f"invalid label name {n!r} in {_show(pairs)}"
    name = next((v for n, v in pairs if n == METRIC_NAME), "")
    if not name:
        return f"missing metric name (label __name__) in {_show(pairs)}"
    if not METRIC_NAME_RE.match(name):
        return f"invalid metric name {name!r} in {_show(pairs)}"
    return Labels(sorted(p for p in pairs if p[1] != ""))


def _show(pairs: list[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{n}={quote(v)}" for n, v in pairs) + "}"


class RemoteWriteReceiver:
    """Decodes remote_write 1.0 requests into ``appendable``; thread-safe.

    ``head`` explains rejections (the newest timestamp of a series) and bounds the cache;
    ``exemplars``, if given and enabled, receives the requests' exemplars.
    """

    def __init__(
        self,
        appendable: Appendable,
        head: Head,
        *,
        exemplars: ExemplarStorage | None = None,
        max_decoded_bytes: int = 64 * 1024 * 1024,
        max_series_per_request: int = 500_000,
        max_samples_per_request: int = 2_000_000,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._appendable = appendable
        self._head = head
        self._exemplars = exemplars
        self.max_decoded_bytes = max_decoded_bytes
        self.max_series_per_request = max_series_per_request
        self.max_samples_per_request = max_samples_per_request
        #: Raw label bytes of a series -> its ref in the head.
        self._cache: dict[bytes, int] = {}
        self._metadata: dict[str, Metadata] = {}
        self._lock = threading.Lock()
        #: Requests being handled; the HTTP handler counts them (on the event loop).
        self.in_flight = 0
        self._invalid = Counter(
            "prometheus_api_remote_write_invalid_labels_samples_total",
            "The total number of received remote write samples and histogram samples which "
            "were rejected due to invalid labels.",
            registry=registry,
        )
        self._requests = Counter(
            "promhub_remote_write_requests_total",
            "remote_write requests received, by HTTP status answered.",
            ["code"],
            registry=registry,
        )
        self._samples = Counter(
            "promhub_remote_write_samples_total",
            "Samples received through remote_write and stored.",
            registry=registry,
        )
        self._rejected = Counter(
            "promhub_remote_write_samples_rejected_total",
            "Samples received through remote_write and refused, by reason.",
            ["reason"],
            registry=registry,
        )

    # -- public -------------------------------------------------------------------------

    def write(self, body: bytes, *, v2: bool = False) -> WriteOutcome:
        """Store a snappy-compressed 1.0 ``WriteRequest`` (or, with ``v2``, a 2.0
        ``Request``); never raises for bad input."""
        try:
            out = self._write(decompress(body, self.max_decoded_bytes), v2)
        except TooLargeError as e:
            out = WriteOutcome(413, f"decoding remote write request: {e}")
        except DecodeError as e:
            out = WriteOutcome(400, f"decoding remote write request: {e}")
        except StorageFullError as e:
            log.error("remote write: %s", e)
            out = WriteOutcome(500, f"storage: {e}")
        except Exception as e:  # a bug must not take the server down; the sender retries
            log.exception("remote write failed")
            out = WriteOutcome(500, f"internal error: {e}")
        self._requests.labels(str(out.status)).inc()
        if out.samples_written:
            self._samples.inc(out.samples_written)
        for reason, n in out.rejected.items():
            self._rejected.labels(reason).inc(n)
        return out

    def metadata(self) -> dict[str, Metadata]:
        """Metric metadata senders included in their requests, by metric family."""
        with self._lock:
            return dict(self._metadata)

    @property
    def cached_series(self) -> int:
        return len(self._cache)

    # -- internals ----------------------------------------------------------------------

    def _write(self, data: bytes, v2: bool) -> WriteOutcome:
        try:
            return self._append(data, v2)
        except UnknownSeriesError as e:
            # A cached ref was garbage-collected by the head (its series had no samples
            # left after a head cut). Nothing was written; resolve everything again.
            log.info("remote write: %s; resolving all series again", e)
            self._cache.clear()
            return self._append(data, v2)

    def _append(self, data: bytes, v2: bool) -> WriteOutcome:
        lim = {
            "max_series": self.max_series_per_request,
            "max_samples": self.max_samples_per_request,
        }
        sc = scan_v2(data, self._cache, **lim) if v2 else scan(data, self._cache, **lim)
        out = WriteOutcome()
        problems: list[str] = []
        app = self._appendable.appender()
        refs = sc.refs
        labels_of: dict[int, Labels] = {}
        if sc.misses:
            refs = refs.copy()
            invalid: list[str] = []
            invalid_samples = 0
            counts = np.bincount(sc.sample_series, minlength=sc.num_series)
            for i, key in sc.misses:
                got = validate_labels(decode_labels(key))
                if isinstance(got, str):
                    invalid.append(got)
                    invalid_samples += int(counts[i])
                    continue
                refs[i] = r = app.ref(got)
                labels_of[i] = got
                self._cache[key] = r
            if invalid:
                out.rejected["invalid_labels"] = invalid_samples
                self._invalid.inc(invalid_samples)
                problems.append(
                    f"{len(invalid)} series with invalid labels refused "
                    f"({invalid_samples} samples): " + "; ".join(invalid[:_EXAMPLES])
                )
        sample_refs = refs[sc.sample_series]
        ts, vals = sc.timestamps, sc.values
        keep = sample_refs >= 0
        future = ts > int(time.time() * 1000) + MAX_AHEAD_MS
        if future.any():
            keep &= ~future
            n = int((future & (sample_refs >= 0)).sum())
            if n:
                out.rejected["out_of_bounds"] = n
                i = int(np.flatnonzero(future & (sample_refs >= 0))[0])
                problems.append(
                    f"out of bounds: {n} samples more than 10m in the future refused, e.g. "
                    f"{self._name(sc, labels_of, int(sc.sample_series[i]))} at {int(ts[i])}"
                )
        sts = None
        if sc.created is not None and sc.created.any():
            # 2.0's created timestamp: when the series' counter started (a start timestamp).
            sts = sc.created[sc.sample_series]
        if not keep.all():
            sample_refs, ts, vals = sample_refs[keep], ts[keep], vals[keep]
            sts = None if sts is None else sts[keep]
        before = self._head.last_timestamps(sample_refs)
        if len(sample_refs):
            app.append(sample_refs, ts, vals, sts)
        try:
            res = app.commit()
        except StorageError:
            app.rollback()
            raise
        out.samples_written = res.appended
        if res.out_of_order or res.duplicate or res.too_old:
            problems.append(self._rejections(res, sample_refs, ts, before, out))
        if sc.histograms:
            out.rejected["native_histogram"] = len(sc.histograms)
            problems.append(
                f"native histograms are not supported: {len(sc.histograms)} histogram "
                f"samples refused, e.g. of {self._name(sc, labels_of, sc.histograms[0][0])}"
            )
        if sc.exemplars and self._exemplars is not None and self._exemplars.enabled:
            out.exemplars_written = self._store_exemplars(data, sc, refs, labels_of)
        if sc.metadata:
            self._store_metadata(data, sc, refs, labels_of)
        if len(self._cache) > 2 * self._head.num_series() + 10_000:
            # Series that stopped coming (their refs since garbage-collected) would grow
            # the cache forever; flushing costs one round of decoding.
            self._cache.clear()
        if problems:
            out.status = 400
            out.message = "; ".join(problems)
        return out

    def _rejections(
        self,
        res: AppendResult,
        refs: Refs,
        ts: Timestamps,
        before: Timestamps,
        out: WriteOutcome,
    ) -> str:
        parts = []
        for reason, n in (
            ("out_of_order", res.out_of_order),
            ("duplicate", res.duplicate),
            ("too_old", res.too_old),
        ):
            if n:
                out.rejected[reason] = n
                parts.append(f"{n} {reason.replace('_', ' ')}")
        msg = "samples refused: " + ", ".join(parts)
        # The first sample not newer than its series' newest stored one names an example.
        stale = np.flatnonzero((before != NO_TS) & (ts <= before))
        if len(stale):
            i = int(stale[0])
            ls = self._head.labels_of(int(refs[i]))
            msg += (
                f" (e.g. series {ls} at timestamp {int(ts[i])}, "
                f"its newest sample is at {int(before[i])})"
            )
        return msg

    def _name(self, sc: WriteRequestScan, labels_of: dict[int, Labels], series: int) -> str:
        """A series of the request, for a message."""
        if series in labels_of:
            return str(labels_of[series])
        ref = int(sc.refs[series])
        if ref >= 0:
            return str(self._head.labels_of(ref))
        key = next(k for i, k in sc.misses if i == series)
        return _show(decode_labels(key))

    def _store_exemplars(
        self,
        data: bytes,
        sc: WriteRequestScan,
        refs: Refs,
        labels_of: dict[int, Labels],
    ) -> int:
        """Exemplars of valid series into the exemplar storage (after the commit, as
        Prometheus does); their errors never fail the request."""
        assert self._exemplars is not None
        series: list[Labels] = []
        ex_labels: list[Labels] = []
        values: list[float] = []
        stamps: list[int] = []
        for i, a, b in sc.exemplars:
            ref = int(refs[i])
            ls = labels_of.get(i) or (self._head.labels_of(ref) if ref >= 0 else None)
            if ls is None:
                continue
            if sc.symbols is None:
                pairs, v, t = decode_exemplar(data, a, b)
            else:
                pairs, v, t = decode_exemplar_v2(data, a, b, sc.symbols)
            series.append(ls)
            ex_labels.append(Labels(sorted(p for p in pairs if p[1] != "")))
            values.append(v)
            stamps.append(t)
        if not series:
            return 0
        res = self._exemplars.append(
            series,
            ex_labels,
            np.array(values, dtype=np.float64),
            np.array(stamps, dtype=np.int64),
            np.ones(len(series), dtype=bool),
        )
        return res.appended

    def _store_metadata(
        self, data: bytes, sc: WriteRequestScan, refs: Refs, labels_of: dict[int, Labels]
    ) -> None:
        if sc.symbols is None:
            got = [decode_metadata(data, a, b) for _, a, b in sc.metadata]
        else:
            # 2.0: per series; the family is the series' metric name.
            got = []
            for i, a, b in sc.metadata:
                ref = int(refs[i])
                ls = labels_of.get(i) or (self._head.labels_of(ref) if ref >= 0 else None)
                if ls is not None:
                    got.append((ls.name, decode_metadata_v2(data, a, b, sc.symbols)))
        with self._lock:
            for name, md in got:
                if name:
                    self._metadata[name] = md
