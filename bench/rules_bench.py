"""Rule evaluation cost: one group of recording and alerting rules over many series.

    PYTHONPATH=. python bench/rules_bench.py --series 10000 --rules 100 --alerts 1000

Writes ``--series`` gauges (``m{job, i}``, 100 jobs) at 15 s for 10 minutes into a fresh
TSDB, then evaluates a group of ``--rules`` rules (half recording ``sum by (job)
(rate(...))``, half alerting ``m > threshold`` sized so ``--alerts`` alerts fire in
total) a few times and reports seconds per group evaluation, per rule, and the samples
written back per evaluation.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np

from promhub.model.labels import Labels
from promhub.promql.engine import Engine
from promhub.rules.group import Group, Settings
from promhub.rules.rulefile import parse_rule_text
from promhub.tsdb import DB


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--rules", type=int, default=100)
    ap.add_argument("--alerts", type=int, default=1_000)
    ap.add_argument("--evals", type=int, default=5)
    ap.add_argument(
        "--freeze",
        action="store_true",
        help="compress the head's samples into chunks first (maintenance does this every run)",
    )
    a = ap.parse_args()
    t0 = 1_700_000_000_000
    with tempfile.TemporaryDirectory() as d:
        db = DB.open(d)
        app = db.appender()
        refs = np.array(
            [
                app.ref(Labels.from_dict({"__name__": "m", "job": f"j{i % 100}", "i": str(i)}))
                for i in range(a.series)
            ],
            dtype=np.int64,
        )
        app.commit()
        vals = np.arange(a.series, dtype=np.float64)
        for k in range(40):
            app = db.appender()
            app.append(refs, np.array([t0 + k * 15_000], dtype=np.int64), vals + k)
            app.commit()
        if a.freeze:
            db.head.freeze()
        n_alert = a.rules // 2
        per_rule = max(1, a.alerts // max(1, n_alert))
        lines = ["groups:", "  - name: bench", "    rules:"]
        for r in range(a.rules - n_alert):
            lines += [
                f"      - record: job:m:rate{r}",
                f"        expr: sum by (job) (rate(m[{1 + r % 5}m]))",
            ]
        for r in range(n_alert):
            # The per_rule series with the largest values exceed the threshold.
            lines += [f"      - alert: A{r}", f"        expr: m > {a.series + 39 - per_rule - 0.5}"]
        (gd,) = parse_rule_text("\n".join(lines), "bench.yml")
        g = Group(gd, 15.0, 0.0, Settings(Engine(), db, db, lambda e, al: None))
        times = []
        ts = t0 + 39 * 15_000
        for _ in range(a.evals):
            s = time.perf_counter()
            g.eval(ts)
            times.append(time.perf_counter() - s)
            ts += 1  # same data, new evaluation timestamp
        errs = [r.status.last_error for r in g.rules if r.status.last_error]
        firing = sum(len(r.active) for r in g.rules if hasattr(r, "active"))
        med = statistics.median(times)
        print(
            f"series={a.series} rules={a.rules} alerts={firing} errors={len(errs)} "
            f"group eval median={med:.3f}s ({med / a.rules * 1000:.2f} ms/rule) "
            f"min={min(times):.3f}s"
        )
        db.close()


if __name__ == "__main__":
    main()
