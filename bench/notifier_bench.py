"""Notifier throughput: queue ``--alerts`` alerts and time their delivery to a loopback
Alertmanager stand-in (an aiohttp app in the same process that parses every batch).

    PYTHONPATH=. python bench/notifier_bench.py --alerts 10000
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aiohttp import web
from prometheus_client import CollectorRegistry

from promhub.config.loader import load_config_text
from promhub.model.labels import Labels
from promhub.rules.notifier import Notifier, PostableAlert


async def bench(count: int, batch_size: int) -> None:
    got = 0

    async def receive(req: web.Request) -> web.Response:
        nonlocal got
        got += len(await req.json())
        return web.Response()

    app = web.Application()
    app.router.add_post("/api/v2/alerts", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    n = Notifier(CollectorRegistry(), batch_size=batch_size)
    n.apply_config(
        load_config_text(
            "global: {external_labels: {cluster: a}}\nalerting:\n  alertmanagers:\n"
            f"    - static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
        )
    )
    task = asyncio.create_task(n.run())
    await asyncio.sleep(0.05)  # static discovery reports on the first loop turn
    alerts = [
        PostableAlert(
            Labels.from_dict({"alertname": "HostDown", "instance": f"host-{i}", "job": "node"}),
            {"summary": f"host {i} is down"},
            1_700_000_000_000,
            1_700_000_240_000,
            "http://prom:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
        )
        for i in range(count)
    ]
    t0 = time.perf_counter()
    n.send(alerts)
    t1 = time.perf_counter()
    while got < count:
        await asyncio.sleep(0.001)
    t2 = time.perf_counter()
    print(
        f"{count} alerts: queued in {t1 - t0:.3f} s, delivered in {t2 - t0:.3f} s "
        f"({count / (t2 - t0):,.0f} alerts/s, batches of {batch_size})"
    )
    await n.stop()
    await task
    await runner.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--alerts", type=int, default=10_000)
    ap.add_argument("--batch-size", type=int, default=256)
    args = ap.parse_args()
    asyncio.run(bench(args.alerts, args.batch_size))


if __name__ == "__main__":
    main()
