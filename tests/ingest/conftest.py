"""Fixtures for push ingestion: a real promhub and a real Pushgateway on loopback."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PromhubProcess, free_port, http_get, wait_for

PUSHGATEWAY = "/usr/bin/prometheus-pushgateway"

#: Writes pushed groups into the TSDB every second, so tests see them quickly.
FAST_CONFIG = """\
global:
  scrape_interval: 1s
pushgateway:
  series_limit: 5000
  body_size_limit: 200KB
"""


def request(
    url: str, method: str = "GET", body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, str]:
    req = urllib.request.Request(
        url, data=body if method in ("PUT", "POST") else None, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def groups(base: str) -> list[dict[str, Any]]:
    status, text = http_get(base + "/api/v1/metrics")
    assert status == 200, text
    data: list[dict[str, Any]] = json.loads(text)["data"]
    return data


def group(base: str, **labels: str) -> dict[str, Any] | None:
    for g in groups(base):
        if g["labels"] == labels:
            return g
    return None


def query(base: str, q: str) -> list[dict[str, Any]]:
    status, text = http_get(base + "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
    assert status == 200, text
    result: list[dict[str, Any]] = json.loads(text)["data"]["result"]
    return result


def start_promhub(data_dir: Path, config_text: str = FAST_CONFIG, *extra: str) -> PromhubProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    cfg = data_dir.parent / f"{data_dir.name}.yml"
    cfg.write_text(config_text)
    p = PromhubProcess(data_dir, cfg, "--web.enable-admin-api", *extra)
    p.wait_ready()
    return p


@pytest.fixture(scope="module")
def promhub_push(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromhubProcess]:
    """One promhub for a module's tests; tests use their own job names."""
    p = start_promhub(tmp_path_factory.mktemp("push") / "data")
    yield p
    p.stop()


class Pushgateway:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "pushgateway.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                PUSHGATEWAY,
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--persistence.file={workdir / 'pushgateway.data'}",
                "--web.enable-admin-api",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

        def up() -> bool:
            try:
                return http_get(self.url + "/-/ready", timeout=1)[0] == 200
            except OSError:
                return False

        wait_for(up, 15)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushgateway]:
    pg = Pushgateway(tmp_path_factory.mktemp("pushgateway"))
    yield pg
    pg.stop()
