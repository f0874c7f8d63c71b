"""Clear token also revokes the token at the provider (RFC 7009) when the record has a revocation
URL, and says whether the provider confirmed. The local clear never depends on the provider."""

from __future__ import annotations

import base64
from urllib.parse import parse_qsl

import pytest
import requests
import responses
from django.db import connection

from oauth2_auth import flows, tokens
from oauth2_auth.forms import AuthorizationForm
from oauth2_auth.models import EventKind, Status, TokenState
from tests.conftest import form_data, make_authorization
from tests.provider_helpers import ac_record, give_consent

TOKEN_URL = "https://idp.example.com/oauth2/token"
REVOKE_URL = "https://idp.example.com/oauth2/revoke"
CLIENT_ID = "revoking-client"
SECRET = "revocation-client-secret-123"
REFRESH = "refresh-token-to-revoke-456"
ACCESS = "access-token-to-revoke-789"
SECRETS = (SECRET, REFRESH, ACCESS)


def client(**fields) -> flows.Client:
    return flows.Client(token_url=TOKEN_URL, client_id=CLIENT_ID, client_secret=SECRET, **fields)


def sent_form(call: responses.Call) -> dict[str, str]:
    body = call.request.body
    return dict(parse_qsl(body.decode() if isinstance(body, bytes) else body))


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


# --- flows.revoke -----------------------------------------------------------------------------------


@responses.activate
def test_a_200_is_a_confirmed_revocation() -> None:
    responses.add(responses.POST, REVOKE_URL, body="", status=200)
    result = flows.revoke(client(credential_type="body"), REFRESH, "refresh_token", url=REVOKE_URL)
    assert result == flows.Revocation(True)
    assert str(result) == "the provider confirmed the revocation"
    (call,) = responses.calls
    assert sent_form(call) == {
        "token": REFRESH,
        "token_type_hint": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
    }
    assert call.request.headers["Content-Type"] == flows.FORM


@responses.activate
def test_it_authenticates_with_basic_like_the_token_request() -> None:
    responses.add(responses.POST, REVOKE_URL, status=200)
    flows.revoke(client(credential_type="basic"), REFRESH, url=REVOKE_URL)
    (call,) = responses.calls
    assert call.request.headers["Authorization"] == flows.basic_auth_header(CLIENT_ID, SECRET)
    assert base64.b64decode(call.request.headers["Authorization"].removeprefix("Basic ")).startswith(
        CLIENT_ID.encode()
    )
    assert sent_form(call) == {"token": REFRESH, "token_type_hint": "refresh_token"}


@responses.activate
def test_a_refusal_is_not_confirmed_and_says_why_redacted() -> None:
    body = {"error": "invalid_client", "error_description": f"bad secret {SECRET} for token {REFRESH}"}
    responses.add(responses.POST, REVOKE_URL, json=body, status=400)
    result = flows.revoke(client(), REFRESH, url=REVOKE_URL)
    assert not result.confirmed
    assert result.detail == (
        "HTTP 400 from idp.example.com (invalid_client: bad secret [redacted] for token [redacted])."
    )
    assert str(result).startswith("the provider did not confirm the revocation: HTTP 400")
    assert_no_secret(str(result))


@pytest.mark.parametrize("status", [201, 204, 401, 503])
@responses.activate
def test_only_200_confirms(status: int) -> None:
    responses.add(responses.POST, REVOKE_URL, body="", status=status)
    result = flows.revoke(client(), REFRESH, url=REVOKE_URL)
    assert result == flows.Revocation(False, f"HTTP {status} from idp.example.com.")


@responses.activate
def test_an_unreachable_provider_is_not_confirmed_and_nothing_is_raised() -> None:
    error = requests.exceptions.ConnectionError(f"refused: {REVOKE_URL}?token={REFRESH}&s={SECRET}")
    responses.add(responses.POST, REVOKE_URL, body=error)
    result = flows.revoke(client(), REFRESH, url=REVOKE_URL)
    assert not result.confirmed
    assert result.detail.startswith("the request to idp.example.com failed")
    assert_no_secret(repr(result))


# --- tokens.clear and the Clear token button ---------------------------------------------------------


def record_with_tokens(**fields):
    values = {
        "code": "REVOKING",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "token_url": TOKEN_URL,
        "revocation_url": REVOKE_URL,
        "credential_type": "body",
        "access_token": ACCESS,
        "refresh_token": REFRESH,
        "token_state": TokenState.CONNECTED,
    }
    return make_authorization(**{**values, **fields})


def assert_cleared(record) -> None:
    record.refresh_from_db()
    assert (record.token.access_token, record.token.refresh_token) == ("", "")
    assert record.status == Status.NOT_CONNECTED


@responses.activate
def test_clear_revokes_the_refresh_token_and_records_the_confirmation(db, admin_user) -> None:
    responses.add(responses.POST, REVOKE_URL, status=200)
    record = record_with_tokens()
    result = tokens.clear(record, trigger=tokens.Trigger.user(admin_user))
    assert result.confirmed
    assert sent_form(responses.calls[0])["token"] == REFRESH
    assert_cleared(record)
    event = record.events.first()
    assert event.kind == EventKind.CLEARED and event.success
    assert event.message == "Access and refresh tokens removed; the provider confirmed the revocation"


@responses.activate
def test_clear_revokes_the_access_token_when_there_is_no_refresh_token(db, admin_user) -> None:
    responses.add(responses.POST, REVOKE_URL, status=200)
    record = record_with_tokens(refresh_token="")
    tokens.clear(record, trigger=tokens.Trigger.user(admin_user))
    form = sent_form(responses.calls[0])
    assert (form["token"], form["token_type_hint"]) == (ACCESS, "access_token")


