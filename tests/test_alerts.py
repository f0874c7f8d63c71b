"""The alert mechanism (connectit.alerts): one incident per problem, one message per incident and
channel, one "recovered" when it clears; signed webhooks retried with backoff; e-mail by Django's
mail (locmem here; tests/test_alerts_worker.py uses a real SMTP peer)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from connectit import alerts, worker
from connectit.models import AlertChannel, AlertDelivery, AlertEvent, Incident
from tests.processes import REPO
from tests.webhook_receiver import WebhookReceiver, verify

SECRET = "webhook-signing-secret-0123456789"
PROBLEM = alerts.Problem(
    kind="consent_required",
    key="consent:ENDPOINT",
    subject="ENDPOINT needs consent again",
    message="The provider no longer accepts the refresh token of ENDPOINT.",
    action="Open ENDPOINT and click Get Token to give consent again.",
    path="/oauth2/authorizations/7/",
)


class FakeSource:
    """The problems that exist now, as a test sets them."""

    def __init__(self) -> None:
        self.problems: list[alerts.Problem] = []
        self.fail = False

    def __call__(self) -> list[alerts.Problem]:
        if self.fail:
            raise RuntimeError("source broken")
        return list(self.problems)


@pytest.fixture
def source(monkeypatch) -> FakeSource:
    fake = FakeSource()
    monkeypatch.setattr(alerts, "_sources", {"fake": fake})
    return fake


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as receiver:
        yield receiver


@pytest.fixture
def both(settings, hook):
    """E-mail (locmem) and the webhook, both configured."""
    settings.CONNECTIT_ALERT_EMAILS = ["ops@example.com", "oncall@example.com"]
    settings.CONNECTIT_ALERT_WEBHOOK_URL = hook.url
    settings.CONNECTIT_ALERT_WEBHOOK_SECRET = SECRET
    settings.CONNECTIT_PUBLIC_URL = "https://connectit.example.com"
    settings.DEFAULT_FROM_EMAIL = "connectit@example.com"
    return hook


def make_due() -> None:
    """As if the backoff pause had passed."""
    AlertDelivery.objects.exclude(next_attempt_at=None).update(next_attempt_at=timezone.now())


def deliveries(**filters) -> list[tuple[str, str]]:
    rows = AlertDelivery.objects.filter(**filters).order_by("id")
    return [(row.event, row.channel) for row in rows]


# --- Once per incident ---------------------------------------------------------------------------


def test_a_problem_opens_one_incident_with_one_delivery_per_channel(db, source, both) -> None:
    source.problems = [PROBLEM]
    assert alerts.evaluate() == alerts.Evaluation(opened=1, resolved=0)
    assert alerts.evaluate() == alerts.Evaluation(opened=0, resolved=0)
    (incident,) = Incident.objects.all()
    assert (incident.key, incident.source, incident.resolved_at) == ("consent:ENDPOINT", "fake", None)
    assert deliveries() == [("opened", "email"), ("opened", "webhook")]


def test_the_email_is_sent_once_per_incident(db, source, both) -> None:
    source.problems = [PROBLEM]
    for _ in range(2):
        alerts.evaluate()
        alerts.deliver_due()
    (sent,) = mail.outbox
    assert sent.subject == "[ConnectIT] ENDPOINT needs consent again"
    assert sent.to == ["ops@example.com", "oncall@example.com"]
    assert sent.from_email == "connectit@example.com"
    assert "What to do: Open ENDPOINT and click Get Token to give consent again." in sent.body
    assert "Open: https://connectit.example.com/oauth2/authorizations/7/" in sent.body
    assert AlertDelivery.objects.get(channel=AlertChannel.EMAIL).status == "delivered"


def test_the_webhook_is_signed_and_sent_once_per_incident(db, source, both) -> None:
    source.problems = [PROBLEM]
    for _ in range(2):
        alerts.evaluate()
        alerts.deliver_due()
    assert both.state.refused() == []  # the receiver checked the signature of every post
    (body,) = both.state.accepted()
    incident = Incident.objects.get()
    assert body == {
        "event": "opened",
        "kind": "consent_required",
        "key": "consent:ENDPOINT",
        "subject": "ENDPOINT needs consent again",
        "message": PROBLEM.message,
        "action": PROBLEM.action,
        "opened_at": incident.opened_at.isoformat(),
        "resolved_at": None,
        "url": "https://connectit.example.com/oauth2/authorizations/7/",
        "delivery": AlertDelivery.objects.get(channel=AlertChannel.WEBHOOK).pk,
    }
    assert both.state.posts[0].path == "/hooks/alerts"


def test_recovery_is_announced_once_on_each_channel(db, source, both) -> None:
    source.problems = [PROBLEM]
    alerts.evaluate()
    alerts.deliver_due()
    source.problems = []
    assert alerts.evaluate() == alerts.Evaluation(opened=0, resolved=1)
    assert alerts.evaluate() == alerts.Evaluation(opened=0, resolved=0)
    alerts.deliver_due()
    alerts.deliver_due()
    incident = Incident.objects.get()
    assert incident.resolved_at is not None
    assert deliveries(event=AlertEvent.RECOVERED) == [("recovered", "email"), ("recovered", "webhook")]
    assert [message.subject for message in mail.outbox] == [
        "[ConnectIT] ENDPOINT needs consent again",
        "[ConnectIT] Resolved: ENDPOINT needs consent again",
    ]
    assert "What to do: Nothing to do." in mail.outbox[1].body
    (recovered,) = both.state.accepted("recovered")
    assert recovered["key"] == "consent:ENDPOINT"
    assert recovered["resolved_at"] == incident.resolved_at.isoformat()


def test_recovered_goes_only_where_the_opening_went(db, source, settings, both) -> None:
    settings.CONNECTIT_ALERT_WEBHOOK_URL = ""
    source.problems = [PROBLEM]
    alerts.evaluate()
    settings.CONNECTIT_ALERT_WEBHOOK_URL = both.url  # configured while the incident was open
    source.problems = []
    alerts.evaluate()
    assert deliveries() == [("opened", "email"), ("recovered", "email")]


def test_a_problem_that_comes_back_is_a_new_incident(db, source, both) -> None:
    source.problems = [PROBLEM]
    alerts.evaluate()
    source.problems = []
    alerts.evaluate()
    source.problems = [PROBLEM]
    alerts.evaluate()
    assert Incident.objects.count() == 2
    assert Incident.objects.filter(resolved_at=None).count() == 1
    assert deliveries(event=AlertEvent.OPENED) == [("opened", "email"), ("opened", "webhook")] * 2


def test_a_failing_source_leaves_its_incidents_open(db, source, both, caplog) -> None:
    source.problems = [PROBLEM]
    alerts.evaluate()
    source.fail = True
    assert alerts.evaluate() == alerts.Evaluation(opened=0, resolved=0)
    assert Incident.objects.get().resolved_at is None
    assert "Alert source fake failed" in caplog.text


def test_without_channels_an_incident_is_kept_but_nothing_is_sent(db, source) -> None:
    source.problems = [PROBLEM]
    alerts.evaluate()
    assert Incident.objects.count() == 1
    assert not AlertDelivery.objects.exists()


# --- Retries -------------------------------------------------------------------------------------


def test_a_failed_webhook_is_retried_with_backoff(db, source, both) -> None:
    both.state.statuses = [500]
    source.problems = [PROBLEM]
    alerts.evaluate()
    before = timezone.now()
    alerts.deliver_due()
    webhook = AlertDelivery.objects.get(channel=AlertChannel.WEBHOOK)
    assert webhook.attempts == 1 and webhook.delivered_at is None
    assert webhook.last_error == f"127.0.0.1:{both.server.server_address[1]} answered HTTP 500."
    assert before + timedelta(seconds=29) < webhook.next_attempt_at < timezone.now() + timedelta(seconds=31)
    assert alerts.deliver_due() == 0  # not due yet
    make_due()
    assert alerts.deliver_due() == 1
    webhook.refresh_from_db()
    assert (webhook.attempts, webhook.status, webhook.last_error) == (2, "delivered", "")
    assert [post.status for post in both.state.posts] == [500, 200]
    assert both.state.refused() == []
    # The same delivery id both times, so a receiver can tell a retry from a new alert.
    assert {post.body["delivery"] for post in both.state.posts} == {webhook.pk}
    assert len(mail.outbox) == 1  # the e-mail went out once, at the first attempt


def test_backoff_grows_and_a_delivery_is_given_up_after_the_last_attempt(db, source, both) -> None:
    both.state.statuses = [503] * alerts.MAX_ATTEMPTS
    source.problems = [PROBLEM]
    alerts.evaluate()
    pauses = []
    for _ in range(alerts.MAX_ATTEMPTS):
        make_due()
        alerts.deliver_due()
        webhook = AlertDelivery.objects.get(channel=AlertChannel.WEBHOOK)
        if webhook.next_attempt_at:
            pauses.append(round((webhook.next_attempt_at - timezone.now()).total_seconds() / 10) * 10)
    assert pauses == [30, 120, 600, 3600, 7200, 14400, 28800]
    assert webhook.attempts == alerts.MAX_ATTEMPTS == 8
    assert (webhook.status, webhook.next_attempt_at, webhook.delivered_at) == ("failed", None, None)
    assert "answered HTTP 503" in webhook.last_error
    make_due()
    assert alerts.deliver_due() == 0
    assert len(both.state.posts) == alerts.MAX_ATTEMPTS


def test_a_claimed_delivery_is_not_taken_twice_until_its_lease_runs_out(db, source, both) -> None:
    source.problems = [PROBLEM]
    alerts.evaluate()
    first = alerts._claim()
    second = alerts._claim()
    assert first is not None and second is not None and first.pk != second.pk
    assert alerts._claim() is None  # both taken
    assert first.next_attempt_at > timezone.now() + timedelta(seconds=60)
    # The first worker died; its lease runs out and another takes the delivery over.
    AlertDelivery.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now())
    again = alerts._claim()
    assert again.pk == first.pk and again.attempts == 2
    # The first worker's late result is not recorded over the new claim.
    alerts._record(first, "")
    assert AlertDelivery.objects.get(pk=first.pk).delivered_at is None


def test_a_webhook_error_names_the_host_only(db, source, settings, both) -> None:
    settings.CONNECTIT_ALERT_EMAILS = []
    settings.CONNECTIT_ALERT_WEBHOOK_URL = "http://127.0.0.1:9/hooks/T0KEN-in-the-path?key=query-secret"
    source.problems = [PROBLEM]
    alerts.evaluate()
    alerts.deliver_due()
    (webhook,) = AlertDelivery.objects.all()
    assert webhook.last_error == "Could not connect to 127.0.0.1:9 (connection refused)."
    assert webhook.status == "retrying"


def test_a_refused_webhook_url_is_never_called(db, source, settings, both, guard) -> None:
    settings.CONNECTIT_ALERT_EMAILS = []
    settings.CONNECTIT_ALERT_WEBHOOK_URL = "http://hooks.example.com/alerts"
    source.problems = [PROBLEM]
    alerts.evaluate()
    alerts.deliver_due()
    (webhook,) = AlertDelivery.objects.all()
    assert webhook.last_error.startswith("CONNECTIT_ALERT_WEBHOOK_URL is refused: Plain http is refused")
    assert guard.attempts == []


def test_an_unreachable_mail_server_is_retried(db, source, settings) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    settings.CONNECTIT_ALERT_EMAILS = ["ops@example.com"]
    source.problems = [PROBLEM]
    alerts.evaluate()
    alerts.deliver_due()
    (email,) = AlertDelivery.objects.all()
    assert email.last_error.startswith("E-mail via 127.0.0.1:9 failed: ConnectionRefusedError")
    assert email.status == "retrying" and email.attempts == 1


def test_the_receiver_refuses_a_wrong_signature(db, source, settings, both) -> None:
    settings.CONNECTIT_ALERT_EMAILS = []
    settings.CONNECTIT_ALERT_WEBHOOK_SECRET = "another-secret-0123456789"
    source.problems = [PROBLEM]
    alerts.evaluate()
    alerts.deliver_due()
    assert [post.reason for post in both.state.posts] == ["bad signature"]
    assert AlertDelivery.objects.get().status == "retrying"


def test_the_signature_covers_the_timestamp_and_the_body() -> None:
    body = alerts.webhook_body(
        alerts.Alert("test", "test", "test", "s", "m", "a", timezone.now(), None, None), delivery_id=1
    )
    timestamp = str(int(timezone.now().timestamp()))
    headers = {
        "X-ConnectIT-Timestamp": timestamp,
        "X-ConnectIT-Signature": alerts.signature(SECRET, timestamp, body),
    }
    assert verify(SECRET, headers, body) == ""
    assert verify(SECRET, headers, body.replace(b'"m"', b'"x"')) == "bad signature"
    assert (
        verify(SECRET, {**headers, "X-ConnectIT-Timestamp": str(int(timestamp) + 1)}, body) == "bad signature"
    )
    assert verify(SECRET, headers, body, now=int(timestamp) + 3600) == "stale"
    assert json.loads(body)["event"] == "test"


# --- Test alerts, housekeeping, wiring -----------------------------------------------------------


def test_a_test_alert_goes_to_every_channel(db, both) -> None:
    queued = alerts.queue_test("admin")
    assert [delivery.channel for delivery in queued] == ["email", "webhook"]
    assert alerts.deliver_due() == 2
    (sent,) = mail.outbox
    assert sent.subject == "[ConnectIT] Test alert from ConnectIT OAuth2"
    assert "asked for by admin" in sent.body
    (body,) = both.state.accepted()
    assert (body["event"], body["url"]) == ("test", "https://connectit.example.com/alerts/")
    assert alerts.queue_test("admin") and AlertDelivery.objects.filter(event="test").count() == 4


def test_old_resolved_incidents_and_test_alerts_are_pruned(db, source, both) -> None:
    source.problems = [PROBLEM]
    alerts.evaluate()
    source.problems = []
    alerts.evaluate()
    alerts.queue_test("admin")
    long_ago = timezone.now() - alerts.KEEP - timedelta(days=1)
    Incident.objects.update(resolved_at=long_ago)
    AlertDelivery.objects.filter(incident=None).update(created_at=long_ago)
    source.problems = [PROBLEM]  # an open incident is never pruned
    alerts.evaluate()
    assert list(Incident.objects.values_list("resolved_at", flat=True)) == [None]
    assert deliveries() == [("opened", "email"), ("opened", "webhook")]


def test_the_workers_run_evaluate_and_deliver_in_threads_of_their_own() -> None:
    jobs = worker.jobs()
    # Not every_worker: those run in the ticker's thread, and sending waits on the network.
    assert jobs["alerts.evaluate"].every_worker is False
    assert jobs["alerts.deliver"].every_worker is False
    assert jobs["alerts.deliver"].every() <= 5
    assert set(alerts.sources()) >= {"oauth2", "definitions"}


def test_check_names_a_refused_webhook_url(settings) -> None:
    settings.CONNECTIT_ALERT_WEBHOOK_URL = "http://hooks.example.com/T0KEN"
    (error,) = alerts.check_webhook_url()
    assert error.id == "connectit.E101" and "Plain http is refused" in error.msg
    settings.CONNECTIT_ALERT_WEBHOOK_URL = "https://hooks.example.com/T0KEN"
    assert alerts.check_webhook_url() == []


# --- No transaction across the network; concurrent evaluations -----------------------------------


@pytest.mark.django_db(transaction=True)
def test_no_transaction_is_open_while_sending(source, both, monkeypatch) -> None:
    seen: list[bool] = []
    real_send = alerts.send

    def watching_send(delivery, incident) -> None:
        seen.append(connection.in_atomic_block)
        real_send(delivery, incident)

    monkeypatch.setattr(alerts, "send", watching_send)
    source.problems = [PROBLEM]
    alerts.evaluate()
    assert alerts.deliver_due() == 2
    assert seen == [False, False]


@pytest.mark.django_db(transaction=True)
def test_two_evaluations_at_once_open_one_incident(source, both, monkeypatch) -> None:
    source.problems = [PROBLEM]
    both_looked = threading.Barrier(2, timeout=10)
    real_open = alerts._open

    def open_after_both_looked(name: str, problem: alerts.Problem) -> bool:
        both_looked.wait()  # each has read "no open incident" before either writes
        return real_open(name, problem)

    monkeypatch.setattr(alerts, "_open", open_after_both_looked)
    results: list[object] = []

    def evaluate() -> None:
        try:
            results.append(alerts.evaluate())
        except Exception as exc:  # reported by the assertion below
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=evaluate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(getattr(result, "opened", result) for result in results) == [0, 1], results
    assert Incident.objects.count() == 1
    assert deliveries() == [("opened", "email"), ("opened", "webhook")]


# --- Settings ------------------------------------------------------------------------------------


def alert_settings(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess:
    """The real settings, imported in a fresh interpreter with only ``extra`` in the environment."""
    environ = {
        "PATH": os.environ["PATH"],
        "CONNECTIT_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "connectit.settings",
        **extra,
    }
    names = ("CONNECTIT_ALERT_EMAILS", "CONNECTIT_ALERT_RUN_FAILURES", "EMAIL_HOST_PASSWORD", "EMAIL_TIMEOUT")
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{name: getattr(settings, name) for name in {names!r}}}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=environ, capture_output=True, text=True, timeout=60
    )


def test_settings_come_from_the_environment_and_secret_files(tmp_path) -> None:
    password = tmp_path / "smtp_password"
    password.write_text("smtp-password-value\n")
    result = alert_settings(
        tmp_path,
        CONNECTIT_ALERT_EMAILS="ops@example.com, oncall@example.com",
        CONNECTIT_ALERT_AFTER_FAILURES="5",
        EMAIL_HOST_PASSWORD_FILE=str(password),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "CONNECTIT_ALERT_EMAILS": ["ops@example.com", "oncall@example.com"],
        "CONNECTIT_ALERT_RUN_FAILURES": 5,  # follows CONNECTIT_ALERT_AFTER_FAILURES unless set
        "EMAIL_HOST_PASSWORD": "smtp-password-value",
        "EMAIL_TIMEOUT": 15,
    }


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        (
            {"CONNECTIT_ALERT_WEBHOOK_URL": "https://hooks.example.com/x"},
            "CONNECTIT_ALERT_WEBHOOK_SECRET (or _FILE)",
        ),
        (
            {"CONNECTIT_ALERT_WEBHOOK_URL": "hooks.example.com/x", "CONNECTIT_ALERT_WEBHOOK_SECRET": SECRET},
            "CONNECTIT_ALERT_WEBHOOK_URL must be an absolute http(s) URL",
        ),
        ({"EMAIL_USE_TLS": "true", "EMAIL_USE_SSL": "true"}, "not both"),
    ],
)
def test_settings_refuse_an_unsigned_or_bad_webhook_and_tls_with_ssl(tmp_path, extra, error) -> None:
    result = alert_settings(tmp_path, **extra)
    assert result.returncode != 0
    assert error in result.stderr


def test_the_webhook_secret_may_come_from_a_file(tmp_path) -> None:
    secret = tmp_path / "webhook_secret"
    secret.write_text(SECRET + "\n")
    result = alert_settings(
        tmp_path,
        CONNECTIT_ALERT_WEBHOOK_URL="https://hooks.example.com/x",
        CONNECTIT_ALERT_WEBHOOK_SECRET_FILE=str(secret),
    )
    assert result.returncode == 0, result.stderr
