"""Get Token, Refresh now, Clear token and Save & Get Token act once per form page.

Each rendered token form carries a random submission key; the first POST with a key records it
(connectit.submissions) and acts, a repeat of it (double click, resend) asks the provider
nothing and lands on the token tab. A POST without a key still acts, once per POST.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import responses
from django.test import Client
from django.utils import timezone

from connectit import submissions, worker
from connectit.models import AuditAction, AuditEntry, FormSubmission
from oauth2_auth import token_actions
from oauth2_auth.models import Authorization, GrantType, Status, TokenState
from tests.conftest import form_data, make_authorization, set_token
from tests.processes import race
from tests.provider_helpers import cc_record

REPEATED = "That request was already sent; this is its result"
TOKEN = {"access_token": "cc-token", "expires_in": 3599, "token_type": "Bearer"}


def action_url(record: Authorization, action: str) -> str:
    return f"/oauth2/authorizations/{record.pk}/{action}/"


def detail_url(record: Authorization) -> str:
    return f"/oauth2/authorizations/{record.pk}/"


def page_key(body: str, action: str) -> str:
    """The submission key of the form that posts to ``action`` on a rendered page."""
    form = re.search(rf'action="[^"]*/{action}/".*?</form>', body, re.S)
    assert form, f"no {action} form"
    match = re.search(r'name="submission" value="([^"]+)"', form.group(0))
    assert match, f"the {action} form has no submission key"
    return match.group(1)


@responses.activate
def test_a_repeated_get_token_asks_the_provider_once(admin_client, db) -> None:
    record = make_authorization()
    token = responses.post(record.token_url, json=TOKEN)
    key = page_key(admin_client.get(detail_url(record)).content.decode(), "get-token")

    first = admin_client.post(action_url(record, "get-token"), {"submission": key}, follow=True)
    assert "Token obtained for ENDPOINT" in first.content.decode()
    second = admin_client.post(action_url(record, "get-token"), {"submission": key})

    assert second.status_code == 302 and second["Location"].endswith(f"{detail_url(record)}#token")
    assert REPEATED in admin_client.get(second["Location"]).content.decode()
    assert token.call_count == 1
    assert FormSubmission.objects.get(key=key).action == f"get_token:{record.pk}"


@responses.activate
def test_a_repeated_refresh_asks_the_provider_once(admin_client, db) -> None:
    record = make_authorization()
    token = responses.post(record.token_url, json=TOKEN)
    key = page_key(admin_client.get(detail_url(record)).content.decode(), "refresh")
    for _ in range(3):
        admin_client.post(action_url(record, "refresh"), {"submission": key})
    assert token.call_count == 1


def test_a_repeated_clear_token_clears_once(admin_client, db) -> None:
    valid = {"token_state": TokenState.CONNECTED, "expires_at": timezone.now() + timedelta(hours=1)}
    record = make_authorization(access_token="old-token", **valid)
    confirm = admin_client.get(action_url(record, "clear-token")).content.decode()
    key = re.search(r'name="submission" value="([^"]+)"', confirm).group(1)
    admin_client.post(action_url(record, "clear-token"), {"submission": key})
    assert Authorization.objects.get(pk=record.pk).status == Status.NOT_CONNECTED
    set_token(record, access_token="new-token", **valid)

    response = admin_client.post(action_url(record, "clear-token"), {"submission": key})

    assert response.status_code == 302
    assert Authorization.objects.get(pk=record.pk).status == Status.VALID  # the new token stays


@responses.activate
def test_a_post_without_a_key_acts_each_time(admin_client, db) -> None:
    record = make_authorization()
    token = responses.post(record.token_url, json=TOKEN)
    admin_client.post(action_url(record, "get-token"))
    admin_client.post(action_url(record, "get-token"))
    assert token.call_count == 2
    assert not FormSubmission.objects.exists()


def test_each_rendered_form_gets_a_fresh_key(admin_client, db) -> None:
    record = make_authorization()
    one = admin_client.get(detail_url(record)).content.decode()
    two = admin_client.get(detail_url(record)).content.decode()
    keys = {page_key(one, "get-token"), page_key(one, "refresh"), page_key(two, "get-token")}
    assert len(keys) == 3


def test_busy_texts_name_only_the_host(admin_client, db) -> None:
    record = make_authorization(
        token_url="https://user:pw@login.microsoftonline.com/contoso/oauth2/v2.0/token?x=1"
    )
    body = admin_client.get(detail_url(record)).content.decode()
    assert 'data-busy="Requesting a token from login.microsoftonline.com…"' in body
    assert "contoso/oauth2" not in re.findall(r'data-busy="([^"]*)"', body)[0]
    code = make_authorization(
        code="AC",
        grant_type=GrantType.AUTHORIZATION_CODE,
        auth_url="https://login.example.com/authorize?tenant=secret",
        redirect_url="https://connectit.example.com/oauth2/callback/",
    )
    assert token_actions.for_page(code).get_token_busy == "Opening the sign-in page at login.example.com…"
    assert token_actions.for_page(code).refresh_busy == "Requesting a token from login.microsoftonline.com…"


def test_old_keys_are_pruned_by_a_periodic_job(db) -> None:
    FormSubmission.objects.create(
        key="old", action="get_token:1", created_at=timezone.now() - timedelta(days=2)
    )
    FormSubmission.objects.create(key="new", action="get_token:1")
    assert "connectit.submissions.prune" in worker.jobs()
    assert submissions.prune() == 1
    assert list(FormSubmission.objects.values_list("key", flat=True)) == ["new"]


# --- Save & Get Token ------------------------------------------------------------------------


@responses.activate
def test_save_and_get_token_saves_then_gets_the_token(admin_client, db) -> None:
    record = make_authorization()
    token = responses.post(record.token_url, json=TOKEN)
    data = form_data(
        code="ENDPOINT",
        grant_type=GrantType.CLIENT_CREDENTIALS,
        token_url=record.token_url,
        client_secret="",
        scope="https://api.businesscentral.dynamics.com/.default",
        environment="Production",
        next_action="get_token",
        submission="save-key-1",
    )
    response = admin_client.post(detail_url(record), data, follow=True)
    body = response.content.decode()
    assert "Authorization ENDPOINT was saved." in body and "Token obtained for ENDPOINT" in body
    assert Authorization.objects.get(pk=record.pk).environment == "Production"
    assert token.call_count == 1
    # The same page sent again saves again but asks for no second token.
    assert REPEATED in admin_client.post(detail_url(record), data, follow=True).content.decode()
    assert token.call_count == 1


@responses.activate
def test_save_and_get_token_does_nothing_more_when_the_save_fails(admin_client, db) -> None:
    record = make_authorization()
    token = responses.post(record.token_url, json=TOKEN)
    data = form_data(code="ENDPOINT", token_url="http://evil.example/t", next_action="get_token")
    response = admin_client.post(detail_url(record), data)
    assert response.status_code == 200 and "data-unsaved" in response.content.decode()
    assert token.call_count == 0


def test_save_and_get_token_sends_an_auth_code_record_to_its_provider(admin_client, db) -> None:
    record = make_authorization(
        grant_type=GrantType.AUTHORIZATION_CODE,
        auth_url="https://login.microsoftonline.com/contoso/oauth2/v2.0/authorize",
        redirect_url="http://127.0.0.1:8000/oauth2/callback/",
    )
    data = form_data(code="ENDPOINT", client_secret="", environment="Changed", next_action="get_token")
    response = admin_client.post(detail_url(record), data)
    assert response.status_code == 302
    assert response["Location"].startswith("https://login.microsoftonline.com/contoso/oauth2/v2.0/authorize?")
    assert Authorization.objects.get(pk=record.pk).environment == "Changed"


# --- For real: two POSTs of one page at the same moment --------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_posts_of_one_page_make_one_token_request(oauth_provider, admin_user) -> None:
    oauth_provider.reset()
    oauth_provider.set_token_delay(0.5)  # both POSTs are in the view while the first waits
    record = cc_record(oauth_provider)
    clients = [Client(), Client()]
    for client in clients:
        client.force_login(admin_user)
    key = page_key(clients[0].get(detail_url(record)).content.decode(), "get-token")
    turn = iter(clients)

    def post() -> int:
        return next(turn).post(action_url(record, "get-token"), {"submission": key}).status_code

    try:
        assert race(post, 2) == [302, 302]
        assert oauth_provider.stats()["client_credentials"] == 1
        # The token service's single flight alone would also make one request: that only one
        # POST acted shows in the audit trail and in what each browser is told.
        assert AuditEntry.objects.filter(action=AuditAction.GET_TOKEN).count() == 1
        told = [REPEATED in client.get(detail_url(record)).content.decode() for client in clients]
        assert sorted(told) == [False, True]
        assert FormSubmission.objects.filter(key=key).count() == 1
    finally:
        oauth_provider.reset()
