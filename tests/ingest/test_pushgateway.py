"""The Pushgateway API against a real promhub, with prometheus_client as the client."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary
from prometheus_client.exposition import (
    default_handler,
    delete_from_gateway,
    push_to_gateway,
    pushadd_to_gateway,
)

from tests.conftest import PromhubProcess, wait_for
from tests.ingest.conftest import group, groups, query, request, start_promhub
from tests.ingest.metrics_proto import CONTENT_TYPE, delimited, sample_families


def batch_registry(done: float = 3) -> CollectorRegistry:
    reg = CollectorRegistry()
    Counter("jobs_done", "Jobs done.", registry=reg).inc(done)
    Gauge("last_success_seconds", "Last success.", ["stage"], registry=reg).labels("load").set(42)
    Histogram("duration_seconds", "Duration.", buckets=(1, 10), registry=reg).observe(3)
    Summary("rows", "Rows.", registry=reg).observe(7)
    return reg


def names(g: dict[str, Any]) -> set[str]:
    return {k for k in g if k not in ("labels", "last_push_successful", "ttl_seconds")}


def test_prometheus_client_push_pushadd_delete(promhub_push: PromhubProcess) -> None:
    url = promhub_push.url
    key = {"instance": "host/1", "shard": ""}  # '/' and "" both need @base64
    push_to_gateway(url, "nightly/etl", batch_registry(), grouping_key=key)
    g = group(url, job="nightly/etl", instance="host/1", shard="")
    assert g is not None, groups(url)
    assert {
        "jobs_done_total",
        "jobs_done_created",
        "last_success_seconds",
        "duration_seconds",
        "rows",
        "rows_created",
        "push_time_seconds",
        "push_failure_time_seconds",
    } <= names(g)
    assert g["jobs_done_total"]["type"] == "COUNTER"
    assert g["jobs_done_total"]["metrics"][0]["value"] == "3"
    assert g["duration_seconds"]["metrics"][0]["buckets"] == {"1": "0", "10": "1", "+Inf": "1"}
    assert g["last_push_successful"] is True

    # pushadd replaces only the families it pushes.
    other = CollectorRegistry()
    Gauge("last_success_seconds", "Last success.", registry=other).set(43)
    pushadd_to_gateway(url, "nightly/etl", other, grouping_key=key)
    g = group(url, job="nightly/etl", instance="host/1", shard="")
    assert g is not None and "jobs_done_total" in g
    assert g["last_success_seconds"]["metrics"][0]["value"] == "43"
    # push (PUT) replaces the whole group.
    push_to_gateway(url, "nightly/etl", other, grouping_key=key)
    g = group(url, job="nightly/etl", instance="host/1", shard="")
    assert g is not None and names(g) == {
        "last_success_seconds",
        "push_time_seconds",
        "push_failure_time_seconds",
    }

    delete_from_gateway(url, "nightly/etl", grouping_key=key)
    assert group(url, job="nightly/etl", instance="host/1", shard="") is None


def test_pushed_series_are_stored_like_an_honor_labels_scrape(
    promhub_push: PromhubProcess,
) -> None:
    url = promhub_push.url
    body = b'# TYPE rows_loaded gauge\nrows_loaded{table="users",job="ignored"} 17\n'
    assert request(url + "/metrics/job/loader/env/prod", "PUT", body)[0] == 200
    res = wait_for(lambda: query(url, 'rows_loaded{job="loader"}'))
    # Grouping labels win over the body's; no instance label (Pushgateway's instance="").
    assert res[0]["metric"] == {
        "__name__": "rows_loaded",
        "env": "prod",
        "job": "loader",
        "table": "users",
    }
    assert res[0]["value"][1] == "17"
    pt = wait_for(lambda: query(url, 'push_time_seconds{job="loader"}'))
    assert pt[0]["metric"] == {"__name__": "push_time_seconds", "env": "prod", "job": "loader"}
    assert abs(float(pt[0]["value"][1]) - time.time()) < 60

    # A PUT without the family makes its series stale: the instant query is empty at once,
    # not after the 5 minute lookback.
    assert request(url + "/metrics/job/loader/env/prod", "PUT", b"other_metric 1\n")[0] == 200
    wait_for(lambda: not query(url, 'rows_loaded{job="loader"}'))
    assert query(url, 'other_metric{job="loader"}') or wait_for(
        lambda: query(url, 'other_metric{job="loader"}')
    )
    # Deleting the group makes everything stale.
    assert request(url + "/metrics/job/loader/env/prod", "DELETE")[0] == 202
    wait_for(lambda: not query(url, '{job="loader"}'))


def test_protobuf_push(promhub_push: PromhubProcess) -> None:
    url = promhub_push.url
    body = delimited(*sample_families())
    status, text = request(url + "/metrics/job/proto", "POST", body, {"Content-Type": CONTENT_TYPE})
    assert status == 200, text
    g = group(url, job="proto")
    assert g is not None
    assert g["queue_depth"]["metrics"][0] == {
        "labels": {"instance": "", "job": "proto", "queue": "mail"},
        "value": "1.5e+06",
    }
    # Like Pushgateway, the JSON shows the buckets pushed; the TSDB also gets +Inf.
    assert g["size_bytes"]["metrics"][0]["buckets"] == {"100": "2", "1000": "6"}
    assert g["latency_seconds"]["metrics"][0]["quantiles"] == {"0.5": "0.25"}
    res = wait_for(lambda: query(url, 'size_bytes_bucket{job="proto"}'))
    assert sorted(r["metric"]["le"] for r in res) == ["+Inf", "100.0", "1000.0"]


def test_ttl_per_push_and_header(promhub_push: PromhubProcess) -> None:
    url = promhub_push.url
    assert request(url + "/metrics/job/shortlived?ttl=2s", "PUT", b"blip 1\n")[0] == 200

    def ttl_handler(url: str, method: str, timeout: Any, headers: Any, data: bytes) -> Any:
        headers = [*headers, ("Promhub-Push-TTL", "2s")]
        return default_handler(url, method, timeout, headers, data)

    reg = CollectorRegistry()
    Gauge("blop", "x", registry=reg).set(1)
    push_to_gateway(url, "shortlived2", reg, handler=ttl_handler)
    assert request(url + "/metrics/job/forever", "PUT", b"stay 1\n")[0] == 200
    g = group(url, job="shortlived")
    assert g is not None and g["ttl_seconds"] == 2
    wait_for(lambda: query(url, 'blip{job="shortlived"}'))
    wait_for(lambda: group(url, job="shortlived") is None and group(url, job="shortlived2") is None)
    wait_for(lambda: not query(url, 'blip{job="shortlived"}'))  # staleness markers
    assert group(url, job="forever") is not None


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("/metrics/job/bad", b"a 1 1000\n", "pushed metrics must not have timestamps"),
        ("/metrics/job/bad", b"ok 1\nb{ 2\n", "text format parsing error in line 2"),
        ("/metrics/job/bad", b"a 1\na 2\n", "was pushed more than once"),
        ("/metrics/job/bad/x", b"a 1\n", 'odd number of components in label string "/x"'),
        ("/metrics/job/bad/__x/1", b"a 1\n", 'improper label name "__x"'),
        ("/metrics/job@base64/!!", b"a 1\n", "invalid base64 encoding in job name"),
        ("/metrics/job@base64/=", b"a 1\n", "job name is required"),
        ("/metrics/job/bad?ttl=soon", b"a 1\n", "invalid ttl"),
        ("/metrics/job/bad", b"".join(b"s%d 1\n" % i for i in range(5001)), "series_limit"),
        ("/metrics/job/bad", b"x" * 300_000, "body_size_limit"),
    ],
)
def test_bad_pushes_are_400_with_a_reason_and_change_nothing(
    promhub_push: PromhubProcess, path: str, body: bytes, reason: str
) -> None:
    url = promhub_push.url
    assert request(url + "/metrics/job/bad", "PUT", b"good 1\n")[0] == 200
    status, text = request(url + path, "PUT", body)
    assert status == 400
    assert reason in text
    g = group(url, job="bad")
    assert g is not None and names(g) == {"good", "push_time_seconds", "push_failure_time_seconds"}
    assert g["good"]["metrics"][0]["value"] == "1"


def test_inconsistent_push_records_failure_time(promhub_push: PromhubProcess) -> None:
    url = promhub_push.url
    assert request(url + "/metrics/job/typed1", "PUT", b"# TYPE clash gauge\nclash 1\n")[0] == 200
    assert request(url + "/metrics/job/typed2", "PUT", b"keep 1\n")[0] == 200
    status, text = request(url + "/metrics/job/typed2", "PUT", b"# TYPE clash counter\nclash 1\n")
    assert status == 400 and "clash" in text and "gauge" in text
    g = group(url, job="typed2")
    assert g is not None and "keep" in g and "clash" not in g
    assert g["last_push_successful"] is False
    assert float(g["push_failure_time_seconds"]["metrics"][0]["value"]) > 0
    # A summary's _count series and another family of that name cannot coexist.
    body = b"# TYPE lat summary\nlat_sum 1\nlat_count 2\n"
    assert request(url + "/metrics/job/typed1", "POST", body)[0] == 200
    status, text = request(url + "/metrics/job/typed3", "PUT", b"lat_count 5\n")
    assert status == 400 and "collides" in text


def test_wipe_and_status(promhub_push: PromhubProcess, tmp_path: Path) -> None:
    url = promhub_push.url
    status, text = request(url + "/api/v1/status")
    assert status == 200 and '"build_information"' in text and '"start_time"' in text
    assert request(url + "/metrics/job/towipe", "PUT", b"w 1\n")[0] == 200
    assert request(url + "/api/v1/admin/wipe", "PUT")[0] == 202
    assert groups(url) == []


def test_restart_keeps_groups_and_config_default_ttl(tmp_path: Path) -> None:
    data = tmp_path / "data"
    p = start_promhub(data)
    try:
        assert request(p.url + "/metrics/job/persist/a@base64/=", "PUT", b"kept 5\n")[0] == 200
        body = delimited(*sample_families())
        hdr = {"Content-Type": CONTENT_TYPE}
        assert request(p.url + "/metrics/job/persist2", "PUT", body, hdr)[0] == 200
        before = groups(p.url)
    finally:
        assert p.stop() == 0
    p = start_promhub(data)
    try:
        assert groups(p.url) == before
        wait_for(lambda: query(p.url, 'kept{job="persist"}'))
        # kill -9 right after the answers: acknowledged pushes are in the journal.
        assert request(p.url + "/metrics/job/persist", "PUT", b"other 1\n")[0] == 200
        assert request(p.url + "/metrics/job/persist/a@base64/=", "POST", b"more 1\n")[0] == 200
        assert request(p.url + "/metrics/job/persist2", "DELETE")[0] == 202
        p.kill9()
    finally:
        p.stop()
    p = start_promhub(data, "global:\n  scrape_interval: 1s\npushgateway:\n  default_ttl: 2s\n")
    try:
        g = group(p.url, job="persist", a="")
        assert g is not None and "more" in g and "kept" in g
        assert group(p.url, job="persist") is not None
        assert group(p.url, job="persist2") is None
        assert request(p.url + "/metrics/job/fresh", "PUT", b"f 1\n")[0] == 200
        g = group(p.url, job="fresh")
        assert g is not None and g["ttl_seconds"] == 2
        wait_for(lambda: group(p.url, job="fresh") is None)
        assert group(p.url, job="persist", a="") is not None  # restored groups keep their ttl
    finally:
        p.stop()


def test_push_api_can_be_turned_off(tmp_path: Path) -> None:
    p = start_promhub(
        tmp_path / "data", "global:\n  scrape_interval: 1s\n", "--no-web.enable-push-api"
    )
    try:
        status, text = request(p.url + "/metrics/job/x", "PUT", b"a 1\n")
        assert status == 403 and "disabled" in text
        assert groups(p.url) == []
    finally:
        p.stop()


def test_reload_applies_new_push_limits(tmp_path: Path) -> None:
    p = start_promhub(
        tmp_path / "data", "global:\n  scrape_interval: 1s\n", "--web.enable-lifecycle"
    )
    try:
        assert request(p.url + "/metrics/job/r", "PUT", b"a 1\nb 2\n")[0] == 200
        cfg = tmp_path / "data.yml"
        cfg.write_text("global:\n  scrape_interval: 1s\npushgateway:\n  series_limit: 1\n")
        assert request(p.url + "/-/reload", "POST")[0] == 200
        status, text = request(p.url + "/metrics/job/r", "PUT", b"a 1\nb 2\n")
        assert status == 400 and "limit of 1" in text
        # A bad section is refused with file:line and the running limits stay.
        cfg.write_text("pushgateway:\n  series_limit: many\n")
        status, text = request(p.url + "/-/reload", "POST")
        assert status == 500 and "data.yml:2" in text and "series_limit" in text
        assert request(p.url + "/metrics/job/r", "PUT", b"a 1\n")[0] == 200
    finally:
        p.stop()
