"""Admin TSDB API: delete_series and clean_tombstones on a real server over loopback."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from promhub.server.options import Options
from tests.api.conftest import NOW_MS, START_MS, APIServer, start_api


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[APIServer]:
    a, stop = start_api(tmp_path, Options(enable_admin_api=True))
    yield a
    stop()


def _values(api: APIServer, query: str) -> list[list[object]]:
    r = api.get(
        "/api/v1/query_range",
        {"query": query, "start": START_MS / 1000, "end": NOW_MS / 1000, "step": "15s"},
    )
    assert r.status == 200, r.body
    return [s["values"] for s in r.json()["data"]["result"]]


def test_delete_series_needs_the_admin_flag(tmp_path: Path) -> None:
    api, stop = start_api(tmp_path)
    try:
        r = api.request(
            "/api/v1/admin/tsdb/delete_series", {"match[]": "temperature"}, method="POST"
        )
        assert r.status == 500 and r.json()["errorType"] == "unavailable"
        r = api.request("/api/v1/admin/tsdb/clean_tombstones", method="POST")
        assert r.status == 500 and r.json()["error"] == "admin APIs disabled"
        assert len(_values(api, "temperature")) == 2
    finally:
        stop()


def test_delete_series_partial_range_then_clean(admin: APIServer) -> None:
    cut = START_MS + 1_800_000
    r = admin.request(
        "/api/v1/admin/tsdb/delete_series",
        [("match[]", 'temperature{instance="a:9100"}'), ("end", str(cut / 1000))],
        method="PUT",
    )
    assert r.status == 204 and r.body == b""
    series = {
        s["metric"]["instance"]: s["values"]
        for s in admin.get(
            "/api/v1/query_range",
            {"query": "temperature", "start": START_MS / 1000, "end": NOW_MS / 1000, "step": "15s"},
        ).json()["data"]["result"]
    }
    assert min(float(t) for t, _ in series["a:9100"]) > cut / 1000
    assert min(float(t) for t, _ in series["b:9100"]) == START_MS / 1000
    r = admin.request("/api/v1/admin/tsdb/clean_tombstones", method="POST")
    assert r.status == 204
    # Deleting everything of a series hides it from series and label values too.
    r = admin.request("/api/v1/admin/tsdb/delete_series", {"match[]": "gone"}, method="POST")
    assert r.status == 204
    assert admin.get("/api/v1/series", {"match[]": "gone"}).json()["data"] == []
    assert "gone" not in admin.get("/api/v1/label/__name__/values").json()["data"]
    assert "batch" not in admin.get("/api/v1/label/job/values").json()["data"]


def test_delete_series_errors_as_prometheus(admin: APIServer) -> None:
    r = admin.request("/api/v1/admin/tsdb/delete_series", method="POST")
    assert r.status == 400 and r.json()["error"] == "no match[] parameter provided"
    r = admin.request("/api/v1/admin/tsdb/delete_series", {"match[]": "up{"}, method="POST")
    assert r.status == 400 and r.json()["errorType"] == "bad_data"
    r = admin.request(
        "/api/v1/admin/tsdb/delete_series",
        {"match[]": "temperature", "start": "yesterday"},
        method="POST",
    )
    assert r.status == 400 and "start" in r.json()["error"]
    r = admin.request("/api/v1/admin/tsdb/delete_series", {"match[]": "temperature"})
    assert r.status == 405


def test_curl_as_the_prometheus_docs_show(admin: APIServer) -> None:
    url = f"{admin.url}/api/v1/admin/tsdb/delete_series?match[]=http_requests_total"
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-g", url],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.stdout == "204", out.stderr
    assert _values(admin, "http_requests_total") == []
    assert len(_values(admin, "temperature")) == 2
    out = subprocess.run(
        [
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            f"{admin.url}/api/v1/admin/tsdb/clean_tombstones",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.stdout == "204"
