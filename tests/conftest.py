"""Shared fixtures: real promhub server processes and real peers on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def http_post(url: str, data: bytes = b"", timeout: float = 10.0) -> tuple[int, str]:
    req = urllib.request.Request(url, data=data, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(pred, timeout: float = 20.0, interval: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


class PromhubProcess:
    """A real ``promhub serve`` subprocess on a free loopback port."""

    def __init__(
        self, data_dir: Path, config: Path | None = None, *extra: str, port: int | None = None
    ) -> None:
        # ``port``: for configs that must name the server's own address before it starts.
        self.port = port or free_port()
        self.data_dir = data_dir
        self.url = f"http://127.0.0.1:{self.port}"
        args = [
            sys.executable,
            "-m",
            "promhub",
            "serve",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--storage.tsdb.path={data_dir}",
            *extra,
        ]
        if config is not None:
            args.append(f"--config.file={config}")
        self.log_path = data_dir.parent / f"promhub-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ok() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"promhub exited {self.proc.returncode}:\n{self.log()}")
            try:
                return http_get(self.url + "/-/ready", timeout=1)[0] == 200
            except OSError:
                return False

        wait_for(ok, timeout)

    def get(self, path: str) -> tuple[int, str]:
        return http_get(self.url + path)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode


@pytest.fixture
def promhub_factory(tmp_path: Path) -> Iterator[type[PromhubProcess]]:
    started: list[PromhubProcess] = []

    class Factory(PromhubProcess):
        def __init__(
            self, data_dir: Path | None = None, config: Path | None = None, *extra: str
        ) -> None:
            super().__init__(data_dir or tmp_path / "data", config, *extra)
            started.append(self)

    yield Factory
    for p in started:
        if p.proc.poll() is None:
            p.stop()


def run_promhub(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "promhub", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
