"""HTTP client settings shared by scrape and ``http_sd`` configs: authentication
(basic, authorization, bearer token, OAuth 2.0), TLS and proxies.

Both halves live here, as in Prometheus' ``common/config`` package: reading and validating
the settings (:func:`read_http_client`), and what they mean on the wire (:func:`ssl_context`,
:class:`HTTPAuth`, :func:`proxy_for`, :func:`client_session`), so every HTTP client in
promhub authenticates, verifies and proxies the same way.

Secret files (``password_file``, ``credentials_file``, ``client_secret_file``, header
``files``) are read on every request, as Prometheus does, so rotating a secret needs no
reload.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus, urlsplit

import aiohttp
from multidict import CIMultiDict

from promhub import __version__
from promhub.config.model import (
    Authorization,
    BasicAuth,
    ConfigError,
    HTTPClientConfig,
    OAuth2,
    TLSConfig,
)
from promhub.config.yaml_lines import ANY_KEY, Section

__all__ = [
    "HTTP_CLIENT_FIELDS",
    "TLS_FIELDS",
    "USER_AGENT",
    "CredentialError",
    "HTTPAuth",
    "OAuth2Token",
    "auth_headers",
    "check_url",
    "client_session",
    "proxy_for",
    "read_http_client",
    "read_tls",
    "read_secret",
    "ssl_context",
]

#: The User-Agent of every request promhub makes as a client (scrapes, http_sd, OAuth 2.0).
USER_AGENT = f"promhub/{__version__} (Prometheus-compatible)"

HTTP_CLIENT_FIELDS = {
    "basic_auth", "authorization", "oauth2", "bearer_token", "bearer_token_file",
    "tls_config", "proxy_url", "no_proxy", "proxy_from_environment", "proxy_connect_header",
    "follow_redirects", "enable_http2", "http_headers",
}  # fmt: skip
TLS_FIELDS = {
    "ca", "ca_file", "ca_ref", "cert", "cert_file", "cert_ref", "key", "key_file", "key_ref",
    "server_name", "insecure_skip_verify", "min_version", "max_version",
}  # fmt: skip
_OAUTH2 = {
    "client_id", "client_secret", "client_secret_file", "client_secret_ref", "scopes",
    "token_url", "endpoint_params", "tls_config", "proxy_url", "no_proxy",
    "proxy_from_environment", "proxy_connect_header",
}  # fmt: skip
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


def check_url(sec: Section, key: str, url: str, schemes: tuple[str, ...]) -> None:
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise sec.error(key, f'invalid URL "{url}": missing scheme')
    if scheme.lower() not in schemes:
        allowed = " or ".join(f"'{s}'" for s in schemes)
        raise sec.error(key, f"URL scheme must be {allowed}, got {scheme!r}")
    if not rest.split("/", 1)[0]:
        raise sec.error(key, f'host is missing in URL "{url}"')


# -- reading and validating


def read_http_client(sec: Section, join: Callable[[str], str]) -> HTTPClientConfig:
    h = HTTPClientConfig()
    ba = sec.section(
        "basic_auth",
        "config.BasicAuth",
        {
            "username",
            "username_file",
            "username_ref",
            "password",
            "password_file",
            "password_ref",
        },
    )
    if ba is not None:
        h.basic_auth = BasicAuth(
            username=ba.get_str("username"),
            password=ba.get_str("password"),
            password_file=join(ba.get_str("password_file")),
            username_file=join(ba.get_str("username_file")),
        )
        if h.basic_auth.username and h.basic_auth.username_file:
            raise ba.error(
                "username_file",
                "at most one of basic_auth username & username_file must be configured",
            )
        if h.basic_auth.password and h.basic_auth.password_file:
            raise ba.error(
                "password_file",
                "at most one of basic_auth password & password_file must be configured",
            )
    au = sec.section(
        "authorization",
        "config.Authorization",
        {"type", "credentials", "credentials_file", "credentials_ref"},
    )
    bearer, bearer_file = sec.get_str("bearer_token"), sec.get_str("bearer_token_file")
    if bearer and bearer_file:
        raise sec.error(
            "bearer_token_file",
            "at most one of bearer_token & bearer_token_file must be configured",
        )
    oa = sec.section("oauth2", "config.OAuth2", _OAUTH2)
    if (ba is not None or oa is not None) and (bearer or bearer_file):
        raise sec.error(
            "bearer_token" if bearer else "bearer_token_file",
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file "
            "must be configured",
        )
    if au is not None:
        a = Authorization(
            type=au.get_str("type").strip() or "Bearer",
            credentials=au.get_str("credentials"),
            credentials_file=join(au.get_str("credentials_file")),
        )
        if bearer or bearer_file:
            raise sec.error(
                "authorization",
                "authorization is not compatible with bearer_token & bearer_token_file",
            )
        if a.credentials and a.credentials_file:
            raise au.error(
                "credentials_file",
                "at most one of authorization credentials & credentials_file must be configured",
            )
        if a.type.lower() == "basic":
            raise au.error(
                "type", 'authorization type cannot be set to "basic", use "basic_auth" instead'
            )
        if ba is not None or oa is not None:
            raise sec.error(
                "authorization",
                "at most one of basic_auth, oauth2 & authorization must be configured",
            )
        h.authorization = a
    elif bearer or bearer_file:
        # Prometheus' deprecated spelling of a Bearer authorization.
        h.authorization = Authorization(credentials=bearer, credentials_file=join(bearer_file))
    if oa is not None:
        if ba is not None:
            raise sec.error(
                "oauth2", "at most one of basic_auth, oauth2 & authorization must be configured"
            )
        h.oauth2 = _oauth2(oa, join)
    tls = sec.section("tls_config", "config.TLSConfig", TLS_FIELDS)
    if tls is not None:
        h.tls_config = read_tls(tls, join)
    _proxy(sec, h)
    h.follow_redirects = sec.get_bool("follow_redirects", True)
    h.enable_http2 = sec.get_bool("enable_http2", True)
    headers = sec.raw("http_headers")
    if headers is not None and not isinstance(headers, dict):
        raise sec.error("http_headers", "cannot unmarshal into a map of headers")
    h.http_headers = headers or {}
    return h


def _proxy(sec: Section, h: HTTPClientConfig | OAuth2) -> None:
    h.proxy_url = sec.get_str("proxy_url")
    if h.proxy_url:
        check_url(sec, "proxy_url", h.proxy_url, ("http", "https", "socks5"))
    if isinstance(h, OAuth2):
        return
    h.no_proxy = sec.get_str("no_proxy")
    h.proxy_from_environment = sec.get_bool("proxy_from_environment", False)
    node = sec.node("proxy_connect_header")
    if node is not None:
        inner = Section(node, sec.file, sec.child("proxy_connect_header"), "config.Header", ANY_KEY)
        h.proxy_connect_header = {k: inner.str_list(k) for k in inner.keys}
    if h.proxy_from_environment and h.proxy_url:
        raise sec.error(
            "proxy_url",
            "if proxy_from_environment is configured, proxy_url must not be configured",
        )
    if h.proxy_from_environment and h.no_proxy:
        raise sec.error(
            "no_proxy",
            "if proxy_from_environment is configured, no_proxy must not be configured",
        )
    if h.no_proxy and not h.proxy_url:
        raise sec.error("no_proxy", "if no_proxy is configured, proxy_url must also be configured")
    if h.proxy_connect_header and not (h.proxy_url or h.proxy_from_environment):
        raise sec.error(
            "proxy_connect_header",
            "if proxy_connect_header is configured, proxy_url or proxy_from_environment "
            "must also be configured",
        )


def _oauth2(sec: Section, join: Callable[[str], str]) -> OAuth2:
    o = OAuth2(
        client_id=sec.get_str("client_id"),
        client_secret=sec.get_str("client_secret"),
        client_secret_file=join(sec.get_str("client_secret_file")),
        scopes=sec.str_list("scopes"),
        token_url=sec.get_str("token_url"),
        endpoint_params=sec.str_map("endpoint_params"),
    )
    tls = sec.section("tls_config", "config.TLSConfig", TLS_FIELDS)
    if tls is not None:
        o.tls_config = read_tls(tls, join)
    _proxy(sec, o)
    if not o.client_id:
        raise sec.error("", "oauth2 client_id must be configured")
    if not o.client_secret and not o.client_secret_file:
        raise sec.error("", "either oauth2 client_secret or client_secret_file must be configured")
    if not o.token_url:
        raise sec.error("", "oauth2 token_url must be configured")
    if o.client_secret and o.client_secret_file:
        raise sec.error(
            "client_secret_file",
            "at most one of oauth2 client_secret & client_secret_file must be configured",
        )
    return o


def read_tls(sec: Section, join: Callable[[str], str]) -> TLSConfig:
    t = TLSConfig(
        ca_file=join(sec.get_str("ca_file")),
        cert_file=join(sec.get_str("cert_file")),
        key_file=join(sec.get_str("key_file")),
        server_name=sec.get_str("server_name"),
        insecure_skip_verify=sec.get_bool("insecure_skip_verify", False),
        min_version=sec.get_str("min_version"),
        max_version=sec.get_str("max_version"),
        ca=sec.get_str("ca"),
        cert=sec.get_str("cert"),
        key=sec.get_str("key"),
    )
    for key in ("min_version", "max_version"):
        v = getattr(t, key)
        if v and v not in _TLS_VERSIONS:
            raise sec.error(key, f"unknown TLS version: {v}")
    for inline in ("ca", "cert", "key"):
        if getattr(t, inline) and getattr(t, inline + "_file"):
            raise sec.error(
                inline + "_file",
                f"at most one of {inline} and {inline}_file must be configured",
            )
    has_cert, has_key = bool(t.cert or t.cert_file), bool(t.key or t.key_file)
    if has_cert and not has_key:
        raise sec.error(
            "cert_file" if t.cert_file else "cert",
            "exactly one of key or key_file must be configured when a client certificate "
            "is configured",
        )
    if has_key and not has_cert:
        raise sec.error(
            "key_file" if t.key_file else "key",
            "exactly one of cert or cert_file must be configured when a client key is configured",
        )
    return t


# -- the client side: what the settings mean on the wire


class CredentialError(Exception):
    """A credential could not be obtained: an unreadable secret file or a failed OAuth 2.0
    token request. ``str()`` names the file or the token URL."""


def read_secret(path: str, what: str) -> str:
    """The stripped contents of secret file ``path``; ``what`` names the setting in the
    error (e.g. ``"password_file"``)."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError as e:
        raise CredentialError(f"unable to read {what} {path!r}: {e}") from e


