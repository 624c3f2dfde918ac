"""Built-in alert manager: notification throughput and latency, delivered over HTTP.

A webhook sink runs in a separate process (aiohttp, answers 200, records arrival times).
In this process an :class:`~promhub.alerting.manager.AlertManager` with the real
notification pipeline (``notify=None``: templates, notification log, HTTP client) routes:

1. throughput: ``--alerts`` firing alerts in ``--groups`` groups (``group_by:
   [alertname]``, ``group_wait: 0s``) put at once; reported: time to take them in, time
   until the sink has every group's notification, notifications/s and alerts/s;
2. latency: with ``group_wait: 1s``, one alert of a new group at a time; reported: put →
   webhook arrival (the issue's bound is ``group_wait`` + 1 s; the rule evaluation that
   precedes the put in production is not included).

    python bench/alerting_bench.py                      # 5,000 alerts in 200 groups
    python bench/alerting_bench.py --alerts 20000 --groups 500
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import socket
import statistics
import tempfile
import time
import urllib.request

from aiohttp import web
from prometheus_client import CollectorRegistry

from promhub.alerting.alert import Alert
from promhub.alerting.config import load_alertmanager_config_text
from promhub.alerting.manager import AlertManager

AM = """
route:
  receiver: hook
  group_by: [alertname]
  group_wait: {wait}
  group_interval: 1h
  repeat_interval: 4h
receivers:
  - name: hook
    webhook_configs: [{{url: "http://127.0.0.1:{port}/hook", max_alerts: 0}}]
"""


def _sink(port: int) -> None:
    stats = {"requests": 0, "alerts": 0, "last": 0.0}

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        stats["requests"] += 1
        stats["alerts"] += len(body["alerts"])
        stats["last"] = time.time()
        return web.Response()

    async def get(request: web.Request) -> web.Response:
        return web.json_response(stats)

    app = web.Application(client_max_size=64 << 20)
    app.router.add_post("/hook", hook)
    app.router.add_get("/stats", get)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _stats(port: int) -> dict[str, float]:
    def get() -> dict[str, float]:
        import json

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
            return dict(json.loads(r.read()))

    return await asyncio.to_thread(get)


async def _run(args: argparse.Namespace, port: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        am = AlertManager(d, CollectorRegistry(), notify=None)
        cfg = load_alertmanager_config_text(AM.format(wait="0s", port=port), "bench.yml")
        am._configure_pipeline(cfg)  # what apply_config does for a loaded file
        am.set_config(cfg)
        task = asyncio.create_task(am.run())
        alerts = [
            Alert({"alertname": f"A{i % args.groups}", "instance": f"i{i}", "job": "bench"})
            for i in range(args.alerts)
        ]
        t0 = time.time()
        am.put_alerts(alerts)
        t_put = time.time() - t0
        while (s := await _stats(port))["alerts"] < args.alerts:
            if time.time() - t0 > 120:
                raise SystemExit(f"sink got {s} after 120 s")
            await asyncio.sleep(0.05)
        t_all = s["last"] - t0
        print(f"### Alert manager: {args.alerts:,} alerts in {args.groups} groups, webhook\n")
        print("| measure | value |\n|---|---:|")
        print(f"| take in all alerts (route, inhibit, group) | {t_put * 1000:.0f} ms |")
        print(f"| until the sink has every notification | {t_all * 1000:.0f} ms |")
        print(f"| notifications/s | {args.groups / t_all:,.0f} |")
        print(f"| alerts notified/s | {args.alerts / t_all:,.0f} |")

        cfg = load_alertmanager_config_text(AM.format(wait="1s", port=port), "bench.yml")
        am._configure_pipeline(cfg)
        am.set_config(cfg)
        lat = []
        for k in range(args.latency_runs):
            before = (await _stats(port))["requests"]
            t0 = time.time()
            am.put_alerts([Alert({"alertname": f"Lat{k}", "instance": "x"})])
            while (s := await _stats(port))["requests"] <= before:
                await asyncio.sleep(0.005)
            lat.append(s["last"] - t0)
        print(
            f"| latency put → webhook, group_wait 1s (median of {len(lat)}) "
            f"| {statistics.median(lat) * 1000:.0f} ms (max {max(lat) * 1000:.0f}) |"
        )
        await am.stop()
        task.cancel()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alerts", type=int, default=5000)
    ap.add_argument("--groups", type=int, default=200)
    ap.add_argument("--latency-runs", type=int, default=5)
    args = ap.parse_args()
    port = _free_port()
    sink = mp.Process(target=_sink, args=(port,), daemon=True)
    sink.start()
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=1)
            break
        except OSError:
            time.sleep(0.05)
    try:
        asyncio.run(_run(args, port))
    finally:
        sink.terminate()


if __name__ == "__main__":
    main()
