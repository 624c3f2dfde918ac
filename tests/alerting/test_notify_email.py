"""E-mail to a real local SMTP server (aiosmtpd): STARTTLS with a self-signed
certificate, AUTH PLAIN, and the message compared with the one Debian's Alertmanager
0.25 sends for the same alerts."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from promhub.alerting.alert import Alert
from promhub.alerting.config import load_alertmanager_config_text
from promhub.alerting.dispatch import Flush, Route
from promhub.alerting.notify import Backoff, Notifier, NotifyMetrics
from tests.alerting.capture import alertmanager, have_alertmanager
from tests.conftest import free_port

aiosmtpd = pytest.importorskip("aiosmtpd")
from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@dataclass
class Inbox:
    """What the SMTP server received, and the credentials it accepted."""

    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    tls: list[bool] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        self.tls.append(session.ssl is not None)
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:  # fmt: skip
        assert isinstance(auth_data, LoginPassword)
        creds = (auth_data.login.decode(), auth_data.password.decode())
        self.logins.append(creds)
        return AuthResult(success=creds == ("alice", "secret"))

    def wait(self, n: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: Any) -> tuple[str, str]:
    d = tmp_path_factory.mktemp("tls")
    key, crt = str(d / "key.pem"), str(d / "cert.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", crt, "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return crt, key


def smtp_server(inbox: Inbox, tls: ssl.SSLContext | None) -> Controller:
    port = free_port()
    kw: dict[str, Any] = {}
    if tls is not None:
        kw = {"tls_context": tls, "require_starttls": True, "authenticator": inbox.authenticate,
              "auth_require_tls": True}  # fmt: skip
    c = Controller(inbox, hostname="127.0.0.1", port=port, **kw)
    c.start()
    return c


def alert(instance: str, severity: str = "page") -> dict[str, Any]:
    return {
        "labels": {"alertname": "Down", "job": "node", "instance": instance, "severity": severity},
        "annotations": {"summary": f"{instance} is down"},
        "startsAt": "2026-01-01T00:00:00Z",
    }


def to_alert(d: dict[str, Any]) -> Alert:
    return Alert(d["labels"], d["annotations"], starts_at=START)


def send_with_promhub(cfg_text: str, alerts: list[dict[str, Any]], external: str) -> None:
    cfg = load_alertmanager_config_text(cfg_text, "alertmanager.yml")
    n = Notifier(cfg, external_url=external, metrics=NotifyMetrics(CollectorRegistry()),
                 backoff=Backoff(initial=0.01))  # fmt: skip
    route = Route.from_config(cfg.route)
    flush = Flush("mail", '{}:{alertname="Down"}', {"alertname": "Down"}, route,
                  [to_alert(a) for a in alerts], time.time())  # fmt: skip

    async def main() -> None:
        await n.notify(flush)
        await n.close()

    asyncio.run(main())


CONFIG = """
global:
  smtp_smarthost: 127.0.0.1:{port}
  smtp_from: Alertmanager <am@example.org>
route:
  receiver: mail
  group_by: [alertname]
  group_wait: 1s
receivers:
- name: mail
  email_configs:
  - to: 'ops@example.org, Second <two@example.org>'
    text: 'text part: {{{{ .CommonLabels.alertname }}}} ü'
    headers: {{X-Team: '{{{{ .CommonLabels.job }}}}'}}
{extra}
"""


def test_starttls_and_auth_plain(cert: tuple[str, str]) -> None:
    inbox = Inbox()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*cert)
    srv = smtp_server(inbox, ctx)
    extra = (
        "    auth_username: alice\n    auth_password: secret\n"
        f"    tls_config: {{ca_file: '{cert[0]}'}}\n"
    )
    try:
        send_with_promhub(CONFIG.format(port=srv.port, extra=extra), [alert("a:1")], "http://am")
        inbox.wait(1)
    finally:
        srv.stop()
    assert inbox.logins == [("alice", "secret")]
    assert inbox.tls == [True]
    mail_from, rcpts, msg = inbox.messages[0]
    assert mail_from == "am@example.org"
    assert rcpts == ["ops@example.org", "two@example.org"]
    assert msg["Subject"] == "[FIRING:1] Down (a:1 node page)"
    assert msg["X-Team"] == "node"
    assert msg.get_content_type() == "multipart/alternative"
    text, html = (p.get_content() for p in msg.iter_parts())
    assert text == "text part: Down ü"
    assert "a:1 is down" in html and 'href="http://am/#/alerts?receiver=mail"' in html


def test_refuses_plaintext_when_tls_required() -> None:
    inbox = Inbox()
    srv = smtp_server(inbox, None)
    reg = CollectorRegistry()
    cfg = load_alertmanager_config_text(CONFIG.format(port=srv.port, extra=""), "am.yml")
    n = Notifier(cfg, metrics=NotifyMetrics(reg), backoff=Backoff(initial=0.01))
    route = Route.from_config(cfg.route)
    route.group_interval = 0.3  # give up quickly: the deadline is max(this, 10 s) anyway
    now = time.time() - 9.5

    async def main() -> None:
        await n.notify(Flush("mail", "k", {}, route, [to_alert(alert("a:1"))], now))
        await n.close()

    try:
        asyncio.run(main())
    finally:
        srv.stop()
    assert inbox.messages == []
    failed = reg.get_sample_value(
        "alertmanager_notifications_failed_total", {"integration": "email", "reason": "other"}
    )
    assert (failed or 0) >= 1


DEBIAN_EMAIL_TMPL = "/usr/share/prometheus/alertmanager/email.tmpl"


@pytest.mark.skipif(
    not have_alertmanager() or not os.path.exists(DEBIAN_EMAIL_TMPL),
    reason="no prometheus-alertmanager",
)
def test_message_matches_alertmanagers(tmp_path: Any) -> None:
    inbox = Inbox()
    srv = smtp_server(inbox, None)
    # promhub's built-in e-mail HTML is its own; Alertmanager's template file (as Debian
    # ships it) is loaded by both so the rendering can be compared byte for byte.
    extra = f"    require_tls: false\ntemplates: ['{DEBIAN_EMAIL_TMPL}']\n"
    cfg_text = CONFIG.format(port=srv.port, extra=extra)
    alerts = [alert("a:1"), alert("b:1", "warn")]
    # Values html/template escapes in the page (and does not in the Subject).
    alerts[1]["annotations"]["summary"] = "CPU > 90% & <b>'load'</b> + \"more\""
    try:
        with alertmanager(cfg_text, str(tmp_path / "am"), "http://am.example:9093") as post:
            post(alerts)
            inbox.wait(1)
        send_with_promhub(cfg_text, alerts, "http://am.example:9093")
        inbox.wait(2)
    finally:
        srv.stop()
    (am_from, am_rcpts, am), (ph_from, ph_rcpts, ph) = inbox.messages
    assert (ph_from, ph_rcpts) == (am_from, am_rcpts)
    for h in ("Subject", "From", "To", "X-Team", "MIME-Version"):
        assert ph[h] == am[h], h
    assert ph.get_content_type() == am.get_content_type()
    am_parts, ph_parts = list(am.iter_parts()), list(ph.iter_parts())
    assert [p.get_content_type() for p in ph_parts] == [p.get_content_type() for p in am_parts]
    for a, p in zip(am_parts, ph_parts, strict=True):
        assert p["Content-Transfer-Encoding"] == a["Content-Transfer-Encoding"]
        assert p.get_content() == a.get_content()
