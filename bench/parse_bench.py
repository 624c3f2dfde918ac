"""Micro-benchmark of promhub.model.exposition.parse.

Builds a 100k-line text 0.0.4 body (7 labels per series, integer and float values) and
an OpenMetrics twin, then reports samples/s:

- cold: an empty cache, so every line's labels are parsed and resolved;
- warm: the cache filled by a previous scrape (a plain dict: per-line cache lookups);
- same shape: a ``SeriesCache`` and a next body with the same series in the same order
  but other values, the steady state of a real scrape loop (values converted in bulk).

Run: ``python bench/parse_bench.py [--lines N] [--repeat R]``
"""

from __future__ import annotations

import argparse
import random
import time

from promhub.model.exposition import SeriesCache, parse
from promhub.model.labels import Labels


def make_body(lines: int, openmetrics: bool, seed: int = 1) -> bytes:
    rnd = random.Random(seed)
    out = []
    per_family = 1000
    for i in range(lines):
        if i % per_family == 0:
            fam = f"app_requests_{i // per_family}"
            out.append(f"# HELP {fam}_total Requests handled.")
            out.append(f"# TYPE {fam}_total counter")
        labels = (
            f'code="{200 + i % 5}",method="{("GET", "POST")[i % 2]}",'
            f'handler="/api/v1/item/{i % 997}",instance="10.0.{i % 7}.1:9100",'
            f'job="app",region="eu-west-1",series="{i}"'
        )
        value = rnd.randint(0, 10**9) if i % 3 else rnd.random() * 1e6
        out.append(f"app_requests_{i // per_family}_total{{{labels}}} {value}")
    if openmetrics:
        out.append("# EOF")
    return ("\n".join(out) + "\n").encode()


def bench(
    body: bytes, next_body: bytes, content_type: str, repeat: int
) -> tuple[float, float, float, int]:
    def resolve(labels: Labels) -> int:
        return hash(labels) & 0xFFFFFF

    cold = warm = same = float("inf")
    samples = 0
    for _ in range(repeat):
        cache: dict[bytes, int] = {}
        t0 = time.perf_counter()
        r = parse(body, content_type, cache, resolve, 0)
        cold = min(cold, time.perf_counter() - t0)
        samples = r.samples_total
        t0 = time.perf_counter()
        parse(body, content_type, cache, resolve, 0)
        warm = min(warm, time.perf_counter() - t0)
        shaped = SeriesCache()
        parse(body, content_type, shaped, resolve, 0)
        t0 = time.perf_counter()
        parse(next_body, content_type, shaped, resolve, 0)
        same = min(same, time.perf_counter() - t0)
    return samples / warm, samples / cold, samples / same, samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    for name, ct, om in (
        ("text 0.0.4", "text/plain; version=0.0.4", False),
        ("OpenMetrics 1.0.0", "application/openmetrics-text; version=1.0.0", True),
    ):
        body = make_body(args.lines, om)
        warm, cold, same, n = bench(body, make_body(args.lines, om, seed=2), ct, args.repeat)
        print(
            f"{name:18s} {n} samples, {len(body) / 1e6:.1f} MB: "
            f"same shape {same / 1e3:,.0f}k samples/s, "
            f"warm {warm / 1e3:,.0f}k samples/s, cold {cold / 1e3:,.0f}k samples/s"
        )


if __name__ == "__main__":
    main()
