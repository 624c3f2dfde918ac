"""On-disk size of one full 1 h block: Prometheus (promtool backfill) vs promhub.

A live run cannot wait for Prometheus to cut a full block, so this builds one from the
SAME data for both systems: ``--targets`` targets of bench/targets.py's workload (1,000
series each plus the 5 series a scrape adds: ``up``, ``scrape_duration_seconds``,
``scrape_samples_scraped``, ``scrape_samples_post_metric_relabeling``,
``scrape_series_added``), ``--steps`` scrapes ``--interval`` seconds apart, with scrape
timestamps carrying the per-target offset and the occasional millisecond of jitter that
Prometheus 2.42's scrape loop shows on this machine (92 % of timestamp
delta-of-deltas are 0).

* Prometheus: the data is written as an OpenMetrics file with timestamps and imported
  with ``promtool tsdb create-blocks-from openmetrics FILE DIR``.
* promhub: the same series go to ``promhub.tsdb.block.write_block``.

Both blocks are measured the same way: bytes of ``chunks/``, of ``index``, and of the whole
block directory, each divided by the samples in the block. Both blocks are read back and
compared with the generated data so that the sizes are of the same samples.

Example::

    python bench/block_bench.py                     # 10 targets = 10,050 series x 720
    python bench/block_bench.py --targets 2 --steps 120   # quick check
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from targets import FAMILIES, ORIGIN_MS, SERIES, TargetModel, _fmt

HERE = Path(__file__).resolve().parent
PROMTOOL = "/usr/bin/promtool"
BLOCK_MS = 3_600_000
#: Block start: 30 days after the targets' origin, on a 2 h boundary so promtool (which
#: cuts blocks at multiples of 2 h) puts the whole hour into one block.
T0_MS = ORIGIN_MS + 30 * 86_400_000
SYNTHETIC = (
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
)


@dataclass
class TargetData:
    """One target's scrapes: shared timestamps and a (steps × series) value matrix."""

    instance: str
    ts: np.ndarray  # int64 ms, as Prometheus stores the OpenMetrics seconds
    ts_text: list[str]  # the same instants as OpenMetrics seconds
    values: np.ndarray  # (steps, 1000 + 5)
    entropy_bits: float  # information in all values, bits (see TargetModel.entropy_bits)


