"""From a PromQL condition to a notification, in one promhub: a rule fires on scraped data,
the built-in alert manager groups it and its webhook receiver gets Alertmanager's payload;
a restart does not notify again within repeat_interval."""

from __future__ import annotations

import time
from pathlib import Path

from tests.alerting.capture import CaptureServer
from tests.conftest import PromhubProcess, wait_for
from tests.targets import MetricsTarget

RULES = """
groups:
  - name: host
    rules:
      - alert: HighCpuUsage
        expr: cpu_usage > 0.9
        for: 2s
        labels: {severity: critical}
        annotations:
          summary: 'CPU on {{ $labels.instance }} at {{ $value | humanizePercentage }}'
"""

AM_YML = """
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1m
  repeat_interval: 4h
receivers:
  - name: ops
    webhook_configs:
      - url: {url}
"""


def _setup(tmp: Path, target: MetricsTarget, hook: str) -> Path:
    (tmp / "rules.yml").write_text(RULES)
    (tmp / "alertmanager.yml").write_text(AM_YML.replace("{url}", hook))
    cfg = tmp / "promhub.yml"
    cfg.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "rule_files: [rules.yml]\n"
        "alerting: {alertmanager_config_file: alertmanager.yml}\n"
        "scrape_configs:\n  - job_name: node\n"
        f"    static_configs: [{{targets: ['{target.address}']}}]\n"
    )
    return cfg


def test_rule_to_webhook_and_no_renotify_after_restart(
    tmp_path: Path, promhub_factory: type[PromhubProcess]
) -> None:
    target = MetricsTarget(lambda n: "cpu_usage 0.97\n")
    hook = CaptureServer()
    try:
        cfg = _setup(tmp_path, target, hook.url + "/hook")
        p = promhub_factory(tmp_path / "data", cfg)
        p.wait_ready()
        reqs = wait_for(lambda: [r for r in hook.requests if r.path == "/hook"], 40)
        body = reqs[0].json()
        # Alertmanager's webhook payload (version 4) with the rule's labels and annotations.
        assert body["version"] == "4" and body["status"] == "firing"
        assert body["receiver"] == "ops"
        assert body["groupLabels"] == {"alertname": "HighCpuUsage"}
        (alert,) = body["alerts"]
        assert alert["labels"]["severity"] == "critical"
        assert alert["labels"]["job"] == "node"
        assert alert["annotations"]["summary"] == f"CPU on {target.address} at 97%"
        assert "/graph?g0.expr=" in alert["generatorURL"]
        # The notification log survives a restart: the still-firing alert is not sent
        # again within repeat_interval.
        p.stop()
        sent = len([r for r in hook.requests if r.path == "/hook"])
        p2 = promhub_factory(tmp_path / "data", cfg)
        p2.wait_ready()
        wait_for(lambda: '"state":"active"' in p2.get("/api/v2/alerts")[1].replace(" ", ""), 30)
        time.sleep(3)  # group_wait (1 s) has passed: a re-notification would be here by now
        assert len([r for r in hook.requests if r.path == "/hook"]) == sent
    finally:
        target.close()
        hook.close()
