"""WriteStorage in process: hot reload, the WAL segment contract for agent mode, stop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from promhub.config.loader import load_config_text
from promhub.config.model import ConfigError
from promhub.model.labels import Labels
from promhub.storage.remote import WriteStorage
from promhub.storage.remote import queue as queue_module
from promhub.tsdb import DB
from tests.storage.conftest import CaptureServer, merge


def config(*urls: str, deadline: str = "100ms", external: str = "") -> str:
    rws = "".join(
        f"  - {{url: '{u}', name: q{i}, queue_config: {{batch_send_deadline: {deadline}, "
        "min_backoff: 10ms, max_backoff: 50ms}}\n"
        for i, u in enumerate(urls)
    )
    ext = f"global: {{external_labels: {{{external}}}}}\n" if external else ""
    return ext + "remote_write:\n" + rws


def append(db: DB, t: int, n: int = 5) -> None:
    a = db.appender()
    refs = np.array([a.ref(Labels.from_dict({"__name__": "m", "i": str(i)})) for i in range(n)])
    a.append(refs.astype(np.int64), np.array([t], np.int64), np.full(n, float(t)))
    a.commit()


async def until(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        assert asyncio.get_running_loop().time() < deadline, "condition not met"
        await asyncio.sleep(0.05)


def test_reload_keeps_unchanged_queues_and_segments_needed_follow_sending(
    tmp_path: Path, capture_factory: Callable[..., CaptureServer]
) -> None:
    a, b = capture_factory(), capture_factory()
    db = DB.open(tmp_path / "data", wal_segment_size=1024)

    m0 = Labels.from_dict({"__name__": "m", "i": "0"})

    async def main() -> None:
        rw = WriteStorage(tmp_path / "data" / "wal", tmp_path / "data", CollectorRegistry())
        runner = asyncio.create_task(rw.run())
        rw.apply_config(load_config_text(config(a.url)))
        (q0,) = rw.queues
        await until(lambda: rw.lowest_needed_segment() is not None)
        for t in range(1, 40):
            append(db, t * 1000)
        await until(lambda: len(merge(a.accepted()).get(m0, [])) == 39)
        await until(lambda: rw.lowest_needed_segment() == db.wal.segment)  # type: ignore[union-attr]

        # An identical config keeps the running queue; adding one starts only that one.
        rw.apply_config(load_config_text(config(a.url)))
        assert rw.queues == [q0]
        rw.apply_config(load_config_text(config(a.url, b.url)))
        assert q0 in rw.queues and len(rw.queues) == 2
        # b is new: it starts at the end of the WAL, sending only what comes next.
        await asyncio.sleep(0.3)
        append(db, 50_000)
        await until(lambda: len(b.accepted()) > 0)
        assert {t for ts in merge(b.accepted()).values() for t in ts} == {50_000}

        # While a's endpoint fails, the segments it has not sent stay needed.
        a.down = True
        seg_before = db.wal.segment  # type: ignore[union-attr]
        for t in range(51, 90):
            append(db, t * 1000)
        assert db.wal.segment > seg_before  # type: ignore[union-attr]
        await asyncio.sleep(0.3)
        assert rw.lowest_needed_segment() is not None
        assert rw.lowest_needed_segment() <= seg_before  # type: ignore[operator]
        a.down = False
        await until(lambda: rw.lowest_needed_segment() == db.wal.segment)  # type: ignore[union-attr]

        # Changing external labels restarts the queues from their saved positions.
        rw.apply_config(load_config_text(config(a.url, b.url, external="site: x")))
        assert q0 not in rw.queues
        append(db, 95_000)
        await until(lambda: any(ls.get("site") == "x" for ls, _ in a.accepted()))
        await rw.stop()
        await runner

    asyncio.run(main())
    db.close()
    got = merge(a.accepted())
    ts = sorted({t for ls, v in got.items() if ls.get("i") == "0" for t in v})
    # Every sample reached a, once per series (the restart resumed, it did not repeat).
    assert ts == [t * 1000 for t in range(1, 40)] + [50_000] + [t * 1000 for t in range(51, 90)] + [
        95_000
    ]
    series0 = [ls for ls in got if ls.get("i") == "0"]
    assert sum(len(got[ls]) for ls in series0) == len(ts)


def test_reshards_up_for_a_slow_remote_keeping_per_series_order(
    tmp_path: Path, capture_factory: Callable[..., CaptureServer], monkeypatch: Any
) -> None:
    monkeypatch.setattr(queue_module, "_SHARD_UPDATE", 0.5)
    cap = capture_factory()
    cap.delay = 0.1  # 10 samples per request: one shard manages ~100 samples/s
    db = DB.open(tmp_path / "data")
    cfg = load_config_text(
        f"remote_write: [{{url: '{cap.url}', name: slow, queue_config: "
        "{max_samples_per_send: 10, batch_send_deadline: 50ms, max_shards: 8}}]\n"
    )

    base = int(time.time() * 1000)  # the backlog estimate reads sample age

    async def main() -> float:
        reg = CollectorRegistry()
        rw = WriteStorage(tmp_path / "data" / "wal", tmp_path / "data", reg)
        rw.apply_config(cfg)
        await until(lambda: rw.lowest_needed_segment() is not None)
        for t in range(1, 41):  # 20 series every 50 ms: 400 samples/s
            append(db, base + t * 50, n=20)
            await asyncio.sleep(0.05)
        await until(lambda: sum(len(v) for v in merge(cap.accepted()).values()) == 800, 30)
        shards = reg.get_sample_value(
            "prometheus_remote_storage_shards", {"remote_name": "slow", "url": cap.url}
        )
        await rw.stop()
        return shards or 0.0

    shards = asyncio.run(main())
    db.close()
    assert shards > 1, shards
    for ls, ts in merge(cap.accepted()).items():
        assert ts == [base + t * 50 for t in range(1, 41)], ls  # in order, each once


def test_reload_with_an_unusable_tls_file_keeps_the_running_queues(
    tmp_path: Path, capture_factory: Callable[..., CaptureServer]
) -> None:
    cap = capture_factory()
    db = DB.open(tmp_path / "data")

    async def main() -> None:
        rw = WriteStorage(tmp_path / "data" / "wal", tmp_path / "data", CollectorRegistry())
        rw.apply_config(load_config_text(config(cap.url)))
        before = rw.queues
        bad = "remote_write: [{url: 'https://x/api/v1/write', tls_config: {ca_file: /nope.pem}}]"
        with pytest.raises(ConfigError, match="nope.pem"):
            rw.apply_config(load_config_text(bad))
        assert rw.queues == before
        await until(lambda: rw.lowest_needed_segment() is not None)  # it reads the WAL
        append(db, 1000)
        await until(lambda: len(cap.accepted()) > 0)
        await rw.stop()

    asyncio.run(main())
    db.close()


def test_429_is_retried_when_retry_on_http_429_is_set(
    tmp_path: Path, capture_factory: Callable[..., CaptureServer]
) -> None:
    cap = capture_factory([429, 429])
    db = DB.open(tmp_path / "data")
    cfg = load_config_text(
        f"remote_write: [{{url: '{cap.url}', queue_config: {{batch_send_deadline: 50ms, "
        "min_backoff: 10ms, retry_on_http_429: true}}]\n"
    )

    async def main() -> None:
        rw = WriteStorage(tmp_path / "data" / "wal", tmp_path / "data", CollectorRegistry())
        rw.apply_config(cfg)
        await until(lambda: rw.lowest_needed_segment() is not None)
        append(db, 1000)
        await until(lambda: len(cap.accepted()) == 5)  # the 5 series, after two 429s
        await rw.stop()

    asyncio.run(main())
    db.close()
    assert [s for _, _, s in cap.requests] == [429, 429, 204]
    assert cap.requests[0][1] == cap.requests[2][1]
