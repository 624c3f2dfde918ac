"""The HTTP side of a scrape: one aiohttp session per pool, one GET per scrape.

Credentials are re-read from ``password_file``/``credentials_file`` on every scrape, as
Prometheus does, so rotating a secret needs no reload. TLS settings are turned into an
``SSLContext`` when the pool is configured, so a missing CA or key file refuses the
configuration instead of failing every scrape later.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus, urlsplit

import aiohttp
from multidict import CIMultiDict

from promhub import __version__
from promhub.config.model import ConfigError, HTTPClientConfig, OAuth2, ScrapeConfig, TLSConfig
from promhub.model.exposition import SCRAPE_ACCEPT_HEADER
from promhub.scrape.errors import BodySizeLimitError, FetchError

USER_AGENT = f"promhub/{__version__} (Prometheus-compatible)"


_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


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


def ssl_context(tls: TLSConfig, job: str) -> ssl.SSLContext:
    """An SSLContext for ``tls``; raises ConfigError naming the job and the bad field."""
    field = f"scrape_configs[{job}].tls_config"
    try:
        ctx = ssl.create_default_context(cafile=tls.ca_file or None, cadata=tls.ca or None)
    except (OSError, ssl.SSLError) as e:
        what = f"CA file {tls.ca_file!r}" if tls.ca_file else "inline CA"
        raise ConfigError(f"cannot load {what}: {e}", field=field) from e
    cert, key = tls.cert_file, tls.key_file
    if cert or key or tls.cert or tls.key:
        if not ((cert or tls.cert) and (key or tls.key)):
            raise ConfigError("a client certificate needs both cert and key", field=field)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                # ssl can only load a certificate chain from files: spill inline PEM.
                if tls.cert:
                    cert = str(Path(tmp, "cert.pem"))
                    Path(cert).write_text(tls.cert)
                if tls.key:
                    key = str(Path(tmp, "key.pem"))
                    Path(key).write_text(tls.key)
                ctx.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(
                f"cannot load client certificate {tls.cert_file or 'inline'!r} / key "
                f"{tls.key_file or 'inline'!r}: {e}",
                field=field,
            ) from e
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    for name, version in (("min_version", tls.min_version), ("max_version", tls.max_version)):
        if not version:
            continue
        if version not in _TLS_VERSIONS:
            raise ConfigError(f"unknown TLS version {version!r}", field=f"{field}.{name}")
        if name == "min_version":
            ctx.minimum_version = _TLS_VERSIONS[version]
        else:
            ctx.maximum_version = _TLS_VERSIONS[version]
    return ctx


@dataclass(frozen=True, slots=True)
class Response:
    """A scrape's body (decompressed) and its Content-Type."""

    body: bytes
    content_type: str


