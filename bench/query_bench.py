"""Query benchmark: the same data and the same PromQL over HTTP in promhub and Prometheus.

1. Generates one OpenMetrics file with timestamps (``--series`` counters
   ``http_requests_total{code,handler,instance,job}`` and a classic histogram
   ``http_request_duration_seconds`` with 10 ``le`` buckets + ``+Inf``, ``_sum`` and
   ``_count`` over ``--hist-sets`` label sets), ``--minutes`` of samples every 15 s, inside
   one 2 h block window ending in the previous 2 h window.
2. Backfills it into both data directories: ``promtool tsdb create-blocks-from
   openmetrics`` for Prometheus, ``promhub tsdb create-blocks-from openmetrics`` for
   promhub.
3. Starts ``/usr/bin/prometheus`` and ``python -m promhub serve`` on them (a config
   without scrape jobs, retention of 10 years so the backfilled block stays).
4. Runs each query instant (7 s after the last sample, off the 15 s grid so that the
   left-open ranges of Prometheus 3 and the closed ones of 2.42 select the same samples)
   and as a 1 h range at 15 s step, over HTTP (``/api/v1/query``, ``/api/v1/query_range``,
   plain JSON, the body read to the end): one warm-up then ``--runs`` timed runs per
   system, alternating systems; the median per query, and the ratio promhub/Prometheus.
   Both answers are compared (same series, values within 1e-6 relative) so the
   comparison is honest. A last request with ``stats=all`` splits promhub's time into
   evaluation and the rest (JSON rendering, HTTP).

Results go to ``bench/out/<run-id>-query/result.json`` and a Markdown table on stdout.

Example::

    python bench/query_bench.py                         # full size: 30k series, 75 min
    python bench/query_bench.py --series 3000 --runs 3  # small, while developing
    python bench/query_bench.py --reuse bench/out/<run>-query   # same data, new timings
    python bench/query_bench.py --profile rate_1m --profile-kind range  # py-spy promhub
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
STEP_S = 15
WINDOW_S = 7200
RANGE_S = 3600
LE = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "+Inf")
CODES = ("200", "201", "400", "404", "500")
JOBS = ("api", "web", "worker")

#: name -> PromQL; each runs instant and as a range query.
QUERIES = {
    "rate_1m": "rate(http_requests_total[1m])",
    "sum_by_rate_5m": "sum by (handler) (rate(http_requests_total[5m]))",
    "histogram_quantile": (
        "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"
    ),
    "topk": "topk(10, http_requests_total)",
    "count_all": 'count({__name__=~".+"})',
}


# --- data --------------------------------------------------------------------------


def generate(path: Path, series: int, hist_sets: int, minutes: int, seed: int) -> dict[str, int]:
    """Write the OpenMetrics file; returns its time range (s) and sample count."""
    rng = np.random.default_rng(seed)
    n_steps = minutes * 60 // STEP_S + 1
    start = (int(time.time()) // WINDOW_S - 1) * WINDOW_S  # previous aligned 2 h window
    assert minutes * 60 < WINDOW_S, "the data must fit one 2 h block window"
    ts = [str(start + i * STEP_S) for i in range(n_steps)]
    handlers = [f"/api/v{1 + i % 3}/endpoint{i:02d}" for i in range(20)]
    instances = max(1, math.ceil(series / (len(handlers) * len(CODES) * len(JOBS))))
    samples = 0
    with open(path, "w", buffering=1 << 22) as f:
        f.write("# HELP http_requests Requests served.\n# TYPE http_requests counter\n")
        made = 0
        for job in JOBS:
            for inst in range(instances):
                for h in handlers:
                    for code in CODES:
                        if made == series:
                            break
                        made += 1
                        name = (
                            f'http_requests_total{{code="{code}",handler="{h}",'
                            f'instance="host-{inst:03d}:9100",job="{job}"}} '
                        )
                        rate = rng.uniform(0.1, 50.0)
                        vals = np.cumsum(rng.poisson(rate * STEP_S, n_steps)) + rng.integers(1e6)
                        f.write(
                            "".join(
                                f"{name}{v} {t}\n" for v, t in zip(vals.tolist(), ts, strict=True)
                            )
                        )
                        samples += n_steps
        f.write("# HELP http_request_duration_seconds Latency.\n")
        f.write("# TYPE http_request_duration_seconds histogram\n")
        bounds = np.array([float(x) for x in LE])
        for k in range(hist_sets):
            h = handlers[k % len(handlers)]
            labels = f'handler="{h}",instance="host-{k // len(handlers):03d}:9100",job="api"'
            # Per step: requests observed, spread over the buckets by a latency profile.
            counts = rng.poisson(rng.uniform(1, 40) * STEP_S, n_steps)
            scale = rng.uniform(0.02, 0.8)
            share = 1 - np.exp(-bounds / scale)  # cumulative share of requests per bucket
            share[-1] = 1.0
            cum = np.cumsum(counts)
            buckets = np.floor(np.outer(cum, share)).astype(np.int64)
            lines = []
            for j, le in enumerate(LE):
                name = f'http_request_duration_seconds_bucket{{{labels},le="{le}"}} '
                lines += [
                    f"{name}{v} {t}\n" for v, t in zip(buckets[:, j].tolist(), ts, strict=True)
                ]
            total = (cum * scale).round(3)
            lines += [
                f"http_request_duration_seconds_sum{{{labels}}} {v!r} {t}\n"
                for v, t in zip(total.tolist(), ts, strict=True)
            ]
            lines += [
                f"http_request_duration_seconds_count{{{labels}}} {v} {t}\n"
                for v, t in zip(cum.tolist(), ts, strict=True)
            ]
            f.write("".join(lines))
            samples += n_steps * (len(LE) + 2)
        f.write("# EOF\n")
    return {"start": start, "end": start + (n_steps - 1) * STEP_S, "samples": samples}


def backfill(data: Path, src: Path, run_dir: Path) -> dict[str, float]:
    """Backfill both data directories; returns the seconds each tool took."""
    took = {}
    for name, cmd in (
        ("prometheus", [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics"]),
        ("promhub", [sys.executable, "-m", "promhub", "tsdb", "create-blocks-from", "openmetrics"]),
    ):
        target = data / name
        shutil.rmtree(target, ignore_errors=True)
        t0 = time.monotonic()
        with open(run_dir / f"backfill-{name}.log", "wb") as log:
            subprocess.run(
                [*cmd, str(src), str(target)], cwd=REPO, check=True, stdout=log, stderr=log
            )
        took[name] = time.monotonic() - t0
    return took


# --- servers -----------------------------------------------------------------------


class Server:
    """One system under test, started on its backfilled data directory."""

    def __init__(
        self, name: str, data: Path, config: Path, log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.env = env or {}
        self.data = data
        self.config = config
        self.log = log
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.conn: http.client.HTTPConnection | None = None

    def start(self) -> None:
        flags = [
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.data}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=3650d",
        ]
        if self.name == "prometheus":
            cmd = [PROMETHEUS, *flags]
        else:
            cmd = [sys.executable, "-m", "promhub", "serve", *flags]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; see {self.log}")
            try:
                status, _ = self.get("/-/ready")
                if status == 200:
                    return
            except OSError:
                self.conn = None
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} not ready after 120 s; see {self.log}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def get(self, path: str) -> tuple[int, bytes]:
        """One GET on a kept-alive connection, the body read to its end."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            self.conn.request("GET", path)
            resp = self.conn.getresponse()
            return resp.status, resp.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- queries -----------------------------------------------------------------------


