"""Memory and open time of opened blocks: RSS per series per open block.

Writes one block holding bench/targets.py's series (``--targets`` × 1,000 series plus
the 5 a scrape adds, two samples each: samples do not matter here, the index does), then
opens it ``--opens`` times in a *fresh* process, as a DB with that many blocks of the
same series (15 d retention keeps about a dozen) would, and reports:

* RSS growth per series per open block (process RSS after the opens minus before);
* wall time per ``Block.open``;
* time of one ``select`` of a whole metric name and of a regex on a label, and of
  ``iter_series`` over the first block (a compaction's read), so a memory win that
  makes queries slow shows.

The opening runs in a child process so that memory freed after writing the block
cannot be reused by the opens and hide their cost.

Examples::

    python bench/block_memory_bench.py                    # 100 targets = 100,500 series, 12 opens
    python bench/block_memory_bench.py --targets 20 --opens 4
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.head_bench import target_labels  # noqa: E402
from bench.targets import ORIGIN_MS  # noqa: E402
from promhub.model.labels import Labels  # noqa: E402
from promhub.model.matcher import parse_selector  # noqa: E402
from promhub.tsdb.block import Block, write_block  # noqa: E402

HOUR_MS = 3_600_000


def write(parent: Path, targets: int) -> Path:
    labels = sorted(ls for t in range(targets) for ls in target_labels(t))
    ts = np.array([ORIGIN_MS, ORIGIN_MS + 5000], dtype=np.int64)
    vals = np.array([1.0, 2.0])

    def series() -> Iterator[tuple[Labels, np.ndarray, np.ndarray]]:
        for ls in labels:
            yield ls, ts, vals

    meta = write_block(parent, series(), ORIGIN_MS, ORIGIN_MS + HOUR_MS)
    return parent / meta.ulid


def measure(path: Path, opens: int) -> dict[str, object]:
    proc = psutil.Process()
    gc.collect()
    rss0 = proc.memory_info().rss
    blocks = []
    t0 = time.perf_counter()
    for _ in range(opens):
        blocks.append(Block.open(path))
    open_s = (time.perf_counter() - t0) / opens
    gc.collect()
    rss = proc.memory_info().rss
    b = blocks[0]
    n = b.meta.num_series
    t0 = time.perf_counter()
    by_name = b.select(parse_selector('{__name__="bench_http_requests_total"}'), 0, 2**62)
    select_name_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    by_regex = b.select(parse_selector('{instance=~"127.0.0.1:2000[0-4]"}'), 0, 2**62)
    select_regex_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    iterated = sum(1 for _ in b.iter_series())
    iter_s = time.perf_counter() - t0
    for blk in blocks:
        blk.close()
    return {
        "series_per_block": n,
        "opens": opens,
        "rss_growth_bytes": rss - rss0,
        "rss_bytes_per_series_per_block": round((rss - rss0) / (n * opens), 1),
        "open_s_per_block": round(open_s, 4),
        "select_metric_name_s": round(select_name_s, 4),
        "select_metric_name_series": len(by_name),
        "select_regex_s": round(select_regex_s, 4),
        "select_regex_series": len(by_regex),
        "iter_series_s": round(iter_s, 3),
        "iter_series_series": iterated,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--targets", type=int, default=100)
    ap.add_argument("--opens", type=int, default=12)
    ap.add_argument("--open-only", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.open_only is not None:
        print(json.dumps(measure(args.open_only, args.opens)))
        return
    with tempfile.TemporaryDirectory(prefix="block_memory_bench_") as tmp:
        path = write(Path(tmp), args.targets)
        out = subprocess.run(
            [sys.executable, __file__, "--open-only", str(path), "--opens", str(args.opens)],
            check=True,
            capture_output=True,
            text=True,
        )
    print(json.dumps(json.loads(out.stdout), indent=2))


if __name__ == "__main__":
    main()
