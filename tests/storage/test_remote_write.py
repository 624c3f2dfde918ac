"""remote_write end to end: promhub scrapes a target and ships the samples to a real
Prometheus (``--web.enable-remote-write-receiver``) or to a capturing server."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from pathlib import Path

from promhub.model.labels import Labels
from promhub.storage.remote.codec import decode_metadata, decode_write_request, decompress
from tests.conftest import PromhubProcess, wait_for
from tests.storage.conftest import (
    CaptureServer,
    PrometheusReceiver,
    merge,
    query_samples,
    write_config,
)
from tests.targets import MetricsTarget

FAST = {"batch_send_deadline": "200ms", "min_backoff": "50ms", "max_backoff": "200ms"}


def body(n: int) -> str:
    return (
        "# TYPE reqs_total counter\n"
        f'reqs_total{{code="200"}} {n * 3}\nreqs_total{{code="500"}} {n}\n'
        f"# TYPE temp gauge\ntemp {20 + (n % 7) * 0.1}\n"
    )


def metric(ph: PromhubProcess, name: str, **labels: str) -> float:
    text = ph.get("/metrics")[1]
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def local(ph: PromhubProcess, at: float) -> dict[Labels, list[tuple[int, float]]]:
    return query_samples(ph.url, '{job="t"}', at)


def with_labels(
    d: dict[Labels, list[tuple[int, float]]], **extra: str
) -> dict[Labels, list[tuple[int, float]]]:
    return {Labels.from_dict({**ls.to_dict(), **extra}): v for ls, v in d.items()}


def start(
    factory: type[PromhubProcess], tmp_path: Path, target: MetricsTarget, remote: dict, **kw: str
) -> PromhubProcess:
    cfg = write_config(tmp_path / "promhub.yml", target.address, remote, **kw)
    ph = factory(None, cfg)
    ph.wait_ready()
    return ph


def test_every_scraped_sample_reaches_prometheus_with_external_labels(
    promhub_factory: type[PromhubProcess], receiver: PrometheusReceiver, tmp_path: Path
) -> None:
    target = MetricsTarget(body)
    remote = {"url": receiver.write_url, "name": "prom", "queue_config": FAST}
    ph = start(
        promhub_factory, tmp_path, target, remote, extra_global="  external_labels: {site: a}\n"
    )
    wait_for(lambda: len(target.served) >= 4, 20)
    cut = time.time() - 1.5  # every scrape that started before this is committed
    want = with_labels(local(ph, cut), site="a")
    assert {ls.name for ls in want} >= {"reqs_total", "temp", "up", "scrape_duration_seconds"}
    assert all(len(v) >= 2 for v in want.values())
    wait_for(lambda: receiver.samples('{job="t"}', cut) == want, 20)

    # Prometheus' metric names and labels for the queue.
    q = {"remote_name": "prom", "url": receiver.write_url}
    assert metric(ph, "prometheus_remote_storage_samples_total", **q) >= sum(
        len(v) for v in want.values()
    )
    assert metric(ph, "prometheus_remote_storage_samples_failed_total", **q) == 0
    assert metric(ph, "prometheus_remote_storage_bytes_total", **q) > 0
    assert metric(ph, "prometheus_remote_storage_shards", **q) == 1
    assert metric(ph, "prometheus_remote_storage_shards_max", **q) == 50
    assert metric(ph, "prometheus_remote_storage_queue_highest_sent_timestamp_seconds", **q) > cut
    assert metric(ph, "prometheus_remote_storage_highest_timestamp_in_seconds") > cut
    assert metric(ph, "prometheus_remote_storage_samples_in_total") > 0
    assert metric(ph, "prometheus_remote_storage_sent_batch_duration_seconds_count", **q) > 0
    text = ph.get("/metrics")[1]
    for name in ("samples_pending", "samples_retried_total", "samples_dropped_total"):
        assert f"prometheus_remote_storage_{name}{{" in text
    target.close()


def test_receiver_outage_loses_nothing(
    promhub_factory: type[PromhubProcess], receiver: PrometheusReceiver, tmp_path: Path
) -> None:
    target = MetricsTarget(body)
    remote = {"url": receiver.write_url, "name": "prom", "queue_config": FAST}
    ph = start(promhub_factory, tmp_path, target, remote)
    wait_for(lambda: receiver.samples("reqs_total", time.time()), 20)
    receiver.stop()
    served = len(target.served)
    wait_for(lambda: len(target.served) >= served + 3, 20)  # promhub keeps scraping
    q = {"remote_name": "prom", "url": receiver.write_url}
    wait_for(lambda: metric(ph, "prometheus_remote_storage_samples_retried_total", **q) > 0)
    receiver.start()  # same data dir and port: the backlog arrives
    cut = time.time() - 1.5
    want = local(ph, cut)
    assert sum(len(v) for v in want.values()) > 0
    wait_for(lambda: receiver.samples('{job="t"}', cut) == want, 30)
    assert metric(ph, "prometheus_remote_storage_samples_failed_total", **q) == 0
    target.close()


def test_promhub_restart_resumes_without_loss_or_duplicates(
    promhub_factory: type[PromhubProcess],
    capture_factory: Callable[..., CaptureServer],
    tmp_path: Path,
) -> None:
    target = MetricsTarget(body)
    cap = capture_factory()
    remote = {"url": cap.url, "name": "cap", "queue_config": FAST}
    ph = start(promhub_factory, tmp_path, target, remote)
    wait_for(lambda: len(cap.accepted()) >= 6, 20)
    # The remote end fails while promhub stops: what it could not flush stays in the WAL.
    cap.down = True
    served = len(target.served)
    wait_for(lambda: len(target.served) >= served + 2, 20)
    assert ph.stop() == 0
    cap.down = False
    ph2 = promhub_factory(ph.data_dir, tmp_path / "promhub.yml")
    ph2.wait_ready()
    served = len(target.served)
    wait_for(lambda: len(target.served) >= served + 3, 20)
    cut = time.time() - 1.5
    want = {ls: [t for t, _ in v] for ls, v in local(ph2, cut).items()}

    def got() -> dict[Labels, list[int]]:
        return {ls: [t for t in ts if t <= cut * 1000] for ls, ts in merge(cap.accepted()).items()}

    wait_for(lambda: got() == want, 20)  # every sample once: none lost, none repeated
    assert any(status == 503 for _, _, status in cap.requests)
    target.close()


def test_5xx_is_retried_and_4xx_and_429_are_dropped(
    promhub_factory: type[PromhubProcess],
    capture_factory: Callable[..., CaptureServer],
    tmp_path: Path,
) -> None:
    target = MetricsTarget(body)
    cap = capture_factory([400, 429, 500, 503])
    remote = {"url": cap.url, "name": "cap", "queue_config": FAST}
    ph = start(promhub_factory, tmp_path, target, remote)
    wait_for(lambda: len(cap.requests) >= 6, 20)
    bodies = [b for _, b, _ in cap.requests]
    # 400 and 429 (retry_on_http_429 is off by default, as in Prometheus 2.42) are never
    # sent again; the 5xx batch is sent until accepted.
    assert [s for _, _, s in cap.requests[:5]] == [400, 429, 500, 503, 204]
    assert bodies[2] == bodies[3] == bodies[4]
    assert bodies[0] not in bodies[1:] and bodies[1] not in bodies[2:]
    q = {"remote_name": "cap", "url": cap.url}
    n = [sum(len(p) for _, p in decode_write_request(decompress(b))) for b in bodies[:3]]
    assert metric(ph, "prometheus_remote_storage_samples_failed_total", **q) == n[0] + n[1]
    assert metric(ph, "prometheus_remote_storage_samples_retried_total", **q) == 2 * n[2]
    target.close()


def test_headers_basic_auth_and_write_relabel_configs(
    promhub_factory: type[PromhubProcess],
    capture_factory: Callable[..., CaptureServer],
    tmp_path: Path,
) -> None:
    target = MetricsTarget(body)
    cap = capture_factory()
    remote = {
        "url": cap.url,
        "name": "cap",
        "queue_config": FAST,
        "headers": {"X-Scope-OrgID": "tenant-1"},
        "basic_auth": {"username": "alice", "password": "s3cret"},
        "write_relabel_configs": [
            {"source_labels": ["__name__"], "regex": "scrape_.*", "action": "drop"},
            {"source_labels": ["__name__"], "regex": "reqs_total|up", "action": "keep"},
            {"source_labels": ["code"], "regex": "500", "action": "drop"},
        ],
    }
    ph = start(promhub_factory, tmp_path, target, remote)
    wait_for(lambda: len(cap.accepted()) >= 4, 20)
    headers = {k.lower(): v for k, v in cap.requests[0][0].items()}
    assert headers["authorization"] == "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert headers["x-scope-orgid"] == "tenant-1"
    assert headers["content-encoding"] == "snappy"
    assert headers["content-type"] == "application/x-protobuf"
    assert headers["x-prometheus-remote-write-version"] == "0.1.0"
    assert re.match(r"promhub/", headers["user-agent"])
    names = {str(ls) for ls, _ in cap.accepted()}
    inst = target.address
    assert names == {f'reqs_total{{code="200", instance="{inst}", job="t"}}',
                     f'up{{instance="{inst}", job="t"}}'}  # fmt: skip
    q = {"remote_name": "cap", "url": cap.url}
    assert metric(ph, "prometheus_remote_storage_samples_dropped_total", **q) > 0
    target.close()


def test_metric_metadata_is_sent(
    promhub_factory: type[PromhubProcess],
    capture_factory: Callable[..., CaptureServer],
    tmp_path: Path,
) -> None:
    target = MetricsTarget(lambda n: "# HELP temp Room temperature.\n" + body(n))
    cap = capture_factory()
    remote = {"url": cap.url, "name": "cap", "queue_config": FAST,
              "metadata_config": {"send_interval": "1s"}}  # fmt: skip
    ph = start(promhub_factory, tmp_path, target, remote)

    def metadata() -> set[tuple[str, str, str, str]]:
        return {
            e for _, b, s in list(cap.requests) if s < 300 for e in decode_metadata(decompress(b))
        }

    wait_for(lambda: {"reqs_total", "temp"} <= {e[0] for e in metadata()}, 20)
    got = {e[0]: e for e in metadata()}
    assert got["temp"] == ("temp", "gauge", "Room temperature.", "")
    assert got["reqs_total"][1] == "counter"
    q = {"remote_name": "cap", "url": cap.url}
    assert metric(ph, "prometheus_remote_storage_metadata_total", **q) >= 2
    target.close()
