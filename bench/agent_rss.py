"""Memory of ``promhub serve --agent`` vs a normal promhub on the same scrape load.

Both servers run at the same time on one generated config scraping the synthetic targets
of ``bench/targets.py`` (N targets x 1,000 series); after ``--duration`` seconds the RSS
of each process, its series count and its WAL size are printed as a Markdown table.

Example::

    python bench/agent_rss.py --targets 20 --duration 120
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else float("nan")


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--targets", type=int, default=20)
    ap.add_argument("--interval", type=float, default=5.0)
    ap.add_argument("--duration", type=float, default=120.0)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="agent-rss-"))
    base = free_port() + 1000
    targets = subprocess.Popen(
        [sys.executable, str(HERE / "targets.py"), f"--targets={args.targets}",
         f"--base-port={base}", f"--interval={args.interval}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    cfg = work / "promhub.yml"
    addrs = ", ".join(f"'127.0.0.1:{base + i}'" for i in range(args.targets))
    cfg.write_text(
        f"global: {{scrape_interval: {int(args.interval * 1000)}ms}}\n"
        f"scrape_configs:\n  - job_name: bench\n    static_configs: [{{targets: [{addrs}]}}]\n"
    )
    servers = {}
    for mode in ("normal", "agent"):
        port = free_port()
        flags = [f"--web.listen-address=127.0.0.1:{port}", f"--config.file={cfg}"]
        if mode == "agent":
            flags += ["--agent", f"--storage.agent.path={work / 'agent'}"]
        else:
            flags += [f"--storage.tsdb.path={work / 'data'}"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "promhub", "serve", *flags],
            stdout=open(work / f"{mode}.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        servers[mode] = (proc, f"http://127.0.0.1:{port}")
    try:
        time.sleep(5)
        for mode, (proc, _) in servers.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{mode} promhub exited: see {work / (mode + '.log')}")
        time.sleep(max(0.0, args.duration - 5))
        rows = []
        for mode, (proc, url) in servers.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{mode} promhub exited: see {work / (mode + '.log')}")
            rss = psutil.Process(proc.pid).memory_info().rss
            if mode == "agent":
                series = metric(url, "prometheus_agent_active_series")
                wal = du(work / "agent" / "wal")
            else:
                series = metric(url, "prometheus_tsdb_head_series")
                wal = du(work / "data" / "wal")
            rows.append((mode, rss, series, wal))
        print(f"{args.targets} targets x 1,000 series, {args.interval:g}s, {args.duration:g}s\n")
        print("| mode | RSS MiB | series | RSS B/series | WAL MiB |")
        print("|---|---|---|---|---|")
        for mode, rss, series, wal in rows:
            print(
                f"| {mode} | {rss / 2**20:.1f} | {series:.0f} | {rss / max(series, 1):.0f} "
                f"| {wal / 2**20:.2f} |"
            )
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(30)
        targets.terminate()
        targets.wait(10)
        if sys.exc_info()[0] is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"failed; logs kept in {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
