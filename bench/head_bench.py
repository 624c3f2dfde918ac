"""Head memory (RSS per active series) and WAL bytes per sample, without a server.

Appends bench/targets.py's workload (``--targets`` × 1,000 series + the 5 series a
scrape adds, ~30 % changing by a full-precision float each scrape) straight into a
``promhub.tsdb.DB``: one commit per target per scrape with one shared timestamp, exactly
as the scrape loop does, and ``DB.maintain()`` every simulated minute as the server does.
Label sets are built once per series and kept (the scrape cache keeps them too).

Reports, after ``--minutes`` of simulated time at ``--interval`` seconds:

* RSS growth per active series (process RSS minus RSS before the first series) — compare
  with Prometheus 2.42's 2,895 B per series after 5 min (docs: MEASUREMENTS.md);
* WAL bytes per sample (all files under ``wal/`` over samples appended since the last
  checkpoint) — Prometheus: 8.7 B;
* head bytes per sample held in frames and raw batches;
* ingestion CPU per 1M samples (append + WAL only; no scrape, no parse).

Examples::

    python bench/head_bench.py                        # 100 targets = 100,500 series, 5 min
    python bench/head_bench.py --targets 10 --minutes 120   # the head over 2 h
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.targets import ORIGIN_MS, SERIES, TargetModel  # noqa: E402
from promhub.model.labels import Labels  # noqa: E402
from promhub.tsdb import DB  # noqa: E402

SCRAPE_SERIES = (
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
)


def target_labels(t: int) -> list[Labels]:
    job, inst = "bench", f"127.0.0.1:{20000 + t}"
    out = [
        Labels.from_pairs([("__name__", name), ("job", job), ("instance", inst), *pairs])
        for name, pairs in SERIES
    ]
    out += [
        Labels.from_pairs([("__name__", n), ("job", job), ("instance", inst)])
        for n in SCRAPE_SERIES
    ]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--targets", type=int, default=100)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--interval", type=float, default=5.0)
    ap.add_argument("--min-block-minutes", type=int, default=30)
    args = ap.parse_args()

    proc = psutil.Process()
    models = [TargetModel(seed=1, target=t) for t in range(args.targets)]
    steps = int(args.minutes * 60 / args.interval)
    step_ms = int(args.interval * 1000)
    with tempfile.TemporaryDirectory(prefix="head_bench_") as tmp:
        db = DB.open(tmp, min_block_duration_ms=args.min_block_minutes * 60_000)
        gc.collect()
        rss0 = proc.memory_info().rss
        app = db.appender()
        refs = []
        for t in range(args.targets):
            refs.append(np.array([app.ref(ls) for ls in target_labels(t)], dtype=np.int64))
        nseries = sum(len(r) for r in refs)
        cpu0 = time.process_time()
        appended = 0
        per_minute = max(1, int(60 / args.interval))
        for step in range(steps):
            ts = np.array([ORIGIN_MS + step * step_ms], dtype=np.int64)
            for t, m in enumerate(models):
                extra = np.array([1.0, 0.01 + 0.001 * (step % 7), 1000, 1000, 0.0])
                app.append(refs[t], ts, np.concatenate([m.values(step), extra]))
                appended += app.commit().appended
            if (step + 1) % per_minute == 0:
                db.maintain()
        cpu = time.process_time() - cpu0
        gc.collect()
        rss = proc.memory_info().rss
        st = db.stats()
        wal_bytes = sum(p.stat().st_size for p in (Path(tmp) / "wal").iterdir())
        wal_samples = st.head_samples  # the WAL holds exactly the head (checkpoint + segments)
        res = {
            "series": nseries,
            "simulated_minutes": args.minutes,
            "samples_appended": appended,
            "rss_growth_bytes": rss - rss0,
            "rss_bytes_per_series": round((rss - rss0) / nseries, 1),
            "prometheus_rss_bytes_per_series": 2895,
            "wal_bytes_per_sample": round(wal_bytes / max(wal_samples, 1), 3),
            "prometheus_wal_bytes_per_sample": 8.7,
            "head_samples": st.head_samples,
            "head_data_bytes_per_sample": round(
                db.head.memory_bytes() / max(st.head_samples, 1), 3
            ),
            "blocks": st.num_blocks,
            "cpu_s_per_1M_samples_append_and_wal": round(cpu / appended * 1e6, 3),
        }
        db.close()
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
