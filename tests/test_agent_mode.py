"""``promhub serve --agent``: scraping into a WAL-only storage, no local querying."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from promhub.model.labels import Labels
from promhub.tsdb.wal import (
    RecordCodec,
    SamplesRecord,
    SeriesRecord,
    WALCorruptionError,
    WALReader,
    last_checkpoint,
    list_segments,
    read_records,
)
from tests.conftest import PromhubProcess, free_port, http_get, http_post, wait_for
from tests.storage.conftest import PrometheusReceiver


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


# -- end to end: promhub --agent -> remote_write -> a real Prometheus ----------------------

FAST = {"batch_send_deadline": "200ms", "min_backoff": "50ms", "max_backoff": "200ms"}
STALE_NAN = 0x7FF0000000000002


class _Moving(Collector):
    """Values that move every scrape, so each sample is distinguishable from the last."""

    def __init__(self) -> None:
        self.n = 0

    def collect(self) -> Iterator[Metric]:
        self.n += 1
        c = CounterMetricFamily("agent_e2e_requests", "Requests.", labels=["path"])
        for i in range(5):
            c.add_metric([f"/p{i}"], self.n * (i + 1))
        yield c
        yield GaugeMetricFamily("agent_e2e_temperature", "Temperature.", value=20 + self.n / 7)


@pytest.fixture
def moving_exporter() -> Iterator[tuple[str, _Moving]]:
    """A prometheus_client exporter whose values change every scrape."""
    reg = CollectorRegistry()
    col = _Moving()
    reg.register(col)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=reg)
    yield f"127.0.0.1:{port}", col
    server.shutdown()
    thread.join(5)


def wal_points(wal: Path) -> dict[int, dict[Labels, list[tuple[int, float]]]]:
    """Every sample of the agent's WAL (stale markers excluded) by segment and series,
    read with promhub.tsdb.wal's record reader (a torn tail of the live segment ends it)."""
    series: dict[int, Labels] = {}
    cp = last_checkpoint(wal)
    files = [cp[1]] if cp is not None else []
    files += [wal / f"{s:08d}" for s in list_segments(wal)]
    out: dict[int, dict[Labels, list[tuple[int, float]]]] = {}
    for f in files:
        per = out.setdefault(int(f.name.rsplit(".", 1)[-1]), {})
        with contextlib.suppress(WALCorruptionError):
            for _, rec in read_records(f.read_bytes(), RecordCodec()):
                if isinstance(rec, SeriesRecord):
                    series.update(zip(rec.refs.tolist(), rec.labels, strict=True))
                elif isinstance(rec, SamplesRecord) and len(rec.refs):
                    ts = np.broadcast_to(rec.timestamps, rec.refs.shape).tolist()
                    bits = rec.values.view(np.uint64).tolist()
                    for r, t, v, b in zip(
                        rec.refs.tolist(), ts, rec.values.tolist(), bits, strict=True
                    ):
                        if b != STALE_NAN:
                            per.setdefault(series[r], []).append((t, v))
    return out


def flatten(
    by_seg: dict[int, dict[Labels, list[tuple[int, float]]]], upto_ms: int, from_seg: int = 0
) -> dict[Labels, list[tuple[int, float]]]:
    out: dict[Labels, list[tuple[int, float]]] = {}
    for seg in sorted(by_seg):
        if seg >= from_seg:
            for ls, pts in by_seg[seg].items():
                keep = [p for p in pts if p[0] <= upto_ms]
                if keep:
                    out.setdefault(ls, []).extend(keep)
    return out


def remote_metric(p: PromhubProcess | str, name: str) -> float:
    """Sum of a metric's samples on a /metrics page (promhub's or Prometheus')."""
    text = http_get((p if isinstance(p, str) else p.url) + "/metrics")[1]
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((name + " ", name + "{"))
    )


def test_agent_forwards_every_wal_sample_to_prometheus_across_outage_and_restart(
    promhub_factory: type[PromhubProcess],
    tmp_path: Path,
    moving_exporter: tuple[str, _Moving],
) -> None:
    address, exporter_state = moving_exporter
    receiver = PrometheusReceiver(tmp_path)
    receiver.start()
    try:
        cfg = tmp_path / "agent.yml"
        remote = {"url": receiver.write_url, "name": "prom", "queue_config": FAST}
        cfg.write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
            "scrape_configs:\n  - job_name: app\n"
            f"    static_configs: [{{targets: ['{address}']}}]\n"
            f"remote_write:\n  - {json.dumps(remote)}\n"
        )
        agent_dir = tmp_path / "agent-data"
        wal = agent_dir / "wal"
        args = ("--agent", f"--storage.agent.path={agent_dir}")
        p = promhub_factory(tmp_path / "data", cfg, *args)
        p.wait_ready()
        wait_for(lambda: receiver.samples('{job="app"}', time.time()), 20)

        # The receiver goes away for a while; the agent keeps scraping into its WAL.
        receiver.stop()
        n = exporter_state.n
        wait_for(lambda: exporter_state.n >= n + 3, 20)
        wait_for(lambda: remote_metric(p, "prometheus_remote_storage_samples_retried_total") > 0)
        receiver.start()  # same port and data: the backlog arrives
        wait_for(lambda: remote_metric(p, "prometheus_remote_storage_samples_pending") == 0, 20)

        # A clean restart: the first agent sent everything and saved where it was.
        first_segs = list_segments(wal)
        assert p.stop() == 0
        (saved,) = (agent_dir / "remote_write").glob("*.json")
        pos = json.loads(saved.read_text())
        assert (pos["segment"], pos["offset"]) == (
            first_segs[-1],
            (wal / f"{first_segs[-1]:08d}").stat().st_size,
        )
        p2 = promhub_factory(tmp_path / "data", cfg, *args)
        p2.wait_ready()
        n = exporter_state.n
        wait_for(lambda: exporter_state.n >= n + 3, 20)
        cut = time.time() - 1.5  # every scrape started before this is in the WAL

        want = flatten(wal_points(wal), int(cut * 1000))
        names = {ls.name for ls in want}
        assert {"agent_e2e_requests_total", "agent_e2e_temperature", "up"} <= names
        assert all(len(v) >= 5 for ls, v in want.items() if ls.name == "up")
        # Series by series, sample by sample, what the agent logged is what Prometheus has.
        wait_for(lambda: receiver.samples('{job="app"}', cut) == want, 30)

        # Nothing was sent twice: the second agent never sent more than its own segments
        # hold (read in this order, so a resent scrape of the first agent would show),
        # and Prometheus refused nothing (an older duplicate is an out-of-order 400).
        sent = remote_metric(p2, "prometheus_remote_storage_samples_total")
        later = sum(
            len(v)
            for seg, per in wal_points(wal).items()
            if seg > first_segs[-1]
            for v in per.values()
        )
        assert 0 < sent <= later
        assert remote_metric(p2, "prometheus_remote_storage_samples_failed_total") == 0
        assert remote_metric(p2, "prometheus_remote_storage_samples_dropped_total") == 0
        refused = [
            line
            for line in http_get(receiver.url + "/metrics")[1].splitlines()
            if line.startswith("prometheus_http_requests_total")
            and 'handler="/api/v1/write"' in line
            and 'code="2' not in line
        ]
        assert all(float(line.rsplit(" ", 1)[1]) == 0 for line in refused), refused
    finally:
        receiver.stop()
