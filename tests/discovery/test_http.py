"""http_sd against a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import REGISTRY

from promhub.config.model import (
    Authorization,
    BasicAuth,
    HTTPClientConfig,
    HTTPSDConfig,
    OAuth2,
    ScrapeConfig,
    TLSConfig,
)
from promhub.discovery.targetgroup import TargetGroup

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def addresses(update: dict[str, list[TargetGroup]], job: str) -> set[str]:
    return {t["__address__"] for g in update.get(job, []) for t in g.targets}


def failures() -> float:
    return REGISTRY.get_sample_value("prometheus_sd_http_failures_total") or 0.0


class SDServer:
    """An HTTP SD endpoint whose answer the test changes at will."""

    def __init__(self) -> None:
        self.body: Any = []
        self.status = 200
        self.content_type = "application/json"
        self.requests: list[web.Request] = []
        #: When set, requests without this Authorization header are refused.
        self.authorization = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        if self.authorization and request.headers.get("Authorization") != self.authorization:
            return web.Response(status=403)
        return web.json_response(self.body, status=self.status, content_type=self.content_type)


@contextlib.asynccontextmanager
async def serve(sd: SDServer, token: Handler | None = None) -> AsyncIterator[str]:
    """Serve ``sd`` at ``/sd`` (and ``token`` at ``POST /token``); yields the SD URL."""
    app = web.Application()
    app.router.add_get("/sd", sd.handle)
    if token is not None:
        app.router.add_post("/token", token)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/sd"
    finally:
        await runner.cleanup()


def test_http_sd_follows_changes_and_survives_failures(manager_runner: Callable[..., Any]) -> None:
    sd = SDServer()
    sd.body = [{"targets": ["a:80", "b:80"], "labels": {"zone": "z1"}}]

    async def scenario() -> None:
        async with serve(sd) as url:
            http = HTTPClientConfig(basic_auth=BasicAuth(username="u", password="p w"))
            cfg = ScrapeConfig(
                job_name="web",
                http_sd_configs=[HTTPSDConfig(url=url, refresh_interval=0.1, http=http)],
            )
            async with manager_runner([cfg]) as (_, updates):
                got = await updates.wait(lambda u: addresses(u, "web") == {"a:80", "b:80"})
                (group,) = got["web"]
                assert group.source == f"{url}:0"
                assert group.labels == {"zone": "z1", "__meta_url": url}
                req = sd.requests[0]
                assert req.headers["Authorization"] == "Basic dTpwIHc="  # base64("u:p w")
                assert req.headers["X-Prometheus-Refresh-Interval-Seconds"] == "0.1"

                sd.body = [{"targets": ["c:80"]}, {"targets": ["d:80"], "labels": {"x": "y"}}]
                await updates.wait(lambda u: addresses(u, "web") == {"c:80", "d:80"})

                # Each kind of failure keeps the last good targets and is counted.
                for status, ctype, body in [
                    (500, "application/json", []),
                    (200, "text/plain", []),
                    (200, "application/json", [{"targets": "e:80"}]),
                    (200, "application/json", {"not": "a list"}),
                ]:
                    sd.status, sd.content_type, sd.body = status, ctype, body
                    before = failures()
                    for _ in range(200):
                        if failures() >= before + 2:
                            break
                        await asyncio.sleep(0.02)
                    assert failures() >= before + 2
                    assert addresses(updates.latest, "web") == {"c:80", "d:80"}

                sd.status, sd.content_type, sd.body = 200, "application/json", []
                await updates.wait(lambda u: u.get("web") == [])

    asyncio.run(scenario())


def test_http_sd_unreachable_endpoint_is_a_counted_failure(
    manager_runner: Callable[..., Any],
) -> None:
    async def scenario() -> None:
        sd = SDServer()
        async with serve(sd) as url:
            pass  # The server is gone again: its port now refuses connections.
        cfg = ScrapeConfig(
            job_name="gone", http_sd_configs=[HTTPSDConfig(url=url, refresh_interval=0.05)]
        )
        before = failures()
        async with manager_runner([cfg], update_interval=0.05) as (_, updates):
            # The first update is not held back forever by a provider that never succeeds.
            got = await updates.wait(lambda u: "gone" in u)
            assert got["gone"] == []
            for _ in range(200):
                if failures() > before:
                    break
                await asyncio.sleep(0.02)
            assert failures() > before

    asyncio.run(scenario())


def test_http_sd_sends_bearer_token_from_file(
    tmp_path: Path, manager_runner: Callable[..., Any]
) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    sd = SDServer()
    sd.body = [{"targets": ["t:1"]}]

    async def scenario() -> None:
        async with serve(sd) as url:
            http = HTTPClientConfig(authorization=Authorization(credentials_file=str(token)))
            cfg = ScrapeConfig(job_name="t", http_sd_configs=[HTTPSDConfig(url=url, http=http)])
            async with manager_runner([cfg]) as (_, updates):
                await updates.wait(lambda u: addresses(u, "t") == {"t:1"})
                assert sd.requests[0].headers["Authorization"] == "Bearer s3cret"

    asyncio.run(scenario())


def test_http_sd_over_tls_checks_the_server_certificate(
    tmp_path: Path, manager_runner: Callable[..., Any]
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=sd.example", "-addext", "subjectAltName=DNS:sd.example",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    sd = SDServer()
    sd.body = [{"targets": ["secure:443"]}]

    async def scenario() -> None:
        app = web.Application()
        app.router.add_get("/sd", sd.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx).start()
        url = "https://{}:{}/sd".format(*runner.addresses[0][:2])

        def job(name: str, tls: TLSConfig) -> ScrapeConfig:
            http = HTTPClientConfig(
                tls_config=tls, http_headers={"X-Tenant": {"values": ["team-a"]}}
            )
            sd_cfg = HTTPSDConfig(url=url, refresh_interval=0.1, http=http)
            return ScrapeConfig(job_name=name, http_sd_configs=[sd_cfg])

        trusted = job("trusted", TLSConfig(ca_file=str(cert), server_name="sd.example"))
        inline = job("inline", TLSConfig(ca=cert.read_text(), server_name="sd.example"))
        untrusted = job("untrusted", TLSConfig(server_name="sd.example"))
        before = failures()
        try:
            async with manager_runner([trusted, inline, untrusted]) as (_, updates):
                await updates.wait(
                    lambda u: addresses(u, "trusted") == addresses(u, "inline") == {"secure:443"}
                )
                for _ in range(200):
                    if failures() > before:
                        break
                    await asyncio.sleep(0.02)
                # A server whose certificate we cannot verify yields no targets.
                assert failures() > before
                assert updates.latest["untrusted"] == []
                assert sd.requests[0].headers["X-Tenant"] == "team-a"
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


def test_http_sd_authenticates_with_oauth2_client_credentials(
    manager_runner: Callable[..., Any],
) -> None:
    sd = SDServer()
    sd.body = [{"targets": ["o:1"]}]
    sd.authorization = "Bearer sd-tok"
    issued: list[dict[str, str]] = []

    async def token(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        issued.append({**form, "auth": request.headers["Authorization"]})
        return web.json_response({"access_token": "sd-tok", "expires_in": 3600})

    async def scenario() -> None:
        async with serve(sd, token) as url:
            oauth = OAuth2(
                client_id="id", client_secret="sec", token_url=url[: -len("sd")] + "token"
            )
            http = HTTPClientConfig(oauth2=oauth)
            sd_cfg = HTTPSDConfig(url=url, refresh_interval=0.05, http=http)
            cfg = ScrapeConfig(job_name="o", http_sd_configs=[sd_cfg])
            async with manager_runner([cfg]) as (_, updates):
                await updates.wait(lambda u: addresses(u, "o") == {"o:1"})
                while len(sd.requests) < 3:
                    await asyncio.sleep(0.02)
        # One token serves every refresh.
        assert len(issued) == 1
        assert issued[0]["grant_type"] == "client_credentials"
        assert issued[0]["auth"].startswith("Basic ")

    asyncio.run(scenario())