def query_path(expr: str, kind: str, end: int, extra: str = "") -> str:
    q = urllib.parse.quote(expr)
    if kind == "instant":
        return f"/api/v1/query?query={q}&time={end}{extra}"
    return f"/api/v1/query_range?query={q}&start={end - RANGE_S}&end={end}&step={STEP_S}{extra}"


def timed(server: Server, path: str) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    status, body = server.get(path)
    took = time.perf_counter() - t0
    if status != 200:
        raise RuntimeError(f"{server.name} {path}: HTTP {status}: {body[:300]!r}")
    return took, body


def _result_map(body: bytes) -> dict[tuple[tuple[str, str], ...], list[tuple[float, float]]]:
    data = json.loads(body)["data"]
    out = {}
    for r in data["result"]:
        key = tuple(sorted(r["metric"].items()))
        points = r["values"] if "values" in r else [r["value"]]
        out[key] = [(float(t), float(v)) for t, v in points]
    return out


def compare(a: bytes, b: bytes) -> str:
    """'' if both answers agree (same series, timestamps, values within 1e-6), else why."""
    ra, rb = _result_map(a), _result_map(b)
    if len(ra) != len(rb):
        return f"{len(ra)} series vs {len(rb)}"
    if ra.keys() != rb.keys():
        missing = next(iter(ra.keys() - rb.keys()))
        return f"series differ, e.g. {dict(missing)}"
    for k, pa in ra.items():
        pb = rb[k]
        if len(pa) != len(pb) or [t for t, _ in pa] != [t for t, _ in pb]:
            return f"{dict(k)}: {len(pa)} points vs {len(pb)}"
        va, vb = np.array([v for _, v in pa]), np.array([v for _, v in pb])
        if not np.allclose(va, vb, rtol=1e-6, atol=1e-9, equal_nan=True):
            i = int(np.flatnonzero(~np.isclose(va, vb, rtol=1e-6, atol=1e-9, equal_nan=True))[0])
            return f"{dict(k)}: value {va[i]!r} vs {vb[i]!r} at point {i}"
    return ""


