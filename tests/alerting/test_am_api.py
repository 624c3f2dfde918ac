"""The built-in alert manager's API v2 against a real promhub server: Debian's ``amtool``
drives it, raw HTTP checks Alertmanager 0.25's exact JSON and error messages, and the
promhub-only history and recurring-silence endpoints."""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PromhubProcess, http_get, http_post, wait_for

AMTOOL = "/usr/bin/amtool"

AM_YML = """\
global:
  resolve_timeout: 5m
route:
  receiver: default
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  routes:
    - receiver: team-x
      matchers: [team="x"]
receivers:
  - name: default
  - name: team-x
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname]
"""

RULES = """\
groups:
  - name: always
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels: {severity: page}
        annotations: {summary: "value {{ $value }}"}
"""


def write_setup(tmp: Path, am_yml: str = AM_YML, rules: bool = False) -> Path:
    (tmp / "alertmanager.yml").write_text(am_yml)
    cfg = "global:\n  external_labels: {site: lab}\n"
    if rules:
        (tmp / "rules.yml").write_text(RULES)
        cfg += "rule_files: [rules.yml]\n"
    cfg += "alerting:\n  alertmanager_config_file: alertmanager.yml\n"
    (tmp / "promhub.yml").write_text(cfg)
    return tmp / "promhub.yml"


@pytest.fixture
def am(promhub_factory: type[PromhubProcess], tmp_path: Path) -> PromhubProcess:
    p = promhub_factory(None, write_setup(tmp_path), "--web.enable-lifecycle")
    p.wait_ready()
    return p


