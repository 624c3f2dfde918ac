"""/federate: latest samples in the text format with Prometheus' federation semantics."""

from __future__ import annotations

import math

from prometheus_client.parser import text_string_to_metric_families

from promhub.api.federate import format_go_g
from tests.api.conftest import NOW_MS, APIServer


def test_latest_sample_with_external_labels(api: APIServer) -> None:
    # The data ends at NOW_MS, the last 15 s step before the fixture started.
    r = api.get("/federate", [("match[]", "temperature"), ("match[]", '{__name__="odd_values"}')])
    assert r.status == 200
    assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = r.body.decode()
    lines = text.splitlines()
    # Grouped by metric name, one TYPE line each; external labels appended, instance=""
    # added where the series has none; the newest sample with its timestamp.
    assert lines[0] == "# TYPE odd_values untyped"
    assert 'odd_values{kind="huge",instance="",region="eu"} 1e+21' in text
    assert 'odd_values{kind="tiny",instance="",region="eu"} 1.5e-07' in text
    assert 'odd_values{kind="nan",instance="",region="eu"} NaN' in text
    assert "# TYPE temperature untyped" in lines
    assert f'temperature{{instance="a:9100",job="api",region="eu"}} 44 {NOW_MS}' in lines
    # The body parses as the text format.
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    assert len(fams["temperature"].samples) == 2


def test_stale_and_old_series_are_not_federated(api: APIServer) -> None:
    r = api.get("/federate", {"match[]": "gone"})
    assert r.status == 200 and r.body == b""


def test_no_match_is_empty_and_bad_selector_is_400(api: APIServer) -> None:
    assert api.get("/federate").body == b""
    r = api.get("/federate", {"match[]": "up{"})
    assert r.status == 400 and b"parse error" in r.body


def test_go_g_formatting() -> None:
    cases = {
        1e6: "1e+06",
        123456.0: "123456",
        1234567.0: "1.234567e+06",
        0.0001: "0.0001",
        0.00001: "1e-05",
        -2.5: "-2.5",
        0.0: "0",
        1e21: "1e+21",
        1.5e-300: "1.5e-300",
        math.inf: "+Inf",
    }
    for v, want in cases.items():
        assert format_go_g(v) == want, v
