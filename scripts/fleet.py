"""A simulated fleet for demos, screenshots and benchmarks: N machines with node_exporter's
metric names and an HTTP service with RED metrics, written into a promhub over remote_write
with an hour (or more) of history.

    python scripts/fleet.py http://127.0.0.1:9090 --machines 30 --history 1h

The server needs ``--web.enable-remote-write-receiver``. History is written in time order
before anything else appends to the same series, so start the server without scrape jobs
that would write "now" first (or accept that the TSDB refuses samples older than its head
window). Each machine gets its own load profile (some hot, most calm, one going down), so an
overview has something to show.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from promhub.model.labels import Labels  # noqa: E402
from promhub.storage.remote.codec import compress, encode_labels, encode_write_request  # noqa: E402


@dataclass
class Series:
    labels: dict[str, str]
    values: np.ndarray  # one value per time point (NaN: no sample)


@dataclass
class Fleet:
    times_ms: np.ndarray
    series: list[Series] = field(default_factory=list)

    def add(self, values: np.ndarray, **labels: str) -> None:
        self.series.append(Series(labels, values))


def _counter(rate: np.ndarray, step_s: float, start: float = 0.0) -> np.ndarray:
    """A counter whose per-second increase follows ``rate``."""
    return start + np.cumsum(np.maximum(rate, 0) * step_s)


def build(machines: int, history_s: int, step_s: int, end_ms: int, seed: int = 7) -> Fleet:
    """The fleet's samples from ``end - history`` to ``end`` every ``step_s`` seconds."""
    rng = np.random.default_rng(seed)
    n = history_s // step_s + 1
    times = end_ms - (np.arange(n)[::-1] * step_s * 1000)
    t = np.arange(n, dtype=np.float64) * step_s
    fleet = Fleet(times.astype(np.int64))
    for m in range(machines):
        inst = f"web-{m + 1:02d}:9100"
        base = dict(job="node", instance=inst)
        # Most machines are calm; every seventh is hot, the third one is filling its disk.
        hot = m % 7 == 0
        busy = np.clip(
            (0.75 if hot else 0.12 + 0.25 * rng.random())
            + 0.12 * np.sin(t / (600 + 97 * m) + m)
            + 0.04 * rng.standard_normal(n),
            0.01,
            0.99,
        )
        cpus = 4
        down_from = n - 40 if m == machines - 1 and machines > 3 else n  # last 10 min down
        cut = np.arange(n) >= down_from

        def live(v: np.ndarray, cut: np.ndarray = cut) -> np.ndarray:
            return np.where(cut, np.nan, v)

        fleet.add(np.where(cut, 0.0, 1.0), __name__="up", **base)
        for c in range(cpus):
            share = {"user": 0.7, "system": 0.22, "iowait": 0.08}
            for mode, frac in share.items():
                fleet.add(
                    live(_counter(busy * frac, step_s, 1e4 * (c + 1))),
                    __name__="node_cpu_seconds_total",
                    cpu=str(c),
                    mode=mode,
                    **base,
                )
            fleet.add(
                live(_counter(1 - busy, step_s, 5e5)),
                __name__="node_cpu_seconds_total",
                cpu=str(c),
                mode="idle",
                **base,
            )
        total = float(16 << 30 if m % 3 else 8 << 30)
        used = np.clip((0.45 + 0.4 * hot + 0.05 * np.sin(t / 900 + m)) * total, 0, total * 0.97)
        fleet.add(live(np.full(n, total)), __name__="node_memory_MemTotal_bytes", **base)
        fleet.add(live(total - used), __name__="node_memory_MemAvailable_bytes", **base)
        size = float(200 << 30)
        fill = 0.93 + 0.0004 * t / 60 if m == 2 else 0.35 + 0.3 * rng.random() + 0 * t
        fs = dict(device="/dev/sda1", fstype="ext4", mountpoint="/")
        fleet.add(live(np.full(n, size)), __name__="node_filesystem_size_bytes", **fs, **base)
        fleet.add(
            live(size * (1 - np.minimum(fill, 0.995))),
            __name__="node_filesystem_avail_bytes",
            **fs,
            **base,
        )
        net = 2e6 * (1 + 3 * busy)
        for d, k in (("receive", 1.0), ("transmit", 0.6)):
            fleet.add(
                live(_counter(net * k, step_s, 1e9)),
                __name__=f"node_network_{d}_bytes_total",
                device="eth0",
                **base,
            )
        for name, lag in (("node_load1", 1), ("node_load5", 5), ("node_load15", 15)):
            fleet.add(
                live(np.convolve(busy * cpus, np.ones(lag) / lag, "same")), __name__=name, **base
            )
    _http_service(fleet, t, step_s, rng)
    return fleet