@responses.activate
def test_a_refused_revocation_still_clears_and_says_so(db, admin_user) -> None:
    responses.add(responses.POST, REVOKE_URL, json={"error": "invalid_client"}, status=401)
    record = record_with_tokens()
    result = tokens.clear(record, trigger=tokens.Trigger.user(admin_user))
    assert not result.confirmed
    assert_cleared(record)
    event = record.events.first()
    assert not event.success
    assert event.message == (
        "Access and refresh tokens removed; the provider did not confirm the revocation: "
        "HTTP 401 from idp.example.com (invalid_client)."
    )


@responses.activate
def test_an_unreachable_provider_still_clears(db, admin_user) -> None:
    responses.add(responses.POST, REVOKE_URL, body=requests.exceptions.ConnectionError("refused"))
    record = record_with_tokens()
    result = tokens.clear(record, trigger=tokens.Trigger.user(admin_user))
    assert not result.confirmed
    assert_cleared(record)
    assert (
        "did not confirm the revocation: the request to idp.example.com failed"
        in record.events.first().message
    )


@responses.activate
def test_no_revocation_url_asks_nobody(db, admin_user) -> None:
    record = record_with_tokens(revocation_url="")
    assert tokens.clear(record, trigger=tokens.Trigger.user(admin_user)) is None
    assert len(responses.calls) == 0
    assert record.events.first().message == "Access and refresh tokens removed."


@responses.activate
def test_no_token_asks_nobody(db, admin_user) -> None:
    record = record_with_tokens(access_token="", refresh_token="")
    assert tokens.clear(record, trigger=tokens.Trigger.user(admin_user)) is None
    assert len(responses.calls) == 0


@responses.activate
def test_a_revocation_url_on_another_server_gets_nothing(db, admin_user) -> None:
    """Stored past the form (an import, an old row): the secret still goes nowhere new."""
    record = record_with_tokens(revocation_url="https://elsewhere.example.net/revoke")
    result = tokens.clear(record, trigger=tokens.Trigger.user(admin_user))
    assert not result.confirmed and "not sent" in result.detail
    assert len(responses.calls) == 0
    assert_cleared(record)


@responses.activate
def test_the_revocation_runs_after_the_local_clear_with_no_transaction_open(transactional_db) -> None:
    record = record_with_tokens()
    seen = {}

    def answer(request):
        record.refresh_from_db()
        seen["cleared"] = record.token.refresh_token == ""
        seen["in_transaction"] = connection.in_atomic_block
        return 200, {}, ""

    responses.add_callback(responses.POST, REVOKE_URL, callback=answer)
    tokens.clear(record, trigger=tokens.SYSTEM)
    assert seen == {"cleared": True, "in_transaction": False}


@responses.activate
def test_the_button_says_the_provider_confirmed(admin_client) -> None:
    responses.add(responses.POST, REVOKE_URL, status=200)
    record = record_with_tokens()
    page = admin_client.post(f"/oauth2/authorizations/{record.pk}/clear-token/", follow=True).content.decode()
    assert "The tokens of REVOKING were removed; the provider confirmed the revocation" in page
    assert_no_secret(page)


@responses.activate
def test_the_button_warns_when_the_provider_did_not_confirm(admin_client, caplog) -> None:
    body = {"error": "invalid_request", "error_description": f"unknown token {REFRESH}"}
    responses.add(responses.POST, REVOKE_URL, json=body, status=400)
    record = record_with_tokens()
    page = admin_client.post(f"/oauth2/authorizations/{record.pk}/clear-token/", follow=True).content.decode()
    assert (
        "The tokens of REVOKING were removed; the provider did not confirm the revocation: HTTP 400 "
        "from idp.example.com (invalid_request: unknown token [redacted])." in page
    )
    assert "alert-warning" in page
    assert_no_secret(page + caplog.text + repr(list(record.events.values())))


# --- The form -------------------------------------------------------------------------------------


def test_the_form_keeps_the_revocation_url(db) -> None:
    data = form_data(revocation_url="https://login.microsoftonline.com/contoso/oauth2/v2.0/revoke")
    form = AuthorizationForm(data)
    assert form.is_valid(), form.errors
    assert form.save().revocation_url.endswith("/revoke")


@pytest.mark.parametrize(
    "url", ["https://evil.example.net/revoke", "http://login.microsoftonline.com/revoke", "not a url"]
)
def test_the_form_refuses_a_revocation_url_off_the_token_server(db, url: str) -> None:
    form = AuthorizationForm(form_data(revocation_url=url))
    assert not form.is_valid()
    assert "revocation_url" in form.errors


def test_the_revocation_url_is_on_the_general_tab(admin_client) -> None:
    page = admin_client.get("/oauth2/authorizations/new/").content.decode()
    assert 'name="revocation_url"' in page


# --- Against the real provider (django-oauth-toolkit) -------------------------------------------------


@pytest.mark.django_db
def test_after_clear_token_the_old_refresh_token_is_dead_at_the_provider(
    oauth_provider, admin_client
) -> None:
    oauth_provider.reset()
    record = ac_record(oauth_provider, revocation_url=oauth_provider.revoke_url)
    give_consent(admin_client, oauth_provider, record)
    record.refresh_from_db()
    old_refresh = record.token.refresh_token
    assert old_refresh

    page = admin_client.post(f"/oauth2/authorizations/{record.pk}/clear-token/", follow=True).content.decode()

    assert "The tokens of DOT-AC were removed; the provider confirmed the revocation" in page
    assert_cleared(record)
    dead = requests.post(
        oauth_provider.token_url,
        data={"grant_type": "refresh_token", "refresh_token": old_refresh},
        auth=(record.client_id, record.client_secret),
        timeout=10,
    )
    assert dead.json()["error"] == "invalid_grant"