def ssl_context(tls: TLSConfig, field: str = "tls_config") -> ssl.SSLContext:
    """An SSLContext for ``tls``; raises :class:`ConfigError` naming ``field`` and the bad
    setting. Files are read now: build it where a bad file should be reported.

    >>> ssl_context(TLSConfig(min_version="TLS12")).minimum_version.name
    'TLSv1_2'
    """
    try:
        ctx = ssl.create_default_context(cafile=tls.ca_file or None, cadata=tls.ca or None)
    except (OSError, ssl.SSLError) as e:
        what = f"CA file {tls.ca_file!r}" if tls.ca_file else "inline CA"
        raise ConfigError(f"cannot load {what}: {e}", field=field) from e
    if tls.cert_file or tls.key_file or tls.cert or tls.key:
        if not ((tls.cert_file or tls.cert) and (tls.key_file or tls.key)):
            raise ConfigError("a client certificate needs both cert and key", field=field)
        try:
            _load_cert_chain(ctx, tls)
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


def _load_cert_chain(ctx: ssl.SSLContext, tls: TLSConfig) -> None:
    cert, key = tls.cert_file, tls.key_file
    # ssl loads a certificate chain only from files: spill inline PEM into a private
    # directory, owner-only files, for the instant it takes.
    with tempfile.TemporaryDirectory(prefix="promhub-tls-") as tmp:
        if tls.cert:
            cert = _write_private(os.path.join(tmp, "cert.pem"), tls.cert)
        if tls.key:
            key = _write_private(os.path.join(tmp, "key.pem"), tls.key)
        ctx.load_cert_chain(cert, key)


