"""Rule templates expand exactly as Prometheus expands them.

The reference is Debian's ``promtool test rules``: its ``exp_annotations`` must equal the
annotations Prometheus renders, so a test file whose expectations promhub computed passes
only if promhub and Prometheus agree character for character.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from promhub.rules.template import TemplateError
from promhub.rules.template_funcs import (
    Sample,
    check_rule_template,
    expand_rule_template,
    expand_rule_template_or_error,
)

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
needs_promtool = pytest.mark.skipif(not Path(PROMTOOL).exists(), reason="promtool not installed")

LABELS = {"__name__": "metric", "instance": "web-1.example.com:9100", "job": "node"}
VALUE = 1234567.0

ANNOTATIONS = {
    "vars": "{{ $labels.instance }} of {{ $labels.job }} is {{ $value }} [{{ $labels.nope }}]"
    " {{ .Labels.job }} {{ .Value }} [{{ $externalLabels.cluster }}|{{ $externalURL }}]",
    "humanize": "{{ $value | humanize }} {{ $value | humanize1024 }}"
    " {{ humanizePercentage 0.1234 }} {{ humanizeDuration 3661 }}"
    " {{ 1435065584.128 | humanizeTimestamp }}"
    " {{ humanizeDuration 0.0123 }} {{ humanize 0.000123 }}",
    "printf": '{{ printf "%.2f" $value }} {{ printf "%d" 3 }} {{ printf "%q" $labels.job }}'
    ' {{ 0.1 }} {{ printf "%5.1f%%" 12.345 }} {{ printf "%s=%v" "v" $value }}',
    "query": '{{ with query "metric" }}{{ . | first | value | humanize }}{{ end }}'
    ' {{ range query "metric" }}{{ .Labels.instance }}{{ end }}'
    ' {{ (query "metric" | first).Value }} {{ query "metric" | first | label "job" }}',
    "strings": "{{ $labels.instance | stripPort }} {{ $labels.instance | stripDomain }}"
    ' {{ "aa bb CC" | title }} {{ toUpper "x" }} {{ toLower "Y" }}'
    ' {{ reReplaceAll "(.*)-(\\\\d)" "$2" "web-1" }} {{ match "^w" "web" }}',
    "error": '{{ query "nonexistent" | first }}',
    "maps": '{{ index $labels "nope" }}|{{ $labels }}'
    "|{{ range $k, $v := $labels }}{{ $k }}={{ $v }},{{ end }}",
    "control": "{{ if gt $value 1000.0 }}big{{ else }}small{{ end }}"
    " {{- with $labels.job }} job={{ . }}{{ end }}"
    ' {{ range $i, $x := query "metric" }}{{ $i }}{{ end }} {{ graphLink "up" }}'
    ' {{ printf "%.0f" (parseDuration "1h30m") }}',
}


def _query(expr: str) -> list[Sample]:
    return [Sample(LABELS, VALUE)] if expr == "metric" else []


def _expected() -> dict[str, str]:
    return {
        k: expand_rule_template_or_error(v, LABELS, VALUE, query=_query, name="__alert_Tmpl")
        for k, v in ANNOTATIONS.items()
    }


@needs_promtool
def test_annotations_match_prometheus(tmp_path: Path) -> None:
    rules = {
        "groups": [{"name": "g", "rules": [{
            "alert": "Tmpl",
            "expr": "metric > 0",
            "labels": {"sev": "{{ if gt $value 1000.0 }}critical{{ else }}warning{{ end }}"},
            "annotations": ANNOTATIONS,
        }]}]
    }  # fmt: skip
    sev = expand_rule_template("{{ if gt $value 1000.0 }}critical{{ else }}warning{{ end }}",
                               LABELS, VALUE)  # fmt: skip
    test = {
        "rule_files": ["rules.json"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": 'metric{instance="web-1.example.com:9100", job="node"}',
                              "values": "1234567x5"}],
            "alert_rule_test": [{"eval_time": "2m", "alertname": "Tmpl", "exp_alerts": [{
                "exp_labels": {"instance": LABELS["instance"], "job": "node", "sev": sev},
                "exp_annotations": _expected(),
            }]}],
        }],
    }  # fmt: skip
    (tmp_path / "rules.json").write_text(json.dumps(rules))
    (tmp_path / "test.json").write_text(json.dumps(test))
    proc = subprocess.run(
        [PROMTOOL, "test", "rules", "test.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_expected_values_are_what_users_see() -> None:
    got = _expected()
    assert got["vars"] == (
        "web-1.example.com:9100 of node is 1.234567e+06 [] node 1.234567e+06 [|]"
    )
    assert got["humanize"].startswith("1.235M 1.177Mi 12.34% 1h 1m 1s 2015-06-23 13:19:44.128")
    assert got["error"].startswith("<error expanding template: error executing template")


@needs_promtool
def test_template_syntax_errors_are_reported_like_promtool(tmp_path: Path) -> None:
    text = "{{ $value | humanize | nosuch }}"
    rules = {"groups": [{"name": "g", "rules": [
        {"alert": "Tmpl", "expr": "up", "annotations": {"a": text}}]}]}  # fmt: skip
    (tmp_path / "rules.json").write_text(json.dumps(rules))
    proc = subprocess.run(
        [PROMTOOL, "check", "rules", "rules.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    with pytest.raises(TemplateError) as exc:
        check_rule_template(text, "__alert_Tmpl")
    assert str(exc.value) == 'template: __alert_Tmpl:1: function "nosuch" not defined'
    assert str(exc.value) in proc.stdout + proc.stderr
