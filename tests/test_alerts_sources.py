"""What the apps report as alert problems: an authorization that needs consent again, token
renewals that keep failing, scheduled runs that keep failing; and that no secret reaches an alert."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from connectit import alerts
from connectit.models import AlertDelivery, Incident
from connectit.redact import Redactor
from definitions import alert_sources as run_source
from definitions.models import Definition, Outcome, Run
from oauth2_auth import alert_sources as token_source
from oauth2_auth.models import EventKind, TokenEvent, TokenState
from tests.conftest import make_authorization


@pytest.fixture
def email(settings):
    settings.CONNECTIT_ALERT_EMAILS = ["ops@example.com"]
    settings.CONNECTIT_PUBLIC_URL = "https://connectit.example.com"


def events(record, *outcomes: bool, kind: str = EventKind.REQUEST_FAILED) -> None:
    """Token events, oldest first: True succeeded, False failed."""
    start = timezone.now() - timedelta(hours=1)
    for offset, success in enumerate(outcomes):
        TokenEvent.objects.create(
            authorization=record,
            at=start + timedelta(minutes=offset),
            kind=(EventKind.OBTAINED if success else kind),
            success=success,
            trigger="keep-alive",
        )


# --- Authorizations ------------------------------------------------------------------------------


def test_consent_required_tells_what_to_do(db) -> None:
    record = make_authorization(
        token_state=TokenState.CONSENT_REQUIRED,
        last_error="invalid_grant: AADSTS700082: The refresh token has expired due to inactivity.",
    )
    (problem,) = token_source.problems()
    assert problem.key == "consent:ENDPOINT"
    assert problem.subject == "ENDPOINT needs consent again"
    assert problem.action == "Open ENDPOINT and click Get Token to give consent again."
    assert "AADSTS700082" in problem.message and "Business Central sandbox" in problem.message
    assert problem.path == f"/oauth2/authorizations/{record.pk}/"


def test_renewals_that_keep_failing_are_a_problem(db, settings) -> None:
    record = make_authorization(token_state=TokenState.FAILED, last_error="HTTP 500 from the token endpoint")
    events(record, True, False, False, False)
    (problem,) = token_source.problems()
    assert (problem.kind, problem.key) == ("renewal_failing", "renewal:ENDPOINT")
    assert problem.subject == "Token renewal of ENDPOINT keeps failing"
    assert "The last 3 token requests" in problem.message
    assert problem.action.startswith("Open ENDPOINT, read the last error on its Bearer Token tab")
    settings.CONNECTIT_ALERT_AFTER_FAILURES = 4
    assert list(token_source.problems()) == []


@pytest.mark.parametrize(
    "outcomes",
    [
        (False, False),  # fewer failures than the setting
        (False, False, True, False, False),  # a success in between
    ],
)
def test_fewer_failures_in_a_row_are_not_a_problem(db, outcomes) -> None:
    record = make_authorization(token_state=TokenState.FAILED, last_error="boom")
    events(record, *outcomes)
    assert list(token_source.problems()) == []


def test_only_token_requests_count_as_renewals(db) -> None:
    record = make_authorization(token_state=TokenState.FAILED, last_error="boom")
    events(record, False, False, False, kind=EventKind.REFRESH_FAILED)
    TokenEvent.objects.create(authorization=record, kind=EventKind.CLEARED, success=True, trigger="admin")
    assert len(list(token_source.problems())) == 1


def test_a_connected_token_is_no_problem_whatever_its_history(db) -> None:
    record = make_authorization(token_state=TokenState.CONNECTED, access_token="live-access-token-123")
    events(record, False, False, False)
    assert list(token_source.problems()) == []


def test_a_long_provider_error_is_cut(db) -> None:
    make_authorization(token_state=TokenState.CONSENT_REQUIRED, last_error="x" * 5000)
    (problem,) = token_source.problems()
    assert "x" * 499 in problem.message and "x" * 501 not in problem.message


def test_no_secret_reaches_an_alert(db, canaries, email, settings) -> None:
    """The record holds a client secret, an access and a refresh token: none is in the e-mail,
    the webhook body or the stored incident."""
    make_authorization(
        token_state=TokenState.CONSENT_REQUIRED,
        access_token="at-canary-value-123456",
        refresh_token="rt-canary-value-123456",
        last_error="invalid_grant: refresh token [redacted] is dead",
    )
    alerts.evaluate()
    alerts.deliver_due()
    incident = Incident.objects.get()
    delivery = AlertDelivery.objects.get()
    texts = [
        mail.outbox[0].subject,
        mail.outbox[0].body,
        alerts.webhook_body(alerts.compose(delivery, incident), delivery.pk).decode(),
        repr(list(Incident.objects.values())),
    ]
    redact = Redactor(*canaries.canaries)
    assert len(canaries.canaries) >= 3
    assert all(redact(text) == text for text in texts)


def test_consent_given_again_sends_recovered(db, email) -> None:
    record = make_authorization(token_state=TokenState.CONSENT_REQUIRED)
    alerts.evaluate()
    record.bearer.state = TokenState.CONNECTED  # as tokens.py stores it after consent
    record.bearer.save(update_fields=["state"])
    alerts.evaluate()
    alerts.deliver_due()
    assert [message.subject for message in mail.outbox] == [
        "[ConnectIT] ENDPOINT needs consent again",
        "[ConnectIT] Resolved: ENDPOINT needs consent again",
    ]
    assert f"Open: https://connectit.example.com/oauth2/authorizations/{record.pk}/" in mail.outbox[0].body


# --- Scheduled runs ------------------------------------------------------------------------------


def scheduled_definition(code: str = "ITEMS", **fields) -> Definition:
    values = {"endpoint_url": "https://api.example.com/items", "schedule_enabled": True, "schedule_every": 5}
    return Definition.objects.create(code=code, **{**values, **fields})


def runs(definition: Definition, *outcomes: str, scheduled: bool = True) -> list[Run]:
    start = timezone.now() - timedelta(hours=1)
    return [
        Run.objects.create(
            definition=definition,
            trigger="schedule",
            scheduled=scheduled,
            outcome=outcome,
            started_at=start + timedelta(minutes=offset),
            finished_at=start + timedelta(minutes=offset, seconds=1),
            message="HTTP 503 from api.example.com" if outcome == Outcome.FAILED else "",
        )
        for offset, outcome in enumerate(outcomes)
    ]


def test_scheduled_runs_that_keep_failing_point_to_the_latest(db) -> None:
    definition = scheduled_definition()
    *_, latest = runs(definition, Outcome.SUCCESS, Outcome.FAILED, Outcome.FAILED, Outcome.FAILED)
    (problem,) = run_source.problems()
    assert (problem.kind, problem.key) == ("runs_failing", "runs:ITEMS")
    assert problem.subject == "Scheduled runs of ITEMS keep failing"
    assert problem.action.startswith(f"Open run {latest.pk} of ITEMS to see why")
    assert f"run {latest.pk}, said: HTTP 503 from api.example.com" in problem.message
    assert problem.path == f"/definitions/runs/{latest.pk}/"


def test_the_run_count_has_its_own_setting(db, settings) -> None:
    runs(scheduled_definition(), Outcome.FAILED, Outcome.FAILED)
    assert list(run_source.problems()) == []
    settings.CONNECTIT_ALERT_RUN_FAILURES = 2
    assert len(list(run_source.problems())) == 1


@pytest.mark.parametrize(
    ("outcomes", "scheduled", "fields"),
    [
        ((Outcome.FAILED, Outcome.FAILED, Outcome.SUCCESS), True, {}),  # the latest succeeded
        ((Outcome.FAILED,) * 3, False, {}),  # runs by hand: someone watches those
        ((Outcome.FAILED,) * 3, True, {"schedule_enabled": False}),  # schedule switched off
        ((Outcome.FAILED,) * 3, True, {"active": False}),
        ((Outcome.FAILED, Outcome.FAILED, Outcome.CANCELLED, Outcome.RUNNING), True, {}),
    ],
)
def test_other_run_histories_are_no_problem(db, outcomes, scheduled, fields) -> None:
    runs(scheduled_definition(**fields), *outcomes, scheduled=scheduled)
    assert list(run_source.problems()) == []


def test_cancelled_runs_do_not_break_a_streak(db) -> None:
    outcomes = (Outcome.FAILED, Outcome.CANCELLED, Outcome.FAILED, Outcome.FAILED, Outcome.QUEUED)
    runs(scheduled_definition(), *outcomes)
    assert len(list(run_source.problems())) == 1


def test_a_scheduled_run_that_succeeds_again_resolves_the_incident(db, email) -> None:
    definition = scheduled_definition()
    runs(definition, Outcome.FAILED, Outcome.FAILED, Outcome.FAILED)
    alerts.evaluate()
    assert Incident.objects.get().key == "runs:ITEMS"
    Run.objects.create(definition=definition, trigger="schedule", scheduled=True, outcome=Outcome.SUCCESS)
    alerts.evaluate()
    alerts.deliver_due()
    assert Incident.objects.get().resolved_at is not None
    assert [message.subject for message in mail.outbox] == [
        "[ConnectIT] Scheduled runs of ITEMS keep failing",
        "[ConnectIT] Resolved: Scheduled runs of ITEMS keep failing",
    ]
