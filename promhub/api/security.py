"""``--web.config.file`` (the exporter-toolkit ``web.yml`` format) and ``--web.cors.origin``.

web.yml::

    tls_server_config:
      cert_file: server.crt          # relative paths: relative to web.yml
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert
      client_ca_file: ca.crt
      min_version: TLS12
    http_server_config:
      headers:
        X-Frame-Options: deny
    basic_auth_users:
      alice: $2y$10$...               # bcrypt hash

As in exporter-toolkit, the file is re-read when it changes (users and headers apply to
the next request; TLS settings need a restart here), a request without valid credentials
gets ``401`` with ``WWW-Authenticate: Basic``, unknown users still cost one bcrypt
comparison (no user enumeration by timing), and results are cached briefly because bcrypt
is deliberately slow. Comparisons run in a worker thread, one at a time.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import os
import re
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import yaml
from aiohttp import web

from promhub.model.relabel import compile_regex

#: bcrypt of "fakepassword", compared for unknown users so they take as long as known ones.
_FAKE_HASH = b"$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"
_CACHE_TTL_S = 60.0
_CACHE_MAX = 1024

_CLIENT_AUTH = {
    "": ssl.CERT_NONE,
    "NoClientCert": ssl.CERT_NONE,
    # Python's ssl cannot ask for a certificate without verifying it: these two verify
    # when one is sent (against client_ca_file), like VerifyClientCertIfGiven.
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_HEADERS = {
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
}
_KEYS = {
    "": {"tls_server_config", "http_server_config", "basic_auth_users"},
    "tls_server_config": {
        "cert_file",
        "key_file",
        "cert",
        "key",
        "client_auth_type",
        "client_ca_file",
        "client_ca",
        "cipher_suites",
        "curve_preferences",
        "min_version",
        "max_version",
        "prefer_server_cipher_suites",
        "client_allowed_sans",
    },
    "http_server_config": {"http2", "headers"},
}


class WebConfigError(ValueError):
    """web.yml is invalid; the message names the file and the field."""


@dataclass(slots=True)
class TLSSettings:
    cert_file: str = ""
    key_file: str = ""
    client_auth_type: str = ""
    client_ca_file: str = ""
    min_version: str = "TLS12"
    max_version: str = ""


@dataclass(slots=True)
class WebConfig:
    tls: TLSSettings | None = None
    users: dict[str, bytes] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def _section(doc: Any, name: str, path: str) -> dict[str, Any]:
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise WebConfigError(f"{path}: {name or 'document'}: expected a mapping")
    unknown = sorted(set(map(str, doc)) - _KEYS.get(name, set(map(str, doc))))
    if unknown:
        where = f"{name}." if name else ""
        raise WebConfigError(f"{path}: field {where}{unknown[0]} not found in web config")
    return doc


def load_web_config(path: str | os.PathLike[str]) -> WebConfig:
    """Parse and validate a web.yml; relative file names resolve against its directory."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except OSError as e:
        raise WebConfigError(f"{p}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise WebConfigError(f"{p}: {e}") from None
    top = _section(doc, "", str(p))
    cfg = WebConfig()
    base = p.parent

    tls = _section(top.get("tls_server_config"), "tls_server_config", str(p))
    if tls:

        def rel(key: str) -> str:
            v = str(tls.get(key) or "")
            return str(base / v) if v and not os.path.isabs(v) else v

        t = TLSSettings(
            cert_file=rel("cert_file"),
            key_file=rel("key_file"),
            client_auth_type=str(tls.get("client_auth_type") or ""),
            client_ca_file=rel("client_ca_file"),
            min_version=str(tls.get("min_version") or "TLS12"),
            max_version=str(tls.get("max_version") or ""),
        )
        if t.cert_file or t.key_file or t.client_auth_type or t.client_ca_file:
            if not t.cert_file:
                raise WebConfigError(f"{p}: tls_server_config: missing cert_file")
            if not t.key_file:
                raise WebConfigError(f"{p}: tls_server_config: missing key_file")
            if t.client_auth_type not in _CLIENT_AUTH:
                raise WebConfigError(
                    f"{p}: tls_server_config: Invalid ClientAuth: {t.client_auth_type}"
                )
            if t.client_ca_file and _CLIENT_AUTH[t.client_auth_type] == ssl.CERT_NONE:
                raise WebConfigError(
                    f"{p}: tls_server_config: Client CA's have been configured without a "
                    "Client Auth Policy"
                )
            for key in ("min_version", "max_version"):
                v = getattr(t, key)
                if v and v not in _TLS_VERSIONS:
                    raise WebConfigError(f"{p}: tls_server_config: unknown TLS version: {v}")
            cfg.tls = t

    http = _section(top.get("http_server_config"), "http_server_config", str(p))
    headers = http.get("headers") or {}
    if not isinstance(headers, dict):
        raise WebConfigError(f"{p}: http_server_config.headers: expected a mapping")
    for k, v in headers.items():
        if k not in _HEADERS:
            raise WebConfigError(f'{p}: HTTP header "{k}" can not be configured')
        cfg.headers[str(k)] = str(v)
    if cfg.headers.get("X-Content-Type-Options", "nosniff").lower() != "nosniff":
        raise WebConfigError(f"{p}: invalid value for X-Content-Type-Options")

    users = top.get("basic_auth_users") or {}
    if not isinstance(users, dict):
        raise WebConfigError(f"{p}: basic_auth_users: expected a mapping of user to hash")
    for user, h in users.items():
        hb = str(h).encode()
        if not hb.startswith((b"$2a$", b"$2b$", b"$2y$")):
            raise WebConfigError(f"{p}: basic_auth_users.{user}: not a bcrypt hash")
        cfg.users[str(user)] = hb
    return cfg


def ssl_context(t: TLSSettings) -> ssl.SSLContext:
    """A server TLS context for these settings (errors name the offending file)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _TLS_VERSIONS[t.min_version]
    if t.max_version:
        ctx.maximum_version = _TLS_VERSIONS[t.max_version]
    try:
        ctx.load_cert_chain(t.cert_file, t.key_file)
    except (OSError, ssl.SSLError) as e:
        raise WebConfigError(
            f"failed to load X509KeyPair {t.cert_file}, {t.key_file}: {e}"
        ) from None
    ctx.verify_mode = _CLIENT_AUTH[t.client_auth_type]
    if t.client_ca_file:
        try:
            ctx.load_verify_locations(t.client_ca_file)
        except (OSError, ssl.SSLError) as e:
            raise WebConfigError(f"reading client CA {t.client_ca_file}: {e}") from None
    return ctx


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebSecurity:
    """Basic auth and response headers from a web.yml, re-read when the file changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._mtime = os.stat(path).st_mtime_ns
        self.config = load_web_config(path)
        self._cache: dict[str, tuple[bool, float]] = {}
        self._bcrypt = threading.Lock()

    def ssl_context(self) -> ssl.SSLContext | None:
        return ssl_context(self.config.tls) if self.config.tls is not None else None

    def _current(self) -> WebConfig:
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except OSError:
            return self.config
        if mtime != self._mtime:
            try:
                self.config = load_web_config(self.path)
                self._cache.clear()
            except WebConfigError:
                pass  # keep serving with the last good configuration
            self._mtime = mtime
        return self.config

    def _check(self, user: str, password: str, hashed: bytes | None) -> bool:
        h = hashed if hashed is not None else _FAKE_HASH
        key = hashlib.sha256(b"\0".join([user.encode(), h, password.encode()])).hexdigest()
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        with self._bcrypt:  # one comparison at a time: bcrypt is CPU-bound by design
            try:
                ok = bcrypt.checkpw(password.encode(), h)
            except ValueError:
                ok = False
        ok = ok and hashed is not None
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[key] = (ok, now + _CACHE_TTL_S)
        return ok

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        cfg = self._current()
        if cfg.users and not await self._authorized(request, cfg):
            resp: web.StreamResponse = web.Response(
                status=401, text="Unauthorized\n", headers={"WWW-Authenticate": "Basic"}
            )
        else:
            try:
                resp = await handler(request)
            except web.HTTPException as e:
                e.headers.update(cfg.headers)
                raise
        resp.headers.update(cfg.headers)
        return resp

    async def _authorized(self, request: web.Request, cfg: WebConfig) -> bool:
        auth = request.headers.get("Authorization", "")
        scheme, _, cred = auth.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(cred, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if not sep:
            return False
        return await asyncio.to_thread(self._check, user, password, cfg.users.get(user))


_CORS_HEADERS = {
    "Access-Control-Allow-Headers": "Accept, Authorization, Content-Type, Origin",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Expose-Headers": "Date",
    "Vary": "Origin",
}


def cors_middleware(origin: str) -> Any:
    """Prometheus' ``SetCORS`` on API v1 answers for ``--web.cors.origin`` (a regex)."""
    try:
        rx: re.Pattern[str] | None = None if origin == ".*" else compile_regex(origin)
    except ValueError as e:
        raise WebConfigError(f"--web.cors.origin: {e}") from None

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            resp = await handler(request)
        except web.HTTPException as e:
            resp = e
        req_origin = request.headers.get("Origin", "")
        if req_origin and request.path.startswith("/api/v1/"):
            for k, v in _CORS_HEADERS.items():
                resp.headers[k] = v
            if rx is None:
                resp.headers["Access-Control-Allow-Origin"] = "*"
            elif rx.match(req_origin):
                resp.headers["Access-Control-Allow-Origin"] = req_origin
        if isinstance(resp, web.HTTPException):
            raise resp
        return resp

    return cors
