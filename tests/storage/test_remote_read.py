"""remote_read against a real Debian Prometheus, in both directions.

A Prometheus holds data promhub does not (backfilled with ``promtool tsdb
create-blocks-from openmetrics``); promhub, backfilled with its own part, answers
``/api/v1/query`` and ``query_range`` with both merged. Then the other way round: a
Prometheus with ``remote_read`` pointed at promhub's ``/api/v1/read`` sees promhub's data.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cramjam
import pytest

from tests.conftest import PromhubProcess, free_port, http_get, http_post, run_promhub, wait_for

pytestmark = pytest.mark.skipif(
    not shutil.which("prometheus") or not shutil.which("promtool"),
    reason="Debian prometheus/promtool not installed",
)

# One hour of data at 60 s, starting three hours ago (aligned to the hour so blocks line up).
T0 = (int(time.time()) // 3600 - 3) * 3600
HALF = T0 + 1800
END = T0 + 3600
STEP = 60


def _om(lines: list[str]) -> str:
    return "\n".join(lines) + "\n# EOF\n"


def remote_data() -> str:
    """What only Prometheus holds: ``remote_only`` and the first half of ``shared``, plus
    ``shared`` at three timestamps local storage also has (with other values)."""
    out = ["# TYPE remote_only gauge"]
    out += [f'remote_only{{job="old"}} {t - T0} {t}' for t in range(T0, END + 1, STEP)]
    out.append("# TYPE shared gauge")
    out += [f"shared {1000 + t - T0} {t}" for t in range(T0, HALF + 3 * STEP, STEP)]
    return _om(out)


def local_data() -> str:
    out = ["# TYPE local_only gauge"]
    out += [f"local_only {t - T0} {t}" for t in range(HALF, END + 1, STEP)]
    out.append("# TYPE shared gauge")
    out += [f"shared {t - T0} {t}" for t in range(HALF, END + 1, STEP)]
    return _om(out)


class Prometheus:
    """A real ``prometheus`` on a free port with its own data directory."""

    def __init__(self, workdir: Path, config: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = workdir / "prometheus.yml"
        cfg.write_text(config)
        self.log = workdir / "prometheus.log"
        self._log = open(self.log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={cfg}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=30d",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited:\n{self.log.read_text()}")
            try:
                return http_get(self.url + "/-/ready", timeout=1)[0] == 200
            except OSError:
                return False

        wait_for(ready, 30)

    def query(self, expr: str, t: int) -> list[dict[str, Any]]:
        q = urllib.parse.urlencode({"query": expr, "time": t})
        status, body = http_get(f"{self.url}/api/v1/query?{q}")
        assert status == 200, body
        result: list[dict[str, Any]] = json.loads(body)["data"]["result"]
        return result

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._log.close()


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """Prometheus holding the remote half, with external label ``site="a"``."""
    work = tmp_path_factory.mktemp("prom")
    om = work / "remote.om"
    om.write_text(remote_data())
    r = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(om), str(work / "data")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    p = Prometheus(work, "global:\n  external_labels: {site: a}\n")
    yield p
    p.stop()


@pytest.fixture(scope="module")
def local_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A promhub data directory holding the local half (copied per test)."""
    work = tmp_path_factory.mktemp("local")
    om = work / "local.om"
    om.write_text(local_data())
    r = run_promhub("tsdb", "create-blocks-from", "openmetrics", str(om), str(work / "data"))
    assert r.returncode == 0, r.stderr
    return work / "data"


def start_promhub(
    factory: type[PromhubProcess], tmp: Path, local_dir: Path, config: str, *extra: str
) -> PromhubProcess:
    data = tmp / "data"
    shutil.copytree(local_dir, data)
    cfg = tmp / "promhub.yml"
    cfg.write_text(config)
    p = factory(data, cfg, *extra)
    p.wait_ready()
    return p


def api(p: PromhubProcess, path: str, **params: object) -> dict[str, Any]:
    status, body = p.get(f"{path}?{urllib.parse.urlencode(params)}")
    assert status == 200, body
    doc: dict[str, Any] = json.loads(body)
    return doc


def by_name(result: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["metric"].get("__name__", ""): r for r in result}


def test_query_range_merges_local_and_remote(
    promhub_factory: type[PromhubProcess], tmp_path: Path, local_dir: Path, remote: Prometheus
) -> None:
    cfg = f"""
global:
  external_labels: {{site: a}}
remote_read:
  - url: {remote.url}/api/v1/read
    name: prom
    read_recent: true
"""
    p = start_promhub(promhub_factory, tmp_path, local_dir, cfg)
    doc = api(
        p,
        "/api/v1/query_range",
        query='{__name__=~"shared|remote_only|local_only"}',
        start=T0,
        end=END,
        step=STEP,
    )
    assert "warnings" not in doc
    series = by_name(doc["data"]["result"])
    assert sorted(series) == ["local_only", "remote_only", "shared"]
    # The external label Prometheus adds is stripped, so both halves are one series.
    assert series["shared"]["metric"] == {"__name__": "shared"}
    assert series["remote_only"]["metric"] == {"__name__": "remote_only", "job": "old"}
    shared = {int(t): float(v) for t, v in series["shared"]["values"]}
    assert sorted(shared) == list(range(T0, END + 1, STEP))
    assert shared[T0] == 1000  # remote
    assert shared[HALF - STEP] == 1000 + HALF - STEP - T0  # remote
    # Where both have a sample, local storage wins.
    for t in (HALF, HALF + STEP, HALF + 2 * STEP):
        assert shared[t] == t - T0
    assert len(series["remote_only"]["values"]) == 61

    # Instant queries and functions over the merged data.
    doc = api(p, "/api/v1/query", query="count_over_time(shared[1h])", time=END)
    assert [float(r["value"][1]) for r in doc["data"]["result"]] == [60.0]
    doc = api(p, "/api/v1/query", query="remote_only", time=END)
    assert float(doc["data"]["result"][0]["value"][1]) == 3600.0
    # Federation and the label APIs stay local, as in Prometheus.
    doc = api(p, "/api/v1/label/__name__/values")
    assert "remote_only" not in doc["data"]
    # remote_read metrics as Prometheus names them.
    _, metrics = p.get("/metrics")
    assert 'prometheus_remote_storage_remote_read_queries_total{code="200"' in metrics


