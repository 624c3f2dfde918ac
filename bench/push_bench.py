"""Push throughput of promhub's Pushgateway API (and, for reference, the real Pushgateway).

Client processes (``--clients``, separate from the server and from each other) each push
realistic text bodies of ``--series`` series as fast as they can over a keep-alive
connection for ``--duration`` seconds: ``PUT /metrics/job/bench/instance/<client>-<k>``,
cycling through ``--groups`` groups per client, values changing every push (so every push
is a real update, like a batch job reporting). A body is a mix of what jobs push: counters
and gauges with a few labels plus 10-bucket histograms (bucket, sum and count series).

Measured per system and body size, over the window:

| figure | how |
|---|---|
| pushes/s, series/s | successful pushes (200) in the window ÷ window; × series per push |
| p50 / p99 latency | per request, client side |
| server CPU-s per 1k pushes | psutil user+system CPU of the server process over the window |

promhub runs with ``scrape_interval: 15s`` (so the TSDB write of the pushed groups is part
of the cost, as in production) and the default limits. Results go to
``bench/out/push-<time>/`` (``result.json``, ``table.md``) and the table to stdout.

The default compares promhub with the real Pushgateway (``/usr/bin/prometheus-pushgateway``,
one server at a time, same clients and bodies) and ends with a ratio table:
promhub/Pushgateway server CPU per push (below 1: promhub is cheaper) and pushes/s.

Example::

    python bench/push_bench.py                               # both systems, 100 and 1000 series
    python bench/push_bench.py --systems promhub             # promhub alone
    python bench/push_bench.py --series 100 --duration 5     # quick check
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
PUSHGATEWAY = "/usr/bin/prometheus-pushgateway"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def body(series: int, push_no: int, client: int) -> bytes:
    """``series`` series: 20 % histogram series (10 buckets + sum + count), the rest
    counters and gauges with 3 labels."""
    lines: list[str] = []
    n_hist = max(1, series // 5 // 12)
    lines.append("# HELP batch_duration_seconds Duration of a batch step.")
    lines.append("# TYPE batch_duration_seconds histogram")
    bounds = ("0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "10", "50", "+Inf")
    for h in range(n_hist):
        c = 0
        for le in bounds:
            c += (push_no + h) % 7
            lines.append(f'batch_duration_seconds_bucket{{step="s{h}",le="{le}"}} {c}')
        lines.append(f'batch_duration_seconds_sum{{step="s{h}"}} {c * 0.37:.3f}')
        lines.append(f'batch_duration_seconds_count{{step="s{h}"}} {c}')
    rest = series - n_hist * 12
    half = rest // 2
    lines.append("# HELP batch_records_total Records processed.")
    lines.append("# TYPE batch_records_total counter")
    for i in range(half):
        v = push_no * 3 + i
        lines.append(f'batch_records_total{{table="t{i % 50}",stage="s{i % 7}",shard="{i}"}} {v}')
    lines.append("# HELP batch_last_value Last value seen.")
    lines.append("# TYPE batch_last_value gauge")
    for i in range(rest - half):
        g = (push_no * 7919 + i * 31 + client) % 100000 / 7
        lines.append(f'batch_last_value{{table="t{i % 50}",stage="s{i % 7}",shard="{i}"}} {g}')
    return ("\n".join(lines) + "\n").encode()


def client_main(port: int, client: int, series: int, groups: int, duration: float, q: Any) -> None:
    # Pre-build a few bodies so the client's own formatting does not limit the rate.
    bodies = [body(series, k, client) for k in range(8)]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    lat: list[float] = []
    ok = err = 0
    k = 0
    end = time.monotonic() + duration
    while time.monotonic() < end:
        path = f"/metrics/job/bench/instance/c{client}-{k % groups}"
        t = time.monotonic()
        conn.request("PUT", path, body=bodies[k % len(bodies)])
        resp = conn.getresponse()
        resp.read()
        lat.append(time.monotonic() - t)
        if resp.status == 200:
            ok += 1
        else:
            err += 1
        k += 1
    conn.close()
    q.put({"ok": ok, "err": err, "lat": lat})


def start(system: str, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    log = open(workdir / f"{system}.log", "wb")  # noqa: SIM115
    if system == "promhub":
        cfg = workdir / "promhub.yml"
        cfg.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
        cmd = [
            sys.executable, "-m", "promhub", "serve", f"--config.file={cfg}",
            f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
        ]  # fmt: skip
        ready = "/-/ready"
    else:
        cmd = [
            PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}",
            f"--persistence.file={workdir / 'pushgateway.data'}",
        ]  # fmt: skip
        ready = "/-/ready"
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{ready}", timeout=1) as r:
                if r.status == 200:
                    return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{system} did not become ready; see {workdir}")


def run_one(system: str, series: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    proc, port = start(system, workdir)
    try:
        ps = psutil.Process(proc.pid)
        # Warm-up: every group once, so the window measures steady-state pushes.
        warm = mp.get_context("spawn").Queue()
        ws = [
            mp.get_context("spawn").Process(
                target=client_main, args=(port, c, series, args.groups, args.warmup, warm)
            )
            for c in range(args.clients)
        ]
        for w in ws:
            w.start()
        for _ in ws:
            warm.get()
        for w in ws:
            w.join()
        q = mp.get_context("spawn").Queue()
        cs = [
            mp.get_context("spawn").Process(
                target=client_main, args=(port, c, series, args.groups, args.duration, q)
            )
            for c in range(args.clients)
        ]
        cpu0 = ps.cpu_times()
        t0 = time.monotonic()
        for c in cs:
            c.start()
        results = [q.get() for _ in cs]
        wall = time.monotonic() - t0
        cpu1 = ps.cpu_times()
        for c in cs:
            c.join()
        rss = ps.memory_info().rss
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    ok = sum(r["ok"] for r in results)
    err = sum(r["err"] for r in results)
    lat = sorted(x for r in results for x in r["lat"])
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    window = args.duration
    return {
        "system": system,
        "series_per_push": series,
        "clients": args.clients,
        "pushes": ok,
        "errors": err,
        "pushes_per_s": ok / window,
        "series_per_s": ok * series / window,
        "p50_ms": 1000 * lat[len(lat) // 2] if lat else 0.0,
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else 0.0,
        "server_cpu_s": cpu,
        "cpu_s_per_1k_pushes": 1000 * cpu / ok if ok else 0.0,
        "cpu_us_per_series": 1e6 * cpu / (ok * series) if ok else 0.0,
        "server_rss_mb": rss / 2**20,
        "wall_s": wall,
    }


def _ratio_table(rows: list[dict[str, Any]]) -> list[str]:
    """promhub/Pushgateway per body size, when both ran."""
    by = {(r["system"], r["series_per_push"]): r for r in rows}
    sizes = [n for (s, n) in by if s == "promhub" and ("pushgateway", n) in by]
    if not sizes:
        return []
    out = [
        "",
        "| series/push | promhub CPU µs/series | Pushgateway CPU µs/series "
        "| promhub/Pushgateway CPU per push | promhub/Pushgateway pushes/s |",
        "|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        a, b = by[("promhub", n)], by[("pushgateway", n)]
        cpu = a["cpu_s_per_1k_pushes"] / b["cpu_s_per_1k_pushes"] if b["pushes"] else 0.0
        rate = a["pushes_per_s"] / b["pushes_per_s"] if b["pushes"] else 0.0
        out.append(
            f"| {n} | {a['cpu_us_per_series']:.2f} | {b['cpu_us_per_series']:.2f} "
            f"| **{cpu:.2f}** | {rate:.2f} |"
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--systems", default="promhub,pushgateway", help="promhub and/or pushgateway")
    ap.add_argument("--series", default="100,1000", help="series per push (comma-separated)")
    ap.add_argument("--clients", type=int, default=3)
    ap.add_argument("--groups", type=int, default=10, help="groups each client cycles through")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    args = ap.parse_args()
    run_id = time.strftime("push-%Y%m%d-%H%M%S")
    outdir = OUT / run_id
    rows = []
    for system in args.systems.split(","):
        if system == "pushgateway" and not shutil.which(PUSHGATEWAY):
            print(f"skipping pushgateway: {PUSHGATEWAY} not found", file=sys.stderr)
            continue
        for n in (int(x) for x in args.series.split(",")):
            rows.append(run_one(system, n, args, outdir / f"{system}-{n}"))
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "result.json").write_text(json.dumps(rows, indent=2))
    head = (
        "| system | series/push | clients | pushes/s | series/s | p50 ms | p99 ms "
        "| server CPU-s per 1k pushes | CPU µs/series | errors |"
    )
    table = [head, "|" + "---|" * 10]
    for r in rows:
        table.append(
            f"| {r['system']} | {r['series_per_push']} | {r['clients']} "
            f"| {r['pushes_per_s']:.0f} | {r['series_per_s']:.0f} | {r['p50_ms']:.1f} "
            f"| {r['p99_ms']:.1f} | {r['cpu_s_per_1k_pushes']:.2f} "
            f"| {r['cpu_us_per_series']:.2f} | {r['errors']} |"
        )
    table += _ratio_table(rows)
    text = "\n".join(table) + "\n"
    (outdir / "table.md").write_text(text)
    print(text + f"\n(results in {outdir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
