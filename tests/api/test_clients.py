"""Real clients against the API: promtool, prometheus-api-client, Grafana's request patterns."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess

import pytest

from tests.api.conftest import NOW_MS, APIServer

NOW_S = NOW_MS / 1000
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def promtool(*args: str) -> str:
    r = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.skipif(not shutil.which("promtool"), reason="Debian prometheus package not installed")
def test_promtool_query_commands(api: APIServer) -> None:
    out = promtool("query", "instant", "--time", str(NOW_S), api.url, "temperature")
    assert out.splitlines() == [
        f'temperature{{instance="a:9100", job="api"}} => 44 @[{NOW_S:.0f}]',
        f'temperature{{instance="b:9100", job="api"}} => 44 @[{NOW_S:.0f}]',
    ]
    out = promtool(
        "query",
        "range",
        "--start",
        str(NOW_S - 60),
        "--end",
        str(NOW_S),
        "--step",
        "30s",
        api.url,
        'temperature{instance="a:9100"}',
    )
    assert out.splitlines()[1:] == [
        f"43.6 @[{NOW_S - 60:.0f}]",
        f"43.8 @[{NOW_S - 30:.0f}]",
        f"44 @[{NOW_S:.0f}]",
    ]
    out = promtool("query", "series", "--match", "temperature", api.url)
    assert out.splitlines() == [
        '{__name__="temperature", instance="a:9100", job="api"}',
        '{__name__="temperature", instance="b:9100", job="api"}',
    ]
    assert promtool("query", "labels", api.url, "job").split() == ["api", "batch"]
    scalar = json.loads(promtool("query", "instant", "-o", "json", api.url, "1+1"))
    assert scalar[1] == "2"


def test_prometheus_api_client(api: APIServer) -> None:
    from prometheus_api_client import PrometheusConnect

    pc = PrometheusConnect(url=api.url, disable_ssl=True)
    assert pc.check_prometheus_connection()
    assert "temperature" in pc.all_metrics()
    assert pc.get_label_values("job") == ["api", "batch"]
    cur = pc.get_current_metric_value("temperature", label_config={"instance": "a:9100"})
    assert len(cur) == 1 and cur[0]["value"][1] == "44"
    rng = pc.custom_query_range(
        "sum by (code) (rate(http_requests_total[5m]))",
        start_time=dt.datetime.fromtimestamp(NOW_S - 600),
        end_time=dt.datetime.fromtimestamp(NOW_S),
        step="60",
    )
    assert sorted(s["metric"]["code"] for s in rng) == ["200", "500"]
    assert len(rng[0]["values"]) == 11
    agg = pc.get_metric_aggregation("temperature", operations=["max", "min"])
    assert agg is not None and agg["max"] >= agg["min"]


def test_grafana_request_patterns(api: APIServer) -> None:
    # Feature detection.
    info = api.get("/api/v1/status/buildinfo").json()
    assert info["status"] == "success" and "version" in info["data"]
    # Panel query: POST form, step in seconds, start/end aligned by Grafana itself.
    body = {
        "query": 'rate(http_requests_total{code="200"}[1m])',
        "start": str(int(NOW_S) - 3600),
        "end": str(int(NOW_S)),
        "step": "60",
    }
    r = api.request("/api/v1/query_range", body, method="POST", form=True)
    assert r.status == 200
    res = r.json()["data"]["result"]
    assert len(res) == 2 and len(res[0]["values"]) == 60  # the first minute has no rate yet
    # Variable queries: label names/values and series within the dashboard's time range.
    window = {"start": str(int(NOW_S) - 3600), "end": str(int(NOW_S))}
    r = api.request(
        "/api/v1/labels", {**window, "match[]": "http_requests_total"}, method="POST", form=True
    )
    assert r.json()["data"] == ["__name__", "code", "instance", "job"]
    r = api.get("/api/v1/label/instance/values", {**window, "match[]": "temperature"})
    assert r.json()["data"] == ["a:9100", "b:9100"]
    r = api.request(
        "/api/v1/series",
        {**window, "match[]": 'http_requests_total{code="500"}'},
        method="POST",
        form=True,
    )
    assert len(r.json()["data"]) == 2
    # Instant query for a table panel with Grafana's "time" and explicit timeout.
    r = api.get("/api/v1/query", {"query": "count(temperature)", "time": NOW_S, "timeout": "30s"})
    assert r.json()["data"]["result"] == [{"metric": {}, "value": [NOW_S, "2"]}]
