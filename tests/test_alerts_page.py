"""The Alerts page: for administrators; shows where alerts go (never the webhook's path or secret),
open and recent incidents and how deliveries went; its button queues a test alert."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail
from django.test import Client

from connectit import alerts, roles
from connectit.models import AlertDelivery, AuditAction, AuditEntry, Incident
from tests.conftest import PASSWORD
from tests.test_alerts import PROBLEM, SECRET
from tests.webhook_receiver import WebhookReceiver

WEBHOOK_PATH = "/hooks/T0KEN-in-the-path-42"


@pytest.fixture
def hook(settings):
    with WebhookReceiver(SECRET, path=WEBHOOK_PATH) as receiver:
        settings.CONNECTIT_ALERT_EMAILS = ["ops@example.com"]
        settings.CONNECTIT_ALERT_WEBHOOK_URL = receiver.url + "?key=query-value-77"
        settings.CONNECTIT_ALERT_WEBHOOK_SECRET = SECRET
        yield receiver


def client_with(role: str) -> Client:
    user = User.objects.create_user(role.lower().replace(" ", "-"), password=PASSWORD)
    if role in roles.ROLES:
        user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.mark.parametrize(
    ("role", "allowed"), [("no role", False), *((role, role == roles.ADMINISTRATOR) for role in roles.ROLES)]
)
def test_the_page_and_the_button_are_for_administrators(db, hook, role: str, allowed: bool) -> None:
    client = client_with(role)
    page = client.get("/alerts/")
    button = client.post("/alerts/test/")
    assert page.status_code == (200 if allowed else 403)
    assert button.status_code == (302 if allowed else 403)
    assert AlertDelivery.objects.exists() == allowed
    nav = text(client.get("/oauth2/authorizations/")) if role != "no role" else ""
    assert ('href="/alerts/"' in nav) == allowed


def test_anonymous_people_are_sent_to_log_in(client, db) -> None:
    for response in (client.get("/alerts/"), client.post("/alerts/test/")):
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_page_shows_the_channels_without_the_webhook_path_or_secret(admin_client, hook) -> None:
    body = text(admin_client.get("/alerts/"))
    assert "ops@example.com" in body
    assert f"POST to 127.0.0.1:{hook.server.server_address[1]}" in body
    for hidden in ("T0KEN-in-the-path-42", "query-value-77", SECRET):
        assert hidden not in body
    assert "Send a test alert" in body and "disabled" not in body.split("Send a test alert")[0][-80:]


def test_the_page_says_what_is_not_configured(admin_client, settings) -> None:
    settings.CONNECTIT_ALERT_EMAILS = []
    settings.CONNECTIT_ALERT_WEBHOOK_URL = ""
    body = text(admin_client.get("/alerts/"))
    assert "not configured (set <code>CONNECTIT_ALERT_EMAILS</code>)" in body
    assert '<button class="btn btn-primary" type="submit" disabled>Send a test alert</button>' in body
    response = admin_client.post("/alerts/test/", follow=True)
    assert "No alert channel is configured" in text(response)
    assert not AlertDelivery.objects.exists()
    assert not AuditEntry.objects.filter(action=AuditAction.ALERT_TEST).exists()


def test_a_refused_webhook_url_is_shown(admin_client, settings) -> None:
    settings.CONNECTIT_ALERT_WEBHOOK_URL = "http://hooks.example.com/T0KEN"
    settings.CONNECTIT_ALERT_WEBHOOK_SECRET = SECRET
    body = text(admin_client.get("/alerts/"))
    assert "Refused: Plain http is refused" in body and "T0KEN" not in body


def test_the_test_button_queues_audits_and_the_result_shows_on_reload(admin_client, hook) -> None:
    response = admin_client.post("/alerts/test/", REMOTE_ADDR="192.0.2.9", follow=True)
    body = text(response)
    assert "Test alert queued for e-mail and webhook; the worker sends it within seconds." in body
    assert [(d.event, d.channel, d.requested_by) for d in AlertDelivery.objects.order_by("id")] == [
        ("test", "email", "admin"),
        ("test", "webhook", "admin"),
    ]
    (entry,) = AuditEntry.objects.filter(action=AuditAction.ALERT_TEST)
    assert (entry.actor, entry.address, entry.target) == ("admin", "192.0.2.9", "e-mail, webhook")
    assert body.count('data-status="queued"') == 2
    alerts.deliver_due()  # what a worker does within seconds
    body = text(admin_client.get("/alerts/"))
    assert body.count('data-status="delivered"') == 2
    assert len(mail.outbox) == 1 and len(hook.state.accepted("test")) == 1


def test_the_test_button_only_posts(admin_client, hook) -> None:
    assert admin_client.get("/alerts/test/").status_code == 405
    assert not AlertDelivery.objects.exists()


def test_open_incidents_failed_deliveries_and_resolved_ones_are_listed(
    admin_client, hook, monkeypatch
) -> None:
    monkeypatch.setattr(alerts, "_sources", {"fake": lambda: [PROBLEM]})
    hook.state.statuses = [500]
    alerts.evaluate()
    alerts.deliver_due()
    body = text(admin_client.get("/alerts/"))
    assert '<a href="/oauth2/authorizations/7/">ENDPOINT needs consent again</a>' in body
    assert "Open ENDPOINT and click Get Token to give consent again." in body
    assert 'data-status="retrying"' in body and "answered HTTP 500." in body
    assert 'data-status="delivered"' in body  # the e-mail
    AlertDelivery.objects.filter(channel="webhook").update(next_attempt_at=None)  # given up
    monkeypatch.setattr(alerts, "_sources", {"fake": list})
    alerts.evaluate()
    body = text(admin_client.get("/alerts/"))
    assert "No open incidents." in body
    assert 'data-status="failed"' in body and "Failed</span> after 1 attempt" in body
    assert Incident.objects.get().subject in body.split('id="recent-incidents"')[1]


def test_the_page_costs_the_same_queries_with_more_rows(
    admin_client, hook, django_assert_max_num_queries
) -> None:
    for index in range(30):
        incident = Incident.objects.create(
            kind="k", key=f"k:{index}", source="fake", subject=f"S{index}", message="m", action="a"
        )
        alerts._queue(incident, "opened", ["email", "webhook"])
    with django_assert_max_num_queries(8):
        text(admin_client.get("/alerts/"))
