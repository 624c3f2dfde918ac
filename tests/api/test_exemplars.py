"""Exemplars end to end: a prometheus_client app exposing exemplars (OpenMetrics, chosen by
content negotiation) scraped by a real `promhub serve`, read back via /api/v1/query_exemplars."""

from __future__ import annotations

import json
import signal
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from tests.conftest import PromhubProcess, http_get, wait_for


class App:
    """An instrumented application: its own registry behind prometheus_client's server."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "app_requests", "Requests served.", ["path"], registry=self.registry
        )
        self.latency = Histogram(
            "app_latency_seconds",
            "Request latency.",
            buckets=(0.1, 0.5, 1.0),
            registry=self.registry,
        )
        self.server, self.thread = start_http_server(0, "127.0.0.1", registry=self.registry)
        self.address = f"127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def app() -> Iterator[App]:
    a = App()
    yield a
    a.close()


def _config(path: Path, app: App, storage: str = "") -> Path:
    path.write_text(
        "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\n"
        f"{storage}"
        "scrape_configs:\n  - job_name: app\n    static_configs:\n"
        f"      - targets: ['{app.address}']\n"
    )
    return path


def _exemplars(p: PromhubProcess, query: str, **params: str) -> Any:
    q = urllib.parse.urlencode({"query": query, **params})
    status, body = p.get("/api/v1/query_exemplars?" + q)
    assert status == 200, body
    return json.loads(body)["data"]


def _scraped(p: PromhubProcess, times: int) -> None:
    """Wait until the target has had ``times`` more successful scrapes."""

    def count() -> float:
        st, body = p.get("/api/v1/query?query=" + urllib.parse.quote("count_over_time(up[1h])"))
        res = json.loads(body)["data"]["result"] if st == 200 else []
        return float(res[0]["value"][1]) if res else 0.0

    goal = count() + times
    wait_for(lambda: count() >= goal, timeout=30)


def _metric(p: PromhubProcess, name: str) -> float:
    status, body = p.get("/metrics")
    assert status == 200
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exposed")


def test_scraped_exemplars_are_queryable(promhub_factory, app: App, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    before = time.time()
    app.requests.labels("/a").inc(1, exemplar={"trace_id": "t1"})
    app.latency.observe(0.3, exemplar={"trace_id": "h1"})
    cfg = _config(tmp_path / "promhub.yml", app)
    p = promhub_factory(tmp_path / "data", cfg, "--enable-feature=exemplar-storage")
    p.wait_ready()
    data = wait_for(lambda: _exemplars(p, "app_requests_total") or None, timeout=30)
    assert data == [
        {
            "seriesLabels": {
                "__name__": "app_requests_total",
                "instance": app.address,
                "job": "app",
                "path": "/a",
            },
            "exemplars": [
                {
                    "labels": {"trace_id": "t1"},
                    "value": "1",
                    "timestamp": data[0]["exemplars"][0]["timestamp"],
                }
            ],
        }
    ]
    # The exemplar's own timestamp (prometheus_client sets one), in seconds.
    assert before - 1 <= data[0]["exemplars"][0]["timestamp"] <= time.time()

    # Re-exposed on every scrape, stored once.
    _scraped(p, 3)
    assert len(_exemplars(p, "app_requests_total")[0]["exemplars"]) == 1

    # A new exemplar joins the series' chain, oldest first.
    app.requests.labels("/a").inc(2, exemplar={"trace_id": "t2"})
    wait_for(lambda: len(_exemplars(p, "app_requests_total")[0]["exemplars"]) == 2, timeout=30)
    ex = _exemplars(p, "app_requests_total")[0]["exemplars"]
    assert [e["labels"]["trace_id"] for e in ex] == ["t1", "t2"]
    assert [e["value"] for e in ex] == ["1", "2"]

    # Every selector of an expression counts, including those under functions.
    q = (
        "histogram_quantile(0.9, sum by (le) (rate(app_latency_seconds_bucket[1m])))"
        ' / on() group_left sum(rate(app_requests_total{path="/a"}[1m]))'
    )
    both = _exemplars(p, q)
    assert [s["seriesLabels"]["__name__"] for s in both] == [
        "app_latency_seconds_bucket",
        "app_requests_total",
    ]
    assert both[0]["seriesLabels"]["le"] == "0.5"
    assert both[0]["exemplars"][0]["labels"] == {"trace_id": "h1"}
    assert both[0]["exemplars"][0]["value"] == "0.3"

    # start/end bound the exemplars' timestamps; POST works as GET.
    t2 = ex[1]["timestamp"]
    only_new = _exemplars(p, "app_requests_total", start=str(t2))
    assert [e["labels"]["trace_id"] for e in only_new[0]["exemplars"]] == ["t2"]
    assert _exemplars(p, "app_requests_total", end=str(before - 60)) == []
    body = urllib.parse.urlencode({"query": "app_requests_total"}).encode()
    req = urllib.request.Request(
        p.url + "/api/v1/query_exemplars",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert json.loads(r.read())["data"] == _exemplars(p, "app_requests_total")

    # Selector-less queries have no data; bad ones are 400s naming the parameter.
    assert json.loads(p.get("/api/v1/query_exemplars?query=1%2B1")[1]) == {"status": "success"}
    st, raw = http_get(p.url + "/api/v1/query_exemplars?query=sum(")
    assert st == 400 and json.loads(raw)["errorType"] == "bad_data"
    st, raw = http_get(p.url + "/api/v1/query_exemplars?query=up&start=10&end=5")
    assert st == 400

    assert _metric(p, "prometheus_tsdb_exemplar_max_exemplars") == 100_000
    assert _metric(p, "prometheus_tsdb_exemplar_exemplars_appended_total") == 3
    assert _metric(p, "prometheus_tsdb_exemplar_exemplars_in_storage") == 3
    assert _metric(p, "prometheus_tsdb_exemplar_series_with_exemplars_in_storage") == 2


def test_exemplars_not_stored_without_the_feature(
    promhub_factory: Any, app: App, tmp_path: Path
) -> None:
    app.requests.labels("/a").inc(1, exemplar={"trace_id": "t1"})
    cfg = _config(tmp_path / "promhub.yml", app)
    p = promhub_factory(tmp_path / "data", cfg, "--enable-feature=no-such-thing")
    p.wait_ready()
    _scraped(p, 2)
    assert _exemplars(p, "app_requests_total") == []
    assert _metric(p, "prometheus_tsdb_exemplar_max_exemplars") == 0
    assert "Unknown option for --enable-feature" in p.log()


def test_max_exemplars_from_config_and_reload(promhub_factory, app: App, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app.requests.labels("/a").inc(1, exemplar={"trace_id": "t1"})
    cfg = _config(tmp_path / "promhub.yml", app, "storage:\n  exemplars:\n    max_exemplars: 0\n")
    p = promhub_factory(tmp_path / "data", cfg, "--enable-feature=exemplar-storage,other")
    p.wait_ready()
    _scraped(p, 2)
    assert _exemplars(p, "app_requests_total") == []
    assert _metric(p, "prometheus_tsdb_exemplar_max_exemplars") == 0

    _config(tmp_path / "promhub.yml", app, "storage:\n  exemplars:\n    max_exemplars: 5\n")
    p.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: _metric(p, "prometheus_tsdb_exemplar_max_exemplars") == 5, timeout=30)
    data = wait_for(lambda: _exemplars(p, "app_requests_total") or None, timeout=30)
    assert data[0]["exemplars"][0]["labels"] == {"trace_id": "t1"}