def test_read_recent_and_required_matchers(
    promhub_factory: type[PromhubProcess], tmp_path: Path, local_dir: Path, remote: Prometheus
) -> None:
    cfg = f"""
global:
  external_labels: {{site: a}}
remote_read:
  - url: {remote.url}/api/v1/read
"""
    p = start_promhub(promhub_factory, tmp_path, local_dir, cfg, "--web.enable-lifecycle")
    # read_recent: false (the default): local storage starts at HALF, so the remote is
    # asked only for older data, and not at all for a range local storage covers.
    old = api(p, "/api/v1/query", query="remote_only", time=HALF - 600)
    assert float(old["data"]["result"][0]["value"][1]) == HALF - 600 - T0
    recent = api(p, "/api/v1/query", query="remote_only", time=END)
    assert recent["data"]["result"] == []
    rng = api(p, "/api/v1/query_range", query="shared", start=T0, end=END, step=STEP)
    shared = {int(t): float(v) for t, v in rng["data"]["result"][0]["values"]}
    assert sorted(shared) == list(range(T0, END + 1, STEP))
    assert shared[HALF + STEP] == HALF + STEP - T0

    # required_matchers: only selectors naming job="old" reach the remote (hot reload).
    (tmp_path / "promhub.yml").write_text(
        cfg + "    read_recent: true\n    required_matchers: {job: old}\n"
    )
    assert http_post(p.url + "/-/reload")[0] == 200
    doc = api(p, "/api/v1/query", query="remote_only", time=END)
    assert doc["data"]["result"] == []
    doc = api(p, "/api/v1/query", query='remote_only{job="old"}', time=END)
    assert float(doc["data"]["result"][0]["value"][1]) == 3600.0


def test_remote_down_is_a_warning_and_local_data_is_served(
    promhub_factory: type[PromhubProcess], tmp_path: Path, local_dir: Path
) -> None:
    dead = free_port()
    cfg = f"""
remote_read:
  - url: http://127.0.0.1:{dead}/api/v1/read
    name: gone
    read_recent: true
    remote_timeout: 5s
"""
    p = start_promhub(promhub_factory, tmp_path, local_dir, cfg)
    doc = api(p, "/api/v1/query", query="local_only", time=END)
    assert float(doc["data"]["result"][0]["value"][1]) == 3600.0
    assert len(doc["warnings"]) == 1
    assert doc["warnings"][0].startswith("remote_read gone: error sending request")
    _, metrics = p.get("/metrics")
    assert 'prometheus_remote_storage_remote_read_queries_total{code="error"' in metrics


def test_bad_remote_read_config_names_the_field(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yml"
    cfg.write_text(
        "remote_read:\n  - url: http://x/api/v1/read\n"
        "    headers: {X-Prometheus-Remote-Read-Version: '9'}\n"
    )
    r = run_promhub("check", "config", str(cfg))
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "bad.yml:3: field remote_read[0].headers:" in out
    assert "reserved header" in out


def test_prometheus_reads_from_promhub(
    promhub_factory: type[PromhubProcess], tmp_path: Path, local_dir: Path
) -> None:
    cfg = "global:\n  external_labels: {region: eu}\n"
    p = start_promhub(promhub_factory, tmp_path, local_dir, cfg)
    prom = Prometheus(
        tmp_path / "reader",
        f"remote_read:\n  - url: {p.url}/api/v1/read\n    read_recent: true\n",
    )
    try:
        res = prom.query("local_only", END)
        # promhub adds its external labels to what it serves, as Prometheus does.
        assert [r["metric"] for r in res] == [{"__name__": "local_only", "region": "eu"}]
        assert float(res[0]["value"][1]) == 3600.0
        res = prom.query("max_over_time(shared[10m])", END)
        assert float(res[0]["value"][1]) == 3600.0
        # An equality matcher on the external label is answered from unlabelled data.
        assert prom.query('local_only{region="eu"}', END) != []
        assert prom.query('local_only{region="us"}', END) == []
    finally:
        prom.stop()
    # Bad input is a 400 naming the problem; the server keeps serving.
    status, body = http_post(p.url + "/api/v1/read", b"not snappy at all")
    assert status == 400 and "snappy" in body
    bad_proto = cramjam.snappy.compress_raw(b"\x0a\x05\x08")  # a field longer than the body
    status, body = http_post(p.url + "/api/v1/read", bytes(bad_proto))
    assert status == 400 and "malformed protobuf" in body
    assert p.get("/-/ready")[0] == 200
