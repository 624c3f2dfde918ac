"""With web.yml basic auth on, the console is behind the browser's credentials prompt and
every API call it makes carries the credentials."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import bcrypt
import pytest

from tests.conftest import PromhubProcess, wait_for

HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
TOKEN = "Basic " + base64.b64encode(b"alice:s3cret").decode()


def _status(url: str, auth: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Authorization": auth} if auth else {})
    try:
        with urllib.request.urlopen(req, timeout=2) as r:
            return r.status, ""
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("WWW-Authenticate", "")


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d = tmp_path_factory.mktemp("auth")
    web = d / "web.yml"
    web.write_text(f"basic_auth_users:\n  alice: {HASH}\n")
    p = PromhubProcess(d / "data", None, f"--web.config.file={web}")

    def ready() -> bool:
        try:
            return _status(p.url + "/-/ready", TOKEN)[0] == 200
        except OSError:
            return False

    try:
        wait_for(ready, 30)
        yield p.url
    finally:
        p.stop()


@pytest.mark.parametrize("path", ["/", "/explore", "/static/app.js", "/api/v1/query?query=up"])
def test_without_credentials_the_browser_is_asked_for_them(secured: str, path: str) -> None:
    code, challenge = _status(secured + path)
    assert code == 401
    assert challenge.startswith("Basic")


def test_every_api_call_of_the_console_carries_the_credentials(secured: str, console: Any) -> None:
    c = console(secured, credentials=("alice", "s3cret"))
    responses: list[Any] = []
    c.page.on("response", lambda r: responses.append(r))
    for name in ["overview", "explore", "alerts", "targets", "rules", "status", "dashboards"]:
        c.goto(f"/{name}").wait_for_load_state("networkidle")
    api = [r for r in responses if "/api/" in r.url]
    assert len({r.url.split("?")[0] for r in api}) >= 5, "the console made few API calls"
    for r in api:
        assert r.status != 401, f"{r.url} answered 401: the console did not send credentials"
        assert r.request.header_value("authorization") == TOKEN, r.url


def test_wrong_credentials_get_no_console(secured: str, console: Any) -> None:
    c = console(secured, credentials=("alice", "wrong"))
    resp = c.page.goto(secured + "/")
    assert resp is not None and resp.status == 401
    assert c.page.locator("#nav").count() == 0
    # Chromium reports the refused document itself as a console error; that is the point.
    c.errors.clear()
