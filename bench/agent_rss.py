"""Memory of ``promhub serve --agent`` vs Prometheus 2.42 in agent mode vs a normal promhub.

All three run at the same time on the same scrape load: the synthetic targets of
``bench/targets.py`` (N targets x 1,000 series). By default all three also forward
everything with remote_write to one real Prometheus receiver (each with its own external
label ``sender``), as an agent does in production and so that the normal server does the
same work; ``--no-remote-write`` turns that off. After ``--duration`` seconds the RSS of
each process, its series count and its WAL size are printed as a Markdown table, with the
ratios promhub-agent / Prometheus-agent and promhub-agent / promhub-normal.

Example (the lead's quiet-machine run)::

    python bench/agent_rss.py --targets 20 --duration 600

Smoke run::

    python bench/agent_rss.py --targets 2 --duration 20
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
PROMETHEUS = "/usr/bin/prometheus"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metric(url: str, name: str) -> float:
    """The sum of ``name``'s samples on ``url``'s /metrics page (NaN when absent)."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    vals = [float(v) for v in re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M)]
    return sum(vals) if vals else float("nan")


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def wait_ready(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/-/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready within {timeout}s")


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    series_metric: str
    wal: Path


def config(interval: float, addrs: str, remote: str | None, sender: str) -> str:
    text = f"global:\n  scrape_interval: {int(interval * 1000)}ms\n"
    if remote:
        text += f"  external_labels: {{sender: {sender}}}\n"
    text += f"scrape_configs:\n  - job_name: bench\n    static_configs: [{{targets: [{addrs}]}}]\n"
    if remote:
        text += "remote_write:\n  - " + json.dumps({"url": remote, "name": "bench"}) + "\n"
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--targets", type=int, default=20)
    ap.add_argument("--interval", type=float, default=5.0)
    ap.add_argument("--duration", type=float, default=120.0)
    ap.add_argument(
        "--no-remote-write",
        dest="remote_write",
        action="store_false",
        help="nothing is forwarded (no receiver is started)",
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="agent-rss-"))
    base = free_port() + 1000
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(what: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(
            cmd,
            stdout=open(work / f"{what}.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        procs.append(p)
        return p

    spawn("targets", [sys.executable, str(HERE / "targets.py"), f"--targets={args.targets}",
                      f"--base-port={base}", f"--interval={args.interval}"])  # fmt: skip
    addrs = ", ".join(f"'127.0.0.1:{base + i}'" for i in range(args.targets))
    remote = None
    if args.remote_write:
        port = free_port()
        (work / "receiver.yml").write_text("global: {}\n")
        rx = spawn("receiver", [
            PROMETHEUS, f"--config.file={work / 'receiver.yml'}",
            f"--storage.tsdb.path={work / 'receiver'}", f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver", "--log.level=warn",
        ])  # fmt: skip
        wait_ready(f"http://127.0.0.1:{port}", rx, "receiver")
        remote = f"http://127.0.0.1:{port}/api/v1/write"

    servers: list[Server] = []
    for name in ("promhub-normal", "promhub-agent", "prometheus-agent"):
        port = free_port()
        agent = name.endswith("agent")
        cfg = work / f"{name}.yml"
        cfg.write_text(config(args.interval, addrs, remote, name))
        listen = f"--web.listen-address=127.0.0.1:{port}"
        data = work / name
        if name == "prometheus-agent":
            cmd = [PROMETHEUS, "--enable-feature=agent", f"--storage.agent.path={data}",
                   f"--config.file={cfg}", listen, "--log.level=warn"]  # fmt: skip
        else:
            cmd = [sys.executable, "-m", "promhub", "serve", listen, f"--config.file={cfg}"]
            cmd += (
                ["--agent", f"--storage.agent.path={data}"]
                if agent
                else [f"--storage.tsdb.path={data}"]
            )
        proc = spawn(name, cmd)
        series = "prometheus_agent_active_series" if agent else "prometheus_tsdb_head_series"
        servers.append(Server(name, proc, f"http://127.0.0.1:{port}", series, data / "wal"))
    ok = False
    try:
        for s in servers:
            wait_ready(s.url, s.proc, s.name)
        time.sleep(args.duration)
        rows: dict[str, tuple[int, float, int, float]] = {}
        for s in servers:
            if s.proc.poll() is not None:
                raise RuntimeError(f"{s.name} exited")
            rss = psutil.Process(s.proc.pid).memory_info().rss
            sent = metric(s.url, "prometheus_remote_storage_samples_total")
            rows[s.name] = (rss, metric(s.url, s.series_metric), du(s.wal), sent)
        print(
            f"{args.targets} targets x 1,000 series, scrape every {args.interval:g}s, "
            f"RSS after {args.duration:g}s, remote_write {'on' if remote else 'off'}\n"
        )
        print("| process | RSS MiB | series | RSS B/series | WAL MiB | samples sent |")
        print("|---|---|---|---|---|---|")
        for name, (rss, series, wal, sent) in rows.items():
            print(
                f"| {name} | {rss / 2**20:.1f} | {series:.0f} | {rss / max(series, 1):.0f} "
                f"| {wal / 2**20:.2f} | {'-' if sent != sent else f'{sent:.0f}'} |"
            )
        ph, pa, pn = (rows[n][0] for n in ("promhub-agent", "prometheus-agent", "promhub-normal"))
        print(f"\nRSS promhub-agent / Prometheus-agent: {ph / pa:.2f}")
        print(f"RSS promhub-agent / promhub-normal: {ph / pn:.2f}")
        ok = True
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"failed; logs kept in {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
