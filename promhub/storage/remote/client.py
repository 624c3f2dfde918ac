"""The HTTP side of remote_write: one POST, and the retry policy around it.

Prometheus' rules (``storage/remote/client.go``, ``queue_manager.go``): a 2xx is success;
a 5xx, a 429 with ``retry_on_http_429`` and any network error or timeout are recoverable
and retried after a backoff that doubles from ``min_backoff`` up to ``max_backoff``, for
as long as it takes; any other status means the remote end refused the data, and
resending the same bytes would not change its mind, so the batch is dropped and counted.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from prometheus_client.metrics import Histogram

from promhub.config.http_client import (
    USER_AGENT,
    CredentialError,
    HTTPAuth,
    proxy_for,
    ssl_context,
)
from promhub.config.remote_write import RemoteWriteConfig

__all__ = ["Outcome", "WriteClient"]

log = logging.getLogger(__name__)


class Outcome(enum.Enum):
    """How one batch ended."""

    SENT = 1
    #: A non-recoverable answer (4xx): dropped, counted as failed.
    REFUSED = 2
    #: Still failing when the caller said to stop trying (shutdown); not acknowledged.
    GAVE_UP = 3


class WriteClient:
    """POSTs snappy-compressed WriteRequests to one endpoint, as its config says."""

    def __init__(self, cfg: RemoteWriteConfig) -> None:
        self.cfg = cfg
        where = f"remote_write[{cfg.name}]"
        self._auth = HTTPAuth(cfg.http, where)
        self._ssl = (
            ssl_context(cfg.http.tls_config, f"{where}.tls_config")
            if cfg.url.startswith("https:")
            else None
        )

    async def post(self, session: aiohttp.ClientSession, data: bytes) -> tuple[int, str]:
        """One attempt: the status and, for a non-2xx, the start of the answer's body."""
        cfg = self.cfg
        headers = await self._auth.headers(session)
        for k, v in cfg.headers.items():
            headers[k] = v
        # The protocol headers win over configured ones (the config refuses them anyway).
        headers.update({
            "Content-Encoding": "snappy",
            "Content-Type": "application/x-protobuf",
            "User-Agent": USER_AGENT,
            "X-Prometheus-Remote-Write-Version": "0.1.0",
        })  # fmt: skip
        kwargs: dict[str, Any] = {
            "headers": headers,
            "data": data,
            "allow_redirects": cfg.http.follow_redirects,
            "proxy": proxy_for(cfg.http, cfg.url),
        }
        if self._ssl is not None:
            kwargs["ssl"] = self._ssl
            if cfg.http.tls_config.server_name:
                kwargs["server_hostname"] = cfg.http.tls_config.server_name
        async with session.post(cfg.url, **kwargs) as resp:
            text = "" if resp.status < 300 else (await resp.text(errors="replace"))[:512]
            return resp.status, text

    async def send(
        self,
        session: aiohttp.ClientSession,
        data: bytes,
        *,
        what: str,
        on_retry: Callable[[], None],
        duration: Histogram,
        give_up: Callable[[float], bool],
    ) -> Outcome:
        """Send ``data`` (``what``: "12 samples", for logs) until accepted or refused.

        ``on_retry`` runs before each retry (to count it); ``give_up(backoff)`` is asked
        before each wait and ends the attempts with :attr:`Outcome.GAVE_UP`.
        """
        q = self.cfg.queue_config
        backoff = q.min_backoff
        while True:
            t0 = time.monotonic()
            try:
                status, text = await self.post(session, data)
            except (aiohttp.ClientError, OSError, TimeoutError, CredentialError) as e:
                status, text = 0, str(e) or type(e).__name__
            finally:
                duration.observe(time.monotonic() - t0)
            if 200 <= status < 300:
                return Outcome.SENT
            if not (status == 0 or status >= 500 or (status == 429 and q.retry_on_http_429)):
                log.error(
                    "remote_write %s: non-recoverable error sending %s: HTTP %d: %s",
                    self.cfg.name,
                    what,
                    status,
                    text[:256],
                )
                return Outcome.REFUSED
            if give_up(backoff):
                return Outcome.GAVE_UP
            on_retry()
            log.warning(
                "remote_write %s: recoverable error sending %s (%s), retrying in %.3gs",
                self.cfg.name,
                what,
                f"HTTP {status}: {text[:128]}" if status else text,
                backoff,
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, q.max_backoff)