def generate(
    targets: int, steps: int, interval_ms: int, seed: int, base_port: int
) -> list[TargetData]:
    """The workload of ``targets`` targets over ``steps`` scrapes, deterministically."""
    out = []
    first_step = (T0_MS - ORIGIN_MS) // interval_ms
    for t in range(targets):
        rng = np.random.default_rng([seed, t, 99])
        offset = int(rng.integers(10, interval_ms - 10))
        # Measured on Prometheus 2.42 here: 92 % of delta-of-deltas of scrape timestamps
        # are 0, the rest a few ms. So ~4 % of scrapes land 1-4 ms off schedule.
        off = rng.random(steps) < 0.04
        jitter = np.where(off, rng.choice([-4, -3, -2, -1, 1, 2, 3, 4], steps), 0)
        ts_ms = T0_MS + offset + np.arange(steps, dtype=np.int64) * interval_ms + jitter
        if int(ts_ms[-1]) >= T0_MS + BLOCK_MS:
            raise SystemExit(f"--steps {steps} × {interval_ms} ms does not fit in one hour")
        ts_text = [f"{v // 1000}.{v % 1000:03d}" for v in ts_ms.tolist()]
        # Prometheus' OpenMetrics parser turns seconds into ms as int64(float * 1000):
        # reproduce that truncation so both systems store the identical timestamps.
        ts_prom = (np.array([float(s) for s in ts_text]) * 1000.0).astype(np.int64)
        model = TargetModel(seed, t)
        vals = model.values_matrix(np.arange(first_step, first_step + steps))
        synth = np.empty((steps, len(SYNTHETIC)))
        synth[:, 0] = 1.0
        synth[:, 1] = 0.004 * np.exp(0.3 * rng.standard_normal(steps))
        synth[:, 2] = synth[:, 3] = float(vals.shape[1])
        synth[:, 4] = 0.0
        synth[0, 4] = float(vals.shape[1])
        # scrape_duration_seconds is the one synthetic series that moves: a lognormal
        # float of ~52 bits at its spacing (sigma 0.3 x 4 ms / spacing(4 ms), +2.05 bits).
        probe = range(0, steps, max(1, steps // 12))  # the floor barely moves: sample it
        per_step = sum(model.entropy_bits(first_step + k) for k in probe) / len(probe)
        per_step += float(np.log2(0.3 * 0.004 / np.spacing(0.004)) + 2.047)
        out.append(
            TargetData(
                f"127.0.0.1:{base_port + t}",
                ts_prom,
                ts_text,
                np.hstack([vals, synth]),
                per_step * steps,
            )
        )
    return out


def series_labels(td: TargetData) -> list[dict[str, str]]:
    """Label sets of one target's series, index-aligned with ``TargetData.values``."""
    base = {"job": "bench", "instance": td.instance}
    out = [{"__name__": name, **dict(pairs), **base} for name, pairs in SERIES]
    out += [{"__name__": name, **base} for name in SYNTHETIC]
    return out


def write_openmetrics(data: list[TargetData], f: TextIO) -> int:
    """Write all samples family by family (OpenMetrics requires families contiguous)."""
    families: list[tuple[str, str, list[int]]] = []
    i = 0
    for fam in FAMILIES:
        families.append((fam.name, fam.type, list(range(i, i + len(fam.series)))))
        i += len(fam.series)
    for k, name in enumerate(SYNTHETIC):
        families.append((name, "unknown", [i + k]))
    n = 0
    all_labels = [series_labels(td) for td in data]
    for fam_name, typ, cols in families:
        f.write(f"# TYPE {fam_name} {typ}\n")
        for td, tl in zip(data, all_labels, strict=True):
            for col in cols:
                name = tl[col]["__name__"]
                lbl = ",".join(f'{k}="{v}"' for k, v in tl[col].items() if k != "__name__")
                prefix = f"{name}{{{lbl}}} "
                vals = td.values[:, col].tolist()
                f.writelines(
                    f"{prefix}{_fmt(v)} {s}\n" for v, s in zip(vals, td.ts_text, strict=True)
                )
                n += len(vals)
    f.write("# EOF\n")
    return n


def block_sizes(block: Path) -> dict[str, Any]:
    def size(p: Path) -> int:
        if p.is_file():
            return p.stat().st_size
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())

    meta = json.loads((block / "meta.json").read_text())
    return {
        "dir": str(block),
        "samples": int(meta["stats"]["numSamples"]),
        "series": int(meta["stats"]["numSeries"]),
        "chunks": size(block / "chunks"),
        "index": size(block / "index"),
        "total": size(block),
    }


def only_block(parent: Path) -> Path:
    blocks = [p for p in parent.iterdir() if p.is_dir() and (p / "meta.json").exists()]
    if len(blocks) != 1:
        raise SystemExit(f"expected one block in {parent}, found {len(blocks)}")
    return blocks[0]


def prometheus_block(data: list[TargetData], work: Path) -> dict[str, Any]:
    om = work / "data.om"
    t0 = time.perf_counter()
    with om.open("w") as f:
        n = write_openmetrics(data, f)
    gen_s = time.perf_counter() - t0
    out = work / "prometheus"
    out.mkdir()
    t0 = time.perf_counter()
    subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "-q", str(om), str(out)], check=True
    )
    res = block_sizes(only_block(out))
    res.update(
        write_s=round(time.perf_counter() - t0, 1),
        openmetrics_bytes=om.stat().st_size,
        openmetrics_gen_s=round(gen_s, 1),
    )
    if res["samples"] != n:
        raise SystemExit(f"promtool block holds {res['samples']} samples, wrote {n}")
    om.unlink()
    check_prometheus(data, out, res)
    return res


