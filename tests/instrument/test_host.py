"""The host collector against the real prometheus-node-exporter on the same machine."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from promhub.instrument.host import HostCollector, host_registry

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"

# What a host-overview dashboard (e.g. Grafana's "Node Exporter Full") queries first.
DASHBOARD_CORE = {
    "node_cpu_seconds",
    "node_load1",
    "node_load5",
    "node_load15",
    "node_memory_MemTotal_bytes",
    "node_memory_MemAvailable_bytes",
    "node_memory_MemFree_bytes",
    "node_memory_Buffers_bytes",
    "node_memory_Cached_bytes",
    "node_memory_SwapTotal_bytes",
    "node_memory_SwapFree_bytes",
    "node_filesystem_size_bytes",
    "node_filesystem_avail_bytes",
    "node_filesystem_free_bytes",
    "node_filesystem_readonly",
    "node_disk_reads_completed",
    "node_disk_writes_completed",
    "node_disk_read_bytes",
    "node_disk_written_bytes",
    "node_disk_io_time_seconds",
    "node_network_receive_bytes",
    "node_network_transmit_bytes",
    "node_network_receive_errs",
    "node_network_transmit_drop",
    "node_network_up",
    "node_boot_time_seconds",
    "node_time_seconds",
    "node_uname_info",
    "node_context_switches",
    "node_intr",
    "node_forks",
    "node_procs_running",
    "node_procs_blocked",
}


def families(text: str) -> dict[str, Metric]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def label_names(f: Metric) -> set[str]:
    return {k for s in f.samples for k in s.labels}


def label_sets(f: Metric, *names: str) -> set[tuple[str, ...]]:
    return {tuple(s.labels[n] for n in names) for s in f.samples}


def value(f: Metric, **labels: str) -> float:
    (v,) = [s.value for s in f.samples if all(s.labels.get(k) == x for k, x in labels.items())]
    return float(v)


@pytest.fixture(scope="module")
def node_exporter() -> Iterator[dict[str, Metric]]:
    if not os.access(NODE_EXPORTER, os.X_OK):
        pytest.skip(f"{NODE_EXPORTER} is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    body = r.read().decode()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield families(body)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def ours() -> dict[str, Metric]:
    return families(generate_latest(host_registry()).decode())


def test_every_family_matches_node_exporter(
    ours: dict[str, Metric], node_exporter: dict[str, Metric]
) -> None:
    ne = node_exporter
    assert all(name.startswith("node_") for name in ours)
    shared = set(ours) & set(ne)
    # Everything we expose is something node_exporter exposes here too.
    assert sorted(set(ours) - set(ne)) == []
    for name in sorted(shared):
        assert (name, ours[name].type) == (name, ne[name].type)
        assert (name, ours[name].documentation) == (name, ne[name].documentation)
        if ours[name].samples and ne[name].samples:
            assert (name, label_names(ours[name])) == (name, label_names(ne[name]))


def test_dashboard_core_is_present(ours: dict[str, Metric]) -> None:
    assert sorted(DASHBOARD_CORE - set(ours)) == []
    for name in DASHBOARD_CORE - {"node_filesystem_readonly"}:
        assert ours[name].samples, name


def test_devices_and_cpus_match(ours: dict[str, Metric], node_exporter: dict[str, Metric]) -> None:
    ne = node_exporter
    for name, labels in [
        ("node_cpu_seconds", ("cpu", "mode")),
        ("node_cpu_guest_seconds", ("cpu", "mode")),
        ("node_network_receive_bytes", ("device",)),
        ("node_network_transmit_packets", ("device",)),
        ("node_network_up", ("device",)),
        ("node_network_info", ("device", "address", "operstate")),
        ("node_disk_io_time_seconds", ("device",)),
        ("node_filesystem_size_bytes", ("device", "fstype", "mountpoint")),
        ("node_filesystem_readonly", ("device", "fstype", "mountpoint")),
        ("node_uname_info", ("sysname", "release", "version", "machine", "nodename")),
    ]:
        assert (name, label_sets(ours[name], *labels)) == (name, label_sets(ne[name], *labels))


def test_slow_gauges_agree(ours: dict[str, Metric], node_exporter: dict[str, Metric]) -> None:
    ne = node_exporter
    for name in ["node_memory_MemTotal_bytes", "node_memory_SwapTotal_bytes"]:
        assert value(ours[name]) == value(ne[name]), name
    assert abs(value(ours["node_boot_time_seconds"]) - value(ne["node_boot_time_seconds"])) <= 1
    # Both clocks were read within the test run, not at the same instant.
    assert abs(value(ours["node_time_seconds"]) - value(ne["node_time_seconds"])) < 600
    for s in ne["node_filesystem_size_bytes"].samples:
        assert value(ours["node_filesystem_size_bytes"], **s.labels) == s.value, s.labels
    for s in ne["node_filesystem_files"].samples:
        assert value(ours["node_filesystem_files"], **s.labels) == s.value, s.labels


def test_counters_only_grow_between_collects() -> None:
    collector = HostCollector()
    first = {f.name: f for f in collector.collect()}
    time.sleep(0.05)
    second = {f.name: f for f in collector.collect()}
    for name in ("node_cpu_seconds", "node_context_switches", "node_intr"):
        before = {tuple(sorted(s.labels.items())): s.value for s in first[name].samples}
        for s in second[name].samples:
            assert s.value >= before[tuple(sorted(s.labels.items()))], (name, s.labels)


def test_unreadable_areas_are_skipped_not_fatal(tmp_path: Path) -> None:
    # An empty procfs (e.g. a container without /proc mounted) yields what it can.
    names = {f.name for f in HostCollector(proc=str(tmp_path), sys=str(tmp_path)).collect()}
    assert "node_time_seconds" in names
    assert "node_cpu_seconds" not in names
