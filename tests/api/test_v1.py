"""Prometheus API v1 over HTTP: JSON shapes, parameters and error envelopes."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import NOW_MS, START_MS, APIServer, Reply

NOW_S = NOW_MS / 1000


def _ok(r: Reply) -> Any:
    assert r.status == 200, r.body
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["status"] == "success"
    return body


def _err(r: Reply, status: int, etype: str) -> str:
    assert r.status == status, r.body
    body = r.json()
    assert body["status"] == "error" and body["errorType"] == etype, body
    return str(body["error"])


def test_instant_vector_shape_and_values(api: APIServer) -> None:
    body = _ok(api.get("/api/v1/query", {"query": "temperature", "time": NOW_S}))
    data = body["data"]
    assert data["resultType"] == "vector"
    res = sorted(data["result"], key=lambda s: s["metric"]["instance"])
    assert res[0]["metric"] == {"__name__": "temperature", "instance": "a:9100", "job": "api"}
    # Value is a string, timestamp float seconds; 240 steps after 20 → 44.
    assert res[0]["value"] == [NOW_S, "44"]
    assert "warnings" not in body and "infos" not in body


def test_time_accepts_rfc3339_and_unix_float(api: APIServer) -> None:
    import datetime as dt

    t = dt.datetime.fromtimestamp(NOW_S - 60, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    a = _ok(api.get("/api/v1/query", {"query": "temperature", "time": t}))
    b = _ok(api.get("/api/v1/query", {"query": "temperature", "time": f"{NOW_S - 60:.3f}"}))
    assert a["data"] == b["data"]
    assert a["data"]["result"][0]["value"][0] == NOW_S - 60


def test_special_values_spelled_like_go(api: APIServer) -> None:
    data = _ok(api.get("/api/v1/query", {"query": "odd_values", "time": NOW_S}))["data"]
    got = {s["metric"]["kind"]: s["value"][1] for s in data["result"]}
    assert got == {"tiny": "0.00000015", "huge": "1000000000000000000000", "nan": "NaN"}
    inf = _ok(api.get("/api/v1/query", {"query": "-1/0", "time": 1.5}))["data"]
    assert inf == {"resultType": "scalar", "result": [1.5, "-Inf"]}


def test_scalar_and_string_results(api: APIServer) -> None:
    data = _ok(api.get("/api/v1/query", {"query": "1 + 1.5", "time": 1435781451.781}))["data"]
    assert data == {"resultType": "scalar", "result": [1435781451.781, "2.5"]}
    data = _ok(api.get("/api/v1/query", {"query": '"hello"', "time": 100}))["data"]
    assert data == {"resultType": "string", "result": [100, "hello"]}


def test_instant_matrix_selector_returns_raw_samples(api: APIServer) -> None:
    data = _ok(api.get("/api/v1/query", {"query": "temperature[1m]", "time": NOW_S}))["data"]
    assert data["resultType"] == "matrix"
    vals = data["result"][0]["values"]
    assert [v[0] for v in vals] == [NOW_S - 45, NOW_S - 30, NOW_S - 15, NOW_S]
    assert vals[-1][1] == "44"


def test_range_query_get_and_post_agree(api: APIServer) -> None:
    params = {
        "query": "sum by (code) (rate(http_requests_total[1m]))",
        "start": NOW_S - 300,
        "end": NOW_S,
        "step": "60",
    }
    got = _ok(api.get("/api/v1/query_range", params))
    posted = _ok(api.request("/api/v1/query_range", params, method="POST", form=True))
    assert got == posted
    data = got["data"]
    assert data["resultType"] == "matrix"
    assert [s["metric"] for s in data["result"]] == [{"code": "200"}, {"code": "500"}]
    # Step times are start + k*step; no alignment of start by the API.
    assert [p[0] for p in data["result"][0]["values"]] == [NOW_S - 300 + 60 * k for k in range(6)]
    assert abs(float(data["result"][0]["values"][0][1]) - 4.0) < 1e-9


def test_range_query_step_as_duration_and_unaligned_start(api: APIServer) -> None:
    data = _ok(
        api.get(
            "/api/v1/query_range",
            {"query": "temperature", "start": NOW_S - 107, "end": NOW_S, "step": "1m"},
        )
    )["data"]
    assert [p[0] for p in data["result"][0]["values"]] == [NOW_S - 107, NOW_S - 47]


def test_range_query_of_scalar_is_a_matrix(api: APIServer) -> None:
    data = _ok(api.get("/api/v1/query_range", {"query": "2", "start": 0, "end": 30, "step": 15}))
    assert data["data"]["result"] == [{"metric": {}, "values": [[0, "2"], [15, "2"], [30, "2"]]}]


def test_range_query_parameter_errors(api: APIServer) -> None:
    q = {"query": "up"}
    msg = _err(api.get("/api/v1/query_range", {**q, "end": 10, "step": 1}), 400, "bad_data")
    assert msg == 'invalid parameter "start": cannot parse "" to a valid timestamp'
    msg = _err(
        api.get("/api/v1/query_range", {**q, "start": 10, "end": 5, "step": 1}), 400, "bad_data"
    )
    assert msg == 'invalid parameter "end": end timestamp must not be before start time'
    msg = _err(
        api.get("/api/v1/query_range", {**q, "start": 0, "end": 5, "step": "0"}), 400, "bad_data"
    )
    assert "zero or negative query resolution step widths are not accepted" in msg
    msg = _err(
        api.get("/api/v1/query_range", {**q, "start": 0, "end": 5, "step": "x"}), 400, "bad_data"
    )
    assert msg == 'invalid parameter "step": cannot parse "x" to a valid duration'
    msg = _err(
        api.get("/api/v1/query_range", {**q, "start": 0, "end": 100000, "step": 1}),
        400,
        "bad_data",
    )
    assert msg.startswith("exceeded maximum resolution of 11,000 points per timeseries")


def test_query_errors_name_position_and_type(api: APIServer) -> None:
    msg = _err(api.get("/api/v1/query", {"query": "sum(rate(x[5m])"}), 400, "bad_data")
    assert msg.startswith('invalid parameter "query": 1:')
    assert "parse error" in msg
    msg = _err(api.get("/api/v1/query", {"query": "up", "time": "yesterday"}), 400, "bad_data")
    assert msg == (
        "invalid parameter \"time\": invalid time value for 'time': "
        'cannot parse "yesterday" to a valid timestamp'
    )
    msg = _err(api.get("/api/v1/query", {"query": "up", "lookback_delta": "soon"}), 400, "bad_data")
    assert msg.startswith("error parsing lookback delta duration")
    # Range vectors cannot be the result of a range query.
    _err(
        api.get("/api/v1/query_range", {"query": "up[5m]", "start": 0, "end": 1, "step": 1}),
        400,
        "bad_data",
    )


def test_execution_error_is_422(api: APIServer) -> None:
    # Both temperature series end up with the same label set.
    _err(
        api.get(
            "/api/v1/query",
            {"query": 'label_replace(temperature, "instance", "x", "", "")', "time": NOW_S},
        ),
        422,
        "execution",
    )


def test_lookback_delta_parameter(api: APIServer) -> None:
    t = (NOW_MS - 1_800_000 + 120_000) / 1000  # two minutes after "gone" stopped
    assert _ok(api.get("/api/v1/query", {"query": "gone", "time": t}))["data"]["result"]
    short = api.get("/api/v1/query", {"query": "gone", "time": t, "lookback_delta": "1m"})
    assert _ok(short)["data"]["result"] == []


def test_stats_parameter(api: APIServer) -> None:
    data = _ok(api.get("/api/v1/query", {"query": "temperature", "time": NOW_S, "stats": "1"}))[
        "data"
    ]
    assert set(data["stats"]["timings"]) >= {"evalTotalTime", "execTotalTime", "execQueueTime"}
    assert data["stats"]["samples"]["totalQueryableSamples"] >= 2


def test_limit_truncates_with_warning(api: APIServer) -> None:
    body = _ok(
        api.get("/api/v1/query", {"query": "http_requests_total", "time": NOW_S, "limit": 1})
    )
    assert len(body["data"]["result"]) == 1
    assert body["warnings"] == ["results truncated due to limit"]


def test_series(api: APIServer) -> None:
    body = _ok(
        api.get("/api/v1/series", [("match[]", "temperature"), ("match[]", '{__name__="gone"}')])
    )
    assert body["data"] == [
        {"__name__": "gone", "job": "batch"},
        {"__name__": "temperature", "instance": "a:9100", "job": "api"},
        {"__name__": "temperature", "instance": "b:9100", "job": "api"},
    ]
    # A time window that ends before "gone" stopped... and one after it: gone disappears.
    recent = _ok(api.get("/api/v1/series", {"match[]": "gone", "start": NOW_S - 600, "end": NOW_S}))
    assert recent["data"] == []
    msg = _err(api.get("/api/v1/series"), 400, "bad_data")
    assert msg == "no match[] parameter provided"
    msg = _err(api.get("/api/v1/series", {"match[]": '{job=~".*"}'}), 400, "bad_data")
    assert msg.startswith('invalid parameter "match[]"')
    assert "at least one non-empty matcher" in msg
    limited = _ok(api.get("/api/v1/series", {"match[]": "temperature", "limit": 1}))
    assert len(limited["data"]) == 1 and limited["warnings"] == ["results truncated due to limit"]


def test_labels_and_values(api: APIServer) -> None:
    names = _ok(api.get("/api/v1/labels"))["data"]
    assert names == ["__name__", "code", "instance", "job", "kind", "le"]
    names = _ok(api.get("/api/v1/labels", {"match[]": "temperature"}))["data"]
    assert names == ["__name__", "instance", "job"]
    vals = _ok(api.get("/api/v1/label/job/values"))["data"]
    assert vals == ["api", "batch"]
    vals = _ok(api.get("/api/v1/label/code/values", {"match[]": "http_requests_total"}))["data"]
    assert vals == ["200", "500"]
    assert _ok(api.get("/api/v1/label/nope/values"))["data"] == []
    # Names in the path may use Prometheus' U__ escaping ("_6f_" is "o").
    assert _ok(api.get("/api/v1/label/U__j_6f_b/values"))["data"] == ["api", "batch"]
    lim = _ok(api.get("/api/v1/label/__name__/values", {"limit": 2}))
    assert len(lim["data"]) == 2 and lim["warnings"] == ["results truncated due to limit"]
    msg = _err(api.get("/api/v1/labels", {"limit": "x"}), 400, "bad_data")
    assert msg.startswith('invalid parameter "limit"')
    # POST form works for labels and series as in Prometheus.
    posted = _ok(
        api.request("/api/v1/labels", {"match[]": "temperature"}, method="POST", form=True)
    )
    assert posted["data"] == ["__name__", "instance", "job"]


def test_tsdb_status(api: APIServer) -> None:
    data = _ok(api.get("/api/v1/status/tsdb", {"limit": 2}))["data"]
    head = data["headStats"]
    assert head["numSeries"] == 13
    assert head["minTime"] == START_MS and head["maxTime"] == NOW_MS
    assert data["seriesCountByMetricName"] == [
        {"name": "http_requests_total", "value": 4},
        {"name": "latency_seconds_bucket", "value": 3},
    ]
    for key in ("labelValueCountByLabelName", "memoryInBytesByLabelName"):
        assert len(data[key]) == 2
    msg = _err(api.get("/api/v1/status/tsdb", {"limit": 0}), 400, "bad_data")
    assert msg == "limit must be a positive number"


def test_metadata_without_targets(api: APIServer) -> None:
    assert _ok(api.get("/api/v1/metadata"))["data"] == {}
    assert _ok(api.get("/api/v1/targets/metadata"))["data"] == []
    _err(api.get("/api/v1/metadata", {"limit": "many"}), 400, "bad_data")


def test_exemplars_empty_but_validated(api: APIServer) -> None:
    assert _ok(api.get("/api/v1/query_exemplars", {"query": "temperature"}))["data"] == []
    _err(api.get("/api/v1/query_exemplars", {"query": "sum("}), 400, "bad_data")


def test_format_and_parse_query(api: APIServer) -> None:
    q = {"query": "sum by(job)(rate(x[5m]))"}
    assert _ok(api.get("/api/v1/format_query", q))["data"] == "sum by (job) (rate(x[5m]))"
    tree = _ok(api.request("/api/v1/parse_query", q, method="POST", form=True))["data"]
    assert tree["type"] == "aggregation" and tree["op"] == "sum"
    msg = _err(api.get("/api/v1/format_query", {"query": "sum("}), 400, "bad_data")
    assert msg.startswith('invalid parameter "query": 1:')


def test_cors(api: APIServer) -> None:
    r = api.get("/api/v1/labels", headers={"Origin": "https://grafana.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in r.headers["Access-Control-Allow-Methods"]
    pre = api.request("/api/v1/query", method="OPTIONS", headers={"Origin": "https://x"})
    assert pre.status == 204 and pre.headers["Access-Control-Allow-Origin"] == "*"


def test_admin_disabled_by_default(api: APIServer) -> None:
    r = api.request("/api/v1/admin/tsdb/snapshot", method="POST")
    assert _err(r, 500, "unavailable") == "admin APIs disabled"


def test_gzip_when_accepted(api: APIServer) -> None:
    import gzip

    r = api.get(
        "/api/v1/query_range",
        {"query": "temperature", "start": START_MS / 1000, "end": NOW_S, "step": 15},
        headers={"Accept-Encoding": "gzip"},
    )
    assert r.status == 200 and r.headers.get("Content-Encoding") == "gzip"
    data = __import__("json").loads(gzip.decompress(r.body))
    assert len(data["data"]["result"][0]["values"]) == 241
