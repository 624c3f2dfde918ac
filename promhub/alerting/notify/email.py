"""E-mail over SMTP as Alertmanager sends it: STARTTLS (required by default) or TLS on
port 465, AUTH with the first mechanism the server offers that the config can do
(CRAM-MD5, PLAIN, LOGIN), and a ``multipart/alternative`` message with quoted-printable
text and HTML parts. ``smtplib`` blocks, so each send runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import quopri
import re
import secrets
import smtplib
import socket
import ssl
import time
from email.header import Header
from email.utils import formatdate, getaddresses

from promhub.alerting.notify.integration import Integration, Notification, NotifyError, secret
from promhub.alerting.receiver import EmailConfig
from promhub.config.http_client import ssl_context
from promhub.rules import template_data as td

_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
#: How long one SMTP conversation may take before the attempt fails (and is retried).
SMTP_TIMEOUT = 30.0


def _qencode(value: str) -> str:
    # Go's mime.QEncoding.Encode leaves printable ASCII alone.
    if all(32 <= ord(ch) < 127 or ch == "\t" for ch in value):
        return value
    return Header(value, "utf-8").encode()


def _part(content_type: str, body: str) -> bytes:
    head = (
        "Content-Transfer-Encoding: quoted-printable\r\n"
        f"Content-Type: {content_type}; charset=UTF-8\r\n\r\n"
    )
    qp = quopri.encodestring(body.encode(), quotetabs=False).replace(b"\n", b"\r\n")
    return head.encode() + qp


_HTML_ESCAPES = str.maketrans(
    {"\0": "\ufffd", '"': "&#34;", "&": "&amp;", "'": "&#39;", "+": "&#43;", "<": "&lt;",
     ">": "&gt;"}
)  # fmt: skip


def _esc_kv(kv: td.KV) -> td.KV:
    return td.KV({k: v.translate(_HTML_ESCAPES) for k, v in kv.items()})


def html_data(data: td.NotificationData) -> td.NotificationData:
    """``data`` with label and annotation values HTML-escaped as Go's html/template
    escapes what it prints into a page (Alertmanager renders the e-mail HTML with it),
    so a value such as ``CPU > 90%`` or ``<b>`` shows as text and matches its output."""
    alerts = td.Alerts(
        dataclasses.replace(
            a,
            Labels=_esc_kv(a.Labels),
            Annotations=_esc_kv(a.Annotations),
            GeneratorURL=a.GeneratorURL.translate(_HTML_ESCAPES),
        )
        for a in data.Alerts
    )
    return dataclasses.replace(
        data,
        Alerts=alerts,
        GroupLabels=_esc_kv(data.GroupLabels),
        CommonLabels=_esc_kv(data.CommonLabels),
        CommonAnnotations=_esc_kv(data.CommonAnnotations),
    )


class EmailNotifier(Integration):
    """``email_configs``."""

    name = "email"
    conf: EmailConfig

    def message(self, n: Notification) -> tuple[str, list[str], bytes]:
        """Envelope sender, recipients and the message bytes."""
        c = self.conf
        data = n.data()
        to = n.render(c.to, data)
        rcpts = [addr for _, addr in getaddresses([to]) if addr]
        if not rcpts:
            raise NotifyError(f"parse 'to' addresses: no address in {to!r}", retry=False)
        senders = [addr for _, addr in getaddresses([n.render(c.from_, data)]) if addr]
        if not senders:
            raise NotifyError("parse 'from' addresses: no address", retry=False)
        lines = [f"{k}: {_qencode(n.render(v, data))}" for k, v in c.headers.items()]
        if "Message-Id" not in c.headers:
            host = socket.gethostname()
            lines.append(f"Message-Id: <{time.time_ns()}.{secrets.randbits(63)}@{host}>")
        boundary = secrets.token_hex(30)
        lines.append(f"Date: {formatdate(localtime=True)}")
        lines.append(f"Content-Type: multipart/alternative;  boundary={boundary}")
        lines.append("MIME-Version: 1.0")
        parts: list[bytes] = []
        if c.text:
            parts.append(_part("text/plain", n.render(c.text, data)))
        if c.html:
            # Go's html/template drops HTML comments from template text; promhub's text
            # templates keep them, so they are removed from the rendered page instead.
            html = _HTML_COMMENT.sub("", n.render(c.html, html_data(data)))
            parts.append(_part("text/html", html))
        body = b"".join(f"\r\n--{boundary}\r\n".encode() + p for p in parts)
        body += f"\r\n--{boundary}--\r\n".encode()
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        return senders[0], rcpts, head + body

    async def notify(self, n: Notification) -> None:
        """Render, then run the SMTP conversation in a thread."""
        sender, rcpts, msg = self.message(n)
        password = secret(
            self.conf.auth_password, self.conf.auth_password_file, "auth_password_file"
        )
        await asyncio.to_thread(self._send, sender, rcpts, msg, password)

    def _tls(self) -> ssl.SSLContext:
        return ssl_context(self.conf.tls_config)

    def _send(self, sender: str, rcpts: list[str], msg: bytes, password: str) -> None:
        c = self.conf
        host, _, port = c.smarthost.rpartition(":")
        host = host.strip("[]")
        hello = c.hello or "localhost"
        try:
            smtp: smtplib.SMTP
            if port == "465":
                smtp = smtplib.SMTP_SSL(
                    local_hostname=hello, timeout=SMTP_TIMEOUT, context=self._tls()
                )
            else:
                smtp = smtplib.SMTP(local_hostname=hello, timeout=SMTP_TIMEOUT)
            # smtplib takes the TLS server name from the host given to __init__, which
            # would connect at once: set it as Alertmanager does (tls server_name or host).
            smtp._host = c.tls_config.server_name or host  # type: ignore[attr-defined]  # noqa: SLF001
            smtp.connect(host, int(port))
            with smtp:
                smtp.ehlo(hello)
                if c.require_tls and port != "465":
                    if not smtp.has_extn("starttls"):
                        raise NotifyError(
                            f"'require_tls' is true (default) but \"{c.smarthost}\" does not "
                            "advertise the STARTTLS extension",
                            retry=True,
                        )
                    smtp.starttls(context=self._tls())
                    smtp.ehlo(hello)
                if c.auth_username and smtp.has_extn("auth"):
                    self._auth(smtp, password)
                smtp.sendmail(sender, rcpts, msg)
        except NotifyError:
            raise
        except smtplib.SMTPResponseException as e:
            reason = "clientError" if 500 <= e.smtp_code < 600 else "serverError"
            raise NotifyError(
                f"smtp: {e.smtp_code} {e.smtp_error!r}", retry=True, reason=reason
            ) from None
        except (smtplib.SMTPException, OSError, ValueError) as e:
            raise NotifyError(f"smtp: {e}", retry=True) from None

    def _auth(self, smtp: smtplib.SMTP, password: str) -> None:
        c = self.conf
        for mech in smtp.esmtp_features.get("auth", "").upper().split():
            auth = _authobject(mech, c.auth_identity, c.auth_username, password, c.auth_secret)
            if auth is not None:
                smtp.auth(mech, auth, initial_response_ok=mech == "PLAIN")
                return
        # Alertmanager sends without AUTH when no offered mechanism fits the config.


class _Answers:
    """smtplib's AUTH callback: the answers to the server's challenges, in order
    (CRAM-MD5's is computed from the challenge)."""

    def __init__(self, answers: list[str], cram_secret: str = "", user: str = "") -> None:
        self.answers = iter(answers)
        self.cram_secret = cram_secret
        self.user = user

    def __call__(self, challenge: bytes | None = None, /) -> str:
        if self.cram_secret:
            mac = hmac.new(self.cram_secret.encode(), challenge or b"", "md5").hexdigest()
            return f"{self.user} {mac}"
        return next(self.answers, "")


def _authobject(
    mech: str, identity: str, user: str, password: str, cram_secret: str
) -> _Answers | None:
    """The AUTH callback for ``mech``, or None if the config cannot do it."""
    if mech == "CRAM-MD5" and cram_secret:
        return _Answers([], cram_secret, user)
    if mech == "PLAIN" and password:
        return _Answers([f"{identity}\0{user}\0{password}"])
    if mech == "LOGIN" and password:
        return _Answers([user, password])
    return None
