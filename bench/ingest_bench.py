"""Side-by-side ingestion benchmark: promhub and Prometheus scraping the same targets.

Both servers run AT THE SAME TIME, each with its own data directory and port, on one
scrape configuration. After a warm-up (series creation, first WAL segment), a steady
window of ``--duration`` seconds is measured per system:

* CPU seconds per million samples: process-tree CPU time (psutil) over the window divided
  by the growth of ``prometheus_tsdb_head_samples_appended_total`` over the same window;
* RSS bytes per active series: RSS at the end / ``prometheus_tsdb_head_series``;
* WAL bytes per sample: apparent size of ``<data>/wal`` at the end / samples appended
  since start.

Scenarios: ``synthetic`` (bench/targets.py: N targets × 1,000 series) and ``node`` (the
real ``prometheus-node-exporter`` body replayed on N ports, plus the exporter scraped
directly). Results go to ``<out>/<run-id>/result.json`` and a Markdown table on stdout.

Example::

    python bench/ingest_bench.py --duration 300                # both systems
    python bench/ingest_bench.py --systems prometheus --duration 120
    python bench/ingest_bench.py --scenario node --profile 60  # py-spy promhub afterwards
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PROMETHEUS = "/usr/bin/prometheus"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
SYNTHETIC_PER_TARGET = 5  # up, scrape_duration_seconds, scrape_samples_*, scrape_series_added


@dataclass
class Snapshot:
    t: float
    cpu: float
    appended: float


@dataclass
class SystemResult:
    """What one run measured for one system."""

    system: str
    window_s: float = 0.0
    cpu_s: float = 0.0
    samples: float = 0.0  # appended during the window
    samples_total: float = 0.0  # appended since start
    head_series: float = 0.0
    rss_end: int = 0
    rss_peak: int = 0
    wal_bytes: int = 0
    up_targets: int | None = None
    #: (seconds into the window, CPU seconds, samples appended) every ~5 s, to show when
    #: the CPU goes (periodic maintenance shows up as steps).
    timeline: list[tuple[float, float, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def cpu_per_msample(self) -> float:
        return self.cpu_s / self.samples * 1e6 if self.samples else float("nan")

    @property
    def rss_per_series(self) -> float:
        return self.rss_end / self.head_series if self.head_series else float("nan")

    @property
    def wal_per_sample(self) -> float:
        return self.wal_bytes / self.samples_total if self.samples_total else float("nan")

    @property
    def rate(self) -> float:
        return self.samples / self.window_s if self.window_s else 0.0


class System:
    """One server under test: how to start it and where its data and metrics are."""

    def __init__(self, name: str, port: int, data: Path, config: Path, log: Path) -> None:
        self.name = name
        self.port = port
        self.data = data
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        common = [
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.data}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        if self.name == "prometheus":
            return [PROMETHEUS, *common]
        return [sys.executable, "-m", "promhub", "serve", *common]

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                self.command(), cwd=REPO, stdout=log, stderr=subprocess.STDOUT
            )

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self) -> float:
        """CPU time of the process and any live children (worker processes, if any)."""
        assert self.proc is not None
        p = psutil.Process(self.proc.pid)
        total = 0.0
        for q in [p, *p.children(recursive=True)]:
            try:
                t = q.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def rss(self) -> int:
        assert self.proc is not None
        p = psutil.Process(self.proc.pid)
        return int(p.memory_info().rss) + sum(
            int(c.memory_info().rss) for c in p.children(recursive=True)
        )

    def metrics(self) -> dict[str, float]:
        """The server's own /metrics, summed per metric name over label sets."""
        return parse_metrics(http_get(self.url + "/metrics").decode())

    def snapshot(self) -> Snapshot:
        m = self.metrics()
        return Snapshot(time.time(), self.cpu_seconds(), m.get(APPENDED, 0.0))

    def up_targets(self) -> int | None:
        """``count(up == 1)`` through the query API; None if the API is not there."""
        try:
            q = urllib.parse.quote("count(up == 1)")
            data = json.loads(http_get(f"{self.url}/api/v1/query?query={q}"))
            res = data["data"]["result"]
            return int(float(res[0]["value"][1])) if res else 0
        except (OSError, KeyError, ValueError, IndexError):
            return None


APPENDED = "prometheus_tsdb_head_samples_appended_total"
HEAD_SERIES = "prometheus_tsdb_head_series"


