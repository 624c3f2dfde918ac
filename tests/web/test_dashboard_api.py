"""``/api/v1/dashboards`` over HTTP against real promhub servers: import, list, get, delete,
validation errors that name the problem (and store nothing), the read-only starter
dashboards, the ``--no-web.enable-dashboard-writes`` switch, and the starter dashboards'
queries parsing and answering on a real stack."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PromhubProcess
from tests.web.conftest import Stack

FIXTURE = Path(__file__).parent / "fixtures" / "grafana-targets.json"
STARTERS = Path(__file__).parents[2] / "promhub" / "web" / "dashboards"
STARTER_UIDS = {"promhub-host-overview", "promhub-http-red", "promhub-self"}
SUPPORTED = {"timeseries", "stat", "gauge", "bargauge", "table", "text", "row"}


def call(method: str, url: str, body: bytes | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def listed(url: str) -> dict[str, dict[str, Any]]:
    code, body = call("GET", url + "/api/v1/dashboards")
    assert code == 200, body
    return {d["uid"]: d for d in body["data"]}


def walk(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for p in panels:
        yield p
        yield from walk(p.get("panels", []))


def test_import_list_get_delete_round_trip(stack: Stack) -> None:
    model = json.loads(FIXTURE.read_text())
    model.pop("uid")
    # Grafana's import wrapper, as its "import" API takes it; no uid: one is assigned.
    code, body = call(
        "POST", stack.url + "/api/v1/dashboards", json.dumps({"dashboard": model}).encode()
    )
    assert code == 200, body
    uid = body["data"]["uid"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid)
    entry = listed(stack.url)[uid]
    assert entry == {
        "uid": uid,
        "title": "Fixture: targets",
        "tags": ["test"],
        "panels": 8,  # the row itself is not a panel
        "builtin": False,
    }
    code, body = call("GET", f"{stack.url}/api/v1/dashboards/{uid}")
    assert code == 200
    assert body["data"]["meta"] == {"uid": uid, "builtin": False}
    assert body["data"]["dashboard"]["panels"] == model["panels"]
    stored = stack.promhub.data_dir / "dashboards" / f"{uid}.json"
    assert json.loads(stored.read_text())["title"] == "Fixture: targets"

    # Re-importing the same uid replaces the dashboard.
    model["uid"], model["title"] = uid, "Renamed"
    code, _ = call("POST", stack.url + "/api/v1/dashboards", json.dumps(model).encode())
    assert code == 200
    assert listed(stack.url)[uid]["title"] == "Renamed"

    code, _ = call("DELETE", f"{stack.url}/api/v1/dashboards/{uid}")
    assert code == 200
    assert uid not in listed(stack.url)
    assert not stored.exists()
    code, body = call("GET", f"{stack.url}/api/v1/dashboards/{uid}")
    assert code == 404 and uid in body["error"]
    code, _ = call("DELETE", f"{stack.url}/api/v1/dashboards/{uid}")
    assert code == 404


def _bad(mutate: Any) -> bytes:
    model = json.loads(FIXTURE.read_text())
    model["uid"] = "bad-one"
    mutate(model)
    return json.dumps(model).encode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"title": "x", "panels": [', "invalid JSON at line 1"),
        (b"[1, 2]", "dashboard must be a JSON object"),
        (_bad(lambda m: m.pop("title")), "title: missing"),
        (
            _bad(lambda m: m["panels"][3]["targets"][0].update(expr=42)),
            "panels[3].targets[0].expr: must be a string",
        ),
        (_bad(lambda m: m["panels"][1].pop("type")), "panels[1]: missing type"),
        (_bad(lambda m: m.update(uid="no/slashes")), "uid: 'no/slashes'"),
        (
            _bad(lambda m: m["templating"]["list"][0].pop("name")),
            "templating.list[0]: missing name",
        ),
        (_bad(lambda m: m.update(description="x" * 3_000_000)), "more than the 2097152 allowed"),
    ],
)
def test_bad_dashboard_is_refused_with_the_problem_named(
    stack: Stack, body: bytes, message: str
) -> None:
    before = listed(stack.url)
    code, resp = call("POST", stack.url + "/api/v1/dashboards", body)
    assert code == 400
    assert resp["errorType"] == "bad_data"
    assert message in resp["error"]
    assert listed(stack.url) == before
    assert not (stack.promhub.data_dir / "dashboards" / "bad-one.json").exists()


def test_starter_dashboards_are_listed_and_read_only(stack: Stack) -> None:
    items = listed(stack.url)
    for uid in STARTER_UIDS:
        assert items[uid]["builtin"] is True
        code, body = call("DELETE", f"{stack.url}/api/v1/dashboards/{uid}")
        assert code == 403 and "built-in" in body["error"]
    # Overwriting a starter by importing its uid is refused too; a copy needs its own uid.
    own = json.loads((STARTERS / "promhub-self.json").read_text())
    code, body = call("POST", stack.url + "/api/v1/dashboards", json.dumps(own).encode())
    assert code == 403 and "built-in" in body["error"]
    assert set(listed(stack.url)) >= STARTER_UIDS


def test_writes_can_be_switched_off(tmp_path: Path) -> None:
    p = PromhubProcess(tmp_path / "data", None, "--no-web.enable-dashboard-writes")
    try:
        p.wait_ready()
        code, body = call("POST", p.url + "/api/v1/dashboards", FIXTURE.read_bytes())
        assert code == 403 and "--no-web.enable-dashboard-writes" in body["error"]
        code, _ = call("DELETE", p.url + "/api/v1/dashboards/fixture-targets")
        assert code == 403
        assert set(listed(p.url)) == STARTER_UIDS  # reading still works
        code, flags = call("GET", p.url + "/api/v1/status/flags")
        assert flags["data"]["web.enable-dashboard-writes"] == "false"
    finally:
        p.stop()
    assert not (tmp_path / "data" / "dashboards").exists()


def _runnable(expr: str) -> str:
    """A panel or variable query with Grafana's variables replaced by sample values."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\)\s*", expr, re.S)
    if m:
        expr = m.group(1)
    for name, value in (("__rate_interval", "1m"), ("__interval", "15s"), ("__range", "1h")):
        expr = expr.replace("$" + name, value)
    return re.sub(r"\$\{?\w+\}?", "x", expr)


