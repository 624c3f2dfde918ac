"""``remote_write:`` parsing: Prometheus' defaults, and errors naming file:line:field."""

from __future__ import annotations

import pytest

from promhub.config.loader import load_config_text
from promhub.config.model import ConfigError


def test_defaults_are_prometheus_ones() -> None:
    (rw,) = load_config_text("remote_write:\n  - url: http://mimir/api/v1/push\n").remote_write
    q, m = rw.queue_config, rw.metadata_config
    assert rw.remote_timeout == 30.0
    assert (q.capacity, q.min_shards, q.max_shards, q.max_samples_per_send) == (10000, 1, 50, 2000)
    assert (q.batch_send_deadline, q.min_backoff, q.max_backoff) == (5.0, 0.03, 5.0)
    assert q.retry_on_http_429 is False and q.sample_age_limit == 0
    assert (m.send, m.send_interval, m.max_samples_per_send) == (True, 60.0, 2000)
    assert len(rw.name) == 6 and rw.hash.startswith(rw.name)  # Prometheus' unnamed queues


def test_fields_are_read() -> None:
    (rw,) = load_config_text(
        """
remote_write:
  - url: https://vm:8428/api/v1/write
    name: vm
    remote_timeout: 10s
    headers: {X-Scope-OrgID: team-a}
    authorization: {credentials: tok}
    tls_config: {insecure_skip_verify: true}
    write_relabel_configs:
      - {source_labels: [__name__], regex: "go_.*", action: drop}
    queue_config: {capacity: 500, max_shards: 4, batch_send_deadline: 1s,
                   retry_on_http_429: true, sample_age_limit: 1h}
    metadata_config: {send: false}
"""
    ).remote_write
    assert (rw.name, rw.remote_timeout, rw.headers) == ("vm", 10.0, {"X-Scope-OrgID": "team-a"})
    assert rw.http.authorization is not None and rw.http.authorization.credentials == "tok"
    assert rw.http.tls_config.insecure_skip_verify
    assert rw.write_relabel_configs[0].action == "drop"
    q = rw.queue_config
    assert (q.capacity, q.max_shards, q.batch_send_deadline) == (500, 4, 1.0)
    assert q.retry_on_http_429 and q.sample_age_limit == 3600.0
    assert rw.metadata_config.send is False


@pytest.mark.parametrize(
    ("body", "line", "field", "msg"),
    [
        ("  - url: http://a\n    queue_config: {capacty: 5}\n", 3, "queue_config.capacty",
         "not found in type config.QueueConfig"),
        ("  - url: http://a\n    headers:\n      User-Agent: x\n", 3, "headers",
         "User-Agent is a reserved header"),
        ("  - url: http://a\n    remote_timeout: 5x\n", 3, "remote_timeout",
         "not a valid duration"),
        ("  - name: a\n", 2, "", "url for remote_write is empty"),
        ("  - url: ftp://a\n", 2, "url", "URL scheme must be"),
        ("  - url: http://a\n    queue_config: {min_shards: 9, max_shards: 2}\n", 3,
         "queue_config.min_shards", "min_shards must not be greater"),
        ("  - {url: http://a, name: x}\n  - {url: http://b, name: x}\n", 3, "name",
         'found multiple remote write configs with job name "x"'),
        ("  - {url: http://a}\n  - {url: http://a}\n", 3, "",
         "duplicate remote write configs are not allowed"),
        ("  - url: http://a\n    sigv4: {region: eu}\n", 3, "sigv4", "not supported by promhub"),
        ("  - url: http://a\n    write_relabel_configs: [{action: bogus}]\n", 3,
         "write_relabel_configs[0].action", 'unknown relabel action "bogus"'),
    ],
)  # fmt: skip
def test_errors_name_file_line_and_field(body: str, line: int, field: str, msg: str) -> None:
    with pytest.raises(ConfigError) as ei:
        load_config_text("remote_write:\n" + body, "p.yml")
    e = ei.value
    assert msg in e.msg
    assert e.file == "p.yml" and e.line == line
    index = body.count("\n  - ")
    assert e.field == f"remote_write[{index}]" + ("." + field if field else "")