def _write_private(path: str, text: str) -> str:
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(text)
    return path


def auth_headers(http: HTTPClientConfig) -> CIMultiDict[str]:
    """``http_headers`` plus the ``Authorization`` of ``basic_auth`` or ``authorization``
    (not ``oauth2``, which needs a request: see :class:`HTTPAuth`).

    Each configured header value is its own header line, as Go's ``Header.Add`` sends it.
    Raises :class:`CredentialError` when a secret file cannot be read.
    """
    h: CIMultiDict[str] = CIMultiDict()
    for name, spec in http.http_headers.items():
        # Prometheus' http_headers: {name: {values: [...], secrets: [...], files: [...]}}.
        if not isinstance(spec, dict):
            continue
        for v in spec.get("values") or []:
            h.add(name, str(v))
        for v in spec.get("secrets") or []:
            h.add(name, str(v))
        for f in spec.get("files") or []:
            h.add(name, read_secret(str(f), f"http_headers file for {name}"))
    ba = http.basic_auth
    if ba is not None:
        username, password = ba.username, ba.password
        if ba.username_file:
            username = read_secret(ba.username_file, "username_file")
        if ba.password_file:
            password = read_secret(ba.password_file, "password_file")
        h["Authorization"] = _basic(username, password)
    az = http.authorization
    if az is not None:
        creds = az.credentials
        if az.credentials_file:
            creds = read_secret(az.credentials_file, "credentials_file")
        h["Authorization"] = f"{az.type or 'Bearer'} {creds}"
    return h


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class OAuth2Token:
    """OAuth 2.0 client-credentials tokens for ``oauth2:``, fetched when needed and
    reused until shortly before they expire. Its ``tls_config`` is loaded at construction,
    raising :class:`ConfigError` naming ``field``."""

    def __init__(self, cfg: OAuth2, field: str = "oauth2") -> None:
        self._cfg = cfg
        self._ssl = ssl_context(cfg.tls_config, f"{field}.tls_config")
        self._token = ""
        self._expires = 0.0

    async def get(self, session: aiohttp.ClientSession) -> str:
        """A valid access token; raises :class:`CredentialError` when none can be had."""
        if self._token and time.monotonic() < self._expires:
            return self._token
        cfg = self._cfg
        secret = cfg.client_secret
        if cfg.client_secret_file:
            secret = read_secret(cfg.client_secret_file, "client_secret_file")
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
                    raise CredentialError(
                        f"oauth2: cannot fetch token from {cfg.token_url}: "
                        f"HTTP {resp.status} {str(doc)[:200]}"
                    )
        except (aiohttp.ClientError, OSError, ValueError, TimeoutError) as e:
            raise CredentialError(f"oauth2: cannot fetch token from {cfg.token_url}: {e}") from e
        self._token = str(doc["access_token"])
        expires_in = float(doc.get("expires_in") or 3600)
        # Renew a little early, as golang.org/x/oauth2 does, so no request carries a token
        # that expires in flight.
        self._expires = time.monotonic() + max(0.0, expires_in - 10)
        return self._token