def run_queries(
    servers: dict[str, Server], end: int, runs: int, names: list[str]
) -> list[dict[str, Any]]:
    rows = []
    for name in names:
        expr = QUERIES[name]
        for kind in ("instant", "range"):
            path = query_path(expr, kind, end)
            bodies = {s: timed(srv, path)[1] for s, srv in servers.items()}  # warm-up
            times: dict[str, list[float]] = {s: [] for s in servers}
            for _ in range(runs):
                for s, srv in servers.items():  # alternate, so drift hits both alike
                    took, _ = timed(srv, path)
                    times[s].append(took)
            row: dict[str, Any] = {
                "query": name,
                "expr": expr,
                "kind": kind,
                "bytes": {s: len(b) for s, b in bodies.items()},
                "series": {s: len(json.loads(b)["data"]["result"]) for s, b in bodies.items()},
                "runs": times,
                "median_s": {s: statistics.median(t) for s, t in times.items()},
            }
            if len(servers) == 2:
                row["mismatch"] = compare(bodies["promhub"], bodies["prometheus"])
                row["ratio"] = row["median_s"]["promhub"] / row["median_s"]["prometheus"]
            if "promhub" in servers:
                _, body = timed(servers["promhub"], query_path(expr, kind, end, "&stats=all"))
                t = json.loads(body)["data"]["stats"]["timings"]
                row["promhub_eval_s"] = t["evalTotalTime"] + t["queryPreparationTime"]
                row["promhub_exec_s"] = t["execTotalTime"]
            rows.append(row)
            print(_row_line(row), flush=True)
    return rows


def _row_line(row: dict[str, Any]) -> str:
    med = row["median_s"]
    parts = [f"{row['query']:<20} {row['kind']:<8}"]
    parts += [f"{s} {v:.3f}s" for s, v in med.items()]
    if "ratio" in row:
        parts.append(f"ratio {row['ratio']:.2f}")
        if row["mismatch"]:
            parts.append(f"MISMATCH: {row['mismatch']}")
    return "  ".join(parts)


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| query | kind | promhub s | Prometheus s | ratio | promhub eval s | series | same |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        med = r["median_s"]
        lines.append(
            f"| `{r['expr']}` | {r['kind']} | {med.get('promhub', math.nan):.3f} "
            f"| {med.get('prometheus', math.nan):.3f} | {r.get('ratio', math.nan):.2f} "
            f"| {r.get('promhub_eval_s', math.nan):.3f} "
            f"| {r['series'].get('promhub', r['series'].get('prometheus'))} "
            f"| {'yes' if not r.get('mismatch') else r['mismatch']} |"
        )
    ratios = [r["ratio"] for r in rows if "ratio" in r]
    if ratios:
        lines.append("")
        lines.append(
            f"median ratio {statistics.median(ratios):.2f}, max ratio {max(ratios):.2f} "
            f"({sum(r <= 1.5 for r in ratios)}/{len(ratios)} within 1.5)"
        )
    return "\n".join(lines)


