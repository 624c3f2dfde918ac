"""Loading promhub.yml: errors that name file, line and field; defaults; paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from promhub.config import (
    ConfigError,
    check_config,
    default_config,
    load_config,
    load_config_text,
    parse_duration,
    parse_size,
)
from promhub.model.labels import Labels
from promhub.model.relabel import relabel

# (config text, line, field path, fragment of the message)
BAD: list[tuple[str, int, str, str]] = [
    (
        "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: a\n"
        "    scrape_interval: 5x\n",
        5,
        "scrape_configs[0].scrape_interval",
        'not a valid duration string: "5x"',
    ),
    (
        "scrape_configs:\n  - job_name: a\n    foo: 1\n",
        3,
        "scrape_configs[0].foo",
        "not found in type config.ScrapeConfig",
    ),
    ("bogus: 1\n", 1, "bogus", "not found in type config.Config"),
    (
        "scrape_configs:\n  - job_name: a\n    job_name: b\n",
        3,
        "scrape_configs[0].job_name",
        "already set",
    ),
    (
        "scrape_configs:\n  - job_name: a\n  - job_name: b\n  - job_name: a\n",
        4,
        "scrape_configs[2].job_name",
        'found multiple scrape configs with job name "a"',
    ),
    (
        "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 6s\n",
        4,
        "scrape_configs[0].scrape_timeout",
        "scrape timeout greater than scrape interval",
    ),
    (
        "global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n",
        3,
        "global.scrape_timeout",
        "global scrape timeout greater than scrape interval",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    honor_labels: 'yes'\n",
        3,
        "scrape_configs[0].honor_labels",
        "cannot unmarshal !!str `yes` into bool",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    sample_limit: -1\n",
        3,
        "scrape_configs[0].sample_limit",
        "non-negative integer",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    body_size_limit: 10kB\n",
        3,
        "scrape_configs[0].body_size_limit",
        "unknown unit kB",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    scheme: ftp\n",
        3,
        "scrape_configs[0].scheme",
        'must be "http" or "https"',
    ),
    (
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [a]\n"
        "        regex: '(a'\n        action: keep\n",
        5,
        "scrape_configs[0].relabel_configs[0].regex",
        "missing closing )",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n"
        "      - source_labels: [a]\n        action: hashmod\n        target_label: b\n",
        4,
        "scrape_configs[0].metric_relabel_configs[0]",
        "requires non-zero modulus",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [a]\n"
        "        action: replace\n",
        4,
        "scrape_configs[0].relabel_configs[0]",
        "requires 'target_label' value",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: nuke\n",
        4,
        "scrape_configs[0].relabel_configs[0].action",
        'unknown relabel action "nuke"',
    ),
    (
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: labelmap\n"
        "        replacement: 'x-$1'\n",
        5,
        "scrape_configs[0].relabel_configs[0].replacement",
        "invalid 'replacement' for labelmap action",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: labeldrop\n"
        "        source_labels: [a]\n",
        4,
        "scrape_configs[0].relabel_configs[0]",
        "requires only 'regex'",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [h:1]\n"
        "        labels:\n          ok: x\n          bad-name: x\n",
        7,
        "scrape_configs[0].static_configs[0].labels",
        '"bad-name" is not a valid label name',
    ),
    (
        "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u}\n"
        "    authorization: {credentials: t}\n",
        4,
        "scrape_configs[0].authorization",
        "at most one of basic_auth, oauth2 & authorization",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    basic_auth:\n      username: u\n"
        "      password: p\n      password_file: /f\n",
        6,
        "scrape_configs[0].basic_auth.password_file",
        "at most one of basic_auth password",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    http_sd_configs:\n      - url: file:///x\n",
        4,
        "scrape_configs[0].http_sd_configs[0].url",
        "URL scheme must be 'http' or 'https'",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs: [{role: pod}]\n",
        3,
        "scrape_configs[0].kubernetes_sd_configs",
        "not supported by promhub",
    ),
    ("scrape_configs:\n  - job_name: a\n   bad: [\n", 3, "", "yaml:"),
    ("rule_files: ['a/*/b.yml']\n", 1, "rule_files", "invalid rule file path"),
]


@pytest.mark.parametrize("text,line,field,msg", BAD, ids=[b[3][:40] for b in BAD])
def test_error_names_line_and_field(text: str, line: int, field: str, msg: str) -> None:
    with pytest.raises(ConfigError) as ei:
        load_config_text(text, "promhub.yml")
    e = ei.value
    assert (e.file, e.line, e.field) == ("promhub.yml", line, field), str(e)
    assert msg in e.msg
    assert str(e).startswith(f"promhub.yml:{line}: ")


def test_defaults_follow_prometheus() -> None:
    cfg = load_config_text(
        "global:\n  scrape_interval: 5s\n  scrape_timeout: 4s\n  sample_limit: 500\n"
        "scrape_configs:\n  - job_name: a\n  - job_name: b\n    scrape_interval: 2s\n"
        "    sample_limit: 10\n"
    )
    a, b = cfg.scrape_configs
    assert (a.scrape_interval, a.scrape_timeout) == (5.0, 4.0)
    # The inherited global timeout is capped at the job's shorter interval.
    assert (b.scrape_interval, b.scrape_timeout) == (2.0, 2.0)
    assert (a.metrics_path, a.scheme, a.honor_timestamps, a.honor_labels) == (
        "/metrics",
        "http",
        True,
        False,
    )
    assert (a.sample_limit, b.sample_limit) == (500, 10)
    assert a.scrape_protocols == cfg.global_.scrape_protocols
    assert cfg.global_.evaluation_interval == 60.0


def test_empty_config_is_valid() -> None:
    cfg = load_config_text("")
    assert cfg.scrape_configs == [] and cfg.global_.scrape_interval == 60.0


def test_bearer_token_becomes_authorization() -> None:
    cfg = load_config_text("scrape_configs:\n  - job_name: a\n    bearer_token: tok\n")
    auth = cfg.scrape_configs[0].http.authorization
    assert auth is not None and (auth.type, auth.credentials) == ("Bearer", "tok")


def test_loaded_relabel_rules_use_go_regex_syntax() -> None:
    cfg = load_config_text(
        "scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n"
        "      - {source_labels: [__name__], regex: '(?i)GO_.*', action: drop}\n"
        "      - {source_labels: [__name__], regex: 'x_(\\w+)', target_label: y}\n"
    )
    rules = cfg.scrape_configs[0].metric_relabel_configs
    assert rules[0].regex == "(?i)GO_.*"
    assert relabel({"__name__": "go_gc"}, rules) is None
    assert relabel({"__name__": "x_abc"}, rules) == Labels.from_dict(
        {"__name__": "x_abc", "y": "abc"}
    )


def test_relative_paths_resolve_against_config_dir(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "promhub.yml"
    path.write_text(
        "rule_files: ['rules/*.yml', '/abs/r.yml']\n"
        "scrape_configs:\n  - job_name: a\n    file_sd_configs: [{files: [sd/*.json]}]\n"
        "    basic_auth: {username: u, password_file: secrets/pw}\n"
    )
    cfg = load_config(str(path))
    d = str(tmp_path / "conf")
    assert cfg.rule_files == [os.path.join(d, "rules/*.yml"), "/abs/r.yml"]
    sc = cfg.scrape_configs[0]
    assert sc.file_sd_configs[0].files == [os.path.join(d, "sd/*.json")]
    assert sc.file_sd_configs[0].refresh_interval == 300.0
    assert sc.http.basic_auth is not None
    assert sc.http.basic_auth.password_file == os.path.join(d, "secrets/pw")
    assert cfg.source_file == str(path) and cfg.source_text == path.read_text()


def test_scrape_config_files_are_merged(tmp_path: Path) -> None:
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "b.yml").write_text(
        "scrape_configs:\n  - job_name: b\n    file_sd_configs: [{files: [b.json]}]\n"
    )
    (tmp_path / "jobs" / "c.yml").write_text("scrape_configs:\n  - job_name: c\n")
    main = tmp_path / "promhub.yml"
    main.write_text(
        "global: {scrape_interval: 7s}\nscrape_config_files: ['jobs/*.yml']\n"
        "scrape_configs:\n  - job_name: a\n"
    )
    cfg = load_config(str(main))
    assert [s.job_name for s in cfg.scrape_configs] == ["a", "b", "c"]
    assert cfg.scrape_configs[1].scrape_interval == 7.0
    # Paths in an included file are relative to that file.
    assert cfg.scrape_configs[1].file_sd_configs[0].files == [str(tmp_path / "jobs" / "b.json")]

    (tmp_path / "jobs" / "d.yml").write_text("scrape_configs:\n  - job_name: a\n    bad: 1\n")
    with pytest.raises(ConfigError) as ei:
        load_config(str(main))
    assert ei.value.file == str(tmp_path / "jobs" / "d.yml") and ei.value.line == 3

    (tmp_path / "jobs" / "d.yml").write_text("scrape_configs:\n  - job_name: a\n")
    with pytest.raises(ConfigError, match="first found in main config file"):
        load_config(str(main))


def test_raw_sections_are_kept() -> None:
    cfg = load_config_text(
        "alerting:\n  alertmanagers: [{static_configs: [{targets: ['am:9093']}]}]\n"
        "remote_write:\n  - url: http://mimir/api/v1/push\n"
        "storage:\n  tsdb: {out_of_order_time_window: 10m}\n"
    )
    assert cfg.alerting.alertmanagers[0].static_configs[0].targets == ["am:9093"]
    assert [rw.url for rw in cfg.remote_write] == ["http://mimir/api/v1/push"]
    assert cfg.storage == {"tsdb": {"out_of_order_time_window": "10m"}}
    with pytest.raises(ConfigError, match="url for remote_write is empty") as ei:
        load_config_text("remote_write:\n  - name: x\n", "p.yml")
    assert ei.value.line == 2


def test_external_labels_expand_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMHUB_TEST_REGION", "eu1")
    cfg = load_config_text(
        "global:\n  external_labels: {region: '${PROMHUB_TEST_REGION}', cost: '$$5'}\n"
    )
    assert cfg.global_.external_labels == {"region": "eu1", "cost": "$5"}


def test_default_config_scrapes_promhub_itself() -> None:
    cfg = default_config("0.0.0.0:9191")
    assert cfg.global_.scrape_interval == 15.0
    jobs = {s.job_name: s for s in cfg.scrape_configs}
    assert jobs["prometheus"].static_configs[0].targets == ["localhost:9191"]
    assert jobs["prometheus"].metrics_path == "/metrics"
    assert jobs["node"].static_configs[0].targets == ["localhost:9191"]
    assert jobs["node"].metrics_path == "/host/metrics"
    assert "job_name: node" in cfg.source_text
    assert default_config("127.0.0.2:80").scrape_configs[0].static_configs[0].targets == [
        "127.0.0.2:80"
    ]


def test_check_config_reports_errors_and_missing_certs(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("scrape_configs:\n  - job_name: a\n    scrape_interval: 1x\n")
    errors = check_config(str(bad))
    assert len(errors) == 1 and f"{bad}:3:" in errors[0]

    certs = tmp_path / "certs.yml"
    certs.write_text(
        "scrape_configs:\n  - job_name: a\n    tls_config: {cert_file: c.pem, key_file: k.pem}\n"
        "    file_sd_configs: [{files: [nothing/*.json]}]\n"
    )
    result = check_config(str(certs))
    assert any("client cert" in e for e in result)
    assert any("does not exist" in w for w in result.warnings)
    assert check_config(str(tmp_path / "missing.yml"))


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("0", 0.0),
        ("15s", 15.0),
        ("1m30s", 90.0),
        ("1y2w3d4h5m6s7ms", 33_019_506.007),
        ("100ms", 0.1),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "15", "1.5h", "30m1h", "5x", "-1s", "1d 2h"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    "text,size",
    [
        ("0", 0),
        ("1B", 1),
        ("10KB", 10240),
        ("10KiB", 10240),
        ("1.5MB", 1572864),
        ("1GB512MB", 1610612736),
        ("2TiB", 2 << 40),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "1000", "10kB", "10mb", "MB", "1KiB2KB"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


FULL_V3 = """\
global:
  scrape_interval: 15s
  scrape_timeout: 10s
  scrape_protocols: [PrometheusProto, OpenMetricsText1.0.0, PrometheusText0.0.4]
  evaluation_interval: 30s
  rule_query_offset: 30s
  query_log_file: /var/log/q.log
  scrape_failure_log_file: /var/log/f.log
  external_labels: {cluster: eu1}
  body_size_limit: 50MB
  sample_limit: 100000
  target_limit: 100
  label_limit: 64
  label_name_length_limit: 128
  label_value_length_limit: 2048
  keep_dropped_targets: 10
  metric_name_validation_scheme: utf8
  metric_name_escaping_scheme: underscores
  scrape_native_histograms: false
  convert_classic_histograms_to_nhcb: false
  always_scrape_classic_histograms: true
  extra_scrape_metrics: true
