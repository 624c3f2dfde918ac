"""http_sd: targets fetched from an HTTP endpoint every ``refresh_interval``.

The endpoint answers a GET with ``200``, ``Content-Type: application/json`` and the
document ``[{"targets": ["host:port", ...], "labels": {...}}, ...]``, as in Prometheus'
HTTP SD. Group ``i`` gets source ``f"{url}:{i}"`` and the label ``__meta_url``. A failed
refresh (network, status, content type, bad document) keeps the previous groups and counts
in ``prometheus_sd_http_failures_total``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import ssl
import tempfile
from collections.abc import Callable
from typing import Any

import aiohttp
from prometheus_client import Counter

from promhub import __version__
from promhub.config.model import HTTPClientConfig, HTTPSDConfig, TLSConfig
from promhub.discovery.targetgroup import DiscoveryError, TargetGroup, groups_from_document

log = logging.getLogger(__name__)

#: Label naming the URL a target came from.
URL_LABEL = "__meta_url"

FAILURES = Counter(
    "prometheus_sd_http_failures_total",
    "Number of HTTP service discovery refresh failures.",
)

_JSON_CONTENT_TYPE = re.compile(r"^application/json(;.*)?$")
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


def ssl_context(tls: TLSConfig) -> ssl.SSLContext:
    """An SSL context honoring a ``tls_config``; files are read now, so call per refresh."""
    ctx = ssl.create_default_context(cafile=tls.ca_file or None, cadata=tls.ca or None)
    if tls.cert or tls.key:
        _load_inline_cert_chain(ctx, tls.cert, tls.key)
    elif tls.cert_file or tls.key_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file or None)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    for name, attr in (("min_version", "minimum_version"), ("max_version", "maximum_version")):
        version = getattr(tls, name)
        if version:
            try:
                setattr(ctx, attr, _TLS_VERSIONS[version.upper()])
            except KeyError:
                raise ValueError(f"tls_config: unknown {name} {version!r}") from None
    return ctx


def _load_inline_cert_chain(ctx: ssl.SSLContext, cert: str, key: str) -> None:
    # The ssl module loads certificates only from files; keep them in a private directory
    # for the instant it takes.
    with tempfile.TemporaryDirectory(prefix="promhub-tls-") as d:
        cert_path, key_path = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        for path, pem in ((cert_path, cert), (key_path, key)):
            with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                f.write(pem)
        ctx.load_cert_chain(cert_path, key_path if key else None)


def auth_headers(http: HTTPClientConfig) -> dict[str, str]:
    """``http_headers`` plus the ``Authorization`` of ``basic_auth`` or ``authorization``.

    Secret files are read on every call, as Prometheus does, so rotated credentials are
    picked up without a reload.
    """
    headers: dict[str, str] = {}
    for name, spec in http.http_headers.items():
        # Prometheus' http_headers: {name: {values: [...], secrets: [...], files: [...]}}.
        values = [str(v) for v in (spec or {}).get("values") or []]
        values += [str(v) for v in (spec or {}).get("secrets") or []]
        values += [_read_secret(str(p)) for p in (spec or {}).get("files") or []]
        if values:
            headers[name] = ", ".join(values)
    if http.oauth2 is not None:
        # Refusing beats silently sending unauthenticated requests.
        raise DiscoveryError("oauth2 is not supported for http_sd yet")
    if http.basic_auth is not None:
        ba = http.basic_auth
        user = _read_secret(ba.username_file) if ba.username_file else ba.username
        password = _read_secret(ba.password_file) if ba.password_file else ba.password
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    elif http.authorization is not None:
        az = http.authorization
        cred = _read_secret(az.credentials_file) if az.credentials_file else az.credentials
        headers["Authorization"] = f"{az.type or 'Bearer'} {cred}"
    return headers


def _read_secret(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


class HTTPProvider:
    """Discovers targets from one ``http_sd_configs`` entry."""

    def __init__(self, config: HTTPSDConfig) -> None:
        self._config = config

    async def run(self, send: Callable[[list[TargetGroup]], None]) -> None:
        """Fetch now and every ``refresh_interval``; report groups after each success."""
        cfg = self._config
        # Prometheus bounds a refresh by the refresh interval; so do we.
        timeout = aiohttp.ClientTimeout(total=cfg.refresh_interval)
        trust_env = cfg.http.proxy_from_environment
        async with aiohttp.ClientSession(timeout=timeout, trust_env=trust_env) as session:
            last: list[TargetGroup] | None = None
            while True:
                try:
                    groups = await self.fetch(session)
                except Exception as e:  # Whatever went wrong, keep the old targets.
                    FAILURES.inc()
                    log.error(
                        "http_sd: refresh of %s failed, keeping previous targets: %s", cfg.url, e
                    )
                else:
                    if groups != last:
                        last = groups
                        send(groups)
                await asyncio.sleep(cfg.refresh_interval)

    async def fetch(self, session: aiohttp.ClientSession) -> list[TargetGroup]:
        """One refresh: GET the URL and validate the answer."""
        cfg = self._config
        http = cfg.http
        headers = {
            "Accept": "application/json",
            "User-Agent": f"promhub/{__version__}",
            "X-Prometheus-Refresh-Interval-Seconds": f"{cfg.refresh_interval:g}",
            **auth_headers(http),
        }
        kwargs: dict[str, Any] = {"headers": headers, "allow_redirects": http.follow_redirects}
        if cfg.url.startswith("https:"):
            kwargs["ssl"] = ssl_context(http.tls_config)
            if http.tls_config.server_name:
                kwargs["server_hostname"] = http.tls_config.server_name
        if http.proxy_url:
            kwargs["proxy"] = http.proxy_url
        async with session.get(cfg.url, **kwargs) as resp:
            if resp.status != 200:
                raise DiscoveryError(f"{cfg.url}: server returned HTTP status {resp.status}")
            ctype = resp.headers.get("Content-Type", "")
            if not _JSON_CONTENT_TYPE.match(ctype):
                raise DiscoveryError(f"{cfg.url}: unsupported content type {ctype!r}")
            body = await resp.read()
        try:
            doc = await asyncio.to_thread(json.loads, body)
        except ValueError as e:
            raise DiscoveryError(f"{cfg.url}: {e}") from None
        return groups_from_document(
            doc, source_prefix=cfg.url, where=cfg.url, extra_labels={URL_LABEL: cfg.url}
        )
