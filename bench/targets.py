"""Synthetic scrape targets for the ingestion benchmark: one process, many loopback ports.

Each target exposes 1,000 series in the Prometheus text format (0.0.4):

* 400 counters in three families (``bench_http_requests_total``,
  ``bench_http_response_size_bytes_total``, ``bench_jobs_processed_total``);
* 300 gauges in three families (``bench_queue_depth``, ``bench_memory_usage_bytes``,
  ``bench_temperature_celsius``);
* one histogram family, ``bench_request_duration_seconds``: 25 children × (10 ``le``
  buckets + ``_sum`` + ``_count``) = 300 series.

About 30 % of the series (306 of 1,000 are drawn; a bucket with no observations stays 0)
change every scrape interval: 150 counters grow by a random
full-precision float (``base + inc * (step + u)``, ``u`` uniform in [0, 1) and redrawn
every step, so increments vary between 0 and 2 × ``inc`` yet the counter never goes
down), 120 gauges take a new full-precision float, and 3 histogram children grow (integer
bucket counts, full-precision ``_sum``, consistent with each other). The rest are
constant, as most series of a real target are between two scrapes.

Values are a pure function of ``(seed, target, step)`` where ``step`` counts scrape
intervals since :data:`ORIGIN_MS`. So two scrapers hitting the same target in the same
interval read byte-identical bodies, and :mod:`bench.block_bench` can regenerate exactly
the data a live run would have seen without running a server.

The server is cheap per request: a target's constant lines are formatted once; only the
changing lines are formatted, once per (target, step), and the body is cached for the
other scraper.

``--node-exporter URL`` switches to replay mode: every target port serves the body of a
real ``prometheus-node-exporter``, fetched once per interval and shared by all ports.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from dataclasses import dataclass, field

import numpy as np
from aiohttp import ClientSession, ClientTimeout, web

#: Step 0 starts here: 2026-01-01T00:00:00Z. Steps are counted from a fixed origin rather
#: than from process start so that a restarted server keeps counters monotonic.
ORIGIN_MS = 1_767_225_600_000
SERIES_PER_TARGET = 1000
LE_BOUNDS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Kinds of series; they decide how a value evolves.
CONST = 0
COUNTER_FLOAT = 1  # base + inc * (step + u), u ~ U[0, 1) redrawn every step
GAUGE_FLOAT = 2  # centre + scale * N(0, 1), redrawn every step
HIST_LINEAR = 3  # like COUNTER_FLOAT, one u per histogram child; buckets/_count floored


@dataclass
class Family:
    """One metric family as it appears in the exposition: name, type and its series."""

    name: str  # family name (without _total for counters, without suffixes for histograms)
    type: str  # counter | gauge | histogram | unknown
    help: str
    # Each series: (sample name, label pairs in exposition order).
    series: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)


def _families() -> list[Family]:
    """The fixed series layout of one target, in exposition order (1,000 series)."""
    reqs = Family("bench_http_requests", "counter", "HTTP requests served.")
    for h in range(50):
        for code in ("200", "404", "500", "503"):
            reqs.series.append(
                ("bench_http_requests_total", [("handler", f"/api/v1/endpoint{h}"), ("code", code)])
            )
    size = Family("bench_http_response_size_bytes", "counter", "Bytes of HTTP responses.")
    for h in range(50):
        for method in ("GET", "POST"):
            size.series.append(
                (
                    "bench_http_response_size_bytes_total",
                    [("handler", f"/api/v1/endpoint{h}"), ("method", method)],
                )
            )
    jobs = Family("bench_jobs_processed", "counter", "Background jobs processed.")
    for q in range(25):
        for status in ("ok", "retried", "failed", "dropped"):
            jobs.series.append(
                ("bench_jobs_processed_total", [("queue", f"queue{q}"), ("status", status)])
            )
    depth = Family("bench_queue_depth", "gauge", "Items waiting in a queue.")
    depth.series = [("bench_queue_depth", [("queue", f"queue{q}")]) for q in range(100)]
    mem = Family("bench_memory_usage_bytes", "gauge", "Bytes in use per memory pool.")
    mem.series = [("bench_memory_usage_bytes", [("pool", f"pool{p}")]) for p in range(100)]
    temp = Family("bench_temperature_celsius", "gauge", "Sensor temperature.")
    temp.series = [
        ("bench_temperature_celsius", [("sensor", f"sensor{s}"), ("zone", f"zone{s % 4}")])
        for s in range(100)
    ]
    hist = Family("bench_request_duration_seconds", "histogram", "Request latency.")
    for h in range(25):
        handler = ("handler", f"/api/v1/endpoint{h}")
        for le in LE_BOUNDS:
            hist.series.append(("bench_request_duration_seconds_bucket", [handler, ("le", le)]))
        hist.series.append(("bench_request_duration_seconds_sum", [handler]))
        hist.series.append(("bench_request_duration_seconds_count", [handler]))
    fams = [reqs, size, jobs, depth, mem, temp, hist]
    assert sum(len(f.series) for f in fams) == SERIES_PER_TARGET
    return fams


FAMILIES = _families()
#: Flattened (sample name, labels) of one target, index-aligned with value arrays.
SERIES = [s for f in FAMILIES for s in f.series]


class TargetModel:
    """The deterministic value model of one target.

    >>> m = TargetModel(seed=1, target=0)
    >>> m.values(10).shape
    (1000,)
    """

    def __init__(self, seed: int, target: int) -> None:
        self.seed = seed
        self.target = target
        rng = np.random.default_rng([seed, target])
        n = SERIES_PER_TARGET
        self.kind = np.zeros(n, dtype=np.int8)
        self.base = rng.integers(0, 100_000, n).astype(np.float64)
        self.inc = np.zeros(n)
        self.scale = np.zeros(n)

        counters = np.arange(0, 400)
        gauges = np.arange(400, 700)
        chg_c = rng.choice(counters, 150, replace=False)
        self.kind[chg_c] = COUNTER_FLOAT
        self.base[chg_c] = rng.integers(0, 1_000_000, 150)
        self.inc[chg_c] = rng.uniform(0.1, 100.0, 150)
        chg_g = rng.choice(gauges, 120, replace=False)
        self.kind[chg_g] = GAUGE_FLOAT
        self.base[chg_g] = rng.uniform(10.0, 1e6, 120)
        self.scale[chg_g] = self.base[chg_g] * rng.uniform(0.001, 0.1, 120)

        # Each series draws its own u per step, except that a histogram child's 12 series
        # share one so that buckets stay cumulative and _count equals the +Inf bucket.
        self._u_src = np.arange(n)
        self._integer = np.zeros(n, dtype=bool)
        # Histogram children: 12 series each, buckets cumulative so every child is a
        # well-formed histogram whether it changes or not.
        for child, changing in enumerate(np.isin(np.arange(25), rng.choice(25, 3, replace=False))):
            lo = 700 + 12 * child
            per_step = int(rng.integers(5, 50)) if changing else int(rng.integers(0, 10_000))
            cum = np.sort(rng.integers(0, per_step + 1, 9))
            counts = np.concatenate([cum, [per_step]]).astype(np.float64)
            total = per_step * rng.uniform(0.01, 0.5)
            params = np.concatenate([counts, [total, float(per_step)]])
            if changing:
                self.kind[lo : lo + 12] = HIST_LINEAR
                self._u_src[lo : lo + 12] = lo
                self._integer[lo : lo + 10] = True
                self._integer[lo + 11] = True
                self.base[lo : lo + 12] = 0.0
                self.inc[lo : lo + 12] = params
            else:
                self.base[lo : lo + 12] = np.round(params, 3)
        self.changing = np.flatnonzero(self.kind != CONST)
        self._gauges = np.flatnonzero(self.kind == GAUGE_FLOAT)
        self._linear = np.flatnonzero((self.kind == COUNTER_FLOAT) | (self.kind == HIST_LINEAR))
        self._floor = np.flatnonzero(self._integer)

    def values(self, step: int) -> np.ndarray:
        """All 1,000 values at ``step`` (scrape intervals since :data:`ORIGIN_MS`)."""
        row: np.ndarray = self.values_matrix(np.array([step]))[0]
        return row

    def values_matrix(self, steps: np.ndarray) -> np.ndarray:
        """Values at many steps at once: shape ``(len(steps), 1000)``."""
        n = SERIES_PER_TARGET
        out = np.repeat(self.base[None, :], len(steps), axis=0)
        noise = np.empty((len(steps), len(self._gauges)))
        u = np.empty((len(steps), n))
        for row, step in enumerate(steps.tolist()):
            rng = np.random.default_rng([self.seed, self.target, step, 7])
            noise[row] = rng.standard_normal(len(self._gauges))
            u[row] = rng.random(n)
        lin = self._linear
        x = steps.astype(np.float64)[:, None] + u[:, self._u_src[lin]]
        out[:, lin] = self.base[lin] + x * self.inc[lin]
        out[:, self._floor] = np.floor(out[:, self._floor])
        out[:, self._gauges] = self.base[self._gauges] + self.scale[self._gauges] * noise
        return out

    def entropy_bits(self, step: int) -> float:
        """Information in one step's new values, in bits: a floor for any lossless encoding.

        A gauge is N(centre, scale) rounded to its float64 spacing; a float counter's
        increment is uniform on [0, inc) at the counter's spacing; an integer bucket
        increment takes at most inc + 1 values. Constant series carry nothing.
        """
        v = np.abs(self.values(step))
        g = self._gauges
        bits = float(np.sum(np.log2(self.scale[g] / np.spacing(v[g])) + 2.047))
        lin = self._linear
        flt = lin[~self._integer[lin]]
        bits += float(np.sum(np.log2(self.inc[flt] / np.spacing(v[flt]))))
        bits += float(np.sum(np.log2(self.inc[self._floor] + 1.0)))
        return bits


def format_labels(pairs: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in pairs) + "}" if pairs else ""


class TextTarget:
    """Renders one target's text exposition; constant lines are pre-formatted."""

    def __init__(self, model: TargetModel) -> None:
        self.model = model
        parts: list[bytes] = []
        self._prefix: dict[int, bytes] = {}
        self._slot: list[int] = []  # index into parts for each changing series
        changing = set(model.changing.tolist())
        i = 0
        for fam in FAMILIES:
            typ = "untyped" if fam.type == "unknown" else fam.type
            exp_name = fam.name + "_total" if fam.type == "counter" else fam.name
            parts.append(f"# HELP {exp_name} {fam.help}\n# TYPE {exp_name} {typ}\n".encode())
            for name, labels in fam.series:
                prefix = f"{name}{format_labels(labels)} ".encode()
                if i in changing:
                    self._prefix[i] = prefix
                    self._slot.append(len(parts))
                    parts.append(b"")
                else:
                    parts.append(prefix + _fmt(float(model.base[i])).encode() + b"\n")
                i += 1
        self._parts = parts
        self._cache: tuple[int, bytes] = (-1, b"")

    def body(self, step: int) -> bytes:
        """The exposition at ``step``; cached, so both scrapers get identical bytes."""
        if self._cache[0] == step:
            return self._cache[1]
        vals = self.model.values(step)[self.model.changing].tolist()
        parts = list(self._parts)
        for slot, idx, v in zip(self._slot, self.model.changing.tolist(), vals, strict=True):
            parts[slot] = self._prefix[idx] + repr(v).encode() + b"\n"
        body = b"".join(parts)
        self._cache = (step, body)
        return body