def _http_service(fleet: Fleet, t: np.ndarray, step_s: int, rng: np.random.Generator) -> None:
    n = len(t)
    buckets = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"]
    for i in range(3):
        base = dict(job="api", instance=f"api-{i + 1}:8080")
        fleet.add(np.ones(n), __name__="up", **base)
        for handler, rps in (("/api/orders", 40.0), ("/api/users", 25.0), ("/login", 5.0)):
            load = rps * (1 + 0.3 * np.sin(t / 700 + i)) * (1 + 0.05 * rng.standard_normal(n))
            err = 0.002 + (0.04 if handler == "/login" else 0) * (np.sin(t / 500) > 0.7)
            for code, frac in (("200", 1 - err), ("500", err)):
                fleet.add(
                    _counter(load * frac, step_s),
                    __name__="http_requests_total",
                    handler=handler,
                    code=code,
                    method="GET",
                    **base,
                )
            # Latency: log-normal around 40 ms (orders slower), counts per bucket.
            median = 0.04 if handler != "/api/orders" else 0.12
            cdf = [
                0.5 * (1 + _erf(np.log(float(b) / median) / (0.8 * np.sqrt(2))))
                if b != "+Inf"
                else 1.0
                for b in buckets
            ]
            for b, share in zip(buckets, cdf, strict=True):
                fleet.add(
                    _counter(load * share, step_s),
                    __name__="http_request_duration_seconds_bucket",
                    handler=handler,
                    le=b,
                    **base,
                )
            fleet.add(
                _counter(load, step_s),
                __name__="http_request_duration_seconds_count",
                handler=handler,
                **base,
            )
            fleet.add(
                _counter(load * median * 1.3, step_s),
                __name__="http_request_duration_seconds_sum",
                handler=handler,
                **base,
            )


def _erf(x: float) -> float:
    import math

    return math.erf(x)


def write(url: str, fleet: Fleet, points_per_request: int = 20) -> int:
    """POST the fleet in time slices (every series' next points per request) so each
    series' samples arrive in time order. Returns samples written."""
    enc = [encode_labels(Labels.from_dict(s.labels)) for s in fleet.series]
    vals = np.stack([s.values for s in fleet.series])  # series × time
    total = 0
    for lo in range(0, len(fleet.times_ms), points_per_request):
        hi = min(lo + points_per_request, len(fleet.times_ms))
        block = vals[:, lo:hi]
        ok = ~np.isnan(block)
        counts = ok.sum(axis=1).astype(np.int64)
        keep = counts > 0
        ts = np.broadcast_to(fleet.times_ms[lo:hi], block.shape)[ok].astype(np.int64)
        body = encode_write_request(
            [e for e, k in zip(enc, keep.tolist(), strict=True) if k],
            counts[keep],
            ts,
            block[ok].astype(np.float64),
        )
        req = urllib.request.Request(
            url.rstrip("/") + "/api/v1/write",
            data=compress(body),
            headers={
                "Content-Type": "application/x-protobuf",
                "Content-Encoding": "snappy",
                "X-Prometheus-Remote-Write-Version": "0.1.0",
            },
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()
        total += int(ok.sum())
    return total


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("url", help="promhub base URL (with --web.enable-remote-write-receiver)")
    ap.add_argument("--machines", type=int, default=30)
    ap.add_argument("--history", default="1h", help="how far back: 30m, 1h, 6h")
    ap.add_argument("--step", type=int, default=15, help="seconds between samples")
    a = ap.parse_args()
    units = {"m": 60, "h": 3600, "d": 86400}
    history = int(a.history[:-1]) * units[a.history[-1]]
    fleet = build(a.machines, history, a.step, int(time.time() * 1000))
    n = write(a.url, fleet)
    print(f"wrote {n} samples of {len(fleet.series)} series ({a.machines} machines, {a.history})")


if __name__ == "__main__":
    main()
