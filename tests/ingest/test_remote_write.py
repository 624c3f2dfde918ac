"""``POST /api/v1/write`` against a real promhub server: what is stored, what is refused
with which status and message, and that refused input leaves stored data alone."""

from __future__ import annotations

import json
import math
import struct
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cramjam
import pytest

from tests.conftest import PromhubProcess
from tests.ingest.prompb import encode, write_request, write_request_v2

NOW = int(time.time() * 1000)
V2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request"


def post(
    srv: PromhubProcess,
    body: bytes,
    content_type: str = "application/x-protobuf",
    encoding: str = "snappy",
) -> tuple[int, str]:
    headers = {"Content-Type": content_type, "X-Prometheus-Remote-Write-Version": "0.1.0"}
    if encoding:
        headers["Content-Encoding"] = encoding
    req = urllib.request.Request(
        srv.url + "/api/v1/write", data=body, method="POST", headers=headers
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def post_v2(srv: PromhubProcess, req: Any) -> tuple[int, str, dict[str, str]]:
    body = encode(req)
    headers = {
        "Content-Type": V2,
        "Content-Encoding": "snappy",
        "X-Prometheus-Remote-Write-Version": "2.0.0",
    }
    r = urllib.request.Request(srv.url + "/api/v1/write", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def stored(srv: PromhubProcess, selector: str) -> dict[str, list[tuple[int, str]]]:
    """Raw samples of the last hour per series (``str`` of its labels) via the query API."""
    q = urllib.parse.urlencode({"query": f"{selector}[2h]", "time": str(NOW / 1000 + 600)})
    code, text = srv.get(f"/api/v1/query?{q}")
    assert code == 200, text
    out: dict[str, list[tuple[int, str]]] = {}
    for r in json.loads(text)["data"]["result"]:
        key = json.dumps(r["metric"], sort_keys=True)
        out[key] = [(round(float(t) * 1000), v) for t, v in r["values"]]
    return out


def metric(srv: PromhubProcess, name: str) -> float:
    code, text = srv.get("/metrics")
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromhubProcess]:
    tmp = tmp_path_factory.mktemp("rw")
    p = PromhubProcess(
        tmp / "data",
        None,
        "--web.enable-remote-write-receiver",
        "--enable-feature=exemplar-storage",
        "--web.max-request-body-bytes=1MB",
    )
    p.wait_ready()
    yield p
    p.stop()


def test_receiver_is_off_unless_enabled_like_prometheus(promhub_factory: Any) -> None:
    p = promhub_factory()
    p.wait_ready()
    code, text = post(p, encode(write_request([({"__name__": "a"}, [(NOW, 1.0)])])))
    assert code == 404
    assert (
        "remote write receiver needs to be enabled with --web.enable-remote-write-receiver" in text
    )


def test_prometheus_2_feature_flag_spelling_turns_it_on_too(promhub_factory: Any) -> None:
    p = promhub_factory(None, None, "--enable-feature=remote-write-receiver")
    p.wait_ready()
    assert post(p, encode(write_request([({"__name__": "a"}, [(NOW, 1.0)])]))) == (204, "")
    assert "DEPRECATED. Use --web.enable-remote-write-receiver" in p.log()


def test_samples_are_stored_with_exact_values(srv: PromhubProcess) -> None:
    req = write_request(
        [
            ({"__name__": "rw_basic", "job": "a"}, [(NOW - 2000, 1.5), (NOW - 1000, 2.0)]),
            ({"__name__": "rw_basic", "job": "b"}, [(NOW - 1000, math.inf)]),
            # Unsorted labels and an empty value (= absent label) are fine.
            ([("job", "c"), ("__name__", "rw_basic"), ("env", "")], [(NOW - 1000, -0.25)]),
        ],
        sort=False,
    )
    assert post(srv, encode(req)) == (204, "")
    got = stored(srv, "rw_basic")
    assert got == {
        '{"__name__": "rw_basic", "job": "a"}': [(NOW - 2000, "1.5"), (NOW - 1000, "2")],
        '{"__name__": "rw_basic", "job": "b"}': [(NOW - 1000, "+Inf")],
        '{"__name__": "rw_basic", "job": "c"}': [(NOW - 1000, "-0.25")],
    }
    # A sender resending its newest samples (after a timeout) is not an error.
    again = write_request([({"__name__": "rw_basic", "job": "a"}, [(NOW - 1000, 2.0)])])
    assert post(srv, encode(again)) == (204, "")
    assert stored(srv, "rw_basic") == got


def test_stale_markers_end_a_series_for_instant_queries(srv: PromhubProcess) -> None:
    stale_nan = struct.unpack("<d", (0x7FF0000000000002).to_bytes(8, "little"))[0]
    req = write_request([({"__name__": "rw_stale"}, [(NOW - 3000, 1.0), (NOW - 2000, stale_nan)])])
    assert post(srv, encode(req)) == (204, "")
    q = urllib.parse.urlencode({"query": "rw_stale", "time": str((NOW - 1000) / 1000)})
    assert json.loads(srv.get(f"/api/v1/query?{q}")[1])["data"]["result"] == []


def test_bad_snappy_is_400_and_changes_nothing(srv: PromhubProcess) -> None:
    assert post(srv, encode(write_request([({"__name__": "rw_bad1"}, [(NOW, 1.0)])])))[0] == 204
    before = stored(srv, '{__name__=~"rw_bad.*"}')
    body = encode(write_request([({"__name__": "rw_bad1"}, [(NOW + 1, 9.0)])]))
    code, text = post(srv, body[:-3])  # truncated
    assert code == 400 and "snappy" in text
    code, text = post(srv, b"\x14" + b"\xfe" * 20)  # 20 bytes announced, then garbage
    assert code == 400 and "snappy" in text
    code, text = post(srv, b"\xff\xff\xff\xff\x0f" + b"x" * 20)  # announces 4 GiB
    assert code == 413 and "exceeds the limit" in text
    assert stored(srv, '{__name__=~"rw_bad.*"}') == before


def test_bad_protobuf_is_400_naming_the_byte(srv: PromhubProcess) -> None:
    good = write_request([({"__name__": "rw_bad2"}, [(NOW, 1.0)])]).SerializeToString()
    code, text = post(srv, bytes(cramjam.snappy.compress_raw(good[:-2])))
    assert code == 400
    assert "malformed protobuf" in text and "at byte" in text
    assert stored(srv, "rw_bad2") == {}


def test_invalid_label_sets_are_refused_by_name_and_the_rest_is_stored(srv: PromhubProcess) -> None:
    req = write_request(
        [
            ({"__name__": "rw_lab_ok"}, [(NOW, 1.0)]),
            ({"__name__": "rw-lab-bad"}, [(NOW, 2.0)]),
            ({"__name__": "rw_lab_x", "bad-name": "v"}, [(NOW, 3.0)]),
            ({"job": "no_name"}, [(NOW, 4.0)]),
            ([("__name__", "rw_lab_dup"), ("a", "1"), ("a", "2")], [(NOW, 5.0)]),
        ]
    )
    code, text = post(srv, encode(req))
    assert code == 400
    assert "4 series with invalid labels refused (4 samples)" in text
    assert "invalid metric name 'rw-lab-bad'" in text
    assert "invalid label name 'bad-name'" in text
    assert "missing metric name" in text
    assert stored(srv, '{__name__=~"rw_lab.*"}') == {'{"__name__": "rw_lab_ok"}': [(NOW, "1")]}
    # Prometheus' counter of such samples.
    assert metric(srv, "prometheus_api_remote_write_invalid_labels_samples_total") >= 4


def test_duplicate_label_names_are_refused(srv: PromhubProcess) -> None:
    req = write_request([([("__name__", "rw_dupl"), ("a", "1"), ("a", "2")], [(NOW, 5.0)])])
    code, text = post(srv, encode(req))
    assert code == 400 and "duplicate label name 'a'" in text
    assert stored(srv, "rw_dupl") == {}


def test_out_of_order_and_duplicates_are_400_and_stored_samples_stay(srv: PromhubProcess) -> None:
    lab = {"__name__": "rw_ooo", "job": "x"}
    assert post(srv, encode(write_request([(lab, [(NOW - 1000, 1.0), (NOW, 2.0)])])))[0] == 204
    code, text = post(srv, encode(write_request([(lab, [(NOW - 500, 7.0)])])))
    assert code == 400
    assert "1 out of order" in text
    assert 'rw_ooo{job="x"}' in text and str(NOW - 500) in text
    code, text = post(srv, encode(write_request([(lab, [(NOW, 3.0)])])))
    assert code == 400 and "1 duplicate" in text
    assert stored(srv, "rw_ooo") == {
        '{"__name__": "rw_ooo", "job": "x"}': [(NOW - 1000, "1"), (NOW, "2")]
    }


def test_samples_far_in_the_future_are_out_of_bounds(srv: PromhubProcess) -> None:
    future = int(time.time() * 1000) + 3_600_000
    code, text = post(srv, encode(write_request([({"__name__": "rw_future"}, [(future, 1.0)])])))
    assert code == 400 and "out of bounds" in text and "rw_future" in text
    assert stored(srv, "rw_future") == {}


def test_native_histograms_are_refused_and_float_samples_kept(srv: PromhubProcess) -> None:
    req = write_request([({"__name__": "rw_floats"}, [(NOW, 1.0)])])
    h = req.timeseries.add()
    h.labels.add(name="__name__", value="rw_native")
    h.histograms.add(count_int=3, sum=1.5, timestamp=NOW)
    code, text = post(srv, encode(req))
    assert code == 400
    assert "native histograms are not supported: 1 histogram samples refused" in text
    assert "rw_native" in text
    assert stored(srv, "rw_floats") == {'{"__name__": "rw_floats"}': [(NOW, "1")]}


def test_exemplars_are_stored_when_exemplar_storage_is_on(srv: PromhubProcess) -> None:
    req = write_request([({"__name__": "rw_ex_bucket", "le": "1"}, [(NOW, 3.0)])])
    ex = req.timeseries[0].exemplars.add(value=0.7, timestamp=NOW - 10)
    ex.labels.add(name="trace_id", value="abc123")
    assert post(srv, encode(req)) == (204, "")
    q = urllib.parse.urlencode(
        {"query": "rw_ex_bucket", "start": str(NOW / 1000 - 60), "end": str(NOW / 1000 + 60)}
    )
    data = json.loads(srv.get(f"/api/v1/query_exemplars?{q}")[1])["data"]
    assert data[0]["exemplars"][0]["labels"] == {"trace_id": "abc123"}
    assert float(data[0]["exemplars"][0]["value"]) == 0.7


@pytest.mark.parametrize(
    ("content_type", "encoding", "needle"),
    [
        ("application/x-protobuf;proto=io.prometheus.write.v3.Request", "snappy", "accepted"),
        ("application/json", "snappy", "unsupported content type"),
        ("application/x-protobuf", "gzip", "gzip encoding (compression) is not accepted"),
    ],
)
def test_other_protocols_are_415(
    srv: PromhubProcess, content_type: str, encoding: str, needle: str
) -> None:
    body = encode(write_request([({"__name__": "rw_415"}, [(NOW, 1.0)])]))
    code, text = post(srv, body, content_type, encoding)
    assert code == 415 and needle in text
    assert stored(srv, "rw_415") == {}


def test_senders_without_headers_are_taken_as_1_0(srv: PromhubProcess) -> None:
    body = encode(write_request([({"__name__": "rw_noheaders"}, [(NOW, 1.0)])]))
    assert post(srv, body, "", "") == (204, "")
    assert stored(srv, "rw_noheaders") != {}


def test_a_body_over_the_limit_is_413(srv: PromhubProcess) -> None:
    code, text = post(srv, b"\x00" * (2 * 1024 * 1024))
    assert code == 413 and "too large" in text


def test_acknowledged_samples_survive_kill_9(promhub_factory: Any, tmp_path: Path) -> None:
    p = promhub_factory(tmp_path / "d", None, "--web.enable-remote-write-receiver")
    p.wait_ready()
    series = [({"__name__": "rw_durable", "i": str(i)}, [(NOW, float(i))]) for i in range(500)]
    assert post(p, encode(write_request(series))) == (204, "")
    p.kill9()
    q = promhub_factory(tmp_path / "d", None, "--web.enable-remote-write-receiver")
    q.wait_ready()
    got = stored(q, "rw_durable")
    assert len(got) == 500
    assert got['{"__name__": "rw_durable", "i": "7"}'] == [(NOW, "7")]


# -- remote write 2.0 ---------------------------------------------------------------------


def test_v2_requests_are_stored_and_report_what_was_written(srv: PromhubProcess) -> None:
    req, _ = write_request_v2(
        [
            ({"__name__": "rw2_total", "job": "a"}, [(NOW - 1000, 1.0), (NOW, 2.0)]),
            ({"__name__": "rw2_total", "job": "b"}, [(NOW, 5.0)]),
        ],
        created=NOW - 60_000,
    )
    code, text, headers = post_v2(srv, req)
    assert (code, text) == (204, "")
    assert headers["X-Prometheus-Remote-Write-Samples-Written"] == "3"
    assert headers["X-Prometheus-Remote-Write-Histograms-Written"] == "0"
    assert stored(srv, "rw2_total") == {
        '{"__name__": "rw2_total", "job": "a"}': [(NOW - 1000, "1"), (NOW, "2")],
        '{"__name__": "rw2_total", "job": "b"}': [(NOW, "5")],
    }


def test_v2_partial_write_is_400_with_the_written_count(srv: PromhubProcess) -> None:
    req, _ = write_request_v2(
        [({"__name__": "rw2_ok"}, [(NOW, 1.0)]), ({"__name__": "rw2-bad"}, [(NOW, 2.0)])]
    )
    code, text, headers = post_v2(srv, req)
    assert code == 400 and "invalid metric name 'rw2-bad'" in text
    assert headers["X-Prometheus-Remote-Write-Samples-Written"] == "1"
    assert stored(srv, '{__name__=~"rw2_ok|rw2-bad"}') == {'{"__name__": "rw2_ok"}': [(NOW, "1")]}


def test_v2_exemplars_are_stored(srv: PromhubProcess) -> None:
    req, syms = write_request_v2([({"__name__": "rw2_ex_bucket", "le": "1"}, [(NOW, 3.0)])])
    ex = req.timeseries[0].exemplars.add(value=0.3, timestamp=NOW - 5)
    ex.labels_refs.extend([syms.ref("trace_id"), syms.ref("v2trace")])
    del req.symbols[:]
    req.symbols.extend(syms.table)
    code, _, headers = post_v2(srv, req)
    assert code == 204 and headers["X-Prometheus-Remote-Write-Exemplars-Written"] == "1"
    q = urllib.parse.urlencode(
        {"query": "rw2_ex_bucket", "start": str(NOW / 1000 - 60), "end": str(NOW / 1000 + 60)}
    )
    data = json.loads(srv.get(f"/api/v1/query_exemplars?{q}")[1])["data"]
    assert data[0]["exemplars"][0]["labels"] == {"trace_id": "v2trace"}


def test_v2_malformed_symbols_are_400(srv: PromhubProcess) -> None:
    req, _ = write_request_v2([({"__name__": "rw2_badref"}, [(NOW, 1.0)])])
    req.timeseries[0].labels_refs.extend([40, 41])  # beyond the symbol table
    code, text, _ = post_v2(srv, req)
    assert code == 400 and "label reference out of the symbol table" in text
    assert stored(srv, "rw2_badref") == {}
