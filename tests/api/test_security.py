"""web.yml (TLS, basic auth, headers), admin API gating and snapshots."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest

from promhub.api.security import WebConfigError, load_web_config
from promhub.server.options import Options
from tests.api.conftest import APIServer, start_api
from tests.conftest import run_promhub

HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _cert(dir: Path) -> tuple[Path, Path]:
    crt, key = dir / "server.crt", dir / "server.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(crt),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return crt, key


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[APIServer, Path]]:
    d = tmp_path_factory.mktemp("sec")
    crt, key = _cert(d)
    web = d / "web.yml"
    web.write_text(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"
        f"basic_auth_users:\n  alice: '{HASH}'\n"
    )
    a, stop = start_api(d, Options(web_config_file=str(web), enable_admin_api=True))
    yield a, crt
    stop()


def _ctx(crt: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(crt))
    return ctx


def test_basic_auth_over_tls(secured: tuple[APIServer, Path]) -> None:
    api, crt = secured
    assert api.url.startswith("https://")
    ctx = _ctx(crt)
    r = api.get("/api/v1/labels", context=ctx)
    assert r.status == 401
    assert r.headers["WWW-Authenticate"] == "Basic"
    assert r.body == b"Unauthorized\n"
    assert r.headers["X-Frame-Options"] == "deny"
    assert api.get("/api/v1/labels", context=ctx, headers=_basic("alice", "nope")).status == 401
    assert api.get("/api/v1/labels", context=ctx, headers=_basic("bob", "s3cret")).status == 401
    for _ in range(2):  # the second answer comes from the bcrypt cache
        ok = api.get("/api/v1/labels", context=ctx, headers=_basic("alice", "s3cret"))
        assert ok.status == 200 and ok.json()["data"][0] == "__name__"
        assert ok.headers["X-Frame-Options"] == "deny"


def test_plain_http_is_refused_on_a_tls_port(secured: tuple[APIServer, Path]) -> None:
    api, _ = secured
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{api.port}/api/v1/labels", timeout=5).read()


def test_admin_snapshot_and_delete(secured: tuple[APIServer, Path]) -> None:
    api, crt = secured
    auth = {"context": _ctx(crt), "headers": _basic("alice", "s3cret")}
    r = api.request("/api/v1/admin/tsdb/snapshot", method="POST", **auth)  # type: ignore[arg-type]
    assert r.status == 200, r.body
    name = r.json()["data"]["name"]
    snap = Path(api.server.opts.storage_path) / "snapshots" / name
    # The head was written as a block: the snapshot opens as a data directory.
    out = run_promhub("tsdb", "dump", str(snap), "--match", "temperature")
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 2 * 241
    r = api.request(
        "/api/v1/admin/tsdb/snapshot",
        {"skip_head": "maybe"},
        method="PUT",
        **auth,  # type: ignore[arg-type]
    )
    assert r.status == 400
    # Deleting answers 204 (as Prometheus) and the series is gone from queries.
    r = api.request(
        "/api/v1/admin/tsdb/delete_series",
        {"match[]": "gone"},
        method="POST",
        **auth,  # type: ignore[arg-type]
    )
    assert r.status == 204, r.body
    r = api.request("/api/v1/series", {"match[]": "gone"}, **auth)  # type: ignore[arg-type]
    assert r.json()["data"] == []
    r = api.request("/api/v1/admin/tsdb/clean_tombstones", method="POST", **auth)  # type: ignore[arg-type]
    assert r.status == 204


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tls_server_config:\n  cert_file: a.crt\n", "missing key_file"),
        ("basic_auth_users:\n  bob: plain\n", "not a bcrypt hash"),
        ("http_server_config:\n  headers:\n    Server: x\n", "can not be configured"),
        ("bogus: 1\n", "field bogus not found"),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Maybe\n",
            "Invalid ClientAuth",
        ),
    ],
)
def test_web_config_errors(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "web.yml"
    p.write_text(text)
    with pytest.raises(WebConfigError, match=message):
        load_web_config(p)


def test_serve_with_web_config_and_cors(promhub_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  alice: '{HASH}'\n")
    p = promhub_factory(
        tmp_path / "data",
        None,
        f"--web.config.file={web}",
        "--web.cors.origin=https://(a|b)\\.example",
    )

    def get(path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(p.url + path, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()
        except OSError:
            return 0, {}, b""

    def ready() -> bool:
        if p.proc.poll() is not None:
            raise AssertionError(p.log())
        return get("/-/ready", _basic("alice", "s3cret"))[0] == 200

    from tests.conftest import wait_for

    wait_for(ready, 30)
    assert get("/-/ready", {})[0] == 401
    status, headers, body = get(
        "/api/v1/status/flags", {**_basic("alice", "s3cret"), "Origin": "https://b.example"}
    )
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "https://b.example"
    assert json.loads(body)["data"]["web.config.file"] == str(web)
    _, headers, _ = get(
        "/api/v1/status/flags", {**_basic("alice", "s3cret"), "Origin": "https://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in headers
    p.stop()


def test_serve_refuses_a_bad_web_config(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n")
    r = run_promhub(
        "serve",
        f"--web.config.file={web}",
        f"--storage.tsdb.path={tmp_path / 'd'}",
        "--web.listen-address=127.0.0.1:0",
    )
    assert r.returncode != 0
    assert "missing.crt" in r.stderr


def test_request_body_limit(tmp_path: Path) -> None:
    api, stop = start_api(tmp_path, Options(max_body_bytes=4096))
    try:
        big = {"query": "temperature", "pad": "x" * 10_000}
        r = api.request("/api/v1/query", big, method="POST", form=True)
        assert r.status == 413
        small = api.request("/api/v1/query", {"query": "1"}, method="POST", form=True)
        assert small.status == 200
    finally:
        stop()