def check_prometheus(data: list[TargetData], db: Path, res: dict[str, Any]) -> None:
    """Dump one scrape of the first target from the block and compare with the data."""
    td = data[0]
    k = len(td.ts) // 2
    ts = int(td.ts[k])
    dump = subprocess.run(
        [
            PROMTOOL,
            "tsdb",
            "dump",
            f"--min-time={ts}",
            f"--max-time={ts}",
            f'--match={{instance="{td.instance}"}}',
            str(db),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    want = sorted(f"{_fmt(v)} {ts}" for v in td.values[k].tolist())
    got = sorted(line.split("} ", 1)[1] for line in dump if "} " in line)
    # promtool prints floats its own way; compare the parsed values instead.
    gv = sorted((float(g.split()[0]), int(g.split()[1])) for g in got)
    wv = sorted((float(w.split()[0]), int(w.split()[1])) for w in want)
    res["verified"] = gv == wv
    if gv != wv:
        print(
            f"WARNING: Prometheus block differs at ts={ts}: {len(gv)} vs {len(wv)} samples",
            file=sys.stderr,
        )


def promhub_series(data: list[TargetData]) -> Iterator[tuple[Any, np.ndarray, np.ndarray]]:
    from promhub.model.labels import Labels

    rows = []
    for ti, td in enumerate(data):
        for col, labels in enumerate(series_labels(td)):
            rows.append((Labels.from_dict(labels), ti, col))
    rows.sort(key=lambda r: r[0])
    for labels, ti, col in rows:
        yield labels, data[ti].ts, np.ascontiguousarray(data[ti].values[:, col])


def promhub_block(data: list[TargetData], work: Path) -> dict[str, Any]:
    from promhub.tsdb.block import Block, write_block

    out = work / "promhub"
    out.mkdir()
    t0 = time.perf_counter()
    meta = write_block(out, promhub_series(data), T0_MS, T0_MS + BLOCK_MS)
    res = block_sizes(out / meta.ulid)
    res["write_s"] = round(time.perf_counter() - t0, 1)
    # Read everything back: the size only counts if the samples are exactly the same.
    want = {labels: (ts, vals) for labels, ts, vals in promhub_series(data)}
    ok = True
    with Block.open(out / meta.ulid) as block:
        n = 0
        for labels, ts, vals in block.iter_series():
            w = want.get(labels)
            n += 1
            if w is None or not (
                np.array_equal(ts, w[0])
                and np.array_equal(vals.view(np.int64), w[1].view(np.int64))
            ):
                ok = False
        ok = ok and n == len(want)
    res["verified"] = ok
    if not ok:
        print("WARNING: promhub block does not read back the written samples", file=sys.stderr)
    return res


def table(res: dict[str, dict[str, Any]]) -> str:
    rows = [
        ("chunks only (B/sample)", "chunks"),
        ("index (B/sample)", "index"),
        ("whole block (B/sample)", "total"),
    ]
    names = list(res)
    both = "prometheus" in res and "promhub" in res
    out = [
        "| figure | " + " | ".join(names) + (" | promhub / Prometheus |" if both else " |"),
        "|---" * (len(names) + 1 + both) + "|",
    ]
    for label, key in rows:
        per = {n: res[n][key] / res[n]["samples"] for n in names}
        line = f"| {label} | " + " | ".join(f"{per[n]:.3f}" for n in names)
        line += f" | {per['promhub'] / per['prometheus']:.2f}× |" if both else " |"
        out.append(line)
    out.append(
        "| block write time (s) | "
        + " | ".join(str(res[n]["write_s"]) for n in names)
        + (" | |" if both else " |")
    )
    out.append(
        "| read back = generated data | "
        + " | ".join(str(res[n].get("verified")) for n in names)
        + (" | |" if both else " |")
    )
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--targets", type=int, default=10, help="targets of 1,005 series each")
    p.add_argument("--steps", type=int, default=720, help="scrapes per series")
    p.add_argument("--interval", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--base-port", type=int, default=19100)
    p.add_argument("--systems", default="prometheus,promhub")
    p.add_argument("--out", type=Path, default=HERE / "out")
    p.add_argument("--keep", action="store_true", help="keep the blocks")
    args = p.parse_args()
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]

    work = args.out / (time.strftime("%Y%m%dT%H%M%S") + "-block")
    work.mkdir(parents=True)
    t0 = time.perf_counter()
    data = generate(args.targets, args.steps, int(args.interval * 1000), args.seed, args.base_port)
    samples = sum(td.values.size for td in data)
    print(
        f"generated {samples:,} samples of {sum(td.values.shape[1] for td in data):,} series "
        f"in {time.perf_counter() - t0:.1f}s",
        file=sys.stderr,
        flush=True,
    )
    res: dict[str, dict[str, Any]] = {}
    if "prometheus" in systems:
        res["prometheus"] = prometheus_block(data, work)
    if "promhub" in systems:
        res["promhub"] = promhub_block(data, work)
    floor = sum(td.entropy_bits for td in data) / 8 / samples
    md = table(res)
    md += "\n| entropy floor of these values (B/sample) | "
    md += " | ".join(f"{floor:.3f}" for _ in res) + (" | |" if len(res) > 1 else " |")
    if "prometheus" in res:
        p_chunks = res["prometheus"]["chunks"] / res["prometheus"]["samples"]
        md += f"\n\nbest ratio any lossless encoding can reach here: {floor / p_chunks:.2f}×"
    (work / "result.json").write_text(
        json.dumps(
            {"args": {k: str(v) for k, v in vars(args).items()}, "result": res, "table": md},
            indent=1,
        )
    )
    if not args.keep:
        for name in res:
            shutil.rmtree(work / name, ignore_errors=True)
    print(md)
    print(f"\nresults: {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