def _fmt(v: float) -> str:
    """Format like Prometheus' client libraries: integers without a trailing .0."""
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


def current_step(interval_ms: int, now_ms: int | None = None) -> int:
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return (now - ORIGIN_MS) // interval_ms


class NodeReplay:
    """Serves a real node_exporter body, fetched at most once per interval."""

    def __init__(self, url: str, interval_ms: int) -> None:
        self.url = url
        self.interval_ms = interval_ms
        self._cache: tuple[int, bytes] = (-1, b"")
        self._lock = asyncio.Lock()
        self._session: ClientSession | None = None

    async def body(self) -> bytes:
        step = current_step(self.interval_ms)
        async with self._lock:  # one fetch per step even when 100 scrapes arrive at once
            if self._cache[0] != step:
                if self._session is None:
                    self._session = ClientSession(timeout=ClientTimeout(total=10))
                async with self._session.get(self.url) as resp:
                    resp.raise_for_status()
                    self._cache = (step, await resp.read())
            return self._cache[1]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def serve(args: argparse.Namespace) -> None:
    interval_ms = int(args.interval * 1000)
    ports = [args.base_port + t for t in range(args.targets)]
    replay = NodeReplay(args.node_exporter, interval_ms) if args.node_exporter else None
    texts: dict[int, TextTarget] = {}
    if replay is None:
        texts = {p: TextTarget(TargetModel(args.seed, t)) for t, p in enumerate(ports)}

    async def metrics(request: web.Request) -> web.Response:
        if replay is not None:
            body = await replay.body()
        else:
            port = request.transport.get_extra_info("sockname")[1]  # type: ignore[union-attr]
            body = texts[port].body(current_step(interval_ms))
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    for p in ports:
        await web.TCPSite(runner, args.host, p, backlog=1024).start()
    print(f"serving {len(ports)} targets on {args.host}:{ports[0]}-{ports[-1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    if replay is not None:
        await replay.close()
    await runner.cleanup()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--targets", type=int, default=100, help="number of targets (ports)")
    p.add_argument("--base-port", type=int, default=19100, help="first port")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--interval", type=float, default=5.0, help="seconds per value step")
    p.add_argument("--node-exporter", default="", help="replay this node_exporter URL instead")
    asyncio.run(serve(p.parse_args()))


if __name__ == "__main__":
    main()