def profile(server: Server, path: str, out: Path, seconds: int) -> None:
    """py-spy promhub while it answers ``path`` over and over."""
    assert server.proc is not None
    spy = subprocess.Popen(
        ["py-spy", "record", "-p", str(server.proc.pid), "-d", str(seconds), "-r", "200",
         "-f", "raw", "-o", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and spy.poll() is None:
        timed(server, path)
    spy.wait()


# --- main --------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", type=int, default=30_000, help="http_requests_total series")
    ap.add_argument("--hist-sets", type=int, default=300, help="histogram label sets")
    ap.add_argument("--minutes", type=int, default=75, help="minutes of data at 15 s")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per query and system")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--systems", default="promhub,prometheus")
    ap.add_argument("--queries", default=",".join(QUERIES), help="names from QUERIES")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    ap.add_argument("--reuse", type=Path, help="a previous run directory: reuse its data")
    ap.add_argument("--profile", help="py-spy promhub on this query instead of timing")
    ap.add_argument("--profile-kind", default="instant", choices=["instant", "range"])
    ap.add_argument("--profile-seconds", type=int, default=30)
    ap.add_argument(
        "--promhub-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="environment for the promhub server, e.g. glibc's MALLOC_MMAP_THRESHOLD_",
    )
    args = ap.parse_args()

    systems = [s for s in args.systems.split(",") if s]
    if args.reuse:
        run_dir = args.reuse
        info = json.loads((run_dir / "data.json").read_text())
    else:
        run_dir = args.out / (time.strftime("%Y%m%dT%H%M%S") + "-query")
        run_dir.mkdir(parents=True)
        src = run_dir / "input.om"
        t0 = time.monotonic()
        info = generate(src, args.series, args.hist_sets, args.minutes, args.seed)
        info["generate_s"] = time.monotonic() - t0
        info["file_bytes"] = src.stat().st_size
        info["backfill_s"] = backfill(run_dir / "data", src, run_dir)
        src.unlink()  # large, and regenerable from the seed
        (run_dir / "data.json").write_text(json.dumps(info, indent=1))
        print(f"data: {info}", flush=True)
    config = run_dir / "empty.yml"
    config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
    env = dict(kv.split("=", 1) for kv in args.promhub_env)
    servers = {
        s: Server(s, run_dir / "data" / s, config, run_dir / f"{s}.log", env)
        if s == "promhub"
        else Server(s, run_dir / "data" / s, config, run_dir / f"{s}.log")
        for s in systems
    }
    try:
        for srv in servers.values():
            srv.start()
        # Off the scrape grid: Prometheus 2.42 includes a sample exactly at a range's left
        # edge, Prometheus 3 (and promhub) exclude it; between samples both agree.
        end = int(info["end"]) + 7
        if args.profile:
            out = run_dir / f"profile-{args.profile}-{args.profile_kind}.txt"
            path = query_path(QUERIES[args.profile], args.profile_kind, end)
            profile(servers["promhub"], path, out, args.profile_seconds)
            print(f"profile: {out}")
            return
        names = [q for q in args.queries.split(",") if q]
        rows = run_queries(servers, end, args.runs, names)
    finally:
        for srv in servers.values():
            srv.stop()
    result = {
        "data": info,
        "runs": args.runs,
        "rows": rows,
        "cpus": os.cpu_count(),
        "promhub_env": env,
    }
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (run_dir / f"result-{stamp}.json").write_text(json.dumps(result, indent=1))
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
