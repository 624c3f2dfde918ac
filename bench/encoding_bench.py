"""Block size and read latency on a scrape-like workload, optionally against Prometheus.

Workload ("scrape"): ``--targets`` targets × ``--series-per-target`` series, 1 h scraped
every 5 s (720 samples per series), every target with its own scrape offset (and
``--jitter`` ms of jitter) so series of one target share timestamps but targets do not. Per target:

- 30 % full-precision floats changing every scrape: duration ``_sum`` counters of 25
  histograms plus float counters (``+= exponential``) and float random-walk gauges;
- 25 histograms' 10 ``_bucket`` series and ``_count`` (integer counters);
- integer request counters (Poisson increments, 20 % idle);
- gauges: byte counts (multiples of 4096), 1–2-decimal readings, constants.

Workload ("node"): series shaped like a real ``prometheus-node-exporter`` scrape: taken
from the installed binary's ``/metrics`` if it can run, evolved per type (counters by
increments with the value's own decimals, gauges as decimal random walks or constants).

    python bench/encoding_bench.py                      # 20k series
    python bench/encoding_bench.py --targets 100        # the full 100k-series block
    python bench/encoding_bench.py --prometheus 2000    # also a Prometheus block of 2k series
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from promhub.model.labels import Labels
from promhub.model.matcher import Matcher, MatchType
from promhub.tsdb.block import CHUNKS_FILE, INDEX_FILE, Block, write_block

STEP = 5_000
#: Scrape timestamp jitter in ms (Prometheus aligns up to 2 ms away, so 0 is its view).
JITTER = 0
N = 720
T0 = 1_700_000_000_000 // 7_200_000 * 7_200_000  # a 2 h boundary, as Prometheus aligns
F64 = np.ndarray


def _counter(rng: np.random.Generator, inc: np.ndarray, start: float) -> np.ndarray:
    return start + np.cumsum(inc)


def scrape_target(
    t: int, n_series: int, rng: np.random.Generator
) -> list[tuple[Labels, np.ndarray, np.ndarray]]:
    """One target's series (unsorted), all sharing the target's timestamps."""
    ts = T0 + int(rng.integers(0, STEP)) + np.arange(N, dtype=np.int64) * STEP
    ts += rng.integers(0, JITTER + 1, N)
    inst = f"10.0.{t // 250}.{t % 250}:9100"
    out: list[tuple[Labels, np.ndarray, np.ndarray]] = []

    def add(name: str, vals: np.ndarray, **extra: str) -> None:
        out.append(
            (
                Labels.from_dict({"__name__": name, "job": "app", "instance": inst, **extra}),
                ts,
                vals,
            )
        )

    n_float = int(n_series * 0.3)
    n_hist = max(1, n_series // 40)  # 25 histograms per 1000 series
    # Histograms: integer buckets and count, a full-precision duration sum.
    for h in range(n_hist):
        rate = rng.gamma(2.0, 3.0)
        reqs = rng.poisson(rate, N)
        probs = np.sort(rng.random(9))
        cum = np.zeros(N)
        for b, le in enumerate(
            ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5"]
        ):
            cum = np.cumsum(rng.binomial(reqs, probs[b]))
            add("http_request_duration_seconds_bucket", cum.astype(float), handler=f"/h{h}", le=le)
        add(
            "http_request_duration_seconds_bucket",
            np.cumsum(reqs).astype(float),
            handler=f"/h{h}",
            le="+Inf",
        )
        add("http_request_duration_seconds_count", np.cumsum(reqs).astype(float), handler=f"/h{h}")
        add(
            "http_request_duration_seconds_sum",
            np.cumsum(reqs * rng.exponential(0.05, N)),
            handler=f"/h{h}",
        )
    rest_float = n_float - n_hist
    for i in range(rest_float):
        if i % 2 == 0:
            scale = 10.0 ** rng.uniform(-3, 1)
            add(
                "worker_busy_seconds_total",
                _counter(rng, rng.exponential(scale, N), rng.uniform(0, 1e4)),
                worker=str(i),
            )
        else:
            walk = np.cumsum(rng.normal(0, 10.0 ** rng.uniform(-2, 2), N)) + rng.uniform(0, 1e3)
            add("queue_latency_ewma_seconds", walk, queue=str(i))
    used = len(out)
    left = n_series - used
    n_cnt = left * 5 // 10
    for i in range(n_cnt):
        lam = 0.0 if rng.random() < 0.2 else rng.gamma(1.0, 5.0)
        add(
            "http_requests_total",
            _counter(rng, rng.poisson(lam, N).astype(float), float(rng.integers(0, 10**6))),
            handler=f"/c{i // 5}",
            code=str(200 + i % 5),
        )
    for i in range(left - n_cnt):
        k = i % 4
        if k == 0:
            v = np.round((rng.uniform(1e8, 1e10) + np.cumsum(rng.normal(0, 1e6, N))) / 4096) * 4096
            add("process_memory_bytes", v, area=str(i))
        elif k == 1:
            add("sensor_celsius", np.round(40 + np.cumsum(rng.normal(0, 0.1, N)), 1), sensor=str(i))
        elif k == 2:
            add("pool_utilisation_ratio", np.round(rng.uniform(0, 1, N), 2), pool=str(i))
        else:
            add("build_info_value", np.full(N, float(rng.integers(0, 100))), item=str(i))
    return out


def scrape_workload(
    targets: int, per_target: int, seed: int = 1
) -> list[tuple[Labels, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    series = [s for t in range(targets) for s in scrape_target(t, per_target, rng)]
    series.sort(key=lambda s: s[0])
    return series


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _node_exporter_metrics() -> str | None:
    exe = shutil.which("prometheus-node-exporter")
    if exe is None:
        return None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [exe, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    return str(r.read().decode())
            except OSError:
                time.sleep(0.1)
        return None
    finally:
        proc.terminate()
        proc.wait()


def _decimals(text: str) -> int | None:
    if re.fullmatch(r"-?\d+", text):
        return 0
    m = re.fullmatch(r"-?\d+\.(\d{1,4})", text)
    return len(m.group(1)) if m else None


def node_workload(
    hosts: int, seed: int = 2
) -> tuple[list[tuple[Labels, np.ndarray, np.ndarray]], str]:
    """Series shaped like node_exporter's, per host, evolved over an hour."""
    text = _node_exporter_metrics()
    source = "real node_exporter /metrics"
    if text is None:
        source = "synthetic node_exporter template"
        text = "\n".join(
            ["# TYPE node_cpu_seconds_total counter"]
            + [
                f'node_cpu_seconds_total{{cpu="{c}",mode="{m}"}} {1000 + c * 7.31:.2f}'
                for c in range(2)
                for m in ["idle", "user", "system", "iowait"]
            ]
            + [
                "# TYPE node_memory_MemFree_bytes gauge",
                "node_memory_MemFree_bytes 1.2345e+09",
                "# TYPE node_load1 gauge",
                "node_load1 0.52",
            ]
        )
    types: dict[str, str] = {}
    template: list[tuple[str, dict[str, str], str, str]] = []
    for line in text.splitlines():
        if line.startswith("# TYPE"):
            _, _, name, typ = line.split(maxsplit=3)
            types[name] = typ
        elif line and not line.startswith("#"):
            m = _SAMPLE.match(line)
            if m:
                name, lbl, val = m.groups()
                family = re.sub(r"_(bucket|sum|count)$", "", name)
                template.append(
                    (
                        name,
                        dict(_LABEL.findall(lbl or "")),
                        val,
                        types.get(name, types.get(family, "untyped")),
                    )
                )
    rng = np.random.default_rng(seed)
    out = []
    for h in range(hosts):
        ts = (
            T0
            + int(rng.integers(0, STEP))
            + np.arange(N, dtype=np.int64) * STEP
            + rng.integers(0, JITTER + 1, N)
        )
        for name, lbl, val, typ in template:
            try:
                v0 = float(val)
            except ValueError:
                continue
            dec = _decimals(val)
            ls = Labels.from_dict(
                {"__name__": name, "instance": f"host{h}:9100", "job": "node", **lbl}
            )
            if not np.isfinite(v0):
                vals = np.full(N, v0)
            elif typ == "counter" or name.endswith(("_count", "_bucket")):
                if rng.random() < 0.4:
                    vals = np.full(N, v0)
                elif dec is None or dec == 0:
                    vals = v0 + np.cumsum(rng.poisson(max(1.0, abs(v0) * 1e-6), N)).astype(float)
                else:
                    vals = np.round(v0 + np.cumsum(np.round(rng.exponential(2.5, N), dec)), dec)
            elif typ == "gauge" and rng.random() < 0.5:
                d = 2 if dec is None else dec
                vals = np.round(
                    abs(v0) + np.cumsum(rng.normal(0, max(abs(v0) * 1e-3, 10.0**-d), N)), d
                )
            else:
                vals = np.full(N, v0)
            out.append((ls, ts, vals))
    out.sort(key=lambda s: s[0])
    return out, source


