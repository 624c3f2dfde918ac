"""``remote_write:`` as typed values, with Prometheus' defaults and validation.

Defaults are Prometheus 2.42's (``config.DefaultRemoteWriteConfig``)::

    remote_timeout: 30s
    queue_config: {capacity: 10000, min_shards: 1, max_shards: 50,
                   max_samples_per_send: 2000, batch_send_deadline: 5s,
                   min_backoff: 30ms, max_backoff: 5s, retry_on_http_429: false,
                   sample_age_limit: 0s}
    metadata_config: {send: true, send_interval: 1m, max_samples_per_send: 2000}

A queue without a ``name`` is named after the first six hex digits of its config's hash,
as Prometheus names it in its metrics; two queues may not share a name or a whole config.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from promhub.config.http_client import HTTP_CLIENT_FIELDS, check_url, read_http_client
from promhub.config.model import HTTPClientConfig, RelabelConfig
from promhub.config.yaml_lines import Section, construct

__all__ = ["MetadataConfig", "QueueConfig", "RemoteWriteConfig", "read_remote_write"]

_QUEUE = {
    "capacity", "max_shards", "min_shards", "max_samples_per_send", "batch_send_deadline",
    "min_backoff", "max_backoff", "retry_on_http_429", "sample_age_limit",
}  # fmt: skip
_METADATA = {"send", "send_interval", "max_samples_per_send"}
_UNSUPPORTED = ("sigv4", "azuread", "google_iam")
_REMOTE_WRITE = {
    "url", "name", "remote_timeout", "headers", "write_relabel_configs", "send_exemplars",
    "send_native_histograms", "round_robin_dns", "queue_config", "metadata_config",
    "protobuf_message", *_UNSUPPORTED,
} | HTTP_CLIENT_FIELDS  # fmt: skip
#: Headers the sender sets itself; Prometheus refuses them in ``headers``.
_RESERVED_HEADERS = {
    "host", "authorization", "content-encoding", "content-length", "content-type",
    "user-agent", "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "www-authenticate", "accept-encoding", "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version", "x-prometheus-scrape-timeout-seconds",
}  # fmt: skip


@dataclass(slots=True)
class QueueConfig:
    """How samples are buffered, batched, sharded and retried."""

    capacity: int = 10_000
    max_shards: int = 50
    min_shards: int = 1
    max_samples_per_send: int = 2_000
    batch_send_deadline: float = 5.0
    min_backoff: float = 0.030
    max_backoff: float = 5.0
    retry_on_http_429: bool = False
    #: Samples older than this (seconds) when sent are dropped; 0 keeps everything.
    sample_age_limit: float = 0.0


@dataclass(slots=True)
class MetadataConfig:
    """Whether and how often metric metadata is sent (parsed; not sent yet)."""

    send: bool = True
    send_interval: float = 60.0
    max_samples_per_send: int = 2_000


@dataclass(slots=True)
class RemoteWriteConfig:
    """One ``remote_write`` endpoint."""

    url: str = ""
    #: The name in metrics and logs; defaults to the first 6 hex digits of :attr:`hash`.
    name: str = ""
    remote_timeout: float = 30.0
    headers: dict[str, str] = field(default_factory=dict)
    write_relabel_configs: list[RelabelConfig] = field(default_factory=list)
    send_exemplars: bool = False
    send_native_histograms: bool = False
    round_robin_dns: bool = False
    queue_config: QueueConfig = field(default_factory=QueueConfig)
    metadata_config: MetadataConfig = field(default_factory=MetadataConfig)
    http: HTTPClientConfig = field(default_factory=HTTPClientConfig)
    #: SHA-256 of the endpoint's config as written: a queue whose hash (and the external
    #: labels) did not change keeps running across a reload.
    hash: str = ""


def read_remote_write(
    top: Section,
    join: Callable[[str], str],
    relabel_configs: Callable[[Section, str], list[RelabelConfig]],
) -> list[RemoteWriteConfig]:
    """Read the ``remote_write`` list of the top-level section ``top``.

    ``join`` resolves relative file paths; ``relabel_configs`` is the loader's reader of
    relabel rules (so they are validated exactly like scrape relabeling).
    """
    out: list[RemoteWriteConfig] = []
    names: set[str] = set()
    hashes: set[str] = set()
    for sec in top.sections("remote_write", "config.RemoteWriteConfig", _REMOTE_WRITE):
        rw = _read_one(sec, join, relabel_configs)
        if rw.hash in hashes:
            raise sec.error(
                "",
                "duplicate remote write configs are not allowed, "
                f"found duplicate for URL: {rw.url}",
            )
        hashes.add(rw.hash)
        if rw.name in names:
            raise sec.error(
                "name" if "name" in sec else "",
                f'found multiple remote write configs with job name "{rw.name}"',
            )
        names.add(rw.name)
        out.append(rw)
    return out


def _read_one(
    sec: Section,
    join: Callable[[str], str],
    relabel_configs: Callable[[Section, str], list[RelabelConfig]],
) -> RemoteWriteConfig:
    for key in _UNSUPPORTED:
        if key in sec:
            raise sec.error(key, f"{key} is not supported by promhub yet")
    url = sec.get_str("url")
    if not url:
        raise sec.error("url" if "url" in sec.keys else "", "url for remote_write is empty")
    check_url(sec, "url", url, ("http", "https"))
    rw = RemoteWriteConfig(url=url, name=sec.get_str("name"))
    rw.remote_timeout = sec.get_duration("remote_timeout", 30.0)
    if rw.remote_timeout <= 0:
        raise sec.error("remote_timeout", "remote_timeout must be positive")
    rw.headers = sec.str_map("headers")
    for h in rw.headers:
        if h.lower() in _RESERVED_HEADERS:
            raise sec.error("headers", f"{h} is a reserved header. It must not be changed")
    rw.write_relabel_configs = relabel_configs(sec, "write_relabel_configs")
    rw.send_exemplars = sec.get_bool("send_exemplars", False)
    rw.send_native_histograms = sec.get_bool("send_native_histograms", False)
    rw.round_robin_dns = sec.get_bool("round_robin_dns", False)
    msg = sec.get_str("protobuf_message", "prometheus.WriteRequest")
    if msg != "prometheus.WriteRequest":
        raise sec.error(
            "protobuf_message",
            f'unsupported protobuf_message "{msg}": promhub sends remote write 1.0 '
            "(prometheus.WriteRequest)",
        )
    q = sec.section("queue_config", "config.QueueConfig", _QUEUE)
    if q is not None:
        rw.queue_config = _queue(q)
    m = sec.section("metadata_config", "config.MetadataConfig", _METADATA)
    if m is not None:
        rw.metadata_config = MetadataConfig(
            send=m.get_bool("send", True),
            send_interval=m.get_duration("send_interval", 60.0),
            max_samples_per_send=m.get_uint("max_samples_per_send", 2_000),
        )
    rw.http = read_http_client(sec, join)
    raw = {k: construct(v) for k, (_, v) in sorted(sec.keys.items())}
    rw.hash = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
    if not rw.name:
        rw.name = rw.hash[:6]
    return rw


def _queue(q: Section) -> QueueConfig:
    c = QueueConfig()
    for key in ("capacity", "max_shards", "min_shards", "max_samples_per_send"):
        if key in q:
            v = q.get_uint(key)
            if v == 0:
                raise q.error(key, f"{key} must be positive")
            setattr(c, key, v)
    for key in ("batch_send_deadline", "min_backoff", "max_backoff", "sample_age_limit"):
        setattr(c, key, q.get_duration(key, getattr(c, key)))
    if c.batch_send_deadline <= 0:
        raise q.error("batch_send_deadline", "batch_send_deadline must be positive")
    c.retry_on_http_429 = q.get_bool("retry_on_http_429", False)
    if c.min_shards > c.max_shards:
        raise q.error("min_shards", "min_shards must not be greater than max_shards")
    if c.min_backoff > c.max_backoff:
        raise q.error("min_backoff", "min_backoff must not be greater than max_backoff")
    return c
