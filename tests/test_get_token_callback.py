"""The OAuth2 callback view: state checks, provider errors, iss, and the code exchange."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.test import Client, override_settings

from oauth2_auth import consent
from oauth2_auth.models import Authorization, EventKind, GrantType, Status
from tests.conftest import make_authorization, set_token

TOKEN_URL = "https://idp.example.com/oauth2/token"
AUTH_URL = "https://idp.example.com/oauth2/authorize"
CALLBACK = "/oauth2/callback/"


@pytest.fixture
def record(db) -> Authorization:
    return make_authorization(
        code="BC",
        grant_type=GrantType.AUTHORIZATION_CODE,
        client_id="client-1",
        client_secret="client-secret-1",
        auth_url=AUTH_URL,
        token_url=TOKEN_URL,
        redirect_url="http://testserver/oauth2/callback/",
        scope="api offline_access",
    )


def start(client: Client, record: Authorization) -> dict[str, str]:
    """Click Get Token; returns the consent URL's query parameters."""
    response = client.post(f"/oauth2/authorizations/{record.pk}/get-token/")
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    return {key: values[0] for key, values in query.items()}


def token_endpoint(**body) -> None:
    payload = {"access_token": "at-from-code", "refresh_token": "rt-from-code", "expires_in": 3600, **body}
    responses.post(TOKEN_URL, json=payload)


@responses.activate
def test_it_exchanges_the_code_and_redirects_to_the_record(admin_client, record) -> None:
    params = start(admin_client, record)
    token_endpoint()
    response = admin_client.get(CALLBACK, {"code": "the-code", "state": params["state"]})

    assert response.status_code == 302
    assert response["Location"] == f"/oauth2/authorizations/{record.pk}/#token"  # the Bearer Token tab
    assert response["Cache-Control"].startswith("max-age=0")
    sent = parse_qs(responses.calls[0].request.body)
    assert sent["grant_type"] == ["authorization_code"]
    assert sent["code"] == ["the-code"]
    assert sent["redirect_uri"] == ["http://testserver/oauth2/callback/"]
    assert len(sent["code_verifier"][0]) >= 43
    record.refresh_from_db()
    assert record.token.access_token == "at-from-code"
    assert record.token.refresh_token == "rt-from-code"
    assert record.status == Status.VALID
    assert record.events.first().kind == EventKind.CONSENT_GIVEN


@responses.activate
def test_a_consent_without_a_refresh_token_drops_the_earlier_grants_one(admin_client, record) -> None:
    """The earlier refresh token belongs to a grant this consent replaced (another scope, maybe
    another client): kept, it would be used as this grant's. A refresh without one keeps it."""
    set_token(record, access_token="old-at", refresh_token="old-grant-rt")
    params = start(admin_client, record)
    responses.post(TOKEN_URL, json={"access_token": "at-without-rt", "expires_in": 3600})
    admin_client.get(CALLBACK, {"code": "the-code", "state": params["state"]})
    record.refresh_from_db()
    assert (record.token.access_token, record.token.refresh_token) == ("at-without-rt", "")
    message = record.events.first().message
    assert "no refresh token (the provider gave none: ask for offline_access in the scope" in message


def assert_sent_to_list(response) -> None:
    """An answer that cannot be used leaves the callback URL (and its code) at once."""
    assert response.status_code == 302 and response["Location"] == "/oauth2/authorizations/"


def test_it_rejects_replayed_state(admin_client, record) -> None:
    params = start(admin_client, record)
    with responses.RequestsMock() as mock:
        mock.post(TOKEN_URL, json={"access_token": "a", "expires_in": 60})
        assert admin_client.get(CALLBACK, {"code": "c", "state": params["state"]}).status_code == 302
    replay = admin_client.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert_sent_to_list(replay)
    body = admin_client.get(replay["Location"]).content.decode()
    assert "This sign-in answer cannot be used" in body
    assert "does not match a Get Token started in this browser session" in body


def test_it_rejects_state_from_another_session(admin_client, admin_user, record) -> None:
    params = start(admin_client, record)
    other = Client()
    other.force_login(admin_user)
    with responses.RequestsMock():  # no request may reach the token endpoint
        response = other.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert_sent_to_list(response)
    record.refresh_from_db()
    assert record.status == Status.NOT_CONNECTED


def test_it_rejects_a_forged_state(admin_client, record) -> None:
    start(admin_client, record)
    with responses.RequestsMock():
        assert_sent_to_list(admin_client.get(CALLBACK, {"code": "c", "state": "forged"}))
        assert_sent_to_list(admin_client.get(CALLBACK, {"code": "c"}))


