"""``promhub serve --agent``: scraping into a WAL-only storage, no local querying."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from promhub.model.labels import Labels
from promhub.tsdb.wal import SamplesRecord, SeriesRecord, WALReader
from tests.conftest import PromhubProcess, free_port, http_post, wait_for


@pytest.fixture
def exporter() -> Iterator[str]:
    """A real prometheus_client exporter on a free port."""
    reg = CollectorRegistry()
    Gauge("agent_test_value", "A value to forward.", registry=reg).set(42)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=reg)
    yield f"127.0.0.1:{port}"
    server.shutdown()
    thread.join(5)


def wal_samples(wal: Path) -> dict[Labels, list[float]]:
    """Every sample in the WAL by series, read with the TSDB's own WAL reader."""
    series: dict[int, Labels] = {}
    out: dict[Labels, list[float]] = {}
    for rec in WALReader(wal, repair=False):
        if isinstance(rec, SeriesRecord):
            series.update(zip(rec.refs.tolist(), rec.labels, strict=True))
        elif isinstance(rec, SamplesRecord):
            for r, v in zip(rec.refs.tolist(), rec.values.tolist(), strict=True):
                if r in series:
                    out.setdefault(series[r], []).append(v)
    return out


def test_agent_scrapes_into_the_wal_and_refuses_queries(
    promhub_factory: type[PromhubProcess], tmp_path: Path, exporter: str
) -> None:
    cfg = tmp_path / "agent.yml"
    cfg.write_text(
        "global: {scrape_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: app\n    static_configs: [{{targets: ['{exporter}']}}]\n"
    )
    agent_dir = tmp_path / "agent-data"
    p = promhub_factory(tmp_path / "data", cfg, "--agent", f"--storage.agent.path={agent_dir}")
    p.wait_ready()
    up = Labels.from_dict({"__name__": "up", "instance": exporter, "job": "app"})
    value = Labels.from_dict({"__name__": "agent_test_value", "instance": exporter, "job": "app"})

    def scraped() -> bool:
        s = wal_samples(agent_dir / "wal")
        return 1.0 in s.get(up, []) and 42.0 in s.get(value, [])

    wait_for(scraped, 20)
    # WAL only: no TSDB directory, no blocks.
    assert not (tmp_path / "data").exists()
    # (the Pushgateway API keeps its groups beside the WAL; no blocks, no chunks)
    assert {x.name for x in agent_dir.iterdir()} <= {"wal", "pushgateway", "remote_write"}

    # Query endpoints answer as Prometheus Agent does.
    for path in (
        "/api/v1/query?query=up",
        "/api/v1/query_range?query=up&start=0&end=60&step=15",
        "/api/v1/series?match[]=up",
        "/api/v1/labels",
        "/api/v1/label/job/values",
        "/api/v1/status/tsdb",
    ):
        status, body = p.get(path)
        assert status == 422, (path, body)
        assert json.loads(body) == {
            "status": "error",
            "errorType": "execution",
            "error": "unavailable with Prometheus Agent",
        }
    status, body = http_post(
        p.url + "/api/v1/query", urllib.parse.urlencode({"query": "1"}).encode()
    )
    assert status == 422
    status, body = p.get("/federate?match[]=up")
    assert (status, body.strip()) == (500, "unsupported operation with WAL-only storage")

    # What does not need local storage keeps working.
    status, body = p.get("/api/v1/targets")
    assert status == 200
    targets = json.loads(body)["data"]["activeTargets"]
    assert [(t["labels"]["job"], t["health"]) for t in targets] == [("app", "up")]
    status, body = p.get("/api/v1/status/flags")
    assert json.loads(body)["data"]["agent"] == "true"
    status, body = p.get("/api/v1/format_query?query=sum(up)")
    assert status == 200
    for path in ("/-/healthy", "/api/v1/status/runtimeinfo", "/api/v1/status/config"):
        assert p.get(path)[0] == 200, path
    # Metadata comes from the scrape targets, so the agent has it (as Prometheus Agent).
    status, body = p.get("/api/v1/metadata?metric=agent_test_value")
    assert json.loads(body)["data"]["agent_test_value"][0]["type"] == "gauge"
    status, body = p.get("/metrics")
    assert status == 200
    active = [
        float(line.split()[-1])
        for line in body.splitlines()
        if line.startswith("prometheus_agent_active_series ")
    ]
    assert active and active[0] >= 2

    # A restart replays the WAL and keeps appending to the same series.
    assert p.stop() == 0
    before = len(wal_samples(agent_dir / "wal").get(up, []))
    p2 = promhub_factory(tmp_path / "data", cfg, "--agent", f"--storage.agent.path={agent_dir}")
    p2.wait_ready()
    wait_for(lambda: len(wal_samples(agent_dir / "wal").get(up, [])) > before, 20)
    # Under the same ref: the series was logged once, not again after the restart.
    logged = [
        ls
        for rec in WALReader(agent_dir / "wal", repair=False)
        if isinstance(rec, SeriesRecord)
        for ls in rec.labels
    ]
    assert logged.count(up) == 1
