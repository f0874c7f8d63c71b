"""The client secret's (or certificate's) expiry date: typed on the Credentials tab, warned about on
the list and the record 30 days ahead (an error once past), and an alert source that opens an
incident 30 days ahead and recovers when the date moves away or is cleared."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connectit import alerts
from connectit.models import Incident
from oauth2_auth import alert_sources, credential_expiry
from oauth2_auth.credential_expiry import Expiry, check
from oauth2_auth.forms import AuthorizationForm
from oauth2_auth.models import Authorization, TokenState
from tests.conftest import form_data, make_authorization

LIST = "/oauth2/authorizations/"
TODAY = date(2027, 1, 1)


def in_days(days: int) -> date:
    return timezone.localdate() + timedelta(days=days)


def expiring(record: Authorization, expires_on: date | None) -> None:
    record.credential_expires_on = expires_on
    record.save(update_fields=["credential_expires_on"])


# --- The rule ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("expires_on", [None, TODAY + timedelta(days=31), TODAY + timedelta(days=700)])
def test_far_or_no_date_says_nothing(expires_on: date | None) -> None:
    assert check(expires_on, TODAY) is None


def test_it_warns_30_days_ahead() -> None:
    assert check(date(2027, 1, 13), TODAY) == Expiry(
        False,
        "The client secret or certificate expires in 12 days (2027-01-13): create a new one at the "
        "provider, paste it here and update this date.",
    )
    assert check(TODAY + timedelta(days=30), TODAY).level == "warning"
    assert "expires in 1 day (2027-01-02)" in check(date(2027, 1, 2), TODAY).text
    assert "expires today (2027-01-01)" in check(TODAY, TODAY).text


def test_after_the_date_it_is_an_error() -> None:
    expiry = check(date(2026, 12, 29), TODAY)
    assert expiry.expired and expiry.level == "danger"
    assert expiry.text.startswith(
        "The client secret or certificate expired 3 days ago (2026-12-29): token requests fail"
    )


# --- The form, the list and the record -----------------------------------------------------------------


def test_the_date_is_on_the_credentials_tab(admin_client) -> None:
    page = admin_client.get("/oauth2/authorizations/new/").content.decode()
    assert 'type="date" name="credential_expires_on"' in page
    form = AuthorizationForm(form_data(credential_expires_on="2027-06-30"))
    assert form.is_valid(), form.errors
    assert form.save().credential_expires_on == date(2027, 6, 30)
    assert "credential_expires_on" in dict((tab[0], tab[2]) for tab in AuthorizationForm.tabs)["credentials"]


def test_the_date_is_optional(db) -> None:
    form = AuthorizationForm(form_data(credential_expires_on=""))
    assert form.is_valid(), form.errors
    assert form.save().credential_expires_on is None


def test_the_list_warns_and_errs(admin_client) -> None:
    make_authorization(code="SOON", credential_expires_on=in_days(12))
    make_authorization(code="GONE", credential_expires_on=in_days(-2))
    make_authorization(code="FINE", credential_expires_on=in_days(90))
    page = admin_client.get(LIST).content.decode()
    assert f"expires in 12 days ({in_days(12).isoformat()})" in page
    assert f"expired 2 days ago ({in_days(-2).isoformat()})" in page
    assert page.count("data-credential-expiry=") == 2
    assert 'text-warning-emphasis mt-1" data-credential-expiry="warning"' in page
    assert 'text-danger-emphasis mt-1" data-credential-expiry="danger"' in page


def test_the_record_page_warns(admin_client) -> None:
    record = make_authorization(credential_expires_on=in_days(5))
    page = admin_client.get(f"/oauth2/authorizations/{record.pk}/").content.decode()
    assert 'class="alert alert-warning mb-3" role="status" data-credential-expiry="warning"' in page
    assert "expires in 5 days" in page
    expiring(record, in_days(200))
    page = admin_client.get(f"/oauth2/authorizations/{record.pk}/").content.decode()
    assert "data-credential-expiry" not in page


def test_the_list_query_count_stays_the_same(admin_client) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(LIST).status_code == 200
        return len(captured)

    make_authorization(code="FIRST", credential_expires_on=in_days(3))
    few = queries()
    for number in range(30):
        make_authorization(code=f"MORE-{number:02d}", credential_expires_on=in_days(number - 5))
    assert queries() == few <= 10


# --- The alert source -------------------------------------------------------------------------------


@pytest.fixture
def email(settings):
    settings.CONNECTIT_ALERT_EMAILS = ["ops@example.com"]
    settings.CONNECTIT_PUBLIC_URL = "https://connectit.example.com"


def test_an_expiring_secret_is_a_problem_that_says_what_to_do(db) -> None:
    record = make_authorization(credential_expires_on=in_days(12))
    (problem,) = alert_sources.problems()
    assert (problem.kind, problem.key) == ("credential_expiring", "credential:ENDPOINT")
    assert problem.subject == "The secret or certificate of ENDPOINT expires soon"
    assert "Business Central sandbox" in problem.message
    assert f"expires in 12 days ({in_days(12).isoformat()})" in problem.message
    assert problem.action.startswith(
        "Create a new client secret or certificate at the provider, open ENDPOINT"
    )
    assert problem.path == f"/oauth2/authorizations/{record.pk}/"


def test_an_expired_secret_says_so(db) -> None:
    make_authorization(credential_expires_on=in_days(-1))
    (problem,) = alert_sources.problems()
    assert problem.subject == "The secret or certificate of ENDPOINT has expired"
    assert "expired 1 day ago" in problem.message


@pytest.mark.parametrize("days", [31, 400])
def test_a_date_further_out_is_no_problem(db, days: int) -> None:
    make_authorization(credential_expires_on=in_days(days))
    make_authorization(code="NODATE")
    assert list(alert_sources.problems()) == []


def test_exactly_30_days_ahead_opens_it(db) -> None:
    make_authorization(credential_expires_on=in_days(credential_expiry.WARN_DAYS))
    assert [problem.key for problem in alert_sources.problems()] == ["credential:ENDPOINT"]


def test_it_sits_beside_the_token_problems(db) -> None:
    make_authorization(token_state=TokenState.CONSENT_REQUIRED, credential_expires_on=in_days(2))
    keys = sorted(problem.key for problem in alert_sources.problems())
    assert keys == ["consent:ENDPOINT", "credential:ENDPOINT"]


@pytest.mark.parametrize("new_date", [None, "far"])
def test_a_new_date_or_none_recovers_the_incident(db, email, new_date) -> None:
    record = make_authorization(credential_expires_on=in_days(10))
    alerts.register_source("oauth2", alert_sources.problems)
    alerts.evaluate()
    # Correcting the date within the window keeps the one incident (the key has no date).
    expiring(record, in_days(8))
    assert alerts.evaluate() == alerts.Evaluation(0, 0)
    expiring(record, None if new_date is None else in_days(730))
    assert alerts.evaluate() == alerts.Evaluation(0, 1)
    alerts.deliver_due()
    assert [message.subject for message in mail.outbox] == [
        "[ConnectIT] The secret or certificate of ENDPOINT expires soon",
        "[ConnectIT] Resolved: The secret or certificate of ENDPOINT expires soon",
    ]
    assert "What to do: Create a new client secret or certificate" in mail.outbox[0].body
    assert Incident.objects.get().resolved_at is not None


def test_no_secret_reaches_the_alert(db) -> None:
    make_authorization(credential_expires_on=in_days(1), client_secret="very-secret-value-987")
    (problem,) = alert_sources.problems()
    assert "very-secret-value-987" not in repr(problem)