def test_it_rejects_expired_state(admin_client, record) -> None:
    params = start(admin_client, record)
    session = admin_client.session
    pending = session[consent.SESSION_KEY]
    pending[params["state"]]["created"] = time.time() - 601
    session[consent.SESSION_KEY] = pending
    session.save()
    with responses.RequestsMock():
        response = admin_client.get(CALLBACK, {"code": "c", "state": params["state"]}, follow=True)
    assert response.redirect_chain == [("/oauth2/authorizations/", 302)]
    assert "expired" in response.content.decode()


def test_it_turns_access_denied_into_a_message(admin_client, record) -> None:
    params = start(admin_client, record)
    with responses.RequestsMock():
        response = admin_client.get(
            CALLBACK,
            {"error": "access_denied", "error_description": "The user said no", "state": params["state"]},
            follow=True,
        )
    body = response.content.decode()
    assert response.redirect_chain[-1][0] == f"/oauth2/authorizations/{record.pk}/#token"
    assert "Consent was denied at the provider. (The user said no)" in body
    record.refresh_from_db()
    event = record.events.first()
    assert (event.kind, event.success) == (EventKind.CONSENT_DENIED, False)


def test_it_reports_a_missing_code(admin_client, record) -> None:
    params = start(admin_client, record)
    with responses.RequestsMock():
        response = admin_client.get(CALLBACK, {"state": params["state"]}, follow=True)
    assert "The provider sent no authorization code." in response.content.decode()


@pytest.mark.parametrize(
    ("issuer", "iss"),
    [
        ("", "https://evil.example.com"),
        ("https://idp.example.com/tenant/v2.0", "https://idp.example.com/other"),
    ],
)
def test_it_refuses_a_wrong_iss(admin_client, record, issuer: str, iss: str) -> None:
    Authorization.objects.filter(pk=record.pk).update(issuer=issuer)
    params = start(admin_client, record)
    with responses.RequestsMock():  # the code is never exchanged
        response = admin_client.get(
            CALLBACK, {"code": "c", "state": params["state"], "iss": iss}, follow=True
        )
    assert "unexpected issuer" in response.content.decode()
    record.refresh_from_db()
    assert record.status == Status.NOT_CONNECTED


@responses.activate
def test_it_accepts_the_expected_iss(admin_client, record) -> None:
    Authorization.objects.filter(pk=record.pk).update(issuer="https://idp.example.com/tenant/v2.0")
    params = start(admin_client, record)
    token_endpoint()
    admin_client.get(
        CALLBACK, {"code": "c", "state": params["state"], "iss": "https://idp.example.com/tenant/v2.0"}
    )
    record.refresh_from_db()
    assert record.status == Status.VALID


@responses.activate
def test_a_failed_exchange_keeps_the_old_tokens(admin_client, record) -> None:
    set_token(record, access_token="old-access", refresh_token="old-refresh")
    params = start(admin_client, record)
    responses.post(
        TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "Code expired"}
    )
    response = admin_client.get(CALLBACK, {"code": "c", "state": params["state"]}, follow=True)
    body = response.content.decode()
    assert "Code exchange failed" in body and "invalid_grant (Code expired)" in body
    record.refresh_from_db()
    assert (record.token.access_token, record.token.refresh_token) == ("old-access", "old-refresh")


def test_it_tells_a_signed_out_user_to_start_again_without_keeping_the_code(
    client, admin_user, record
) -> None:
    # A login redirect would carry the one-time code in its "next" parameter.
    response = client.get(CALLBACK, {"code": "one-time-code-XYZ", "state": "s"})
    assert response.status_code == 302
    # To the sign-in page, which then comes back to the list: never to the callback URL.
    assert response["Location"] == "/accounts/login/?next=%2Foauth2%2Fauthorizations%2F"
    assert "one-time-code-XYZ" not in response["Location"]
    body = client.get(response["Location"]).content.decode()
    assert "Sign in, then click Get Token again." in body
    assert "one-time-code-XYZ" not in body


def test_it_refuses_an_answer_without_iss_when_iss_is_required(admin_client, record) -> None:
    Authorization.objects.filter(pk=record.pk).update(require_iss=True)
    params = start(admin_client, record)
    with responses.RequestsMock():  # nothing may be sent: the code is not used
        response = admin_client.get(CALLBACK, {"code": "c", "state": params["state"]}, follow=True)
    assert "which this authorization requires; the code was not used" in response.content.decode()


@override_settings(CONNECTIT_CONSENT_TIMEOUT=600)
def test_several_tabs_may_consent_at_once(admin_client, record) -> None:
    first, second = start(admin_client, record), start(admin_client, record)
    with responses.RequestsMock() as mock:
        mock.post(TOKEN_URL, json={"access_token": "a", "expires_in": 60})
        assert admin_client.get(CALLBACK, {"code": "c", "state": second["state"]}).status_code == 302
        mock.post(TOKEN_URL, json={"access_token": "b", "expires_in": 60})
        assert admin_client.get(CALLBACK, {"code": "c", "state": first["state"]}).status_code == 302
