"""Rule templates in a real promhub: annotations and labels expanded as Prometheus does,
a failing template shown in the annotation, a template that does not parse refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import PromhubProcess, run_promhub, wait_for
from tests.rules.test_rules_server import _alert, _config
from tests.targets import MetricsTarget

RULES = """
groups:
  - name: tmpl
    rules:
      - alert: HighLoad
        expr: app_load > 0.5
        labels:
          severity: '{{ if gt $value 0.9 }}critical{{ else }}warning{{ end }}'
        annotations:
          summary: 'Load on {{ $labels.svc }} is {{ $value | humanizePercentage }}'
          total: '{{ query "sum(app_load)" | first | value | printf "%.2f" }}'
          env: '{{ $externalLabels.env }}'
          broken: '{{ index $labels.svc 99 }}'
"""


def test_annotations_and_labels_are_expanded(tmp_path: Path, promhub_factory: type) -> None:
    target = MetricsTarget(lambda n: 'app_load{svc="a"} 0.95\n')
    try:
        cfg = _config(tmp_path, target, RULES)
        text = cfg.read_text().replace("global: {", "global: {external_labels: {env: prod}, ")
        cfg.write_text(text)
        p: PromhubProcess = promhub_factory(tmp_path / "data", cfg)
        p.wait_ready()
        a = wait_for(lambda: _alert(p, "HighLoad"), 30)
    finally:
        target.close()
    assert a["labels"]["severity"] == "critical"  # 0.95 > 0.9
    ann = a["annotations"]
    assert ann["summary"] == "Load on a is 95%"
    assert ann["total"] == "0.95"
    assert ann["env"] == "prod"
    # A template that fails at evaluation keeps the alert and shows why, as Prometheus.
    assert ann["broken"].startswith("<error expanding template: ")


def test_template_syntax_errors_are_refused_like_promtool(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: Bad\n        expr: up == 0\n"
        "        annotations: {summary: '{{ nosuch .Value }}'}\n"
    )
    ours = run_promhub("check", "rules", str(bad))
    theirs = subprocess.run(
        ["promtool", "check", "rules", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert ours.returncode == theirs.returncode == 1
    assert 'function "nosuch" not defined' in ours.stdout + ours.stderr
    assert "__alert_Bad" in ours.stdout + ours.stderr