class OAuth2Token:
    """OAuth 2.0 client-credentials tokens for ``oauth2:``, fetched when needed and
    reused until shortly before they expire."""

    def __init__(self, cfg: OAuth2, job: str) -> None:
        self._cfg = cfg
        self._ssl = ssl_context(cfg.tls_config, job)
        self._token = ""
        self._expires = 0.0

    async def get(self, session: aiohttp.ClientSession) -> str:
        if self._token and time.monotonic() < self._expires:
            return self._token
        cfg = self._cfg
        secret = cfg.client_secret
        if cfg.client_secret_file:
            secret = _read_secret(cfg.client_secret_file, "client_secret_file")
        form = {"grant_type": "client_credentials", **cfg.endpoint_params}
        if cfg.scopes:
            form["scope"] = " ".join(cfg.scopes)
        try:
            async with session.post(
                cfg.token_url,
                data=form,
                # golang.org/x/oauth2 form-escapes both parts inside the Basic header.
                headers={"Authorization": _basic(quote_plus(cfg.client_id), quote_plus(secret))},
                ssl=self._ssl,
                proxy=cfg.proxy_url or None,
                timeout=aiohttp.ClientTimeout(total=30),
            ) as resp:
                doc = await resp.json(content_type=None)
                if resp.status != 200 or not isinstance(doc, dict) or "access_token" not in doc:
                    raise FetchError(
                        f"oauth2: cannot fetch token from {cfg.token_url}: "
                        f"HTTP {resp.status} {str(doc)[:200]}"
                    )
        except (aiohttp.ClientError, OSError, ValueError, TimeoutError) as e:
            raise FetchError(f"oauth2: cannot fetch token from {cfg.token_url}: {e}") from e
        self._token = str(doc["access_token"])
        expires_in = float(doc.get("expires_in") or 3600)
        # Renew a little early, as golang.org/x/oauth2 does, so no scrape sends a token
        # that expires in flight.
        self._expires = time.monotonic() + max(0.0, expires_in - 10)
        return self._token


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
        self._ssl = ssl_context(cfg.http.tls_config, cfg.job_name)
        self._session: aiohttp.ClientSession | None = None
        oauth = cfg.http.oauth2
        self._oauth2 = OAuth2Token(oauth, cfg.job_name) if oauth is not None else None

    def _headers(self, timeout: float) -> CIMultiDict[str]:
        h: CIMultiDict[str] = CIMultiDict()
        # Configured headers first: the protocol headers below must win over them.
        for name, spec in self._http.http_headers.items():
            if isinstance(spec, dict):
                for v in spec.get("values") or []:
                    h.add(name, str(v))
                for v in spec.get("secrets") or []:
                    h.add(name, str(v))
                for f in spec.get("files") or []:
                    h.add(name, _read_secret(str(f), f"http_headers file for {name}"))
        h.update({
            "Accept": self._accept,
            # aiohttp would otherwise offer deflate/br too; Prometheus offers gzip only.
            "Accept-Encoding": "gzip" if self._compression else "identity",
            "User-Agent": USER_AGENT,
            "X-Prometheus-Scrape-Timeout-Seconds": f"{timeout:g}",
        })  # fmt: skip
        ba = self._http.basic_auth
        if ba is not None:
            username, password = ba.username, ba.password
            if ba.username_file:
                username = _read_secret(ba.username_file, "username_file")
            if ba.password_file:
                password = _read_secret(ba.password_file, "password_file")
            h["Authorization"] = _basic(username, password)
        auth = self._http.authorization
        if auth is not None:
            creds = auth.credentials
            if auth.credentials_file:
                creds = _read_secret(auth.credentials_file, "credentials_file")
            h["Authorization"] = f"{auth.type or 'Bearer'} {creds}"
        return h

    async def fetch(self, url: str, timeout: float) -> Response:
        """GET ``url`` within ``timeout`` seconds; raises :class:`FetchError` on failure."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=0),
                # The client never keeps cookies between scrapes, as Prometheus' doesn't.
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=self._http.proxy_from_environment,
            )
        tls = self._http.tls_config
        headers = self._headers(timeout)
        if self._oauth2 is not None:
            headers["Authorization"] = f"Bearer {await self._oauth2.get(self._session)}"
        try:
            async with self._session.get(
                url,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=self._http.follow_redirects,
                proxy=self._proxy_for(url),
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

    def _proxy_for(self, url: str) -> str | None:
        proxy = self._http.proxy_url
        if not proxy or not self._http.no_proxy:
            return proxy or None
        host = (urlsplit(url).hostname or "").lower()
        for entry in self._http.no_proxy.split(","):
            # Go's http.ProxyFromEnvironment rules, simplified: exact host, or a domain
            # suffix (with or without the leading dot).
            e = entry.strip().lower().lstrip(".")
            if e and (e == "*" or host == e or host.endswith("." + e)):
                return None
        return proxy

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


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _read_secret(path: str, what: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as e:
        raise FetchError(f"unable to read {what} {path!r}: {e}") from e
