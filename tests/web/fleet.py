"""A synthetic fleet of node_exporter-like instances, pushed to promhub with remote_write.

Used by the overview's pagination tests and by bench/console_bench.py: N instances
(``host-000:9100`` ...) with ``up`` and node_exporter's CPU, memory, filesystem, network and
load metrics, sampled every ``step`` seconds over the last ``history`` seconds, so rates
and last-hour sparklines have data the moment the push returns.
"""

from __future__ import annotations

import http.client
import math
import urllib.parse
from typing import Any

from tests.ingest.prompb import encode, write_request

GIB = 1024**3


def instance_name(i: int) -> str:
    return f"host-{i:03d}:9100"


def _utilisation(i: int, salt: int, t: float) -> float:
    """A stable per-instance level (0.05..0.99) with a gentle wave over time."""
    base = 0.05 + ((i * salt) % 95) / 100
    return min(0.99, max(0.0, base + 0.03 * math.sin(t / 600 + i)))


def fleet_series(
    n: int, end_s: float, history: int = 3600, step: int = 15, down_every: int = 50
) -> list[tuple[dict[str, str], list[tuple[int, float]]]]:
    """Series (labels, samples) of ``n`` instances; every ``down_every``-th is down."""
    times = [end_s - history + k * step for k in range(history // step + 1)]
    out: list[tuple[dict[str, str], list[tuple[int, float]]]] = []
    for i in range(n):
        base = {"instance": instance_name(i), "job": "node", "dc": f"dc-{i % 3}"}
        down = down_every > 0 and i % down_every == down_every - 1

        def s(name: str, values: list[float], extra: dict[str, str] | None = None) -> None:
            samples = [(int(t * 1000), v) for t, v in zip(times, values, strict=True)]
            out.append(({"__name__": name, **base, **(extra or {})}, samples))  # noqa: B023

        s("up", [0.0 if down else 1.0 for _ in times])
        cpu = [_utilisation(i, 37, t) for t in times]
        for c in ("0", "1"):
            idle, user, idles, users = 0.0, 0.0, [], []
            for b in cpu:
                idle += step * (1 - b)
                user += step * b
                idles.append(idle)
                users.append(user)
            s("node_cpu_seconds_total", idles, {"cpu": c, "mode": "idle"})
            s("node_cpu_seconds_total", users, {"cpu": c, "mode": "user"})
        s("node_memory_MemTotal_bytes", [8.0 * GIB for _ in times])
        s("node_memory_MemAvailable_bytes", [8 * GIB * (1 - _utilisation(i, 53, t)) for t in times])
        fs = {"device": "/dev/sda1", "fstype": "ext4", "mountpoint": "/"}
        s("node_filesystem_size_bytes", [100.0 * GIB for _ in times], fs)
        s(
            "node_filesystem_avail_bytes",
            [100 * GIB * (1 - _utilisation(i, 71, t)) for t in times],
            fs,
        )
        rx = [float(k * step * 1000 * (i + 1)) for k in range(len(times))]
        s("node_network_receive_bytes_total", rx, {"device": "eth0"})
        s("node_network_transmit_bytes_total", [x / 2 for x in rx], {"device": "eth0"})
        s("node_load1", [4 * b for b in cpu])
    return out


def push(
    url: str, series: list[tuple[dict[str, str], list[tuple[int, float]]]], batch: int = 500
) -> int:
    """remote_write ``series`` to promhub at ``url`` in requests of ``batch`` series."""
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=120)
    samples = 0
    headers = {
        "Content-Type": "application/x-protobuf",
        "Content-Encoding": "snappy",
        "X-Prometheus-Remote-Write-Version": "0.1.0",
    }
    for lo in range(0, len(series), batch):
        chunk: list[Any] = series[lo : lo + batch]
        conn.request("POST", "/api/v1/write", body=encode(write_request(chunk)), headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        if not 200 <= resp.status < 300:
            raise RuntimeError(f"remote_write: {resp.status} {body[:300]!r}")
        samples += sum(len(s) for _, s in chunk)
    conn.close()
    return samples
