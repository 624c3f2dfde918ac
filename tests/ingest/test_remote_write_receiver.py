"""The receiver over a real TSDB, in process: its series cache stays correct when the head
forgets series, and concurrent requests all land."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from promhub.ingest.remote_write import RemoteWriteReceiver
from promhub.model.matcher import Matcher
from promhub.tsdb import DB
from tests.ingest.prompb import encode, write_request

MIN = 60_000
T0 = 1_700_000_000_000 // MIN * MIN


def samples(db: DB, name: str) -> list[tuple[int, float]]:
    q = db.querier(0, 2**62)
    try:
        out = []
        for s in q.select([Matcher.new("=", "__name__", name)]):
            out += list(zip(s.timestamps.tolist(), s.values.tolist(), strict=True))
        return out
    finally:
        q.close()


def test_a_series_the_head_garbage_collected_is_resolved_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "promhub.remote_write")
    db = DB.open(tmp_path, min_block_duration_ms=MIN, retention_time_ms=0)
    try:
        recv = RemoteWriteReceiver(db, db.head)
        both = write_request(
            [({"__name__": "gone"}, [(T0, 1.0)]), ({"__name__": "kept"}, [(T0, 1.0)])]
        )
        assert recv.write(encode(both)).status == 204
        later = write_request([({"__name__": "kept"}, [(T0 + 2 * MIN, 2.0)])])
        assert recv.write(encode(later)).status == 204
        gone = [Matcher.new("=", "__name__", "gone")]
        (old_ref,), _ = db.head.select_refs(gone)
        db.maintain()  # cuts [T0, T0+1m) into a block: "gone" has nothing left in the head
        assert db.head.labels_of(int(old_ref)) is None  # garbage-collected
        # The receiver still caches the old ref of "gone"; the append must not fail.
        again = write_request([({"__name__": "gone"}, [(T0 + 3 * MIN, 3.0)])])
        out = recv.write(encode(again))
        assert (out.status, out.message) == (204, "")
        assert samples(db, "gone") == [(T0, 1.0), (T0 + 3 * MIN, 3.0)]
        assert "resolving all series again" in caplog.text
    finally:
        db.close()


def test_concurrent_requests_all_land(tmp_path: Path) -> None:
    db = DB.open(tmp_path)
    try:
        recv = RemoteWriteReceiver(db, db.head)
        errors: list[str] = []

        def sender(k: int) -> None:
            for r in range(20):
                req = write_request(
                    [
                        ({"__name__": "conc", "s": f"{k}-{i}"}, [(T0 + r, float(r))])
                        for i in range(50)
                    ]
                )
                out = recv.write(encode(req))
                if out.status != 204:
                    errors.append(out.message)

        threads = [threading.Thread(target=sender, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        got = samples(db, "conc")
        assert len(got) == 4 * 50 * 20
        assert db.head.num_series() == 200
    finally:
        db.close()


def test_a_body_announcing_too_much_decoded_data_is_413(tmp_path: Path) -> None:
    db = DB.open(tmp_path)
    try:
        recv = RemoteWriteReceiver(db, db.head, max_decoded_bytes=1000)
        req = write_request([({"__name__": "big", "i": str(i)}, [(T0, 1.0)]) for i in range(100)])
        out = recv.write(encode(req))
        assert out.status == 413 and "exceeds the limit of 1000 bytes" in out.message
        assert samples(db, "big") == []
    finally:
        db.close()


def test_too_many_series_or_samples_in_one_request_is_413(tmp_path: Path) -> None:
    db = DB.open(tmp_path)
    try:
        recv = RemoteWriteReceiver(db, db.head, max_series_per_request=10)
        req = write_request([({"__name__": "many", "i": str(i)}, [(T0, 1.0)]) for i in range(11)])
        out = recv.write(encode(req))
        assert (out.status, out.message) == (
            413,
            "decoding remote write request: more than 10 series in one request",
        )
        recv = RemoteWriteReceiver(db, db.head, max_samples_per_request=3)
        req = write_request([({"__name__": "many"}, [(T0 + i, 1.0) for i in range(4)])])
        assert recv.write(encode(req)).status == 413
        assert samples(db, "many") == []
    finally:
        db.close()
