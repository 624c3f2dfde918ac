"""HTTP client settings shared by scrape and ``http_sd`` configs: authentication
(basic, authorization, bearer token, OAuth 2.0), TLS and proxies, validated with the
rules of Prometheus' ``common/config`` package."""

from __future__ import annotations

from collections.abc import Callable

from promhub.config.model import Authorization, BasicAuth, HTTPClientConfig, OAuth2, TLSConfig
from promhub.config.yaml_lines import ANY_KEY, Section

__all__ = ["HTTP_CLIENT_FIELDS", "check_url", "read_http_client"]

HTTP_CLIENT_FIELDS = {
    "basic_auth", "authorization", "oauth2", "bearer_token", "bearer_token_file",
    "tls_config", "proxy_url", "no_proxy", "proxy_from_environment", "proxy_connect_header",
    "follow_redirects", "enable_http2", "http_headers",
}  # fmt: skip
_TLS = {
    "ca", "ca_file", "ca_ref", "cert", "cert_file", "cert_ref", "key", "key_file", "key_ref",
    "server_name", "insecure_skip_verify", "min_version", "max_version",
}  # fmt: skip
_OAUTH2 = {
    "client_id", "client_secret", "client_secret_file", "client_secret_ref", "scopes",
    "token_url", "endpoint_params", "tls_config", "proxy_url", "no_proxy",
    "proxy_from_environment", "proxy_connect_header",
}  # fmt: skip
_TLS_VERSIONS = ("TLS10", "TLS11", "TLS12", "TLS13")


def check_url(sec: Section, key: str, url: str, schemes: tuple[str, ...]) -> None:
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise sec.error(key, f'invalid URL "{url}": missing scheme')
    if scheme.lower() not in schemes:
        allowed = " or ".join(f"'{s}'" for s in schemes)
        raise sec.error(key, f"URL scheme must be {allowed}, got {scheme!r}")
    if not rest.split("/", 1)[0]:
        raise sec.error(key, f'host is missing in URL "{url}"')


# -- relabeling


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
    tls = sec.section("tls_config", "config.TLSConfig", _TLS)
    if tls is not None:
        h.tls_config = _tls(tls, join)
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
    tls = sec.section("tls_config", "config.TLSConfig", _TLS)
    if tls is not None:
        o.tls_config = _tls(tls, join)
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


def _tls(sec: Section, join: Callable[[str], str]) -> TLSConfig:
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
