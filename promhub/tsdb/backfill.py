"""Backfilling: turning an OpenMetrics file with timestamps into blocks.

This is ``promtool tsdb create-blocks-from openmetrics`` for promhub data directories::

    promhub tsdb create-blocks-from openmetrics history.om data/

Semantics follow promtool (Prometheus 2.42): every sample must carry a timestamp, the file
must end with ``# EOF``, and samples are cut into blocks of up to ``max_block_duration``
(2 h by default; longer limits are rounded down to one of Prometheus' block ranges 2 h,
6 h, 18 h, …) aligned to multiples of that duration. Each block's time range is the one
its samples span (``maxTime`` = last sample + 1 ms), as promtool writes it. A sample that
repeats the previous sample of its series (same timestamp, same value) is dropped; a
different value at the same timestamp, or a timestamp going backwards within one block
window, is an error naming the series, because it means the file is not what the user
thinks it is. Exemplars and metadata are ignored, as promtool does.

The file is read in line-aligned pieces of a few MiB through the scrape parser
(:func:`promhub.model.exposition.parse`, with one series cache for the whole file), so
memory grows with the samples (24 bytes each), not with the text.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from promhub.model.exposition import ExpositionError, parse
from promhub.model.labels import Labels
from promhub.tsdb.block import BlockMeta, SeriesData, write_block

__all__ = ["BackfillError", "DEFAULT_BLOCK_DURATION_MS", "block_duration", "create_blocks"]

#: Prometheus' default (and smallest) backfill block duration: 2 h.
DEFAULT_BLOCK_DURATION_MS = 2 * 3600 * 1000
#: How much of the input is parsed at once; large enough that per-piece overhead vanishes.
PIECE_BYTES = 16 << 20
_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0"


class BackfillError(ValueError):
    """The input cannot be backfilled; the message names the file, line or series."""


def block_duration(max_block_duration_ms: int) -> int:
    """The block duration promtool uses for ``--max-block-duration``.

    Limits up to 2 h give 2 h; longer ones the largest of 2 h × 3ⁿ (n < 10) not above it.
    """
    if max_block_duration_ms <= DEFAULT_BLOCK_DURATION_MS:
        return DEFAULT_BLOCK_DURATION_MS
    best = DEFAULT_BLOCK_DURATION_MS
    r = DEFAULT_BLOCK_DURATION_MS
    for _ in range(9):
        r *= 3
        if r <= max_block_duration_ms:
            best = r
    return best


class _Columns:
    """Every sample of the file as columns, plus the label set of each series ref."""

    def __init__(self) -> None:
        self.labels: list[Labels] = []
        self.refs: list[NDArray[np.int64]] = []
        self.timestamps: list[NDArray[np.int64]] = []
        self.values: list[NDArray[np.float64]] = []

    def resolve(self, labels: Labels) -> int:
        self.labels.append(labels)
        return len(self.labels) - 1


def _pieces(path: Path) -> Iterator[tuple[bytes, int, bool]]:
    """Line-aligned pieces of the file: (bytes, number of the first line, is last)."""
    lineno = 1
    rest = b""
    with open(path, "rb") as f:
        data = f.read(PIECE_BYTES)
        while True:
            ahead = f.read(PIECE_BYTES)
            buf = rest + data
            if not ahead:
                yield buf, lineno, True
                return
            cut = buf.rfind(b"\n") + 1
            if cut:
                yield buf[:cut], lineno, False
                lineno += buf.count(b"\n", 0, cut)
            rest, data = buf[cut:], ahead


def _read(path: Path) -> _Columns:
    cols = _Columns()
    cache: dict[bytes, int] = {}
    last_type = b""  # the ``# TYPE`` line in force, carried into the next piece
    for piece, first_line, last in _pieces(path):
        # Each piece is parsed as a body of its own: it gets the family's ``# TYPE`` line
        # (``le``/``quantile`` values are normalised by type) and, unless it really is the
        # end, a ``# EOF`` so the parser's end-of-body rules apply only to the real end.
        prefix = last_type + b"\n" if last_type else b""
        body = prefix + piece + (b"" if last else b"# EOF\n")
        try:
            parsed = parse(body, _CONTENT_TYPE, cache, cols.resolve, 0)
        except ExpositionError as e:
            line = first_line + e.line - 1 - (1 if prefix else 0)
            raise BackfillError(f"{path}:{line}: {e.reason}") from e
        if not parsed.has_timestamps.all():
            k = int(np.flatnonzero(~parsed.has_timestamps)[0])
            raise BackfillError(
                f"{path}:{_sample_line(piece, k) + first_line - 1}: "
                "expected a timestamp for the sample, got none (backfilling needs one on every "
                "sample)"
            )
        cols.refs.append(parsed.refs)
        cols.timestamps.append(parsed.timestamps)
        cols.values.append(parsed.values)
        j = piece.rfind(b"\n# TYPE ")
        if j >= 0 or piece.startswith(b"# TYPE "):
            j += 1
            last_type = piece[j : piece.index(b"\n", j)]
    return cols


def _sample_line(piece: bytes, k: int) -> int:
    """1-based line (within ``piece``) of its ``k``-th sample; only used to word an error."""
    seen = -1
    for i, line in enumerate(piece.split(b"\n")):
        if line and not line.startswith(b"#"):
            seen += 1
            if seen == k:
                return i + 1
    return 1  # pragma: no cover - k always indexes a sample of the piece


def create_blocks(
    input_file: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    max_block_duration_ms: int = DEFAULT_BLOCK_DURATION_MS,
) -> list[BlockMeta]:
    """Write the samples of an OpenMetrics file as blocks under ``output_dir``.

    Returns the metas of the blocks written, oldest first (none for a file without
    samples). Raises :class:`BackfillError` for malformed input, a sample without a
    timestamp, out-of-order or conflicting duplicate samples; nothing is written then.
    ``OSError`` propagates for unreadable input or an unwritable output directory.
    """
    path = Path(input_file)
    out = Path(output_dir)
    cols = _read(path)
    if not cols.refs or not sum(len(r) for r in cols.refs):
        return []
    refs = np.concatenate(cols.refs)
    ts = np.concatenate(cols.timestamps)
    vals = np.concatenate(cols.values)
    del cols.refs, cols.timestamps, cols.values
    duration = block_duration(max_block_duration_ms)
    window = ts // duration  # floor: aligned windows even before 1970
    # Rank of each series in label order: blocks store series sorted by labels.
    order_of_labels = sorted(range(len(cols.labels)), key=cols.labels.__getitem__)
    rank = np.empty(len(cols.labels), dtype=np.int64)
    rank[np.asarray(order_of_labels, dtype=np.int64)] = np.arange(len(cols.labels))
    # Window, then series, then file order: within one series and window the samples keep
    # the order of the file, which is the order promtool appends them in.
    order = np.lexsort((np.arange(len(ts)), rank[refs], window))
    refs, ts, vals, window = refs[order], ts[order], vals[order], window[order]
    keep = _check_order(refs, ts, vals, window, cols.labels, path)
    refs, ts, vals, window = refs[keep], ts[keep], vals[keep], window[keep]

    out.mkdir(parents=True, exist_ok=True)
    metas = []
    bounds = np.flatnonzero(np.diff(window)) + 1
    for lo, hi in zip([0, *bounds.tolist()], [*bounds.tolist(), len(ts)], strict=True):
        metas.append(_write(out, refs[lo:hi], ts[lo:hi], vals[lo:hi], cols.labels))
    return metas


def _check_order(
    refs: NDArray[np.int64],
    ts: NDArray[np.int64],
    vals: NDArray[np.float64],
    window: NDArray[np.int64],
    labels: list[Labels],
    path: Path,
) -> NDArray[np.bool_]:
    """Which samples to keep: exact repeats go, anything else out of order is an error."""
    same = (refs[1:] == refs[:-1]) & (window[1:] == window[:-1])
    step = ts[1:] - ts[:-1]
    back = np.flatnonzero(same & (step < 0))
    if len(back):
        i = int(back[0])
        raise BackfillError(
            f"{path}: out of order sample for series {labels[int(refs[i])]}: timestamp "
            f"{int(ts[i + 1])} after {int(ts[i])}"
        )
    dup = same & (step == 0)
    bits = vals.view(np.uint64)
    conflict = np.flatnonzero(dup & (bits[1:] != bits[:-1]))
    if len(conflict):
        i = int(conflict[0])
        raise BackfillError(
            f"{path}: duplicate sample for timestamp {int(ts[i])} with another value for "
            f"series {labels[int(refs[i])]}: {float(vals[i])!r} then {float(vals[i + 1])!r}"
        )
    return np.concatenate(([True], ~dup))


def _write(
    out: Path,
    refs: NDArray[np.int64],
    ts: NDArray[np.int64],
    vals: NDArray[np.float64],
    labels: list[Labels],
) -> BlockMeta:
    """One block from samples sorted by series (in label order), then time."""
    starts = np.flatnonzero(np.concatenate(([True], refs[1:] != refs[:-1])))
    ends = np.append(starts[1:], len(refs))
    series_refs = refs[starts].tolist()

    def series() -> Iterator[SeriesData]:
        for ref, lo, hi in zip(series_refs, starts.tolist(), ends.tolist(), strict=True):
            yield labels[ref], ts[lo:hi], vals[lo:hi]

    return write_block(out, series(), mint=int(ts.min()), maxt=int(ts.max()) + 1)
