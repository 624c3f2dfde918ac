"""Reading the ``remote_read`` section: Prometheus' fields, defaults and checks.

Errors name the file, line and field like the rest of the loader, e.g.::

    promhub.yml:7: field remote_read[0].headers: X-Prometheus-Remote-Read-Version is a
    reserved header. It must not be changed
"""

from __future__ import annotations

from collections.abc import Callable

from promhub.config.http_client import HTTP_CLIENT_FIELDS, check_url, read_http_client
from promhub.config.model import ConfigError, RemoteReadConfig
from promhub.config.yaml_lines import Section

__all__ = ["RESERVED_HEADERS", "read_remote_reads"]

_REMOTE_READ = {
    "url", "name", "remote_timeout", "headers", "read_recent", "required_matchers",
    "filter_external_labels",
} | HTTP_CLIENT_FIELDS  # fmt: skip

#: Headers the remote protocols set themselves (Prometheus' ``reservedHeaders``).
RESERVED_HEADERS = frozenset(
    {
        "host", "content-encoding", "content-length", "content-type", "user-agent",
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
        "www-authenticate", "accept-encoding", "x-prometheus-remote-write-version",
        "x-prometheus-remote-read-version", "x-amz-date", "x-amz-security-token",
        "x-amz-content-sha256",
    }
)  # fmt: skip


def read_remote_reads(top: Section, join: Callable[[str], str]) -> list[RemoteReadConfig]:
    """Every ``remote_read`` entry of the top-level section, validated."""
    out: list[RemoteReadConfig] = []
    names: set[str] = set()
    for sec in top.sections("remote_read", "config.RemoteReadConfig", _REMOTE_READ):
        rr = _remote_read(sec, join)
        # Unnamed endpoints get a hash-derived name later, so only explicit names clash.
        if rr.name and rr.name in names:
            raise sec.error("name", f'found multiple remote read configs with job name "{rr.name}"')
        names.add(rr.name)
        out.append(rr)
    return out


def _remote_read(sec: Section, join: Callable[[str], str]) -> RemoteReadConfig:
    url = sec.get_str("url")
    if not url:
        raise sec.error("url" if "url" in sec.keys else "", "url for remote_read is empty")
    check_url(sec, "url", url, ("http", "https"))
    timeout = sec.get_duration("remote_timeout", 60.0)
    if timeout <= 0:
        raise sec.error("remote_timeout", "remote_timeout must be greater than 0")
    headers = sec.str_map("headers")
    for h in headers:
        if h.lower() == "authorization":
            raise sec.error(
                "headers",
                "authorization header must be changed via the basic_auth, authorization, "
                "oauth2, sigv4, azuread or google_iam parameter",
            )
        if h.lower() in RESERVED_HEADERS:
            raise sec.error("headers", f"{h} is a reserved header. It must not be changed")
    required = sec.str_map("required_matchers")
    for name in required:
        if not name:
            raise ConfigError(
                "empty label name in required_matchers", sec.file, sec.line_of(
                    "required_matchers"), sec.child("required_matchers")
            )  # fmt: skip
    return RemoteReadConfig(
        url=url,
        name=sec.get_str("name"),
        remote_timeout=timeout,
        headers=headers,
        read_recent=sec.get_bool("read_recent", False),
        required_matchers=required,
        filter_external_labels=sec.get_bool("filter_external_labels", True),
        http=read_http_client(sec, join),
    )
