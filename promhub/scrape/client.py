"""The HTTP side of a scrape: one aiohttp session per pool, one GET per scrape.

Authentication, TLS and proxies mean what :mod:`promhub.config.http_client` says they mean;
credentials are re-read from their files on every scrape. TLS settings are turned into an
``SSLContext`` when the pool is configured, so a missing CA or key file refuses the
configuration instead of failing every scrape later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict

from promhub.config.http_client import (
    USER_AGENT,
    CredentialError,
    HTTPAuth,
    client_session,
    proxy_for,
    ssl_context,
)
from promhub.config.model import HTTPClientConfig, ScrapeConfig
from promhub.model.exposition import SCRAPE_ACCEPT_HEADER
from promhub.scrape.errors import BodySizeLimitError, FetchError

#: Media types of the scrape protocols promhub can parse (no protobuf), as Prometheus
#: spells them in its Accept header.
PROTOCOL_MEDIA_TYPES = {
    "PrometheusText0.0.4": "text/plain;version=0.0.4",
    "PrometheusText1.0.0": "text/plain;version=1.0.0",
    "OpenMetricsText0.0.1": "application/openmetrics-text;version=0.0.1",
    "OpenMetricsText1.0.0": "application/openmetrics-text;version=1.0.0",
}


def accept_header(protocols: Sequence[str], escaping: str = "allow-utf-8") -> str:
    """The Accept header for ``scrape_protocols`` in order of preference, as Prometheus
    builds it (q-values counting down from 0.6). ``PrometheusProto`` is left out: a
    target must not answer in a format promhub cannot parse."""
    vals = []
    weight = 6
    for p in protocols:
        media = PROTOCOL_MEDIA_TYPES.get(p)
        if media is None:
            continue
        if p in ("PrometheusText1.0.0", "OpenMetricsText1.0.0"):
            media += f";escaping={escaping or 'allow-utf-8'}"
        vals.append(f"{media};q=0.{weight}")
        weight -= 1
    vals.append(f"*/*;q=0.{weight}")
    return ",".join(vals)


@dataclass(frozen=True, slots=True)
class Response:
    """A scrape's body (decompressed) and its Content-Type."""

    body: bytes
    content_type: str


class ScrapeClient:
    """Fetches targets of one scrape config. Create it anywhere; use it on the event loop."""

    def __init__(self, cfg: ScrapeConfig) -> None:
        self._http: HTTPClientConfig = cfg.http
        self._accept = (
            accept_header(cfg.scrape_protocols, cfg.metric_name_escaping_scheme)
            if cfg.scrape_protocols
            else SCRAPE_ACCEPT_HEADER
        )
        self._fallback = PROTOCOL_MEDIA_TYPES.get(cfg.fallback_scrape_protocol, "")
        self._compression = cfg.enable_compression
        self._body_size_limit = cfg.body_size_limit
        field = f"scrape_configs[{cfg.job_name}]"
        self._ssl = ssl_context(cfg.http.tls_config, f"{field}.tls_config")
        self._auth = HTTPAuth(cfg.http, field)
        self._session: aiohttp.ClientSession | None = None

    async def _headers(self, session: aiohttp.ClientSession, timeout: float) -> CIMultiDict[str]:
        try:
            h = await self._auth.headers(session)
        except CredentialError as e:
            raise FetchError(str(e)) from e
        # The protocol headers must win over configured ones.
        h.update({
            "Accept": self._accept,
            # aiohttp would otherwise offer deflate/br too; Prometheus offers gzip only.
            "Accept-Encoding": "gzip" if self._compression else "identity",
            "User-Agent": USER_AGENT,
            "X-Prometheus-Scrape-Timeout-Seconds": f"{timeout:g}",
        })  # fmt: skip
        return h

    async def fetch(self, url: str, timeout: float) -> Response:
        """GET ``url`` within ``timeout`` seconds; raises :class:`FetchError` on failure."""
        if self._session is None:
            self._session = client_session(
                self._http, connector=aiohttp.TCPConnector(ssl=self._ssl, limit=0)
            )
        tls = self._http.tls_config
        headers = await self._headers(self._session, timeout)
        try:
            async with self._session.get(
                url,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=self._http.follow_redirects,
                proxy=proxy_for(self._http, url),
                server_hostname=tls.server_name or None,
            ) as resp:
                if resp.status != 200:
                    raise FetchError(f"server returned HTTP status {resp.status} {resp.reason}")
                body = await self._read(resp)
                ctype = resp.headers.get("Content-Type", "").strip() or self._fallback
                return Response(body, ctype)
        except FetchError:
            raise
        except TimeoutError:
            raise FetchError(
                f'Get "{url}": context deadline exceeded (scrape timeout {timeout:g}s)'
            ) from None
        except (aiohttp.ClientError, OSError, ValueError) as e:
            raise FetchError(f'Get "{url}": {e}') from e

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        limit = self._body_size_limit
        if limit <= 0:
            return await resp.read()
        # aiohttp decompresses while streaming, so the limit bounds the uncompressed
        # size (as Prometheus' does) and a gzip bomb is cut off after `limit` bytes.
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > limit:
                raise BodySizeLimitError(f"body size limit exceeded (limit: {limit} bytes)")
            chunks.append(chunk)
        return b"".join(chunks)

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
            # Let the connector's transports close before the loop may go away.
            await asyncio.sleep(0)
