"""``tsdb analyze`` and ``tsdb dump``: promtool's inspection commands for a promhub data dir.

Both open the directory read-only (blocks plus the head rebuilt from the WAL, with nothing
written, repaired or locked), so they are safe to run next to a live server.
The output formats follow ``promtool tsdb analyze`` / ``promtool tsdb dump`` (Prometheus
2.42): dump prints ``{labels} value timestamp`` with the value formatted as Go's ``%g``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from promhub.model.gofloat import format_g
from promhub.model.labels import Labels, quote
from promhub.model.matcher import Matcher
from promhub.storage.interface import MAX_TIME, MIN_TIME
from promhub.tsdb.db import DB

#: One analysed series: labels, first and last timestamp.
_Span = tuple[Labels, int, int]


def format_labels(labels: Labels) -> str:
    """Labels as Prometheus' ``labels.String()``: ``{__name__="up", job="x"}``."""
    return "{" + ", ".join(f"{n}={quote(v)}" for n, v in labels) + "}"


format_value = format_g


def format_duration(ms: int) -> str:
    """Milliseconds as Go's ``time.Duration.String()`` (``2h0m0s``, ``15.001s``)."""
    if ms == 0:
        return "0s"
    neg = "-" if ms < 0 else ""
    ms = abs(ms)
    if ms < 1000:
        return f"{neg}{ms}ms"
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, frac = divmod(rem, 1000)
    sec = f"{s}.{frac:03d}".rstrip("0") if frac else str(s)
    if h:
        return f"{neg}{h}h{m}m{sec}s"
    if m:
        return f"{neg}{m}m{sec}s"
    return f"{neg}{sec}s"


def dump(
    path: str | Path,
    matchers: Sequence[Matcher],
    mint: int = MIN_TIME,
    maxt: int = MAX_TIME,
    out: TextIO | None = None,
) -> None:
    """Print every sample matching ``matchers`` in ``[mint, maxt]`` like ``promtool tsdb dump``."""
    import sys

    stream = out if out is not None else sys.stdout
    db = DB.open(path, read_only=True)
    try:
        q = db.querier(mint, maxt)
        for s in q.select(matchers):
            head = format_labels(s.labels) + " "
            vals = [format_value(v) for v in s.values.tolist()]
            stream.write(
                "".join(
                    f"{head}{v} {t}\n" for v, t in zip(vals, s.timestamps.tolist(), strict=True)
                )
            )
        q.close()
    finally:
        db.close()


def analyze(path: str | Path, limit: int = 20, block_id: str | None = None) -> str:
    """A report like ``promtool tsdb analyze`` for the newest block (or the head).

    ``block_id`` picks a block by ULID, or ``"head"``; by default the newest block is
    analysed, or the head when there is no block yet.
    """
    db = DB.open(path, read_only=True)
    try:
        blocks = db.blocks
        if block_id is None:
            block_id = max(blocks, key=lambda b: b.meta.max_time).meta.ulid if blocks else "head"
        if block_id == "head":
            h = db.head
            series = h.all_series()
            refs = np.array(sorted(r for r, _ in series), dtype=np.int64)
            cols = h.snapshot().collect(refs, MIN_TIME, MAX_TIME)
            by_ref = dict(series)
            spans: list[_Span] = [
                (by_ref[r], int(cols.ts[a]), int(cols.ts[b - 1]))
                for r, a, b in zip(
                    cols.refs.tolist(),
                    cols.offsets[:-1].tolist(),
                    cols.offsets[1:].tolist(),
                    strict=True,
                )
            ]
            mint = min((s[1] for s in spans), default=0)
            maxt = max((s[2] for s in spans), default=0) + 1
            samples = cols.nsamples
            size = h.memory_bytes()
            name = "head"
        else:
            match = [b for b in blocks if b.meta.ulid == block_id]
            if not match:
                raise ValueError(f"no block {block_id} in {path}")
            blk = match[0]
            spans = [(ls, int(ts[0]), int(ts[-1])) for ls, ts, _ in blk.iter_series() if len(ts)]
            mint, maxt = blk.meta.min_time, blk.meta.max_time
            samples = blk.meta.num_samples
            size = blk.size_bytes()
            name = blk.meta.ulid
        return _report(name, spans, mint, maxt, samples, size, limit)
    finally:
        db.close()


def _report(
    name: str, spans: Iterable[_Span], mint: int, maxt: int, samples: int, size: int, limit: int
) -> str:
    duration = max(maxt - mint, 1)
    uncovered_names: dict[str, int] = {}
    uncovered_pairs: dict[str, int] = {}
    pair_count: dict[str, int] = {}
    values: dict[str, set[str]] = {}
    metric_count: dict[str, int] = {}
    entries = 0
    nseries = 0
    for ls, first, last in spans:
        nseries += 1
        # How much of the block's range this series does not cover: churn.
        uncovered = max(duration - (last - first), 0)
        for n, v in ls:
            key = f"{n}={v}"
            uncovered_names[n] = uncovered_names.get(n, 0) + uncovered
            uncovered_pairs[key] = uncovered_pairs.get(key, 0) + uncovered
            pair_count[key] = pair_count.get(key, 0) + 1
            values.setdefault(n, set()).add(v)
            entries += 1
        metric_count[ls.name] = metric_count.get(ls.name, 0) + 1

    lines = [
        f"Block ID: {name}",
        f"Duration: {format_duration(maxt - mint)}",
        f"Series: {nseries}",
        f"Label names: {len(values)}",
        f"Postings (unique label pairs): {len(pair_count)}",
        f"Postings entries (total label pairs): {entries}",
        f"Samples: {samples}",
        f"Bytes per sample: {size / samples if samples else 0:.2f}",
    ]

    def section(title: str, d: dict[str, int]) -> None:
        lines.append("")
        lines.append(title)
        for k, v in sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]:
            lines.append(f"{v} {k}")

    section(
        "Label pairs most involved in churning:",
        {k: v // duration for k, v in uncovered_pairs.items()},
    )
    section(
        "Label names most involved in churning:",
        {k: v // duration for k, v in uncovered_names.items()},
    )
    section("Most common label pairs:", pair_count)
    section(
        "Label names with highest cumulative label value length:",
        {n: sum(len(v) for v in vs) for n, vs in values.items()},
    )
    section("Highest cardinality labels:", {n: len(vs) for n, vs in values.items()})
    section("Highest cardinality metric names:", metric_count)
    return "\n".join(lines) + "\n"
