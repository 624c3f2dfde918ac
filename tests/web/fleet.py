"""A synthetic fleet of node_exporter-like instances, pushed to promhub with remote_write.

Used by the overview's pagination tests, bench/console_bench.py and scripts/screenshots.py:
N instances (``host-000:9100`` ...) with ``up`` and node_exporter's CPU, memory, filesystem,
network and load metrics, and (``http_service_series``) an HTTP service with RED metrics,
sampled every ``step`` seconds over the last ``history`` seconds, so rates and last-hour
sparklines have data the moment the push returns.
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
    n: int,
    end_s: float,
    history: int = 3600,
    step: int = 15,
    down_every: int = 50,
    info: bool = False,
) -> list[tuple[dict[str, str], list[tuple[int, float]]]]:
    """Series (labels, samples) of ``n`` instances; every ``down_every``-th is down.
    ``info``: also ``node_uname_info`` and ``node_boot_time_seconds``, which dashboards
    (the host overview's variables and uptime) look for."""
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
        if info:
            host = instance_name(i).split(":")[0]
            s("node_uname_info", [1.0 for _ in times], {"nodename": host, "sysname": "Linux"})
            s("node_boot_time_seconds", [end_s - 86400 * (1 + i % 9) for _ in times])
    return out


Series = list[tuple[dict[str, str], list[tuple[int, float]]]]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, math.inf)


def http_service_series(
    end_s: float, history: int = 3600, step: int = 15, instances: int = 3
) -> Series:
    """``http_requests_total`` (by handler and code) and the
    ``http_request_duration_seconds`` histogram of a small API behind ``instances``
    replicas (job "api"): steady traffic, a slower handler, and bursts of 500s on /login."""
    times = [end_s - history + k * step for k in range(history // step + 1)]
    out: Series = []
    handlers = (("/api/orders", 40.0, 0.12), ("/api/users", 25.0, 0.04), ("/login", 5.0, 0.04))
    for i in range(instances):
        base = {"job": "api", "instance": f"api-{i + 1}:8080"}
        out.append(({"__name__": "up", **base}, [(int(t * 1000), 1.0) for t in times]))
        for handler, rps, median in handlers:
            load = [rps * (1 + 0.3 * math.sin(t / 700 + i)) for t in times]
            errors = [
                0.002 + (0.04 if handler == "/login" and math.sin(t / 500) > 0.7 else 0.0)
                for t in times
            ]

            def counter(rates: list[float]) -> list[tuple[int, float]]:
                total, samples = 0.0, []
                for t, r in zip(times, rates, strict=True):
                    total += r * step
                    samples.append((int(t * 1000), total))
                return samples

            h = {"handler": handler}
            for code, share in (("200", [1 - e for e in errors]), ("500", errors)):
                rates = [x * y for x, y in zip(load, share, strict=True)]
                labels = {"__name__": "http_requests_total", **base, **h, "code": code}
                out.append(({**labels, "method": "GET"}, counter(rates)))
            # Log-normal latency around the handler's median: each bucket's share of requests.
            for le in LATENCY_BUCKETS:
                share = (
                    1.0 if le == math.inf else 0.5 * (1 + math.erf(math.log(le / median) / 1.13))
                )
                labels = {"__name__": "http_request_duration_seconds_bucket", **base, **h}
                le_text = "+Inf" if le == math.inf else repr(le)
                out.append(({**labels, "le": le_text}, counter([x * share for x in load])))
            name = "http_request_duration_seconds"
            out.append(({"__name__": f"{name}_count", **base, **h}, counter(load)))
            out.append(
                (
                    {"__name__": f"{name}_sum", **base, **h},
                    counter([x * median * 1.3 for x in load]),
                )
            )
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
