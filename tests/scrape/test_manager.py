"""The manager: hot reload, refused configs, real node_exporter, its own metrics."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import generate_latest

from promhub.config.model import ConfigError, HTTPClientConfig, RelabelConfig, TLSConfig
from promhub.model.value import is_stale


def test_reload_keeps_unchanged_pool_and_restarts_changed_one(scrape: Any) -> None:
    async def scenario(h: Any) -> None:
        a = await h.exporter("a_metric 1\n")
        b = await h.exporter("b_metric 1\nb_extra 2\n")
        await h.start(h.config(h.job("a"), h.job("b")), {"a": [a.address], "b": [b.address]})
        await h.scrapes(a.address, 2)
        await h.scrapes(b.address, 2)
        pools = h.manager.pools
        loop_a, loop_b = (
            next(iter(pools["a"].loops.values())),
            next(iter(pools["b"].loops.values())),
        )
        cache_a = loop_a.cache
        assert cache_a
        changed = h.job(
            "b",
            metric_relabel_configs=[
                RelabelConfig(source_labels=["__name__"], regex="b_extra", action="drop")
            ],
        )
        # A fresh but equal config object for "a": equality, not identity, decides.
        h.manager.apply_config(h.config(h.job("a"), changed))
        await h.until(lambda: next(iter(pools["b"].loops.values())) is not loop_b)
        assert next(iter(pools["a"].loops.values())) is loop_a
        assert loop_a.cache is cache_a and cache_a
        # The new loop inherited b's series: the one it now drops is marked stale.
        await h.until(lambda: is_stale(next(iter(h.select(__name__="b_extra").values()))[-1][1]))
        n = len(h.ups(a.address))
        await h.scrapes(a.address, n + 1)
        assert h.target(a.address)["health"] == "up"
        assert h.metric("prometheus_target_scrape_pool_reloads_total") == 1

    scrape(scenario)


def test_config_with_unreadable_tls_files_is_refused(scrape: Any, tmp_path: Any) -> None:
    async def scenario(h: Any) -> None:
        e = await h.exporter("m 1\n")
        await h.start(h.config(h.job("app")), {"app": [e.address]})
        await h.scrapes(e.address)
        bad = HTTPClientConfig(tls_config=TLSConfig(ca_file=str(tmp_path / "missing.pem")))
        with pytest.raises(ConfigError, match="missing.pem"):
            h.manager.apply_config(h.config(h.job("app", http=bad)))
        n = len(h.ups(e.address))
        await h.scrapes(e.address, n + 2)
        assert h.target(e.address)["health"] == "up"

    scrape(scenario)


def test_https_target_with_ca_and_server_name(scrape: Any, tmp_path: Any) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=metrics.test", "-addext", "subjectAltName=DNS:metrics.test",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip

    async def scenario(h: Any) -> None:
        import ssl

        from aiohttp import web

        e = await h.exporter("tls_metric 1\n")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        app = web.Application()
        app.router.add_get("/metrics", e.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx).start()
        address = f"127.0.0.1:{runner.addresses[0][1]}"
        try:
            good = HTTPClientConfig(
                tls_config=TLSConfig(ca_file=str(cert), server_name="metrics.test")
            )
            cfg = h.config(
                h.job("tls", scheme="https", http=good, scrape_interval=0.2, scrape_timeout=0.2),
                h.job("untrusted", scheme="https", scrape_interval=0.2, scrape_timeout=0.2),
            )
            await h.start(cfg, {"tls": [address], "untrusted": [address]})
            await h.until(lambda: h.select(__name__="tls_metric", job="tls"))
            await h.until(
                lambda: "certificate" in str(h.manager.targets()["activeTargets"][1]["lastError"])
            )
        finally:
            await h.stop()
            await runner.cleanup()

    scrape(scenario)


def test_own_metrics_use_prometheus_names(scrape: Any) -> None:
    async def scenario(h: Any) -> None:
        e = await h.exporter("m 1\n")
        await h.start(h.config(h.job("app")), {"app": [e.address]})
        await h.scrapes(e.address, 3)
        text = generate_latest(h.registry).decode()
        assert 'prometheus_target_interval_length_seconds{interval="100ms",quantile="0.5"}' in text
        assert 'prometheus_target_interval_length_seconds_count{interval="100ms"}' in text
        assert 'prometheus_target_scrape_pool_targets{scrape_job="app"} 1.0' in text
        assert 'prometheus_target_sync_length_seconds{quantile="0.99",scrape_job="app"}' in text
        assert "prometheus_target_scrape_pools_total 1.0" in text
        assert "prometheus_target_scrapes_sample_out_of_order_total 0.0" in text
        assert h.metric("prometheus_target_interval_length_seconds_count", interval="100ms") >= 2

    scrape(scenario)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def node_exporter() -> Iterator[str]:
    binary = shutil.which("prometheus-node-exporter")
    if binary is None:
        pytest.skip("prometheus-node-exporter not installed")
    address = f"127.0.0.1:{_free_port()}"
    proc = subprocess.Popen(
        [binary, f"--web.listen-address={address}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://{address}/metrics", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.skip("prometheus-node-exporter did not start")
                import time

                time.sleep(0.05)
        yield address
    finally:
        proc.terminate()
        proc.wait(10)


def test_real_node_exporter_is_scraped_and_stored(scrape: Any, node_exporter: str) -> None:
    async def scenario(h: Any) -> None:
        cfg = h.config(h.job("node", scrape_interval=2.0, scrape_timeout=2.0))
        await h.start(cfg, {"node": [node_exporter]})
        await h.until(lambda: 1.0 in h.ups(node_exporter), timeout=20)
        body = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://{node_exporter}/metrics").read().decode()
        )
        exposed = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
        stored = [ls for ls in h.select(job="node") if not ls.name.startswith(("up", "scrape_"))]
        assert abs(len(stored) - exposed) <= 0.05 * exposed, (len(stored), exposed)
        assert all(ls.get("instance") == node_exporter for ls in stored)
        meta = h.manager.metadata()[0].metadata
        assert meta["node_cpu_seconds_total"].type == "counter"

    scrape(scenario)