@pytest.mark.parametrize("name", sorted(p.name for p in STARTERS.glob("*.json")))
def test_starter_dashboard_is_a_grafana_export_whose_queries_run(stack: Stack, name: str) -> None:
    model = json.loads((STARTERS / name).read_text())
    # Exported "for sharing": the data source is an input Grafana asks for at import.
    assert model["__inputs"][0]["name"] == "DS_PROMETHEUS"
    assert model["__inputs"][0]["pluginId"] == "prometheus"
    assert model["schemaVersion"] >= 36 and model["id"] is None
    exprs = []
    for p in walk(model["panels"]):
        assert p["type"] in SUPPORTED, p["title"]
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        exprs += [t["expr"] for t in p["targets"]]
    variables = model["templating"]["list"]
    assert all(v["query"]["query"].startswith("label_values(") for v in variables)
    exprs += [v["query"]["query"] for v in variables]
    for expr in exprs:
        q = urllib.parse.urlencode({"query": _runnable(expr)})
        code, body = call("GET", f"{stack.url}/api/v1/query?{q}")
        assert code == 200 and body["status"] == "success", (expr, body)


def test_host_overview_queries_answer_from_node_exporter(stack: Stack) -> None:
    model = json.loads((STARTERS / "host-overview.json").read_text())
    job, instance = "node", stack.node_exporter
    empty = []
    for p in walk(model["panels"]):
        for t in p.get("targets", []):
            expr = t["expr"].replace("$__rate_interval", "30s").replace("$job", job)
            expr = expr.replace("$instance", instance)
            q = urllib.parse.urlencode({"query": expr})
            _, body = call("GET", f"{stack.url}/api/v1/query?{q}")
            if not body["data"]["result"]:
                empty.append(p["title"])
    assert not empty, f"panels without data on a real node_exporter: {empty}"


def test_exported_dashboard_shapes_import(stack: Stack) -> None:
    """Grafana 9+ exports give row panels a query-less target and old dashboards keep their
    panels in `rows`: both import, and the list counts the legacy rows' panels."""
    shapes = (Path(__file__).parent / "fixtures" / "grafana-community-shapes.json").read_bytes()
    code, body = call("POST", stack.url + "/api/v1/dashboards", shapes)
    assert code == 200, body
    assert body["data"]["panels"] == 12  # rows are not panels
    legacy = (Path(__file__).parent / "fixtures" / "grafana-legacy-rows.json").read_bytes()
    code, body = call("POST", stack.url + "/api/v1/dashboards", legacy)
    assert code == 200, body
    assert listed(stack.url)["legacy-rows"]["panels"] == 4
    # The rows are validated like panels.
    model = json.loads(legacy)
    model["rows"][0]["panels"][0]["targets"][0]["expr"] = ["not", "a", "string"]
    code, body = call("POST", stack.url + "/api/v1/dashboards", json.dumps(model).encode())
    assert code == 400
    assert body["error"] == "rows[0].panels[0].targets[0].expr: must be a string"