def http_get(url: str, timeout: float = 10.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        body: bytes = resp.read()
        return body


def parse_metrics(text: str) -> dict[str, float]:
    """Sum of values per metric name (label sets merged: e.g. appended{type=...})."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        brace = line.find("{")
        space = line.find(" ")
        end = brace if 0 <= brace < space else space
        if end <= 0:
            continue
        if brace >= 0 and brace < space:
            rest = line[line.rfind("}") + 1 :].split()
        else:
            rest = line[space + 1 :].split()
        try:
            name = line[:end]
            out[name] = out.get(name, 0.0) + float(rest[0])
        except (IndexError, ValueError):
            continue
    return dict(out)


def dir_bytes(path: Path) -> int:
    """Apparent size of all files under ``path`` (0 if missing)."""
    if not path.exists():
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def write_config(path: Path, jobs: dict[str, list[str]], interval: float) -> None:
    """A prometheus.yml both systems load unchanged."""
    lines = [
        "global:",
        f"  scrape_interval: {interval:g}s",
        f"  scrape_timeout: {interval:g}s",
        "scrape_configs:",
    ]
    for job, targets in jobs.items():
        lines += [f"  - job_name: {job}", "    static_configs:", "      - targets:"]
        lines += [f"          - {t}" for t in targets]
    path.write_text("\n".join(lines) + "\n")


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def listens(pid: int, port: int) -> bool:
    """Whether ``pid`` itself holds the listening socket: another server on the port must
    never be measured in its place."""
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in conns)


def wait_ready(system: System, timeout: float) -> None:
    assert system.proc is not None
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not system.alive():
            raise RuntimeError(f"{system.name} exited early; see {system.log}")
        try:
            http_get(system.url + "/-/ready", timeout=2)
            if listens(system.proc.pid, system.port):
                return
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{system.name} not ready after {timeout:.0f}s; see {system.log}")


def wait_port(url: str, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            http_get(url, timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


def sample_lines(body: bytes) -> int:
    return sum(1 for line in body.split(b"\n") if line and not line.startswith(b"#"))


def start_targets(
    args: argparse.Namespace, out: Path
) -> tuple[list[subprocess.Popen[bytes]], dict[str, list[str]], float]:
    """Start the target server (and node_exporter).

    Returns the processes, the scrape jobs, and the samples per second the servers should
    append (every scraped line plus the 5 series a scrape adds, per target).
    """
    procs: list[subprocess.Popen[bytes]] = []
    ports = range(args.base_port, args.base_port + args.targets)
    busy = [p for p in [*ports, args.node_port] if not port_free(p)]
    if busy:
        raise RuntimeError(f"ports in use: {busy[:5]}...; choose another --base-port/--node-port")
    addrs = [f"127.0.0.1:{p}" for p in ports]
    cmd = [
        sys.executable,
        str(HERE / "targets.py"),
        f"--targets={args.targets}",
        f"--base-port={args.base_port}",
        f"--interval={args.interval}",
        f"--seed={args.seed}",
    ]
    jobs: dict[str, list[str]]
    if args.scenario == "node":
        node_addr = f"127.0.0.1:{args.node_port}"
        with (out / "node_exporter.log").open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [NODE_EXPORTER, f"--web.listen-address={node_addr}"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        wait_port(f"http://{node_addr}/metrics", 30)
        cmd.append(f"--node-exporter=http://{node_addr}/metrics")
        jobs = {"node": addrs, "node_direct": [node_addr]}
    else:
        jobs = {"bench": addrs}
    with (out / "targets.log").open("wb") as log:
        procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
    wait_port(f"http://{addrs[-1]}/metrics", 60)
    per_target = sample_lines(http_get(f"http://{addrs[0]}/metrics")) + SYNTHETIC_PER_TARGET
    n_targets = sum(len(t) for t in jobs.values())
    return procs, jobs, n_targets * per_target / args.interval


def profile(system: System, seconds: int, out: Path) -> dict[str, Any]:
    """py-spy the promhub process: a flame graph plus a text summary of what dominates."""
    assert system.proc is not None
    pid = str(system.proc.pid)
    raw = out / f"{system.name}-profile.txt"
    svg = out / f"{system.name}-profile.svg"
    base = [
        "py-spy",
        "record",
        "--pid",
        pid,
        "--duration",
        str(seconds),
        "--rate",
        "200",
        "--subprocesses",
        "--nonblocking",
    ]
    subprocess.run(
        [*base, "--format", "raw", "-o", str(raw)],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    subprocess.run(
        [*base, "-o", str(svg)], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return summarize_profile(raw) if raw.exists() else {}


IDLE_FRAMES = (
    "EpollSelector.select ",
    "_worker (concurrent/futures/thread.py:81)",
    "Condition.wait ",
)


def summarize_profile(raw: Path, top: int = 25) -> dict[str, Any]:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        frames = [f.strip() for f in stack.split(";")]
        frames = [f for f in frames if f and not f.startswith(("process ", "thread "))]
        # Waiting is not work: an event loop in epoll, an idle pool worker on its queue.
        if not frames or frames[-1].startswith(IDLE_FRAMES):
            continue
        # Functions, not lines: "parse (promhub/model/exposition.py:135)" -> "... .py)".
        frames = [re.sub(r":\d+\)$", ")", f) for f in frames]
        total += count
        self_c[frames[-1]] += count
        for f in set(frames):
            incl[f] += count

    def share(c: Counter[str]) -> list[tuple[str, float]]:
        return [(f, round(100 * n / max(total, 1), 1)) for f, n in c.most_common(top)]

    return {"samples": total, "self_pct": share(self_c), "inclusive_pct": share(incl)}


def run_once(args: argparse.Namespace, run_dir: Path) -> tuple[dict[str, SystemResult], float]:
    """One side-by-side run; returns the results and the expected samples/s."""
    run_dir.mkdir(parents=True, exist_ok=True)
    ports = {"prometheus": args.prometheus_port, "promhub": args.promhub_port}
    for name, port in ports.items():
        if port == 0:
            ports[name] = free_port()
        elif not port_free(port):
            raise RuntimeError(f"{name}'s port {port} is in use; pass another or 0 (any free)")
    if ports["prometheus"] == ports["promhub"]:
        ports["promhub"] = free_port()
    target_procs, jobs, expected = start_targets(args, run_dir)
    config = run_dir / "prometheus.yml"
    write_config(config, jobs, args.interval)
    systems = [
        System(name, ports[name], run_dir / f"{name}-data", config, run_dir / f"{name}.log")
        for name in ("prometheus", "promhub")
        if name in args.systems
    ]
    results = {s.name: SystemResult(s.name) for s in systems}
    tgt_ps = [psutil.Process(p.pid) for p in target_procs]
    try:
        for s in systems:
            s.start()
        for s in systems:
            wait_ready(s, args.ready_timeout)
        print(
            f"ready: {', '.join(s.name for s in systems)}; warm-up {args.warmup:.0f}s",
            file=sys.stderr,
            flush=True,
        )
        time.sleep(args.warmup)
        start = {s.name: s.snapshot() for s in systems}
        tgt_cpu0 = sum(p.cpu_times().user + p.cpu_times().system for p in tgt_ps)
        deadline = time.time() + args.duration
        while time.time() < deadline:
            time.sleep(min(5.0, max(0.0, deadline - time.time())))
            for s in systems:
                if not s.alive():
                    raise RuntimeError(f"{s.name} died during the run; see {s.log}")
                r = results[s.name]
                r.rss_peak = max(r.rss_peak, s.rss())
                snap, s0 = s.snapshot(), start[s.name]
                r.timeline.append(
                    (
                        round(snap.t - s0.t, 1),
                        round(snap.cpu - s0.cpu, 2),
                        snap.appended - s0.appended,
                    )
                )
        tgt_cpu = sum(p.cpu_times().user + p.cpu_times().system for p in tgt_ps) - tgt_cpu0
        for s in systems:
            end = s.snapshot()
            m = s.metrics()
            r = results[s.name]
            r.window_s = end.t - start[s.name].t
            r.cpu_s = end.cpu - start[s.name].cpu
            r.samples = end.appended - start[s.name].appended
            r.samples_total = end.appended
            r.head_series = m.get(HEAD_SERIES, 0.0)
            r.rss_end = s.rss()
            r.rss_peak = max(r.rss_peak, r.rss_end)
            r.wal_bytes = dir_bytes(s.data / "wal")
            r.up_targets = s.up_targets()
        print(f"target server CPU: {tgt_cpu:.1f}s over {args.duration:.0f}s", file=sys.stderr)
        if args.profile and "promhub" in args.systems:
            ph = next(s for s in systems if s.name == "promhub")
            summary = profile(ph, args.profile, run_dir)
            (run_dir / "promhub-profile-summary.json").write_text(json.dumps(summary, indent=1))
    finally:
        for s in systems:
            s.stop()
        for p in target_procs:
            p.send_signal(signal.SIGTERM)
        for p in target_procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if not args.keep_data:
            for s in systems:
                shutil.rmtree(s.data, ignore_errors=True)
    (run_dir / "result.json").write_text(
        json.dumps({k: asdict(v) for k, v in results.items()}, indent=1)
    )
    return results, expected


def median_result(runs: list[SystemResult]) -> dict[str, float]:
    def med(f: str) -> float:
        return float(statistics.median(float(getattr(r, f)) for r in runs))

    return {
        "cpu_per_msample": med("cpu_per_msample"),
        "rss_per_series": med("rss_per_series"),
        "wal_per_sample": med("wal_per_sample"),
        "rate": med("rate"),
        "head_series": med("head_series"),
        "rss_end": med("rss_end"),
        "rss_peak": med("rss_peak"),
    }


def table(med: dict[str, dict[str, float]], expected_rate: float) -> str:
    names = list(med)
    rows = [
        (f"samples appended/s (expected {expected_rate:.0f})", "rate", "{:,.0f}"),
        ("active series (head)", "head_series", "{:,.0f}"),
        ("CPU-s per 1M samples", "cpu_per_msample", "{:.2f}"),
        ("RSS per active series (B)", "rss_per_series", "{:,.0f}"),
        ("RSS at end (MiB)", "rss_end", "{:.0f}"),
        ("WAL bytes per sample", "wal_per_sample", "{:.2f}"),
    ]
    head = "| figure | " + " | ".join(names)
    both = "prometheus" in med and "promhub" in med
    head += " | promhub / Prometheus |" if both else " |"
    out = [head, "|---" * (len(names) + 1 + both) + "|"]
    for label, key, fmt in rows:
        cells = []
        for n in names:
            v = med[n][key] / (2**20 if key == "rss_end" else 1)
            cells.append(fmt.format(v))
        line = f"| {label} | " + " | ".join(cells)
        if both:
            p, h = med["prometheus"][key], med["promhub"][key]
            line += f" | {h / p:.2f}× |" if p else " | – |"
        else:
            line += " |"
        out.append(line)
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--systems", default="prometheus,promhub", help="comma-separated: prometheus, promhub"
    )
    p.add_argument("--scenario", choices=["synthetic", "node"], default="synthetic")
    p.add_argument("--duration", type=float, default=300.0, help="measured window, seconds")
    p.add_argument("--warmup", type=float, default=30.0, help="seconds before the window")
    p.add_argument("--runs", type=int, default=1, help="repeat; the table shows medians")
    p.add_argument("--targets", type=int, default=100)
    p.add_argument("--interval", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--base-port", type=int, default=19100)
    p.add_argument("--node-port", type=int, default=19099)
    p.add_argument("--prometheus-port", type=int, default=0, help="0: any free port")
    p.add_argument("--promhub-port", type=int, default=0, help="0: any free port")
    p.add_argument("--ready-timeout", type=float, default=120.0)
    p.add_argument(
        "--profile",
        type=int,
        default=0,
        help="after the window, py-spy promhub for this many seconds (twice: raw, svg)",
    )
    p.add_argument("--keep-data", action="store_true", help="keep the data directories")
    p.add_argument("--out", type=Path, default=HERE / "out")
    args = p.parse_args()
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(args.systems) - {"prometheus", "promhub"}
    if unknown:
        p.error(f"--systems: unknown {sorted(unknown)}")

    run_id = time.strftime("%Y%m%dT%H%M%S") + f"-{args.scenario}"
    all_runs: dict[str, list[SystemResult]] = {s: [] for s in args.systems}
    for i in range(args.runs):
        res, expected = run_once(args, args.out / run_id / f"run{i}")
        for name, r in res.items():
            all_runs[name].append(r)
            print(
                f"run {i} {name}: {r.samples:,.0f} samples in {r.window_s:.0f}s, "
                f"cpu {r.cpu_s:.1f}s, series {r.head_series:,.0f}, up={r.up_targets}",
                file=sys.stderr,
                flush=True,
            )
    med = {n: median_result(rs) for n, rs in all_runs.items()}
    md = table(med, expected)
    summary = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "median": med,
        "table": md,
        "machine": {
            "cpus": os.cpu_count(),
            "mem_gib": round(psutil.virtual_memory().total / 2**30),
        },
    }
    (args.out / run_id / "summary.json").write_text(json.dumps(summary, indent=1))
    print(md)
    print(f"\nresults: {args.out / run_id}", file=sys.stderr)


if __name__ == "__main__":
    main()
