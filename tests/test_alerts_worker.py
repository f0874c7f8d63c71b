"""Alerts end to end: two real ``manage.py worker`` processes, a local SMTP server and a local
webhook receiver that checks signatures. Each incident is announced once by e-mail and once by
webhook, and its recovery once, however many workers there are."""

from __future__ import annotations

import socketserver
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from oauth2_auth.models import BearerToken, TokenState
from tests.conftest import make_authorization
from tests.test_alerts import SECRET
from tests.webhook_receiver import WebhookReceiver
from tests.workers import wait_for, workers

pytestmark = pytest.mark.django_db(transaction=True)


class _SmtpSession(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: greeting, EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    server: SmtpSink

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 sink.localhost ESMTP")
        recipients: list[str] = []
        while line := self.rfile.readline():
            command = line.decode(errors="replace").strip()
            verb = command[:4].upper()
            if verb == "EHLO":
                self.reply("250-sink.localhost")
                self.reply("250 8BITMIME")
            elif verb in ("HELO", "MAIL", "RSET", "NOOP"):
                self.reply("250 OK")
                recipients = [] if verb in ("MAIL", "RSET") else recipients
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while (data := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(data[1:] if data.startswith(b"..") else data)
                self.server.add(message_from_bytes(b"".join(lines), policy=policy.default), recipients)
                self.reply("250 OK queued")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")


class SmtpSink(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpSession)
        self.lock = threading.Lock()
        self.messages: list[tuple[EmailMessage, list[str]]] = []

    def add(self, message: EmailMessage, recipients: list[str]) -> None:
        with self.lock:
            self.messages.append((message, list(recipients)))

    def subjects(self) -> list[str]:
        with self.lock:
            return [message["Subject"] for message, _ in self.messages]


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    thread = threading.Thread(target=sink.serve_forever, daemon=True)
    thread.start()
    yield sink
    sink.shutdown()
    sink.server_close()
    thread.join(5)


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as receiver:
        yield receiver


def test_two_workers_announce_an_incident_and_its_recovery_once_per_channel(smtp, hook) -> None:
    record = make_authorization(token_state=TokenState.CONSENT_REQUIRED)
    env = {
        "CONNECTIT_ALERT_EMAILS": "ops@example.com",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.server_address[1]),
        "DEFAULT_FROM_EMAIL": "connectit@example.com",
        "CONNECTIT_ALERT_WEBHOOK_URL": hook.url,
        "CONNECTIT_ALERT_WEBHOOK_SECRET": SECRET,
        "CONNECTIT_ALERT_CHECK_SECONDS": "1",
    }
    opened = "[ConnectIT] ENDPOINT needs consent again"
    with workers(2, **env):
        wait_for(lambda: smtp.subjects() and hook.state.accepted(), what="the alert by e-mail and webhook")
        time.sleep(3.5)  # several more evaluation periods (one a second), the problem still there
        assert smtp.subjects() == [opened]
        assert [body["event"] for body in hook.state.accepted()] == ["opened"]
        BearerToken.objects.filter(pk=record.pk).update(state=TokenState.CONNECTED)
        wait_for(
            lambda: len(smtp.subjects()) == 2 and hook.state.accepted("recovered"),
            what="the recovered alert by e-mail and webhook",
        )
        time.sleep(3.5)
    assert smtp.subjects() == [opened, "[ConnectIT] Resolved: ENDPOINT needs consent again"]
    assert [body["event"] for body in hook.state.accepted()] == ["opened", "recovered"]
    assert hook.state.refused() == []  # every post carried a valid, fresh, unreplayed signature
    message, recipients = smtp.messages[0]
    assert recipients == ["ops@example.com"] and message["From"] == "connectit@example.com"
    assert "Open ENDPOINT and click Get Token to give consent again." in message.get_content()