def measure(series: list[tuple[Labels, np.ndarray, np.ndarray]], label: str) -> None:
    samples = sum(len(t) for _, t, _ in series)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        meta = write_block(d, iter(series), T0, T0 + 2 * 3_600_000)
        t_write = time.perf_counter() - t0
        bdir = Path(d) / meta.ulid
        chunks = (bdir / CHUNKS_FILE).stat().st_size
        index = (bdir / INDEX_FILE).stat().st_size
        t0 = time.perf_counter()
        block = Block.open(bdir)
        t_open = time.perf_counter() - t0
        target = series[len(series) // 2][0]
        ms = [Matcher.new(MatchType.EQUAL, k, v) for k, v in target]
        t0 = time.perf_counter()
        got = block.select(ms, T0, T0 + 7_200_000)
        t_cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        block.select(ms, T0, T0 + 7_200_000)
        t_warm = time.perf_counter() - t0
        assert len(got) == 1 and got[0].labels == target
        t0 = time.perf_counter()
        n_read = sum(len(t) for _, t, _ in block.iter_series())
        t_all = time.perf_counter() - t0
        assert n_read == samples
        block.close()
    print(f"[{label}] {len(series):,} series, {samples:,} samples")
    print(f"  chunks only      {chunks / samples:.3f} B/sample ({chunks:,} B)")
    print(f"  incl. index      {(chunks + index) / samples:.3f} B/sample (index {index:,} B)")
    print(f"  write            {t_write:.2f} s ({samples / t_write / 1e6:.2f} M samples/s)")
    print(f"  open             {t_open * 1e3:.0f} ms")
    print(f"  read one series  {t_cold * 1e3:.2f} ms cold, {t_warm * 1e3:.3f} ms warm")
    print(f"  read everything  {t_all:.2f} s ({samples / t_all / 1e6:.1f} M samples/s)")


def _fmt(v: float) -> str:
    r = repr(v)
    return {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}.get(r, r)


def prometheus_size(series: list[tuple[Labels, np.ndarray, np.ndarray]]) -> None:
    """Backfill the same series with ``promtool`` and report Prometheus' block size."""
    promtool = shutil.which("promtool")
    if promtool is None:
        print("[prometheus] promtool not installed")
        return
    samples = sum(len(t) for _, t, _ in series)
    with tempfile.TemporaryDirectory() as d:
        om = Path(d) / "data.om"
        with open(om, "w") as f:
            for ls, ts, vs in series:
                name = ls.name
                lbl = ",".join(f'{k}="{v}"' for k, v in ls if k != "__name__")
                prefix = f"{name}{{{lbl}}} "
                secs = [f"{t // 1000}.{t % 1000:03d}" for t in ts.tolist()]
                f.writelines(
                    f"{prefix}{_fmt(v)} {s}\n" for v, s in zip(vs.tolist(), secs, strict=True)
                )
            f.write("# EOF\n")
        out = Path(d) / "out"
        r = subprocess.run(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(out)],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            print("[prometheus] promtool failed:", r.stderr[-500:])
            return
        chunks = sum(p.stat().st_size for p in out.glob("*/chunks/*"))
        index = sum(p.stat().st_size for p in out.glob("*/index"))
    print(
        f"[prometheus {len(series):,} series] chunks {chunks / samples:.3f} B/sample, "
        f"incl. index {(chunks + index) / samples:.3f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--targets", type=int, default=20, help="targets of 1,000 series (default 20)")
    ap.add_argument("--series-per-target", type=int, default=1000)
    ap.add_argument("--node-hosts", type=int, default=20, help="node_exporter-like hosts")
    ap.add_argument(
        "--prometheus",
        type=int,
        default=0,
        metavar="SERIES",
        help="also backfill this many series into a Prometheus block with promtool",
    )
    ap.add_argument("--jitter", type=int, default=0, help="scrape timestamp jitter, ms")
    args = ap.parse_args()
    global JITTER
    JITTER = args.jitter
    series = scrape_workload(args.targets, args.series_per_target)
    measure(series, "scrape workload")
    if args.prometheus:
        prometheus_size(
            scrape_workload(
                max(1, args.prometheus // args.series_per_target),
                min(args.prometheus, args.series_per_target),
            )
        )
        measure(
            scrape_workload(
                max(1, args.prometheus // args.series_per_target),
                min(args.prometheus, args.series_per_target),
            ),
            "same, promhub",
        )
    if args.node_hosts:
        node, source = node_workload(args.node_hosts)
        measure(node, f"node_exporter-like, {source}")
        if args.prometheus:
            prometheus_size(node[: args.prometheus])
            measure(node[: args.prometheus], "same, promhub")


if __name__ == "__main__":
    main()
