"""http_sd: targets fetched from an HTTP endpoint every ``refresh_interval``.

The endpoint answers a GET with ``200``, ``Content-Type: application/json`` and the
document ``[{"targets": ["host:port", ...], "labels": {...}}, ...]``, as in Prometheus'
HTTP SD. Group ``i`` gets source ``f"{url}:{i}"`` and the label ``__meta_url``. A failed
refresh (network, status, content type, bad document, credentials) keeps the previous groups
and counts in ``prometheus_sd_http_failures_total``. Authentication, TLS and proxies mean
what :mod:`promhub.config.http_client` says they mean, as for scrapes; TLS files and
secrets are read on every refresh, so rotating them needs no reload.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import aiohttp
from prometheus_client import Counter

from promhub.config.http_client import (
    USER_AGENT,
    HTTPAuth,
    client_session,
    proxy_for,
    ssl_context,
)
from promhub.config.model import HTTPSDConfig
from promhub.discovery.targetgroup import DiscoveryError, TargetGroup, groups_from_document

log = logging.getLogger(__name__)

#: Label naming the URL a target came from.
URL_LABEL = "__meta_url"

FAILURES = Counter(
    "prometheus_sd_http_failures_total",
    "Number of HTTP service discovery refresh failures.",
)

_JSON_CONTENT_TYPE = re.compile(r"^application/json(;.*)?$")


class HTTPProvider:
    """Discovers targets from one ``http_sd_configs`` entry."""

    def __init__(self, config: HTTPSDConfig) -> None:
        self._config = config
        self._field = f"http_sd_configs[{config.url}]"
        # Made at the first refresh, so a bad oauth2 tls_config is a counted refresh
        # failure (retried) like any other, and the token is then reused across refreshes.
        self._auth: HTTPAuth | None = None

    async def run(self, send: Callable[[list[TargetGroup]], None]) -> None:
        """Fetch now and every ``refresh_interval``; report groups after each success."""
        cfg = self._config
        # Prometheus bounds a refresh by the refresh interval; so do we.
        timeout = aiohttp.ClientTimeout(total=cfg.refresh_interval)
        async with client_session(cfg.http, timeout=timeout) as session:
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
        if self._auth is None:
            self._auth = HTTPAuth(http, self._field)
        headers = await self._auth.headers(session)
        # The protocol headers must win over configured ones.
        headers.update({
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            "X-Prometheus-Refresh-Interval-Seconds": f"{cfg.refresh_interval:g}",
        })  # fmt: skip
        kwargs: dict[str, Any] = {
            "headers": headers,
            "allow_redirects": http.follow_redirects,
            "proxy": proxy_for(http, cfg.url),
        }
        if cfg.url.startswith("https:"):
            kwargs["ssl"] = ssl_context(http.tls_config, f"{self._field}.tls_config")
            if http.tls_config.server_name:
                kwargs["server_hostname"] = http.tls_config.server_name
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
