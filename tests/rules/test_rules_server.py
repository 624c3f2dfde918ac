"""Rules in a real promhub scraping a real target: recording results, alert lifecycle,
``ALERTS``, the rules/alerts API, keep_firing_for, restart and reload."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

from tests.conftest import PromhubProcess, http_post, wait_for
from tests.targets import MetricsTarget

RULES = """
groups:
  - name: app
    rules:
      - record: job:requests:sum
        expr: sum by (job) (requests_total)
        labels: {source: rule}
      - alert: AppDown
        expr: app_up == 0
        for: 3s
        labels: {severity: critical}
        annotations: {summary: app is down}
      - alert: AppFlapping
        expr: app_up == 0
        keep_firing_for: 4s
"""


class State:
    up = 1


def _target(state: type[State]) -> MetricsTarget:
    return MetricsTarget(
        lambda n: (
            f'requests_total{{path="/"}} {n}\nrequests_total{{path="/x"}} {2 * n}\n'
            f'app_up{{svc="a"}} {state.up}\n'
        )
    )


def _config(tmp: Path, target: MetricsTarget, rules: str = RULES) -> Path:
    (tmp / "rules").mkdir(exist_ok=True)
    (tmp / "rules" / "app.yml").write_text(rules)
    cfg = tmp / "promhub.yml"
    cfg.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "rule_files: ['rules/*.yml']\n"
        "scrape_configs:\n  - job_name: app\n"
        f"    static_configs: [{{targets: ['{target.address}']}}]\n"
    )
    return cfg


def _api(p: PromhubProcess, path: str) -> Any:
    status, body = p.get(path)
    assert status == 200, body
    return json.loads(body)["data"]


def _query(p: PromhubProcess, q: str) -> list[dict[str, Any]]:
    res: list[dict[str, Any]] = _api(p, "/api/v1/query?query=" + urllib.parse.quote(q))["result"]
    return res


def _alert(p: PromhubProcess, name: str) -> dict[str, Any] | None:
    for a in _api(p, "/api/v1/alerts")["alerts"]:
        if a["labels"]["alertname"] == name:
            return dict(a)
    return None


def _state(p: PromhubProcess, name: str) -> str:
    a = _alert(p, name)
    return a["state"] if a else "inactive"


def _rule(p: PromhubProcess, name: str) -> dict[str, Any]:
    for g in _api(p, "/api/v1/rules")["groups"]:
        for r in g["rules"]:
            if r["name"] == name:
                return dict(r)
    raise AssertionError(f"rule {name} not listed")


def test_recording_rule_result_is_queryable(tmp_path: Path, promhub_factory: Any) -> None:
    target = _target(State)
    try:
        p = promhub_factory(None, _config(tmp_path, target))
        p.wait_ready()
        res = wait_for(lambda: _query(p, "job:requests:sum"))
        assert res[0]["metric"] == {"__name__": "job:requests:sum", "job": "app", "source": "rule"}
        # 3 * n for the latest scrape n: the rule sums both paths.
        assert float(res[0]["value"][1]) % 3 == 0
        rule = _rule(p, "job:requests:sum")
        assert rule["type"] == "recording" and rule["health"] == "ok"
        assert rule["query"] == "sum by (job) (requests_total)"
        assert rule["labels"] == {"source": "rule"}
        wait_for(lambda: 'prometheus_rule_evaluations_total{rule_group="' in p.get("/metrics")[1])
        metrics = p.get("/metrics")[1]
        assert "prometheus_rule_group_interval_seconds" in metrics
        assert "prometheus_rule_group_last_duration_seconds" in metrics
    finally:
        target.close()


def test_alert_pending_firing_keep_firing_and_resolved(
    tmp_path: Path, promhub_factory: Any
) -> None:
    class S(State):
        up = 1

    target = _target(S)
    try:
        p = promhub_factory(None, _config(tmp_path, target))
        p.wait_ready()
        wait_for(lambda: _rule(p, "AppDown")["health"] == "ok")
        assert _state(p, "AppDown") == "inactive"
        S.up = 0
        wait_for(lambda: _state(p, "AppDown") == "pending")
        # AppFlapping has no `for`: it fires at once.
        wait_for(lambda: _state(p, "AppFlapping") == "firing")
        wait_for(lambda: _state(p, "AppDown") == "firing")
        a = _alert(p, "AppDown")
        assert a is not None
        assert a["labels"] == {
            "alertname": "AppDown",
            "severity": "critical",
            "svc": "a",
            "job": "app",
            "instance": target.address,
        }
        assert a["annotations"] == {"summary": "app is down"}
        assert a["value"] == "0e+00" and a["activeAt"].endswith("Z")
        firing = _query(p, 'ALERTS{alertname="AppDown"}')
        assert [r["metric"]["alertstate"] for r in firing] == ["firing"]
        assert _query(p, 'ALERTS_FOR_STATE{alertname="AppDown"}')
        rules = _api(p, "/api/v1/rules?type=alert")["groups"][0]["rules"]
        assert [r["name"] for r in rules] == ["AppDown", "AppFlapping"]
        assert rules[0]["state"] == "firing" and rules[0]["duration"] == 3
        assert rules[0]["alerts"][0]["state"] == "firing"
        assert (
            _api(p, "/api/v1/rules?type=alert&exclude_alerts=true")["groups"][0]["rules"][0][
                "alerts"
            ]
            is None
        )
        assert _api(p, "/api/v1/rules?rule_name[]=nothing")["groups"] == []
        assert p.get("/api/v1/rules?type=bogus")[0] == 400

        S.up = 1
        # AppDown resolves; AppFlapping keeps firing for keep_firing_for.
        wait_for(lambda: _state(p, "AppDown") == "inactive")
        flap = _alert(p, "AppFlapping")
        assert flap is not None and flap["state"] == "firing" and "keepFiringSince" in flap
        wait_for(lambda: _state(p, "AppFlapping") == "inactive")
        wait_for(lambda: not _query(p, 'ALERTS{alertname="AppDown"}'))
    finally:
        target.close()


def test_restart_restores_firing_without_rewaiting_for(
    tmp_path: Path, promhub_factory: Any
) -> None:
    class S(State):
        up = 0

    target = _target(S)
    rules = RULES.replace("for: 3s", "for: 4s")
    try:
        cfg = _config(tmp_path, target, rules)
        flags = ("--rules.alert.for-grace-period=1s",)
        p = promhub_factory(None, cfg, *flags)
        p.wait_ready()
        wait_for(lambda: _state(p, "AppDown") == "firing")
        before = _alert(p, "AppDown")
        assert before is not None
        p.stop()
        p2 = promhub_factory(None, cfg, *flags)
        p2.wait_ready()
        # The restored alert keeps the activeAt of the first run (a re-waited `for` would
        # start from the restart) and fires again without another 4 s of pending.
        after = wait_for(lambda: _alert(p2, "AppDown"))
        assert after["activeAt"] == before["activeAt"] or after["state"] == "pending"
        wait_for(lambda: _state(p2, "AppDown") == "firing")
        after = _alert(p2, "AppDown")
        assert after is not None and after["activeAt"] == before["activeAt"]
    finally:
        target.close()


def test_reload_keeps_state_and_refuses_bad_rules(tmp_path: Path, promhub_factory: Any) -> None:
    class S(State):
        up = 0

    target = _target(S)
    try:
        cfg = _config(tmp_path, target)
        p = promhub_factory(None, cfg, "--web.enable-lifecycle")
        p.wait_ready()
        wait_for(lambda: _state(p, "AppDown") == "firing")
        before = _alert(p, "AppDown")
        (tmp_path / "rules" / "more.yml").write_text(
            "groups:\n  - name: more\n    rules:\n      - record: one\n        expr: vector(1)\n"
        )
        assert http_post(p.url + "/-/reload")[0] == 200
        wait_for(lambda: _query(p, "one"))
        after = _alert(p, "AppDown")
        assert after is not None and after["state"] == "firing"
        assert after["activeAt"] == before["activeAt"] if before else False
        # A broken rule file is refused with its name and line; the running rules stay.
        (tmp_path / "rules" / "more.yml").write_text(
            "groups:\n  - name: more\n    rules:\n      - record: one\n        expr: sum(\n"
        )
        status, body = http_post(p.url + "/-/reload")
        assert status == 500 and "more.yml: 5:15" in body and "unclosed left parenthesis" in body
        groups = [g["name"] for g in _api(p, "/api/v1/rules")["groups"]]
        assert groups == ["app", "more"]
        assert _state(p, "AppDown") == "firing"
    finally:
        target.close()