class HTTPAuth:
    """The authenticating headers of one :class:`HTTPClientConfig`: ``http_headers``,
    ``basic_auth``/``authorization``, or an ``oauth2`` token (fetched through the caller's
    session and cached). Construction loads the oauth2 TLS settings, so a bad file raises
    :class:`ConfigError` naming ``field`` up front."""

    def __init__(self, http: HTTPClientConfig, field: str = "") -> None:
        self._http = http
        where = f"{field}.oauth2" if field else "oauth2"
        self._oauth2 = OAuth2Token(http.oauth2, where) if http.oauth2 is not None else None

    async def headers(self, session: aiohttp.ClientSession) -> CIMultiDict[str]:
        """Headers for the next request; raises :class:`CredentialError` when a secret
        file cannot be read or no OAuth 2.0 token can be had."""
        h = auth_headers(self._http)
        if self._oauth2 is not None:
            h["Authorization"] = f"Bearer {await self._oauth2.get(session)}"
        return h


def proxy_for(http: HTTPClientConfig, url: str) -> str | None:
    """The ``proxy_url`` to reach ``url`` through, or None (no proxy, or ``url``'s host
    matches ``no_proxy``). ``proxy_from_environment`` is :func:`client_session`'s job."""
    proxy = http.proxy_url
    if not proxy or not http.no_proxy:
        return proxy or None
    host = (urlsplit(url).hostname or "").lower()
    for entry in http.no_proxy.split(","):
        # Go's http.ProxyFromEnvironment rules, simplified: exact host, or a domain
        # suffix (with or without the leading dot).
        e = entry.strip().lower().lstrip(".")
        if e and (e == "*" or host == e or host.endswith("." + e)):
            return None
    return proxy


def client_session(http: HTTPClientConfig, **kwargs: Any) -> aiohttp.ClientSession:
    """An aiohttp session as ``http`` asks for: proxies from the environment only with
    ``proxy_from_environment``, and no cookies kept between requests (Go's http.Client
    keeps none either). ``kwargs`` go to :class:`aiohttp.ClientSession`."""
    return aiohttp.ClientSession(
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=http.proxy_from_environment,
        **kwargs,
    )
