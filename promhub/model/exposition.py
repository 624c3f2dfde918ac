"""Parsing scraped exposition bodies: Prometheus text 0.0.4 and OpenMetrics 1.0.0.

The scrape loop calls :func:`parse` once per scrape with the target's own cache::

    cache: dict[bytes, int] = {}             # one per target, kept across scrapes
    body = parse(data, resp.headers.get("Content-Type", ""), cache, appender.ref, now_ms)
    appender.append(body.refs, body.timestamps, body.values)

Design (see MEASUREMENTS.md): like Prometheus' scrape cache, the raw series text of a line
(``b'http_requests_total{code="200"}'``) maps to the series ref the ``resolve`` callback
returned for it, so labels are parsed only the first time a series is seen. A warm line
costs a ``rfind``, a dict lookup and a ``split``; value and timestamp tokens are converted
in bulk afterwards. Lines the fast path cannot vouch for (exemplars, tabs, odd spacing,
comments) and every cache miss go through the exact grammar in
:mod:`promhub.model.exposition_grammar`. If anything fails, the body is parsed again
strictly line by line so that the error reported is the first one in the body.

``_created`` series (OpenMetrics) are returned as ordinary samples: Prometheus 3 only
turns them into created timestamps (and drops them) with the
``created-timestamp-zero-ingestion`` feature flag; by default they are ingested as series
(``OpenMetricsSkipSTSeries`` follows that flag in ``scrape/scrape.go``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from promhub.model.exposition_grammar import (
    NORMAL_NAN_BITS,
    Exemplar,
    ExpositionError,
    LineGrammar,
)
from promhub.model.labels import Labels
from promhub.storage.interface import Metadata

__all__ = [
    "SCRAPE_ACCEPT_HEADER",
    "Exemplar",
    "ExpositionError",
    "ParsedBody",
    "ResolveFn",
    "SeriesCache",
    "detect_format",
    "parse",
]

#: Called with the labels of a series not in the cache; returns its ref (>= 0), or -1 to
#: drop the series (relabeling, limits). The answer is cached either way.
ResolveFn = Callable[[Labels], int]

#: The Accept header Prometheus 3 sends with its default ``scrape_protocols``
#: (OpenMetricsText1.0.0, OpenMetricsText0.0.1, PrometheusText1.0.0, PrometheusText0.0.4):
#: q-values count down from 0.6, and the 1.0.0 versions allow UTF-8 names unescaped.
SCRAPE_ACCEPT_HEADER = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,"
    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
    "text/plain;version=0.0.4;q=0.3,"
    "*/*;q=0.2"
)

_VALUE_BYTES = b"0123456789.eE+-iInNfFtTyYaA "  # digits, signs and the letters of inf/nan
_SPECIAL = re.compile(rb"(?i:[+-]?inf(?:inity)?|nan)")
_NORMAL_NAN = np.array([NORMAL_NAN_BITS], dtype=np.uint64).view(np.float64)[0]


def detect_format(content_type: str) -> Literal["openmetrics", "text"]:
    """Pick the parser from a response's Content-Type, as Prometheus does.

    ``application/openmetrics-text`` (any version) is OpenMetrics; everything else,
    including a missing or unparsable header, is read as text 0.0.4. (Prometheus 3
    fails such scrapes unless ``fallback_scrape_protocol`` is set; text is the fallback
    most targets need, so promhub applies it by default.)
    """
    media = content_type.split(";", 1)[0].strip().lower()
    return "openmetrics" if media == "application/openmetrics-text" else "text"


@dataclass(slots=True)
class ParsedBody:
    """The samples of one scrape, ready for :meth:`Appender.append`."""

    refs: NDArray[np.int64]  # one per kept sample, body order (dropped refs removed)
    values: NDArray[np.float64]
    timestamps: NDArray[np.int64]  # explicit ms timestamps; others get default_ts
    has_timestamps: NDArray[np.bool_]  # which samples carried an explicit timestamp
    samples_total: int  # samples in the body before dropping (scrape_samples_scraped)
    new_series: int  # cache misses that resolved to a ref >= 0
    metadata: dict[str, Metadata] = field(default_factory=dict)  # family -> metadata
    exemplars: list[Exemplar] = field(default_factory=list)
    format: str = "text"  # "text" or "openmetrics"


class SeriesCache(dict[bytes, int]):
    """A target's scrape cache: raw series text → ref, plus the shape of its last body.

    Use one per target and pass it to every :func:`parse` of that target. Besides the
    per-series entries it remembers the *shape* of the last body (everything but the
    sample values); when the next body has the same shape — same series, comments and
    order, which is what nearly every target serves scrape after scrape — each line is
    only split at its last space, the parts compared with the last body's in one list
    comparison, and the values converted in bulk: no cache lookups, no comment grammar,
    no metadata rebuilt (about half the cost of the warm per-line path on a typical
    body). :meth:`clear` forgets both.
    """

    __slots__ = ("shape",)

    def __init__(self) -> None:
        super().__init__()
        self.shape: _Shape | None = None

    def clear(self) -> None:
        super().clear()
        self.shape = None


@dataclass(slots=True, frozen=True)
class _Shape:
    """What the last fully parsed body of a target looked like (see :class:`SeriesCache`).

    Every line is split at its last space: ``keys`` holds the part before it for all
    lines. Sample lines (``sample_idx``) contribute their value after it; every other
    line (comments, blank lines) must reappear unchanged (``other_lines``).
    """

    om: bool
    keys: list[bytes]
    sample_idx: list[int]
    other_idx: list[int]
    other_lines: list[bytes]
    keep: NDArray[np.bool_]  # per sample line: resolved to a ref (not dropped)
    refs: NDArray[np.int64]  # refs of the kept samples
    metadata: dict[str, Metadata]

    def values_of(self, lines: list[bytes]) -> list[bytes] | None:
        """The value tokens of ``lines`` if they have exactly this shape, else None."""
        if len(lines) != len(self.keys):
            return None
        parts = [line.rpartition(b" ") for line in lines]
        if [p[0] for p in parts] != self.keys:
            return None
        if [lines[i] for i in self.other_idx] != self.other_lines:
            return None
        return [parts[i][2] for i in self.sample_idx]


def _shape_of(
    lines: list[bytes],
    om: bool,
    keep: NDArray[np.bool_],
    refs: NDArray[np.int64],
    metadata: dict[str, Metadata],
) -> _Shape | None:
    """The shape of a body that parsed without timestamps or exemplars, or None if its
    lines do not split into exactly one value token per sample."""
    keys: list[bytes] = []
    sample_idx: list[int] = []
    other_idx: list[int] = []
    for i, line in enumerate(lines):
        keys.append(line.rpartition(b" ")[0])
        if not line or line[0] == 0x23 or not line.strip(b" \t"):
            other_idx.append(i)
        else:
            sample_idx.append(i)
    if len(sample_idx) != len(keep):
        return None
    other_lines = [lines[i] for i in other_idx]
    return _Shape(om, keys, sample_idx, other_idx, other_lines, keep, _frozen(refs), metadata)


def _frozen(a: NDArray[np.int64]) -> NDArray[np.int64]:
    # Handed out again on every matching scrape: nobody may change it in place.
    a = a.copy()
    a.flags.writeable = False
    return a


class _Scan:
    """Per-sample columns of one pass over the body, before bulk conversion."""

    __slots__ = ("refs", "values", "ts_tokens", "ts_index", "exemplars", "meta", "new_series")

    def __init__(self) -> None:
        self.refs: list[int] = []
        self.values: list[bytes] = []
        self.ts_tokens: list[bytes] = []
        self.ts_index: list[int] = []
        self.exemplars: list[Exemplar] = []
        self.meta: dict[str, dict[str, str]] = {}
        self.new_series = 0


def parse(
    body: bytes,
    content_type: str,
    cache: dict[bytes, int],
    resolve: ResolveFn,
    default_ts: int,
) -> ParsedBody:
    """Parse a scraped body into sample columns.

    ``cache`` belongs to the caller (one per target) and maps raw series text to what
    ``resolve`` returned; this function reads and fills it. Raises
    :class:`ExpositionError` (with ``.line``) on the first malformed line; nothing is
    returned then, so the caller fails the scrape without storing anything.
    """
    fmt = detect_format(content_type)
    om = fmt == "openmetrics"
    lines = body.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the body's final newline
    shape = cache.shape if isinstance(cache, SeriesCache) else None
    if shape is not None and shape.om == om:
        tokens = shape.values_of(lines)
        values = _floats(tokens) if tokens is not None else None
        if values is not None:
            n = len(shape.refs)
            return ParsedBody(
                refs=shape.refs,
                values=values if n == len(shape.keep) else values[shape.keep],
                timestamps=np.full(n, default_ts, dtype=np.int64),
                has_timestamps=np.zeros(n, dtype=np.bool_),
                samples_total=len(shape.keep),
                new_series=0,
                metadata=shape.metadata,
                exemplars=[],
                format=fmt,
            )
        # Another shape, or a value Prometheus rejects: the full parse names the line.
    try:
        scan = _scan(lines, om, cache, resolve, strict=False)
        columns = _convert(scan, om, default_ts)
    except ExpositionError:
        columns = None
    if columns is None:
        # Something is wrong; parse strictly to report the first error in body order.
        # Series already resolved stay cached, so resolve is not called twice for them.
        scan = _scan(lines, om, cache, resolve, strict=True)
        columns = _convert(scan, om, default_ts)
        if columns is None:  # pragma: no cover - strict mode validates every token
            raise ExpositionError(1, "invalid sample value")
    refs, values, timestamps, has_ts = columns
    keep = refs >= 0
    if not keep.all():
        refs, values, timestamps, has_ts = refs[keep], values[keep], timestamps[keep], has_ts[keep]
    metadata = {k: Metadata(**v) for k, v in scan.meta.items()}
    if isinstance(cache, SeriesCache):
        # Remember this body's shape only where the fast path reproduces this parse
        # exactly: no explicit timestamps, no exemplars, one value per sample line.
        exact = not has_ts.any() and not scan.exemplars
        cache.shape = _shape_of(lines, om, keep, refs, metadata) if exact else None
    return ParsedBody(
        refs=refs,
        values=values,
        timestamps=timestamps,
        has_timestamps=has_ts,
        samples_total=len(scan.refs),
        new_series=scan.new_series,
        metadata=metadata,
        exemplars=scan.exemplars,
        format=fmt,
    )


def _scan(
    lines: list[bytes], om: bool, cache: dict[bytes, int], resolve: ResolveFn, *, strict: bool
) -> _Scan:
    """One pass over the lines. ``strict`` sends every line through the exact grammar."""
    scan = _Scan()
    grammar = LineGrammar(om)
    refs = scan.refs
    refs_append = refs.append
    values_append = scan.values.append
    ts_append = scan.ts_tokens.append
    ts_index_append = scan.ts_index.append
    get = cache.get
    eof_seen = False
    for i, line in enumerate(lines):
        if eof_seen:
            raise ExpositionError(i + 1, "unexpected data after # EOF")
        if not line or line[0] == 0x23:  # '#' or blank
            if om and line == b"# EOF":
                eof_seen = True
                continue
            _meta(grammar, line, i + 1, scan.meta)
            continue
        if not strict:
            # The common shape: series text, one space, value, optionally one space and a
            # timestamp. A cached key has been validated as a whole series before.
            j = line.rfind(b"}")
            if j >= 0:
                key = line[: j + 1]
                rest = line[j + 1 :]
            else:
                j = line.find(b" ")
                key = line[:j] if j > 0 else b""
                rest = line[j:]
            ref = get(key)
            if ref is not None:
                parts = rest.split(b" ")
                n = len(parts)
                if n == 2 and not parts[0]:
                    refs_append(ref)
                    values_append(parts[1])
                    continue
                if n == 3 and not parts[0] and parts[2]:
                    refs_append(ref)
                    values_append(parts[1])
                    ts_index_append(len(refs) - 1)
                    ts_append(parts[2])
                    continue
        if not om and line.lstrip(b" \t")[:1] in (b"#", b""):
            _meta(grammar, line, i + 1, scan.meta)  # indented comment or blank line
            continue
        parsed = grammar.sample(line, i + 1)
        ref = get(parsed.key)
        if ref is None:
            ref = resolve(parsed.labels)
            cache[parsed.key] = ref
            if ref >= 0:
                scan.new_series += 1
        refs_append(ref)
        values_append(parsed.value)
        if parsed.timestamp is not None:
            ts_index_append(len(refs) - 1)
            ts_append(parsed.timestamp)
        if parsed.exemplar is not None and ref >= 0:
            scan.exemplars.append(Exemplar(ref, *parsed.exemplar))
    if om and not eof_seen:
        raise ExpositionError(len(lines) + 1, "data does not end with # EOF")
    return scan


def _meta(grammar: LineGrammar, line: bytes, lineno: int, meta: dict[str, dict[str, str]]) -> None:
    m = grammar.meta(line, lineno)
    if m is not None:
        meta.setdefault(m.name, {})[m.kind] = m.text


def _convert(
    scan: _Scan, om: bool, default_ts: int
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64], NDArray[np.bool_]] | None:
    """Bulk-convert the collected tokens; None if any token is not what Prometheus takes."""
    n = len(scan.refs)
    values = _floats(scan.values)
    if values is None:
        return None
    timestamps = np.full(n, default_ts, dtype=np.int64)
    has_ts = np.zeros(n, dtype=np.bool_)
    if scan.ts_tokens:
        ts = _om_timestamps(scan.ts_tokens) if om else _text_timestamps(scan.ts_tokens)
        if ts is None:
            return None
        index = np.array(scan.ts_index, dtype=np.intp)
        timestamps[index] = ts
        has_ts[index] = True
    return np.array(scan.refs, dtype=np.int64), values, timestamps, has_ts


def _floats(tokens: list[bytes]) -> NDArray[np.float64] | None:
    # One C-level pass rejects every byte outside the alphabet of Go's float syntax
    # (underscores, hex, whitespace such as '\r'); Python's float() then agrees with Go
    # on everything left except signed NaNs and out-of-range literals, which can only
    # show up as non-finite results and are rechecked one by one.
    if b" ".join(tokens).translate(None, _VALUE_BYTES):
        return None
    try:
        values = np.fromiter(map(float, tokens), dtype=np.float64, count=len(tokens))
    except ValueError:
        return None
    special = ~np.isfinite(values)
    if special.any():
        for k in np.flatnonzero(special):
            tok = tokens[k]
            if _SPECIAL.fullmatch(tok) is None:
                return None
        values[np.isnan(values)] = _NORMAL_NAN
    return values


def _text_timestamps(tokens: list[bytes]) -> NDArray[np.int64] | None:
    if b" ".join(tokens).translate(None, b"0123456789 ") or b"" in tokens:
        return None
    try:
        return np.fromiter(map(int, tokens), dtype=np.int64, count=len(tokens))
    except (ValueError, OverflowError):
        return None


def _om_timestamps(tokens: list[bytes]) -> NDArray[np.int64] | None:
    seconds = _floats(tokens)
    if seconds is None or not np.isfinite(seconds).all():
        return None
    ms = seconds * 1000.0
    if (np.abs(ms) >= 2.0**63).any():
        return None
    return np.trunc(ms).astype(np.int64)  # Go's int64(ts * 1000) truncates toward zero
