"""Parity with the real ``promtool check config`` (Debian's Prometheus 2.42).

Every config below is checked by both promtool and promhub: both must accept it or both
must reject it. Fixtures are self-contained (promtool checks referenced files exist) and
use only fields Prometheus 2.42 knows.
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from promhub.config import check_config

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

JOB = "scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['h:1']}]\n"


def job(extra: str, relabel: str = "") -> str:
    """One scrape job with ``extra`` fields (and optionally relabel_configs items)."""
    body = JOB + textwrap.indent(textwrap.dedent(extra).strip("\n"), "    ") + "\n"
    if relabel:
        body += "    relabel_configs:\n" + textwrap.indent(
            textwrap.dedent(relabel).strip("\n"), "      "
        )
        body += "\n"
    return body


def rl(rule: str) -> str:
    """A job whose only relabel rule is ``rule`` (flow mapping body)."""
    return JOB + "    relabel_configs:\n      - {" + rule + "}\n"


FULL = """\
global:
  scrape_interval: 15s
  scrape_timeout: 10s
  evaluation_interval: 30s
  query_log_file: query.log
  external_labels: {cluster: eu1, replica: "1"}
rule_files: ["rules/*.yml", "other.rules.yml"]
alerting:
  alert_relabel_configs:
    - {source_labels: [severity], regex: debug, action: drop}
  alertmanagers:
    - static_configs: [{targets: ["am:9093"]}]
      timeout: 5s
      api_version: v2
remote_write:
  - url: http://mimir:9009/api/v1/push
    remote_timeout: 30s
    queue_config: {max_shards: 10, capacity: 2500}
    write_relabel_configs:
      - {source_labels: [__name__], regex: "go_.*", action: drop}
remote_read:
  - url: http://mimir:9009/api/v1/read
    read_recent: true
storage:
  tsdb: {out_of_order_time_window: 10m}
scrape_configs:
  - job_name: prometheus
    honor_labels: true
    honor_timestamps: false
    scrape_interval: 5s
    scrape_timeout: 2s
    metrics_path: /metrics
    scheme: https
    params: {module: [http_2xx]}
    body_size_limit: 10MB
    sample_limit: 1000
    target_limit: 10
    label_limit: 30
    label_name_length_limit: 200
    label_value_length_limit: 200
    basic_auth: {username: admin, password: secret}
    tls_config: {insecure_skip_verify: true, server_name: x, min_version: TLS12}
    follow_redirects: false
    enable_http2: false
    proxy_url: http://proxy:3128
    static_configs:
      - targets: ["localhost:9090", "h2:9100"]
        labels: {env: prod}
    file_sd_configs:
      - files: ["targets/*.json"]
        refresh_interval: 1m
    http_sd_configs:
      - url: http://sd.example:8080/targets
        refresh_interval: 30s
    relabel_configs:
      - source_labels: [__address__]
        regex: "(.*):(\\\\d+)"
        target_label: __param_target
        replacement: $1
      - {source_labels: [__address__], target_label: __tmp_hash, modulus: 4, action: hashmod}
      - {source_labels: [__tmp_hash], regex: "0", action: keep}
      - {regex: "__meta_(.+)", action: labelmap}
      - {regex: "tmp_.*", action: labeldrop}
      - {source_labels: [env], target_label: env_up, action: uppercase}
      - {source_labels: [env], target_label: env_low, action: lowercase}
      - {source_labels: [__tmp_a], target_label: __tmp_b, action: keepequal}
      - {source_labels: [__tmp_a], target_label: __tmp_b, action: dropequal}
      - {regex: "(?i)KEEP_.*|job|instance|env.*|__.*", action: labelkeep}
    metric_relabel_configs:
      - {source_labels: [__name__], regex: "expensive_.*", action: drop}
  - job_name: bearer
    authorization: {type: Bearer, credentials: token}
    oauth2: null
    static_configs: [{targets: ["h:1"]}]
  - job_name: bearer-legacy
    bearer_token: abc
    static_configs: [{targets: ["h:1"]}]
"""

# (name, config text, promtool and promhub both accept it)
CASES: list[tuple[str, str, bool]] = [
    ("empty file", "", True),
    ("minimal job", JOB, True),
    ("full featured", FULL, True),
    (
        "yaml anchors and merge keys",
        """\
defaults: &d
  scrape_interval: 30s
scrape_configs:
  - <<: *d
    job_name: a