def amtool(p: PromhubProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AMTOOL, f"--alertmanager.url={p.url}", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def post_json(url: str, doc: object) -> tuple[int, str]:
    req = urllib.request.Request(
        url, data=json.dumps(doc).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def delete(url: str) -> tuple[int, str]:
    req = urllib.request.Request(url, method="DELETE")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def get_json(p: PromhubProcess, path: str) -> object:
    status, body = p.get(path)
    assert status == 200, body
    return json.loads(body)


def test_amtool_alert_add_and_query(am: PromhubProcess) -> None:
    r = amtool(am, "alert", "add", "alertname=DiskFull", "severity=critical", "team=x",
               "--annotation=summary=disk is full")  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = amtool(am, "alert", "add", "alertname=DiskFull", "severity=warning")
    assert r.returncode == 0, r.stderr
    # amtool hides inhibited and silenced alerts unless asked.
    r = amtool(am, "alert", "query", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert [a["labels"]["severity"] for a in json.loads(r.stdout)] == ["critical"]
    r = amtool(am, "alert", "query", "-o", "json", "--active", "--inhibited")
    got = {a["labels"]["severity"]: a for a in json.loads(r.stdout)}
    assert set(got) == {"critical", "warning"}
    crit, warn = got["critical"], got["warning"]
    assert crit["annotations"] == {"summary": "disk is full"}
    assert crit["receivers"] == [{"name": "team-x"}]
    assert crit["status"] == {"inhibitedBy": [], "silencedBy": [], "state": "active"}
    # The warning is inhibited by the critical with the same alertname.
    assert warn["status"]["state"] == "suppressed"
    assert warn["status"]["inhibitedBy"] == [crit["fingerprint"]]
    # amtool's filters go through ?filter= and ?inhibited=.
    # ?filter= as Alertmanager 0.25 (checked against it): a missing label reads as "".
    q = "/api/v2/alerts?filter=" + urllib.parse.quote('nolabel=~".*"')
    assert len(get_json(am, q)) == 2  # type: ignore[arg-type]
    q = "/api/v2/alerts?filter=" + urllib.parse.quote('team!=""')
    assert len(get_json(am, q)) == 1  # type: ignore[arg-type]
    r = amtool(am, "alert", "query", "-o", "simple", "severity=critical")
    assert "DiskFull" in r.stdout and r.stdout.count("DiskFull") == 1
    # Exact key order and time format of Alertmanager 0.25's gettableAlert.
    alerts = json.loads(am.get("/api/v2/alerts")[1])
    assert list(alerts[0]) == [
        "annotations", "endsAt", "fingerprint", "receivers", "startsAt", "status",
        "updatedAt", "labels",
    ]  # fmt: skip
    assert alerts[0]["startsAt"].endswith("Z") and alerts[0]["startsAt"][-5] == "."
    assert [a["fingerprint"] for a in alerts] == sorted(a["fingerprint"] for a in alerts)
    # Groups: one per (route, alertname), labels = group_by labels.
    groups = get_json(am, "/api/v2/alerts/groups")
    assert isinstance(groups, list)
    assert [(g["labels"], g["receiver"]["name"], len(g["alerts"])) for g in groups] == [
        ({"alertname": "DiskFull"}, "default", 1),
        ({"alertname": "DiskFull"}, "team-x", 1),
    ]
    groups = get_json(am, "/api/v2/alerts/groups?receiver=team-.*")
    assert [g["receiver"]["name"] for g in groups] == ["team-x"]  # type: ignore[index]


def test_amtool_silences_add_query_expire_persist(
    promhub_factory: type[PromhubProcess], tmp_path: Path
) -> None:
    cfg = write_setup(tmp_path)
    p = promhub_factory(None, cfg)
    p.wait_ready()
    assert amtool(p, "alert", "add", "alertname=Noisy", "job=api").returncode == 0
    r = amtool(p, "silence", "add", "alertname=Noisy", "-a", "alice", "-c", "deploy", "-d", "2h")
    assert r.returncode == 0, r.stderr
    sid = r.stdout.strip()
    r = amtool(p, "silence", "query", "-o", "json")
    sil = json.loads(r.stdout)
    assert [s["id"] for s in sil] == [sid]
    assert sil[0]["createdBy"] == "alice" and sil[0]["comment"] == "deploy"
    assert sil[0]["status"] == {"state": "active"}
    assert sil[0]["matchers"] == [
        {"isEqual": True, "isRegex": False, "name": "alertname", "value": "Noisy"}
    ]
    a = json.loads(p.get("/api/v2/alerts")[1])[0]
    assert a["status"]["silencedBy"] == [sid] and a["status"]["state"] == "suppressed"
    assert json.loads(amtool(p, "alert", "query", "-o", "json").stdout) == []  # not silenced
    # Silences survive a restart.
    p.stop()
    p2 = promhub_factory(tmp_path / "data", cfg)
    p2.wait_ready()
    r = amtool(p2, "silence", "query", "-q")
    assert r.stdout.split() == [sid]
    r = amtool(p2, "silence", "expire", sid)
    assert r.returncode == 0, r.stderr
    assert amtool(p2, "silence", "query", "-q").stdout.split() == []
    r = amtool(p2, "silence", "query", "--expired", "-o", "json")
    assert json.loads(r.stdout)[0]["status"] == {"state": "expired"}
    # The expiry reaches the state on disk too.
    doc = json.loads((tmp_path / "data" / "alertmanager" / "silences.json").read_text())
    assert doc["silences"][0]["endsAt"] <= time.time()


def test_amtool_check_config_and_status(am: PromhubProcess, tmp_path: Path) -> None:
    r = subprocess.run(
        [AMTOOL, "check-config", str(tmp_path / "alertmanager.yml")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    st = get_json(am, "/api/v2/status")
    assert isinstance(st, dict)
    assert list(st) == ["cluster", "config", "uptime", "versionInfo"]
    assert st["cluster"] == {"peers": [], "status": "disabled"}
    assert st["config"]["original"] == AM_YML
    assert get_json(am, "/api/v2/receivers") == [{"name": "default"}, {"name": "team-x"}]
    r = amtool(am, "config", "show")
    assert r.returncode == 0 and "team-x" in r.stdout
    r = amtool(am, "config", "routes", "test", "team=x")
    assert r.stdout.strip() == "team-x"


def test_bad_input_gets_alertmanagers_errors(am: PromhubProcess) -> None:
    u = am.url + "/api/v2"
    status, body = post_json(u + "/alerts", [
        {"labels": {"alertname": "B"}, "startsAt": "2030-01-01T10:00:00Z",
         "endsAt": "2030-01-01T09:00:00Z"},
        {"labels": {"0bad": "x"}},
        {"labels": {}},
        {"labels": {"alertname": "Good"}},
    ])  # fmt: skip
    assert status == 400
    assert json.loads(body) == (
        'start time must be before end time; invalid label set: invalid name "0bad"; '
        "at least one label pair required"
    )
    # The valid alert of the batch was still taken.
    assert [a["labels"] for a in json.loads(am.get("/api/v2/alerts")[1])] == [{"alertname": "Good"}]
    assert post_json(u + "/alerts", [{"annotations": {}}]) == (
        422, '{"code":602,"message":"0.labels in body is required"}',
    )  # fmt: skip
    status, body = http_post(u + "/alerts", b"{bad")
    assert status == 400 and json.loads(body)["code"] == 400
    status, body = http_get(u + "/alerts?filter=" + urllib.parse.quote("bad matcher"))
    assert (status, json.loads(body)) == (400, "bad matcher format: bad matcher")
    status, body = http_get(u + "/alerts?receiver=(")
    assert status == 400 and json.loads(body).startswith("failed to parse receiver param")
    sil = {
        "matchers": [{"name": "alertname", "value": "A", "isRegex": False}],
        "startsAt": "2030-01-02T00:00:00Z", "endsAt": "2030-01-01T00:00:00Z",
        "createdBy": "me", "comment": "c",
    }  # fmt: skip
    status, body = post_json(u + "/silences", sil)
    assert (status, json.loads(body)) == (
        400, "Failed to create silence: start time must be before end time",
    )  # fmt: skip
    sil["startsAt"], sil["endsAt"] = "2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z"
    status, body = post_json(u + "/silences", sil)
    assert json.loads(body) == "Failed to create silence: end time can't be in the past"
    sil["endsAt"] = "2099-01-01T00:00:00Z"
    sil["matchers"] = [{"name": "alertname", "value": ".*", "isRegex": True}]
    status, body = post_json(u + "/silences", sil)
    assert (status, json.loads(body)) == (
        400, "silence invalid: at least one matcher must not match the empty string",
    )  # fmt: skip
    del sil["startsAt"]
    assert post_json(u + "/silences", sil) == (
        422, '{"code":602,"message":"startsAt in body is required"}',
    )  # fmt: skip
    status, body = http_get(u + "/silence/xyz")
    assert status == 422 and "must be of type uuid" in body
    assert http_get(u + "/silence/5e4a8e36-b7a0-4c8e-9a0e-3f7e3b0f8f11")[0] == 404
    assert delete(u + "/silence/5e4a8e36-b7a0-4c8e-9a0e-3f7e3b0f8f11")[0] == 500
    # The server is unharmed.
    assert am.get("/-/healthy")[0] == 200


def test_bad_alertmanager_config_refused_on_reload(am: PromhubProcess, tmp_path: Path) -> None:
    (tmp_path / "alertmanager.yml").write_text(AM_YML.replace("receiver: team-x", "receiver: nope"))
    status, body = http_post(am.url + "/-/reload")
    assert status == 500
    assert "alertmanager.yml:" in body and 'undefined receiver "nope"' in body
    # The old config keeps running.
    assert get_json(am, "/api/v2/receivers") == [{"name": "default"}, {"name": "team-x"}]
    status, metrics = am.get("/metrics")
    assert "alertmanager_config_last_reload_successful 0.0" in metrics
    (tmp_path / "alertmanager.yml").write_text(AM_YML.replace("team-x", "team-y"))
    assert http_post(am.url + "/-/reload")[0] == 200
    assert get_json(am, "/api/v2/receivers") == [{"name": "default"}, {"name": "team-y"}]


def test_rule_alert_reaches_dispatcher_and_history(
    promhub_factory: type[PromhubProcess], tmp_path: Path
) -> None:
    p = promhub_factory(None, write_setup(tmp_path, rules=True))
    p.wait_ready()
    t0 = time.time()

    def firing() -> list[dict[str, object]]:
        return [a for a in json.loads(p.get("/api/v2/alerts")[1])]

    alerts = wait_for(firing, 20)
    a = alerts[0]
    # Prometheus' conversion: rule labels + external labels, generator URL, annotations.
    assert a["labels"] == {"alertname": "AlwaysFiring", "severity": "page", "site": "lab"}
    assert a["annotations"] == {"summary": "value 1"}
    assert "/graph?g0.expr=vector%281%29&g0.tab=1" in a["generatorURL"]
    assert a["receivers"] == [{"name": "default"}]

    def notified() -> list[dict[str, object]]:
        h = json.loads(p.get("/api/v2/history?matcher=alertname%3DAlwaysFiring")[1])
        return [e for e in h if e["kind"] == "notification"]

    note = wait_for(notified, 20)[0]
    assert note["receiver"] == "default"
    assert note["labels"] == {"alertname": "AlwaysFiring"}
    assert [x["status"] for x in note["alerts"]] == ["firing"]
    # State changes are in the history, within a time range.
    q = urllib.parse.urlencode({"start": t0 - 1, "end": time.time() + 60})
    h = json.loads(p.get("/api/v2/history?" + q)[1])
    assert h[0]["kind"] == "active" and h[0]["labels"]["alertname"] == "AlwaysFiring"
    assert json.loads(p.get("/api/v2/history?end=" + str(t0 - 100))[1]) == []
    # A silence shows up as a state change (suppressed, by which silence).
    r = amtool(p, "silence", "add", "alertname=AlwaysFiring", "-c", "x", "-d", "1h")
    sid = r.stdout.strip()
    h = wait_for(
        lambda: [e for e in json.loads(p.get("/api/v2/history")[1]) if e["kind"] == "suppressed"]
    )
    assert h[0]["silencedBy"] == [sid]
    _, metrics = p.get("/metrics")
    assert 'alertmanager_alerts{state="suppressed"} 1.0' in metrics
    assert 'alertmanager_silences{state="active"} 1.0' in metrics
    assert 'alertmanager_alerts_received_total{status="firing",version="v2"}' in metrics
    # History persists (append-only file) and is read back after a restart.
    p.stop()
    assert (tmp_path / "data" / "alertmanager" / "history.jsonl").exists()
    p2 = promhub_factory(tmp_path / "data", tmp_path / "promhub.yml")
    p2.wait_ready()
    h = json.loads(p2.get("/api/v2/history")[1])
    assert any(e["kind"] == "suppressed" for e in h)


def test_recurring_silences_api(am: PromhubProcess) -> None:
    u = am.url + "/api/v2/recurring_silences"
    # A window open all day, every day: mutes now.
    body = {
        "matchers": [{"name": "job", "value": "batch", "isRegex": False}],
        "weekdays": ["sunday:saturday"], "start": "00:00", "end": "24:00",
        "timezone": "Europe/Berlin", "createdBy": "ops", "comment": "nightly",
    }  # fmt: skip
    status, resp = post_json(u, body)
    assert status == 200, resp
    rid = json.loads(resp)["id"]
    got = get_json(am, "/api/v2/recurring_silences")
    assert isinstance(got, list) and got[0]["id"] == rid
    assert got[0]["weekdays"] == [
        "sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
    ]  # fmt: skip
    assert got[0]["status"] == {"state": "active"}
    assert amtool(am, "alert", "add", "alertname=Backup", "job=batch").returncode == 0
    a = json.loads(am.get("/api/v2/alerts")[1])[0]
    assert a["status"]["silencedBy"] == [rid]
    status, resp = post_json(u, {**body, "weekdays": ["funday"]})
    assert (status, json.loads(resp)) == (
        400, "recurring silence invalid: funday is not a valid weekday",
    )  # fmt: skip
    assert delete(u + "/" + rid)[0] == 200
    assert delete(u + "/" + rid)[0] == 404
    a = json.loads(am.get("/api/v2/alerts")[1])[0]
    assert a["status"] == {"inhibitedBy": [], "silencedBy": [], "state": "active"}


def test_inline_alertmanager_config(promhub_factory: type[PromhubProcess], tmp_path: Path) -> None:
    cfg = tmp_path / "promhub.yml"
    cfg.write_text("alerting:\n  alertmanager_config:\n" + textwrap.indent(AM_YML, "    "))
    p = promhub_factory(None, cfg, "--web.enable-lifecycle")
    p.wait_ready()
    assert get_json(p, "/api/v2/receivers") == [{"name": "default"}, {"name": "team-x"}]
    st = get_json(p, "/api/v2/status")
    # The block as written, dedented, without the blank lines that keep error line numbers.
    assert st["config"]["original"] == AM_YML  # type: ignore[index]
    # An error in the inline block names promhub.yml and the line in it.
    cfg.write_text(cfg.read_text().replace("receiver: team-x", "receiver: nope"))
    status, body = http_post(p.url + "/-/reload")
    line = cfg.read_text().splitlines().index("        - receiver: nope") + 1
    assert status == 500 and f"promhub.yml:{line}:" in body, body
    assert 'undefined receiver "nope"' in body


def test_reload_enables_alert_manager(
    promhub_factory: type[PromhubProcess], tmp_path: Path
) -> None:
    cfg = tmp_path / "promhub.yml"
    cfg.write_text("global: {}\n")
    p = promhub_factory(None, cfg, "--web.enable-lifecycle")
    p.wait_ready()
    assert p.get("/api/v2/status")[0] == 404
    write_setup(tmp_path)
    assert http_post(p.url + "/-/reload")[0] == 200
    assert get_json(p, "/api/v2/receivers") == [{"name": "default"}, {"name": "team-x"}]
    assert amtool(p, "alert", "add", "alertname=Late").returncode == 0
    assert json.loads(p.get("/api/v2/alerts")[1])[0]["labels"] == {"alertname": "Late"}
