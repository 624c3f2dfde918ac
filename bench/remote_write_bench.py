"""remote_write ingestion, promhub vs Prometheus: samples/s per server CPU core.

Part 1, end to end, per system (``--systems promhub,prometheus``) and request shape
(``--shapes 500,2000`` series per request: Prometheus 2.42's ``max_samples_per_send``
default and 2.44+'s): a fresh server with an empty data dir and no scrape jobs —
``promhub serve`` or ``/usr/bin/prometheus``, both with ``--web.enable-remote-write-receiver``
— and a client in a SEPARATE PROCESS sending the SAME pre-built requests (one sample per
series, new timestamps every round, ending about now) over ``--connections`` keep-alive
connections. Connection k always sends shards k, k+C, ... so every series' samples arrive
in time order. One warm-up round creates the series, the measured rounds follow. One
server runs at a time; with ``--runs N`` the order alternates and medians are reported.

    samples/s per core = samples acknowledged (2xx) / server CPU seconds (psutil
                         user+system of the server process over the measured window)

Every request must get a 2xx, and afterwards ``sum(count_over_time({job="bench"}[..]))``
must return every sample sent (warm-up included) from each system, so a server that
drops samples cannot look fast. Results: ``bench/out/rw-<time>/`` (``result.json`` with
every run, ``table.md``) and the Markdown tables on stdout.

Part 2, decode only (promhub, in this process): snappy + scan of one request, with the C
scanner and the pure-Python fallback, warm cache (every series known, the steady state)
and cold (every series new), plus the in-process receiver (decode, cache, validation,
append, WAL commit) without HTTP.

    python bench/remote_write_bench.py                # both systems, 500 + 2000 per request, 3 runs
    python bench/remote_write_bench.py --runs 1            # one run instead of medians of 3
    python bench/remote_write_bench.py --systems promhub --series-per-request 2000
    python bench/remote_write_bench.py --series 2000 --rounds 5 --skip-decode   # smoke
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cramjam
import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = REPO / "bench" / "out"
PROMETHEUS = "/usr/bin/prometheus"
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
    """Send round by round; connection k sends shards k, k+C, ... of each round.

    A shard always goes over the same connection and rounds stay in step, so every
    series' samples arrive in time order, as from a Prometheus sender's shards."""
    nshards = len(rounds[0])
    errors: list[str] = []
    # One counter per connection: a shared ``Counter[...] += 1`` can lose updates.
    per_conn: list[Counter[int]] = [Counter() for _ in range(connections)]
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
                per_conn[k][resp.status] += 1
                if not 200 <= resp.status < 300:
                    errors.append(f"{resp.status} {body[:200]!r}")
            barrier.wait()
        conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    q.put((wall, dict(sum(per_conn, Counter[int]())), errors))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree_cpu(proc: psutil.Process) -> float:
    """User+system CPU seconds of ``proc`` and its live children (promhub runs as one
    process today; the sum keeps the figure honest if that ever changes)."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def _get(port: int, path: str, timeout: float = 60) -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def _start(system: str, workdir: Path, prometheus: str) -> tuple[subprocess.Popen[bytes], int]:
    """Start one server on a free port with an empty data dir; return it once ready."""
    port = _free_port()
    workdir.mkdir(parents=True)
    cfg = workdir / "config.yml"
    # No scrape jobs: the server's CPU goes to remote_write only.
    cfg.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
    common = [
        f"--config.file={cfg}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-remote-write-receiver",
    ]
    if system == "promhub":
        cmd = [sys.executable, "-m", "promhub", "serve", *common]
    else:
        cmd = [prometheus, *common]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(workdir / "server.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    deadline = time.time() + 60
    while True:
        try:
            if _get(port, "/-/ready", timeout=1)[0] == 200:
                return proc, port
        except OSError:
            pass
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit(f"{system} did not start:\n{(workdir / 'server.log').read_text()}")
        time.sleep(0.2)


def _settle(server: psutil.Process, limit: float = 10.0) -> float:
    """Wait until the server idles (< 5 % of a core over 0.5 s, at most ``limit`` s);
    return its CPU then. Work a server defers past the last answer (a buffered WAL, a
    background flush, GC) shows up here instead of vanishing from the comparison."""
    end = time.monotonic() + limit
    prev = _tree_cpu(server)
    while time.monotonic() < end:
        time.sleep(0.5)
        now = _tree_cpu(server)
        if now - prev < 0.025:
            return now
        prev = now
    return prev


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _stored_samples(port: int, t_first: int, t_last: int) -> int:
    """Samples the server returns for the bench series over the whole sent time range.

    The range starts 60 s before the first sample, so Prometheus 2.42's closed and
    promhub's (and Prometheus 3's) left-open range selection pick the same samples."""
    span = t_last - t_first + 60_000
    q = urllib.parse.quote(f'sum(count_over_time({{job="bench"}}[{span}ms]))')
    status, body = _get(port, f"/api/v1/query?query={q}&time={(t_last + 1) / 1000:.3f}")
    if status != 200:
        raise SystemExit(f"count query failed: {status} {body[:300]!r}")
    res = json.loads(body)["data"]["result"]
    return int(float(res[0]["value"][1])) if res else 0


@dataclass
class Shape:
    """The pre-built requests of one shape, sent unchanged to every system and run."""

    series: int
    per_request: int
    rounds: list[list[bytes]]  # [round][shard]; round 0 is the warm-up
    t_first: int
    t_last: int


def build_shape(series: int, per_request: int, rounds: int) -> Shape:
    # Current timestamps ending about now: Prometheus' head refuses samples more than
    # an hour older than its newest one (out of bounds), and a bench should look like
    # live data anyway. The same bytes go to every system.
    t_last = int(time.time() * 1000)
    t_first = t_last - rounds * 15_000
    reqs = build_requests(series, per_request, rounds + 1, t_first)
    return Shape(series, per_request, reqs, t_first, t_last)


def _send(port: int, rounds: list[list[bytes]], connections: int) -> tuple[float, dict[int, int]]:
    ctx = mp.get_context("spawn")
    q: mp.Queue[Any] = ctx.Queue()
    p = ctx.Process(target=_client, args=(port, rounds, connections, q))
    p.start()
    wall, statuses, errors = q.get()
    p.join()
    if errors:
        raise SystemExit(f"non-2xx answers ({len(errors)}), e.g. {errors[:3]}")
    return wall, statuses


def measure(system: str, shape: Shape, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """One system, one shape, one fresh server: warm-up round, measured rounds, checks."""
    proc, port = _start(system, workdir, args.prometheus)
    try:
        server = psutil.Process(proc.pid)
        cold_cpu0 = _tree_cpu(server)
        cold_wall, st0 = _send(port, shape.rounds[:1], args.connections)
        cpu0 = _tree_cpu(server)
        wall, st = _send(port, shape.rounds[1:], args.connections)
        cpu1 = _tree_cpu(server)
        cpu = cpu1 - cpu0
        rss = server.memory_info().rss
        tail = _settle(server) - cpu1
        wal = _dir_bytes(workdir / "data" / "wal")
        stored = _stored_samples(port, shape.t_first, shape.t_last)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    n = shape.series * (len(shape.rounds) - 1)
    expected = shape.series * len(shape.rounds)
    statuses = {k: st0.get(k, 0) + st.get(k, 0) for k in {*st0, *st}}
    return {
        "system": system,
        "series_per_request": shape.per_request,
        "series": shape.series,
        "samples": n,
        "wall_s": wall,
        "server_cpu_s": cpu,
        "samples_per_s": n / wall,
        "samples_per_cpu_s": n / cpu,
        "cpu_us_per_sample": 1e6 * cpu / n,
        "cold_samples_per_cpu_s": shape.series / max(cpu0 - cold_cpu0, 1e-9),
        "cold_wall_s": cold_wall,
        "server_rss_mb": rss / 2**20,
        "settle_cpu_s": tail,
        "wal_bytes_per_sample": wal / expected,
        "statuses": statuses,
        "stored_samples": stored,
        "expected_samples": expected,
    }


def _median_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-figure median over runs; counts and checks must agree across runs."""
    out = dict(rows[0])
    for k, v in rows[0].items():
        if isinstance(v, float):
            out[k] = statistics.median(r[k] for r in rows)
    out["runs"] = len(rows)
    out["stored_ok"] = all(r["stored_samples"] == r["expected_samples"] for r in rows)
    out["statuses"] = {
        code: sum(r["statuses"].get(code, 0) for r in rows)
        for code in sorted({c for r in rows for c in r["statuses"]})
    }
    return out


def end_to_end(args: argparse.Namespace, shapes: list[int], systems: list[str]) -> str:
    """Every (run, shape, system) on its own fresh server, one at a time; Markdown out."""
    outdir = OUT / time.strftime("rw-%Y%m%d-%H%M%S")
    raw: list[dict[str, Any]] = []
    for per in shapes:
        # Built once per shape so every system and run gets byte-identical requests.
        shape = build_shape(args.series, per, args.rounds)
        for run in range(args.runs):
            # Alternate the order so neither system always runs on a warmer machine.
            order = systems if run % 2 == 0 else systems[::-1]
            for system in order:
                r = measure(system, shape, args, outdir / f"{system}-{per}-run{run}")
                r["run"] = run
                raw.append(r)
                print(
                    f"  {system:10} {per:>5}/req run {run}: {r['samples_per_cpu_s']:>12,.0f} "
                    f"samples/s per core, stored {r['stored_samples']:,}/"
                    f"{r['expected_samples']:,}",
                    file=sys.stderr,
                )
        del shape
    rows = [
        _median_row([r for r in raw if r["system"] == s and r["series_per_request"] == per])
        for per in shapes
        for s in systems
    ]
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "result.json").write_text(json.dumps({"runs": raw, "medians": rows}, indent=2))
    text = _table(args, rows, shapes)
    (outdir / "table.md").write_text(text)
    return text + f"\n(results in {outdir.relative_to(REPO)})\n"


def _table(args: argparse.Namespace, rows: list[dict[str, Any]], shapes: list[int]) -> str:
    lines = [
        f"### remote_write ingestion: {args.series:,} series x {args.rounds} rounds, "
        f"{args.connections} connections, median of {args.runs} run(s)",
        "",
        "| system | series/request | samples/s (wall) | server CPU-s | samples/s per core "
        "| CPU µs/sample | CPU-s settling after | RSS after | WAL B/sample | answers (all runs) "
        "| stored = sent |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        answers = ", ".join(f"{n:,}× {c}" for c, n in r["statuses"].items())
        lines.append(
            f"| {r['system']} | {r['series_per_request']:,} | {r['samples_per_s']:,.0f} "
            f"| {r['server_cpu_s']:.2f} | {r['samples_per_cpu_s']:,.0f} "
            f"| {r['cpu_us_per_sample']:.2f} | {r['settle_cpu_s']:.2f} "
            f"| {r['server_rss_mb']:.0f} MB | {r['wal_bytes_per_sample']:.1f} | {answers} "
            f"| {'yes' if r['stored_ok'] else 'NO: ' + str(r['stored_samples'])} |"
        )
    by = {(r["system"], r["series_per_request"]): r for r in rows}
    if any(("promhub", p) in by and ("prometheus", p) in by for p in shapes):
        lines += [
            "",
            "| series/request | promhub CPU µs/sample | Prometheus CPU µs/sample "
            "| promhub/Prometheus CPU per sample |",
            "|---:|---:|---:|---:|",
        ]
        for p in shapes:
            a, b = by.get(("promhub", p)), by.get(("prometheus", p))
            if a and b:
                lines.append(
                    f"| {p:,} | {a['cpu_us_per_sample']:.2f} | {b['cpu_us_per_sample']:.2f} "
                    f"| **{a['cpu_us_per_sample'] / b['cpu_us_per_sample']:.2f}** |"
                )
    return "\n".join(lines) + "\n"


# -- decode only ---------------------------------------------------------------------------


def _rate(fn: Any, samples: int, min_time: float = 1.0) -> float:
    fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_time:
        fn()
        n += 1
    return samples * n / (time.perf_counter() - start)


def decode_rates(per: int) -> dict[str, float]:
    from promhub.ingest.remote_write import RemoteWriteReceiver
    from promhub.tsdb import DB

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
    ap.add_argument("--systems", default="promhub,prometheus", help="promhub and/or prometheus")
    ap.add_argument(
        "--shapes",
        default="500,2000",
        help="series per request, comma-separated (Prometheus 2.42's max_samples_per_send "
        "default is 500, 2.44+'s is 2000)",
    )
    ap.add_argument("--series-per-request", type=int, help="one shape only (same as --shapes N)")
    ap.add_argument("--series", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=100, help="measured rounds (plus one warm-up)")
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3, help="median of N runs")
    ap.add_argument("--prometheus", default=PROMETHEUS)
    ap.add_argument("--skip-server", action="store_true", help="decode rates only")
    ap.add_argument("--skip-decode", action="store_true", help="end to end only")
    args = ap.parse_args()
    shapes = (
        [args.series_per_request]
        if args.series_per_request
        else [int(x) for x in args.shapes.split(",")]
    )
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if unknown := set(systems) - {"promhub", "prometheus"}:
        ap.error(f"unknown system(s): {', '.join(sorted(unknown))}")
    if "prometheus" in systems and not shutil.which(args.prometheus):
        print(f"skipping prometheus: {args.prometheus} not found", file=sys.stderr)
        systems.remove("prometheus")

    print(f"C extension: {'built' if wr.HAVE_EXTENSION else 'MISSING (pure-Python fallback)'}")
    if not args.skip_decode:
        per = max(shapes)
        d = decode_rates(per)
        print(f"\n### Decode only (promhub, in process): one request of {per} series x 1 sample\n")
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
    if args.skip_server or not systems:
        return
    print()
    print(end_to_end(args, shapes, systems))


if __name__ == "__main__":
    main()