""".replace("defaults: &d\n  scrape_interval: 30s\n", "global: &d\n  scrape_interval: 30s\n"),
        True,
    ),
    ("size in KiB", job("body_size_limit: 10KiB"), True),
    ("fractional size", job("body_size_limit: 1.5MB"), True),
    (
        "global timeout above job interval is capped",
        "global: {scrape_timeout: 10s}\n" + job("scrape_interval: 5s"),
        True,
    ),
    ("compound duration", job("scrape_interval: 1h30m\nscrape_timeout: 1m"), True),
    ("numeric job name", JOB.replace("job_name: a", "job_name: 123"), True),
    ("regex set to empty", rl("source_labels: [a], regex: '', action: drop"), True),
    ("flag group mid-regex", rl("source_labels: [a], regex: 'a(?i)b|c', action: keep"), True),
    ("posix class regex", rl("source_labels: [a], regex: '[[:alpha:]]+', action: keep"), True),
    (
        "target label with group",
        rl("source_labels: [a], regex: '(.*)', target_label: 'x_${1}'"),
        True,
    ),
    ("uppercase action name", rl("source_labels: [a], regex: 'x', action: DROP"), True),
    (
        "url in targets with relabeling",
        JOB.replace("h:1", "http://h/x") + "    relabel_configs:\n"
        "      - {source_labels: [__address__], regex: 'http://(.*)/x', "
        "target_label: __address__}\n",
        True,
    ),
    # -- rejected by both
    ("unknown top-level field", "foo: 1\n", False),
    ("unknown scrape field", job("foo: 1"), False),
    ("unknown relabel field", rl("source_labels: [a], foo: 1"), False),
    ("unknown static_config field", JOB.replace("targets:", "foo: 1, targets:"), False),
    ("duplicate key", job("scrape_interval: 1s\nscrape_interval: 2s"), False),
    ("bad duration unit", job("scrape_interval: 5x"), False),
    ("duration without unit", job("scrape_interval: 15"), False),
    ("durations out of order", job("scrape_interval: 30m1h"), False),
    ("fractional duration", job("scrape_interval: 1.5h"), False),
    ("empty duration", "global: {scrape_interval: ''}\n", False),
    ("string for a bool", job("honor_labels: 'true'"), False),
    ("size without unit", job("body_size_limit: 1000"), False),
    ("SI size unit", job("body_size_limit: 10kB"), False),
    ("timeout above interval", job("scrape_interval: 5s\nscrape_timeout: 10s"), False),
    ("global timeout above interval", "global: {scrape_interval: 5s, scrape_timeout: 6s}\n", False),
    ("duplicate job name", JOB + JOB.replace("scrape_configs:\n", ""), False),
    ("missing job name", "scrape_configs:\n  - scrape_interval: 5s\n", False),
    ("null scrape config", "scrape_configs:\n  -\n", False),
    ("null relabel rule", JOB + "    relabel_configs:\n      -\n", False),
    ("yaml syntax error", "scrape_configs:\n  - job_name: a\n   x: [\n", False),
    (
        "invalid static label name",
        JOB.replace("targets:", "labels: {bad-name: x}, targets:"),
        False,
    ),
    ("invalid external label name", "global: {external_labels: {0abc: x}}\n", False),
    ("invalid source label name", rl("source_labels: [a-b], action: drop"), False),
    ("url as target", JOB.replace("h:1", "http://h:1/metrics"), False),
    ("unclosed regex group", rl("source_labels: [a], regex: '(a', action: keep"), False),
    ("look-ahead regex", rl("source_labels: [a], regex: '(?=a)', action: keep"), False),
    ("back-reference regex", rl("source_labels: [a], regex: '(a)\\1', action: keep"), False),
    ("nested repetition", rl("source_labels: [a], regex: 'a**', action: keep"), False),
    ("unknown action", rl("source_labels: [a], action: explode"), False),
    ("hashmod without modulus", rl("source_labels: [a], target_label: b, action: hashmod"), False),
    ("replace without target", rl("source_labels: [a], regex: x"), False),
    ("replace with invalid target", rl("source_labels: [a], target_label: 'a-b'"), False),
    ("labelmap bad replacement", rl("regex: '(.*)', replacement: 'a-$1', action: labelmap"), False),
    ("labeldrop with source labels", rl("source_labels: [a], regex: x, action: labeldrop"), False),
    (
        "keepequal with regex",
        rl("source_labels: [a], target_label: b, regex: x, action: keepequal"),
        False,
    ),
    (
        "lowercase with replacement",
        rl("source_labels: [a], target_label: b, replacement: x, action: lowercase"),
        False,
    ),
    (
        "basic_auth and authorization",
        job("basic_auth: {username: u}\nauthorization: {credentials: x}"),
        False,
    ),
    (
        "password and password_file",
        job("basic_auth: {username: u, password: p, password_file: f}"),
        False,
    ),
    ("bearer token twice", job("bearer_token: a\nbearer_token_file: f"), False),
    ("authorization type basic", job("authorization: {type: Basic, credentials: x}"), False),
    ("unknown TLS version", job("tls_config: {min_version: TLS9}"), False),
    ("client cert without key", job("tls_config: {cert: abc}"), False),
    ("file_sd bad extension", JOB + "    file_sd_configs: [{files: [targets.txt]}]\n", False),
    ("http_sd ftp url", JOB + "    http_sd_configs: [{url: 'ftp://sd/x'}]\n", False),
    ("invalid rule file glob", "rule_files: ['a/*/b.yml']\n", False),
    ("list where a map belongs", "global: [1, 2]\n", False),
]


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "a.yml").write_text("groups: []\n")
    (tmp_path / "other.rules.yml").write_text("groups: []\n")
    (tmp_path / "targets").mkdir()
    (tmp_path / "targets" / "t.json").write_text('[{"targets": ["h:1"]}]\n')
    path = tmp_path / "prometheus.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name,text,valid", CASES, ids=[c[0] for c in CASES])
def test_promtool_agrees(tmp_path: Path, name: str, text: str, valid: bool) -> None:
    path = _write(tmp_path, text)
    proc = subprocess.run(
        [PROMTOOL, "check", "config", "--syntax-only", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    promtool_ok = proc.returncode == 0
    errors = check_config(str(path))
    assert promtool_ok == valid, f"promtool: {proc.stdout}{proc.stderr}"
    assert (not errors) == valid, f"promhub: {list(errors)}"


def test_full_config_rule_files_are_found(tmp_path: Path) -> None:
    path = _write(tmp_path, FULL)
    result = check_config(str(path))
    assert list(result) == []
    assert result.rule_files == [
        str(tmp_path / "rules" / "a.yml"),
        str(tmp_path / "other.rules.yml"),
    ]
