"""remote_write ingestion benchmark: samples/s per server CPU core, and pure decode rates.

Part 1, end to end: a real ``promhub serve --web.enable-remote-write-receiver`` and a
client in a SEPARATE PROCESS that sends requests shaped like Prometheus' (one sample per
series, ``--series-per-request`` series per request as ``max_samples_per_send`` does, new
timestamps every round) over ``--connections`` concurrent keep-alive connections. Each
connection owns a fixed set of request shards, so every series' samples arrive in time
order. One warm-up round creates the series; the measured rounds follow. Server CPU is
psutil user+system time of the server process over the measured window:

    samples/s per core = samples acknowledged (204) / server CPU seconds

Part 2, decode only (in this process): snappy + scan of one request, with the C scanner
and with the pure-Python fallback, with a warm cache (every series known, the steady
state) and a cold one (every series new), plus the in-process receiver (decode, cache,
validation, append, WAL commit) without HTTP.

    python bench/remote_write_bench.py                     # defaults: 20,000 series, 100 rounds
    python bench/remote_write_bench.py --series 50000 --rounds 20 --connections 4
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cramjam
import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from promhub.ingest import writerequest as wr  # noqa: E402

# -- request encoding (the client's side; plain bytes, no protobuf runtime) ---------------


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num: int, payload: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _labels(i: int) -> bytes:
    """Label bytes of series ``i``: 7 labels, like a typical node_exporter/app series."""
    pairs = [
        ("__name__", f"bench_metric_{i % 200}_total"),
        ("env", "prod"),
        ("instance", f"host-{i // 1000}:9100"),
        ("job", "bench"),
        ("path", f"/api/v{i % 3}/items"),
        ("series", str(i)),
        ("zone", f"eu-{i % 4}"),
    ]
    return b"".join(_field(1, _field(1, n.encode()) + _field(2, v.encode())) for n, v in pairs)


def build_requests(series: int, per_request: int, rounds: int, t0: int) -> list[list[bytes]]:
    """``[round][shard]`` snappy-compressed WriteRequests, one sample per series each."""
    import struct

    labels = [_labels(i) for i in range(series)]
    out: list[list[bytes]] = []
    for r in range(rounds):
        ts = _varint(t0 + r * 15_000)
        shards = []
        for lo in range(0, series, per_request):
            parts = []
            for i in range(lo, min(lo + per_request, series)):
                sample = b"\x09" + struct.pack("<d", float(r * (i % 97) + i)) + b"\x10" + ts
                ts_msg = labels[i] + _field(2, sample)
                parts.append(_field(1, ts_msg))
            shards.append(bytes(cramjam.snappy.compress_raw(b"".join(parts))))
        out.append(shards)
    return out


def build_request_v2(series: int, t: int) -> bytes:
    """One 2.0 Request (symbol table + label refs) with the same series, compressed."""
    import struct

    syms: dict[str, int] = {"": 0}

    def ref(x: str) -> int:
        return syms.setdefault(x, len(syms))

    parts = []
    for i in range(series):
        refs = b"".join(
            _varint(ref(n)) + _varint(ref(v))
            for n, v in sorted(
                [
                    ("__name__", f"bench_metric_{i % 200}_total"),
                    ("env", "prod"),
                    ("instance", f"host-{i // 1000}:9100"),
                    ("job", "bench"),
                    ("path", f"/api/v{i % 3}/items"),
                    ("series", str(i)),
                    ("zone", f"eu-{i % 4}"),
                ]
            )
        )
        sample = b"\x09" + struct.pack("<d", float(i)) + b"\x10" + _varint(t)
        parts.append(_field(5, _field(1, refs) + _field(2, sample)))
    table = b"".join(_field(4, x.encode()) for x in syms)
    return bytes(cramjam.snappy.compress_raw(table + b"".join(parts)))


# -- the client process -------------------------------------------------------------------


def _client(port: int, rounds: list[list[bytes]], connections: int, q: mp.Queue[Any]) -> None:
    """Send round by round; connection k sends shards k, k+C, ... of each round."""
    nshards = len(rounds[0])
    errors: list[str] = []
    barrier = threading.Barrier(connections)

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "snappy",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
        }
        for shards in rounds:
            for s in range(k, nshards, connections):
                conn.request("POST", "/api/v1/write", body=shards[s], headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 204:
                    errors.append(f"{resp.status} {body[:200]!r}")
            barrier.wait()  # rounds stay in step, like a sender's shards
        conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    q.put((time.perf_counter() - start, errors))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def end_to_end(args: argparse.Namespace) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="rwbench-"))
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = open(tmp / "promhub.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "promhub",
            "serve",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={tmp / 'data'}",
            "--web.enable-remote-write-receiver",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/-/ready")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                raise SystemExit((tmp / "promhub.log").read_text())
            time.sleep(0.2)
        t0 = int(time.time() * 1000) - args.rounds * 15_000
        reqs = build_requests(args.series, args.series_per_request, args.rounds + 1, t0)
        ctx = mp.get_context("spawn")
        server = psutil.Process(proc.pid)

        def run(rounds: list[list[bytes]]) -> tuple[float, float, list[str]]:
            q: mp.Queue[Any] = ctx.Queue()
            cpu0 = sum(server.cpu_times()[:2])
            p = ctx.Process(target=_client, args=(port, rounds, args.connections, q))
            p.start()
            wall, errors = q.get()
            p.join()
            return wall, sum(server.cpu_times()[:2]) - cpu0, errors

        cold_wall, cold_cpu, errors = run(reqs[:1])
        assert not errors, errors[:3]
        wall, cpu, errors = run(reqs[1:])
        assert not errors, errors[:3]
        n = args.series * args.rounds
        return {
            "cold_samples_per_s": args.series / cold_wall,
            "cold_samples_per_cpu_s": args.series / cold_cpu,
            "samples": n,
            "wall_s": wall,
            "server_cpu_s": cpu,
            "samples_per_s": n / wall,
            "samples_per_cpu_s": n / cpu,
            "server_rss_mb": server.memory_info().rss / 2**20,
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


# -- decode only ---------------------------------------------------------------------------


def _rate(fn: Any, samples: int, min_time: float = 1.0) -> float:
    fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_time:
        fn()
        n += 1
    return samples * n / (time.perf_counter() - start)


def decode_rates(args: argparse.Namespace) -> dict[str, float]:
    from promhub.ingest.remote_write import RemoteWriteReceiver
    from promhub.tsdb import DB

    per = args.series_per_request
    body = build_requests(per, per, 1, 1_700_000_000_000)[0][0]
    raw = wr.decompress(body, 1 << 30)
    warm = {k: i for i, (_, k) in enumerate(wr.scan_python(raw, None).misses)}
    out = {
        "snappy_only": _rate(lambda: wr.decompress(body, 1 << 30), per),
        "python_warm": _rate(lambda: wr.scan_python(wr.decompress(body, 1 << 30), warm), per),
        "python_cold": _rate(lambda: wr.scan_python(wr.decompress(body, 1 << 30), {}), per),
    }
    if wr.HAVE_EXTENSION:
        out["c_warm"] = _rate(lambda: wr.scan(wr.decompress(body, 1 << 30), warm), per)
        out["c_cold"] = _rate(lambda: wr.scan(wr.decompress(body, 1 << 30), {}), per)
    body2 = build_request_v2(per, 1_700_000_000_000)
    raw2 = wr.decompress(body2, 1 << 30)
    warm2 = {k: i for i, (_, k) in enumerate(wr.scan_v2_python(raw2, None).misses)}
    out["python_v2_warm"] = _rate(
        lambda: wr.scan_v2_python(wr.decompress(body2, 1 << 30), warm2), per
    )
    if wr.HAVE_EXTENSION:
        out["c_v2_warm"] = _rate(lambda: wr.scan_v2(wr.decompress(body2, 1 << 30), warm2), per)
        out["c_v2_cold"] = _rate(lambda: wr.scan_v2(wr.decompress(body2, 1 << 30), {}), per)
    # The in-process receiver: decode + cache + append + WAL commit, no HTTP.
    tmp = tempfile.mkdtemp(prefix="rwbench-db-")
    try:
        db = DB.open(tmp)
        recv = RemoteWriteReceiver(db, db.head)
        bodies = [b[0] for b in build_requests(per, per, 101, int(time.time() * 1000) - 2_000_000)]
        assert recv.write(bodies[0]).status == 204  # creates the series
        start = time.perf_counter()
        for b in bodies[1:]:
            res = recv.write(b)
            assert res.status == 204, res.message
        out["receiver_in_process"] = per * (len(bodies) - 1) / (time.perf_counter() - start)
        db.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--series", type=int, default=20_000)
    ap.add_argument("--series-per-request", type=int, default=2_000)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--skip-server", action="store_true", help="decode rates only")
    args = ap.parse_args()

    print(f"C extension: {'built' if wr.HAVE_EXTENSION else 'MISSING (pure-Python fallback)'}")
    d = decode_rates(args)
    print(f"\n### Decode only: one request of {args.series_per_request} series x 1 sample\n")
    print("| path | samples/s |")
    print("|---|---:|")
    labels = {
        "snappy_only": "snappy decompress only",
        "c_warm": "snappy + C scan, warm cache",
        "c_cold": "snappy + C scan, cold (all series new)",
        "python_warm": "snappy + Python scan, warm cache",
        "python_cold": "snappy + Python scan, cold",
        "c_v2_warm": "2.0: snappy + C scan_v2, warm cache",
        "c_v2_cold": "2.0: snappy + C scan_v2, cold",
        "python_v2_warm": "2.0: snappy + Python scan_v2, warm cache",
        "receiver_in_process": "receiver.write (decode+append+WAL), warm, no HTTP",
    }
    for k, label in labels.items():
        if k in d:
            print(f"| {label} | {d[k]:,.0f} |")
    if args.skip_server:
        return
    e = end_to_end(args)
    print(
        f"\n### End to end: {args.series:,} series, {args.series_per_request:,} per request, "
        f"{args.rounds} rounds, {args.connections} connections (client in its own process)\n"
    )
    print("| figure | value |")
    print("|---|---:|")
    print(f"| samples acknowledged | {e['samples']:,} |")
    print(f"| wall time | {e['wall_s']:.2f} s |")
    print(f"| server CPU | {e['server_cpu_s']:.2f} s |")
    print(f"| samples/s (wall) | {e['samples_per_s']:,.0f} |")
    print(f"| **samples/s per server CPU core** | **{e['samples_per_cpu_s']:,.0f}** |")
    cold = e["cold_samples_per_cpu_s"]
    print(f"| first round (series creation), samples/s per core | {cold:,.0f} |")
    print(f"| server RSS at end | {e['server_rss_mb']:.0f} MB |")


if __name__ == "__main__":
    main()
