"""``promhub serve --agent``: scraping into a WAL-only storage, no local querying."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from promhub.config.loader import load_config_text
from promhub.model.labels import Labels
from promhub.storage.remote import WriteStorage
from promhub.tsdb.agent import AgentStorage
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
from tests.storage.conftest import CaptureServer, PrometheusReceiver, merge


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


def samples_after(wal: Path, segment: int, offset: int) -> int:
    """How many samples (stale markers too) the WAL holds after a queue's position."""
    n = 0
    for seg in list_segments(wal):
        if seg >= segment:
            with contextlib.suppress(WALCorruptionError):
                data = (wal / f"{seg:08d}").read_bytes()
                for end, rec in read_records(data, RecordCodec()):
                    if isinstance(rec, SamplesRecord) and (seg > segment or end > offset):
                        n += len(rec.refs)
    return n


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
        # (the scrapes' last records, e.g. stale markers written while stopping, may be
        # left for the next run)
        assert pos["segment"] == first_segs[-1]
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
        assert 0 < sent <= samples_after(wal, pos["segment"], pos["offset"])
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


# -- WAL truncation keeps what the remote_write queue still needs ---------------------------


def _append(agent: AgentStorage, t: int, n: int = 5) -> None:
    a = agent.appender()
    refs = np.array([a.ref(Labels.from_dict({"__name__": "m", "i": str(i)})) for i in range(n)])
    a.append(refs.astype(np.int64), np.array([t], np.int64), np.full(n, t / 1000))
    a.commit()


async def _until(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        assert asyncio.get_running_loop().time() < deadline, "condition not met"
        await asyncio.sleep(0.05)


def truncate(agent: AgentStorage, rw: WriteStorage) -> int | None:
    """What the server does every maintenance interval; then checks that the position a
    queue would resume from after a crash (its saved one) is still in the WAL."""
    deleted = agent.maintain(0, rw.lowest_needed_segment())
    for q in rw.queues:
        if q.progress_path.exists():
            seg = json.loads(q.progress_path.read_text())["segment"]
            assert seg in list_segments(agent.wal.dir), (seg, list_segments(agent.wal.dir))
    return deleted


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    cap = CaptureServer()
    yield cap
    cap.close()


def test_agent_truncation_keeps_unsent_segments_and_resumes_from_its_checkpoint(
    tmp_path: Path, capture: CaptureServer
) -> None:
    cap = capture
    data = tmp_path / "agent"
    wal = data / "wal"
    cfg = load_config_text(
        f"remote_write:\n  - {{url: '{cap.url}', name: r, queue_config: "
        "{batch_send_deadline: 100ms, min_backoff: 10ms, max_backoff: 50ms}}\n"
    )
    m0 = Labels.from_dict({"__name__": "m", "i": "0"})

    def sent_m0() -> list[int]:
        return merge(cap.accepted()).get(m0, [])

    async def first_run(agent: AgentStorage) -> None:
        rw = WriteStorage(wal, data, CollectorRegistry())
        runner = asyncio.create_task(rw.run())
        rw.apply_config(cfg)
        await _until(lambda: rw.lowest_needed_segment() is not None)
        for t in range(1, 30):
            _append(agent, t * 1000)
        assert len(list_segments(wal)) > 3  # tiny segments: the series' are long gone
        await _until(lambda: len(sent_m0()) == 29)
        await _until(lambda: rw.lowest_needed_segment() == agent.wal.segment)
        # All sent: truncation closes the segment (the queue is at its end), deletes every
        # older one and checkpoints.
        last = agent.wal.segment
        assert truncate(agent, rw) == last - 1
        assert list_segments(wal) == [last, last + 1] and agent.wal.segment == last + 1
        cp = last_checkpoint(wal)
        assert cp is not None and cp[0] == last - 1

        # The receiver goes down: what it has not got stays, however often we truncate.
        cap.down = True
        first_unsent = agent.wal.segment
        for t in range(30, 70):
            _append(agent, t * 1000)
        await asyncio.sleep(0.3)
        for _ in range(3):
            truncate(agent, rw)
        kept = list_segments(wal)
        assert kept == list(range(kept[0], agent.wal.segment + 1))
        assert kept[0] <= first_unsent and len(kept) > 4
        # Stopping with the receiver still down: the backlog waits in the WAL.
        await rw.stop()
        await runner

    async def second_run(agent: AgentStorage) -> None:
        rw = WriteStorage(wal, data, CollectorRegistry())
        runner = asyncio.create_task(rw.run())
        rw.apply_config(cfg)
        for t in range(70, 80):
            _append(agent, t * 1000)
        await _until(lambda: len(sent_m0()) == 79)
        await _until(lambda: rw.lowest_needed_segment() == agent.wal.segment)
        last = agent.wal.segment
        truncate(agent, rw)
        assert list_segments(wal) == [last, last + 1]
        await rw.stop()
        await runner

    agent = AgentStorage.open(data, segment_size=512)
    asyncio.run(first_run(agent))
    agent.close()
    # A restart: the agent's series, and the queue's, come back from the checkpoint (their
    # SERIES records were in deleted segments); the backlog goes out once it is back.
    cap.down = False
    agent = AgentStorage.open(data, segment_size=512)
    assert agent.num_series() == 5
    asyncio.run(second_run(agent))
    agent.close()
    # Every sample of every series arrived exactly once, in order.
    got = merge(cap.accepted())
    assert set(got) == {Labels.from_dict({"__name__": "m", "i": str(i)}) for i in range(5)}
    for ts in got.values():
        assert ts == [t * 1000 for t in range(1, 80)]