runtime: {gogc: 75}
rule_files: [rules.yml]
scrape_config_files: []
tracing: {endpoint: "otel:4317", client_type: grpc}
otlp: {promote_resource_attributes: [service.name]}
alerting:
  alertmanagers: [{static_configs: [{targets: ["am:9093"]}]}]
remote_write: [{url: "http://mimir/api/v1/push", name: mimir}]
remote_read: [{url: "http://mimir/api/v1/read"}]
storage: {tsdb: {out_of_order_time_window: 5m}, exemplars: {max_exemplars: 1000}}
scrape_configs:
  - job_name: everything
    honor_labels: true
    honor_timestamps: true
    track_timestamps_staleness: true
    params: {format: [prometheus]}
    scrape_interval: 30s
    scrape_timeout: 20s
    scrape_protocols: [OpenMetricsText1.0.0, PrometheusText1.0.0]
    fallback_scrape_protocol: PrometheusText0.0.4
    scrape_native_histograms: true
    always_scrape_classic_histograms: true
    convert_classic_histograms_to_nhcb: true
    scrape_failure_log_file: f.log
    metrics_path: /m
    scheme: https
    enable_compression: false
    body_size_limit: 1GiB
    sample_limit: 5
    target_limit: 5
    label_limit: 5
    label_name_length_limit: 5
    label_value_length_limit: 5
    native_histogram_bucket_limit: 160
    native_histogram_min_bucket_factor: 1.1
    keep_dropped_targets: 3
    metric_name_validation_scheme: legacy
    metric_name_escaping_scheme: dots
    extra_scrape_metrics: false
    oauth2:
      client_id: id
      client_secret_file: secret
      scopes: [read]
      token_url: https://auth/token
      endpoint_params: {audience: x}
      tls_config: {ca_file: ca.pem}
    tls_config: {ca: "PEM", server_name: s, insecure_skip_verify: false,
                 min_version: TLS12, max_version: TLS13}
    proxy_url: http://proxy:3128
    no_proxy: localhost
    proxy_connect_header: {Proxy-Authorization: [Basic x]}
    follow_redirects: true
    enable_http2: true
    http_headers: {X-Tenant: {values: [a]}}
    static_configs: [{targets: ["h:1"], labels: {team: a}}]
    file_sd_configs: [{files: [sd/*.yml], refresh_interval: 1m}]
    http_sd_configs:
      - url: https://sd/targets
        refresh_interval: 2m
        basic_auth: {username: u, username_file: "", password_file: pw}
    relabel_configs:
      - {source_labels: [__address__], target_label: instance}
    metric_relabel_configs:
      - {source_labels: [__name__], regex: "x.*", action: drop}
"""


def test_full_featured_config_loads() -> None:
    cfg = load_config_text(FULL_V3, "/etc/promhub/promhub.yml")
    g = cfg.global_
    assert (g.rule_query_offset, g.body_size_limit, g.keep_dropped_targets) == (30.0, 50 << 20, 10)
    assert cfg.runtime == {"gogc": 75} and cfg.tracing["endpoint"] == "otel:4317"
    assert cfg.rule_files == ["/etc/promhub/rules.yml"]
    sc = cfg.scrape_configs[0]
    assert sc.scrape_protocols == ["OpenMetricsText1.0.0", "PrometheusText1.0.0"]
    assert (sc.scheme, sc.metrics_path, sc.enable_compression) == ("https", "/m", False)
    assert (sc.body_size_limit, sc.native_histogram_min_bucket_factor) == (1 << 30, 1.1)
    assert sc.scrape_failure_log_file == "/etc/promhub/f.log"
    assert sc.metric_name_escaping_scheme == "dots"
    assert sc.http.oauth2 is not None and sc.http.oauth2.scopes == ["read"]
    assert sc.http.oauth2.client_secret_file == "/etc/promhub/secret"
    assert sc.http.tls_config.max_version == "TLS13"
    assert sc.http.proxy_connect_header == {"Proxy-Authorization": ["Basic x"]}
    assert sc.http.http_headers == {"X-Tenant": {"values": ["a"]}}
    assert sc.http_sd_configs[0].refresh_interval == 120.0
    assert sc.static_configs[0].labels == {"team": "a"}
