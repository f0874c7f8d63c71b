"""Unit tests of oauth2_auth.tokens: when a token is requested, what is stored, what is recorded."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
import responses
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from oauth2_auth import advice, flows, tokens
from oauth2_auth.models import (
    Authorization,
    BearerToken,
    EventKind,
    GrantType,
    Status,
    TokenEvent,
    TokenState,
)
from tests.conftest import make_authorization

TOKEN_URL = "https://login.example.com/contoso/oauth2/v2.0/token"
HOST = "login.example.com"
CLIENT_SECRET = "client-secret-value-SSSS0000"
OLD_ACCESS = "old-access-token-value-AAAA1111"
OLD_REFRESH = "old-refresh-token-value-RRRR2222"
NEW_ACCESS = "new-access-token-value-BBBB3333"
NEW_REFRESH = "new-refresh-token-value-QQQQ4444"
CODE = "authorization-code-value-CCCC5555"
SECRETS = (CLIENT_SECRET, OLD_ACCESS, OLD_REFRESH, NEW_ACCESS, NEW_REFRESH, CODE)
HTML = "<!DOCTYPE html><html><body><form action='/login'>Sign in</form></body></html>"


def client_credentials(**fields: Any) -> Authorization:
    values = {"token_url": TOKEN_URL, "client_secret": CLIENT_SECRET, "scope": "api/.default"}
    values.update(fields)
    return make_authorization(**values)


def authorization_code(*, expires_in: int = 30, **fields: Any) -> Authorization:
    """An authorization-code record whose access token expires in ``expires_in`` seconds."""
    now = timezone.now()
    values = {
        "code": "BC",
        "grant_type": GrantType.AUTHORIZATION_CODE,
        "token_url": TOKEN_URL,
        "client_secret": CLIENT_SECRET,
        "scope": "api offline_access",
        "access_token": OLD_ACCESS,
        "refresh_token": OLD_REFRESH,
        "token_type": "Bearer",
        "obtained_at": now - timedelta(seconds=3600 - expires_in),
        "expires_at": now + timedelta(seconds=expires_in),
        "token_state": TokenState.CONNECTED,
    }
    values.update(fields)
    return make_authorization(**values)


def reload(record: Authorization) -> BearerToken:
    """The record's token state as stored now."""
    return BearerToken.objects.get(pk=record.pk)


def body_of(call) -> dict[str, str]:
    return dict(parse_qsl(call.request.body, keep_blank_values=True, strict_parsing=True))


def token_json(**fields: Any) -> dict[str, Any]:
    body = {"access_token": NEW_ACCESS, "expires_in": 3600, "token_type": "Bearer"}
    body.update(fields)
    return body


def expires_in_seconds(record: BearerToken) -> float:
    return (record.expires_at - timezone.now()).total_seconds()


def assert_safe(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def events(record: Authorization) -> list[TokenEvent]:
    return list(TokenEvent.objects.filter(authorization=record))


# --- Reading a valid token ---------------------------------------------------------------------------


def test_it_returns_a_valid_token_without_a_request(db) -> None:
    record = authorization_code(expires_in=3000)
    with responses.RequestsMock() as rsps:  # nothing registered: any request would fail
        assert tokens.get_access_token("BC") == OLD_ACCESS
        assert len(rsps.calls) == 0
    assert events(record) == []


def test_it_looks_the_code_up_case_insensitively(db) -> None:
    authorization_code(expires_in=3000)
    with responses.RequestsMock():
        assert tokens.get_access_token("bc") == OLD_ACCESS


def test_it_explains_an_unknown_code(db) -> None:
    with responses.RequestsMock(), pytest.raises(tokens.TokenError) as caught:
        tokens.get_access_token("nope")
    assert str(caught.value) == "There is no OAuth2 authorization with code 'NOPE'."
    assert not caught.value.consent_required


def test_it_explains_an_unknown_code_on_renew(db) -> None:
    with responses.RequestsMock(), pytest.raises(tokens.TokenError, match="no OAuth2 authorization"):
        tokens.renew("nope", force=True)


# --- Client credentials --------------------------------------------------------------------------------


@responses.activate
def test_it_requests_a_client_credentials_token(db) -> None:
    record = client_credentials()
    responses.add(responses.POST, TOKEN_URL, json=token_json())
    assert tokens.get_access_token("ENDPOINT") == NEW_ACCESS
    assert body_of(responses.calls[0]) == {
        "grant_type": "client_credentials",
        "scope": "api/.default",
        "client_id": record.client_id,
        "client_secret": CLIENT_SECRET,
    }
    assert responses.calls[0].request.req_kwargs["timeout"] == settings.CONNECTIT_HTTP_TIMEOUT
    stored = reload(record)
    assert stored.access_token == NEW_ACCESS
    assert stored.refresh_token == ""
    assert stored.state == TokenState.CONNECTED
    assert stored.status == Status.VALID
    assert 3590 < expires_in_seconds(stored) <= 3600


@responses.activate
@override_settings(CONNECTIT_HTTP_TIMEOUT=4)
def test_it_uses_the_configured_timeout(db) -> None:
    client_credentials()
    responses.add(responses.POST, TOKEN_URL, json=token_json())
    tokens.get_access_token("ENDPOINT")
    assert responses.calls[0].request.req_kwargs["timeout"] == 4


@responses.activate
def test_it_requests_client_credentials_again_when_expired(db) -> None:
    past = timezone.now() - timedelta(seconds=10)
    record = client_credentials(
        access_token=OLD_ACCESS, expires_at=past, obtained_at=past - timedelta(hours=1)
    )
    responses.add(responses.POST, TOKEN_URL, json=token_json())
    assert tokens.get_access_token("ENDPOINT") == NEW_ACCESS
    assert body_of(responses.calls[0])["grant_type"] == "client_credentials"
    assert "refresh_token" not in body_of(responses.calls[0])
    assert reload(record).access_token == NEW_ACCESS


@responses.activate
def test_it_sends_the_records_method_content_type_and_credentials(db) -> None:
    record = client_credentials(
        token_method="GET", credential_type="basic", resource_url="https://api.example.com", scope=""
    )
    responses.add(responses.GET, TOKEN_URL, json=token_json())
    tokens.get_access_token("ENDPOINT")
    request = responses.calls[0].request
    assert request.method == "GET"
    assert request.body is None
    assert dict(parse_qsl(request.url.split("?")[1])) == {
        "grant_type": "client_credentials",
        "resource": "https://api.example.com",
    }
    assert request.headers["Authorization"] == flows.basic_auth_header(record.client_id, CLIENT_SECRET)


@responses.activate
def test_it_reads_nested_properties_and_a_numeric_string(db) -> None:
    record = client_credentials(
        access_token_property="data.access_token",
        expires_in_property="data.expires_in",
        refresh_token_property="data.refresh_token",
    )
    responses.add(responses.POST, TOKEN_URL, json={"data": token_json(expires_in="1800")})
    assert tokens.get_access_token("ENDPOINT") == NEW_ACCESS
    assert 1790 < expires_in_seconds(reload(record)) <= 1800


@responses.activate
def test_it_stores_a_form_encoded_token_response(db) -> None:
    record = client_credentials()
    body = f"access_token={NEW_ACCESS}&expires_in=600&token_type=bearer"
    responses.add(responses.POST, TOKEN_URL, body=body, content_type=flows.FORM)
    assert tokens.get_access_token("ENDPOINT") == NEW_ACCESS
    stored = reload(record)
    assert stored.token_type == "bearer"
    assert 590 < expires_in_seconds(stored) <= 600


@responses.activate
@override_settings(CONNECTIT_DEFAULT_TOKEN_LIFETIME=600, CONNECTIT_REFRESH_MARGIN=60)
def test_it_uses_the_default_lifetime_without_expires_in(db) -> None:
    record = client_credentials()
    responses.add(responses.POST, TOKEN_URL, json={"access_token": NEW_ACCESS})
    tokens.get_access_token("ENDPOINT")
    stored = reload(record)
    assert stored.expires_at is None
    assert stored.status == Status.VALID
    # 500 s later the token still has 100 s to live: no request.
    BearerToken.objects.filter(pk=record.pk).update(obtained_at=timezone.now() - timedelta(seconds=500))
    assert tokens.get_access_token("ENDPOINT") == NEW_ACCESS
    assert len(responses.calls) == 1
    # 545 s later it expires within the margin: a new request.
    BearerToken.objects.filter(pk=record.pk).update(obtained_at=timezone.now() - timedelta(seconds=545))
    tokens.get_access_token("ENDPOINT")
    assert len(responses.calls) == 2


@override_settings(CONNECTIT_DEFAULT_TOKEN_LIFETIME=600)
def test_it_counts_a_token_without_expiry_as_expired_after_the_default_lifetime(db) -> None:
    obtained = timezone.now() - timedelta(seconds=601)
    record = client_credentials(
        access_token=OLD_ACCESS, obtained_at=obtained, token_state=TokenState.CONNECTED
    )
    assert record.status == Status.EXPIRED


# --- Refresh (authorization code) ----------------------------------------------------------------------


@responses.activate
def test_it_refreshes_within_the_margin(db) -> None:
    record = authorization_code(expires_in=30)
    responses.add(responses.POST, TOKEN_URL, json=token_json(refresh_token=NEW_REFRESH))
    assert tokens.get_access_token("BC") == NEW_ACCESS
    assert body_of(responses.calls[0]) == {
        "grant_type": "refresh_token",
        "refresh_token": OLD_REFRESH,
        "scope": "api offline_access",
        "client_id": record.client_id,
        "client_secret": CLIENT_SECRET,
    }
    stored = reload(record)
    assert (stored.access_token, stored.refresh_token) == (NEW_ACCESS, NEW_REFRESH)


@override_settings(CONNECTIT_REFRESH_MARGIN=10)
def test_it_does_not_refresh_outside_a_smaller_margin(db) -> None:
    authorization_code(expires_in=30)
    with responses.RequestsMock() as rsps:
        assert tokens.get_access_token("BC") == OLD_ACCESS
        assert len(rsps.calls) == 0


@responses.activate
def test_it_refreshes_an_expired_token(db) -> None:
    authorization_code(expires_in=-100)
    responses.add(responses.POST, TOKEN_URL, json=token_json())
    assert tokens.get_access_token("BC") == NEW_ACCESS


@responses.activate
def test_it_saves_a_rotated_refresh_token_with_the_access_token(db) -> None:
    record = authorization_code(expires_in=-1)
    responses.add(responses.POST, TOKEN_URL, json=token_json(refresh_token=NEW_REFRESH))
    table = BearerToken._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        tokens.get_access_token("BC")
    updates = [
        q["sql"] for q in queries if q["sql"].startswith(f'UPDATE "{table}"') and "access_token" in q["sql"]
    ]
    assert len(updates) == 1
    assert '"refresh_token"' in updates[0]
    assert reload(record).refresh_token == NEW_REFRESH


@responses.activate
def test_it_keeps_the_refresh_token_without_rotation(db) -> None:
    record = authorization_code(expires_in=-1)
    responses.add(responses.POST, TOKEN_URL, json=token_json())
    tokens.get_access_token("BC")
    stored = reload(record)
    assert (stored.access_token, stored.refresh_token) == (NEW_ACCESS, OLD_REFRESH)
    assert events(record)[0].message == "valid for 3600 s, no new refresh token"


@responses.activate
def test_it_keeps_the_refresh_token_when_the_new_one_is_empty(db) -> None:
    record = authorization_code(expires_in=-1)
    responses.add(responses.POST, TOKEN_URL, json=token_json(refresh_token=""))
    tokens.get_access_token("BC")
    assert reload(record).refresh_token == OLD_REFRESH


def test_it_asks_for_consent_without_a_refresh_token(db) -> None:
    record = authorization_code(expires_in=-1, refresh_token="")
    with responses.RequestsMock(), pytest.raises(tokens.TokenError) as caught:
        tokens.get_access_token("BC")
    assert caught.value.consent_required
    assert "click Get Token" in str(caught.value)
    stored = reload(record)
    assert stored.status == Status.CONSENT_REQUIRED
    assert stored.access_token == OLD_ACCESS


def test_it_asks_for_consent_when_never_connected(db) -> None:
    make_authorization(code="NEW", grant_type=GrantType.AUTHORIZATION_CODE, token_url=TOKEN_URL)
    with responses.RequestsMock(), pytest.raises(tokens.TokenError) as caught:
        tokens.get_access_token("NEW")
    assert caught.value.consent_required
    assert str(caught.value).startswith(
        "NEW: There is no refresh token for this authorization: click Get Token"
    )


# --- invalid_grant -----------------------------------------------------------------------------------

DEAD = {"error": "invalid_grant", "error_description": "AADSTS70008: The refresh token has expired."}


@responses.activate
def test_it_asks_for_consent_after_invalid_grant(db, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    record = authorization_code(expires_in=-1)
    responses.add(responses.POST, TOKEN_URL, json=DEAD, status=400)
    with pytest.raises(tokens.TokenError) as caught:
        tokens.get_access_token("BC")
    assert caught.value.consent_required
    message = str(caught.value)
    assert message == (
        f"BC: The token endpoint at {HOST} refused the request: invalid_grant "
        "(AADSTS70008: The refresh token has expired.). "
        "The refresh token is no longer accepted: click Get Token to give consent again. "
        f"Advice: {advice.for_aadsts('70008')} More: https://login.microsoftonline.com/error?code=70008"
    )
    stored = reload(record)
    assert stored.status == Status.CONSENT_REQUIRED
    assert stored.state == TokenState.CONSENT_REQUIRED
    assert (stored.access_token, stored.refresh_token) == (OLD_ACCESS, OLD_REFRESH)
    assert stored.last_error == message.removeprefix("BC: ")
    [event] = events(record)
    assert (event.kind, event.success, event.trigger) == (EventKind.REFRESH_FAILED, False, "system")
    assert_safe(message, stored.last_error, event.message, caplog.text)


@responses.activate
def test_it_stops_asking_the_server_after_invalid_grant(db) -> None:
    authorization_code(expires_in=-1)
    responses.add(responses.POST, TOKEN_URL, json=DEAD, status=400)
    with pytest.raises(tokens.TokenError):
        tokens.get_access_token("BC")
    for _ in range(3):
        with pytest.raises(tokens.TokenError) as caught:
            tokens.get_access_token("BC")
        assert caught.value.consent_required
        assert "click Get Token" in str(caught.value)
    assert len(responses.calls) == 1
    # An administrator's Refresh now still tries.
    with pytest.raises(tokens.TokenError):
        tokens.renew("BC", force=True)
    assert len(responses.calls) == 2


@responses.activate
def test_it_stops_asking_the_server_after_invalid_grant_within_the_margin(db) -> None:
    # The access token still has 30 s to live when the refresh token is found dead.
    record = authorization_code(expires_in=30)
    responses.add(responses.POST, TOKEN_URL, json=DEAD, status=400)
    # The refresh fails, but the token still has 30 s to live: callers keep using it meanwhile.
    assert tokens.get_access_token("BC") == OLD_ACCESS
    for _ in range(3):
        try:
            assert tokens.get_access_token("BC") == OLD_ACCESS
        except tokens.TokenError as exc:
            assert exc.consent_required
    assert len(responses.calls) == 1
    assert reload(record).status == Status.CONSENT_REQUIRED


@responses.activate
def test_it_does_not_retry_a_dead_refresh_token_on_a_401(db) -> None:
    # An API refused the still-unexpired token after the refresh token was found dead.
    authorization_code(expires_in=3000, token_state=TokenState.CONSENT_REQUIRED, last_error="Consent needed.")
    responses.add(responses.POST, TOKEN_URL, json=DEAD, status=400)
    with pytest.raises(tokens.TokenError) as caught:
        tokens.renew("BC", stale_token=OLD_ACCESS)
    assert caught.value.consent_required
    assert len(responses.calls) == 0


@responses.activate
def test_it_recovers_after_consent_with_refresh_now(db) -> None:
    record = authorization_code(expires_in=-1, token_state=TokenState.CONSENT_REQUIRED, last_error="x")
    responses.add(responses.POST, TOKEN_URL, json=token_json(refresh_token=NEW_REFRESH))
    assert tokens.renew("BC", force=True) == NEW_ACCESS
    stored = reload(record)
    assert (stored.status, stored.last_error) == (Status.VALID, "")


# --- Every bad answer keeps every token and leaks nothing --------------------------------------------

BAD_ANSWERS = {
    "html": (
        {"body": HTML, "content_type": "text/html"},
        f"The token endpoint at {HOST} answered HTTP 200 with text/html, not JSON. "
        "Check the Access Token URL",
    ),
    "html500": (
        {"body": HTML, "status": 500, "content_type": "text/html"},
        f"The token endpoint at {HOST} answered HTTP 500 with text/html, not JSON.",
    ),
    "json500": (
        {"json": {"error": "server_error", "error_description": "Busy"}, "status": 500},
        f"The token endpoint at {HOST} refused the request: server_error (Busy).",
    ),
    "timeout": (
        {"body": requests.exceptions.ReadTimeout(f"{TOKEN_URL}?refresh_token={OLD_REFRESH}")},
        f"Token request failed: {HOST} did not answer within",
    ),
    "refused": (
        {"body": requests.exceptions.ConnectionError(f"{TOKEN_URL}?s={CLIENT_SECRET}: Connection refused")},
        f"Token request failed: Could not connect to {HOST} (connection refused).",
    ),
    "invalid_json": (
        {"body": '{"access_token": "' + NEW_ACCESS, "content_type": "application/json"},
        f"The token endpoint at {HOST} answered HTTP 200 with invalid JSON.",
    ),
    "missing_property": (
        {"json": {"token": NEW_ACCESS, "refresh": NEW_REFRESH, "expires_in": 3600}},
        f"The token response from {HOST} has no 'access_token' property "
        "(it has: expires_in, refresh, token).",
    ),
    "error_body": (
        {"json": {"error": "invalid_client", "error_description": "Bad secret."}, "status": 400},
        f"The token endpoint at {HOST} refused the request: invalid_client (Bad secret.).",
    ),
    "oversized": (
        {"body": "x" * (flows.TOKEN_MAX_BYTES + 1), "content_type": "application/json"},
        f"Token request failed: The answer from {HOST} is larger than 1024 KiB; it was not read.",
    ),
}


@pytest.mark.parametrize(("answer", "expected"), BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
def test_it_keeps_tokens_on_a_failed_refresh(answer, expected, db, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    record = authorization_code(expires_in=-1)
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, TOKEN_URL, **answer)
        with pytest.raises(tokens.TokenError) as caught:
            tokens.get_access_token("BC")
    message = str(caught.value)
    assert message.startswith("BC: " + expected)
    assert not caught.value.consent_required
    stored = reload(record)
    assert (stored.access_token, stored.refresh_token) == (OLD_ACCESS, OLD_REFRESH)
    assert stored.status == Status.FAILED
    assert stored.last_error == message.removeprefix("BC: ")
    [event] = events(record)
    assert (event.kind, event.success, event.message) == (EventKind.REFRESH_FAILED, False, stored.last_error)
    assert_safe(message, stored.last_error, event.message, caplog.text)


@pytest.mark.parametrize(("answer", "expected"), BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
def test_it_keeps_tokens_on_a_failed_client_credentials_request(answer, expected, db, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    past = timezone.now() - timedelta(seconds=5)
    record = client_credentials(
        access_token=OLD_ACCESS, expires_at=past, obtained_at=past - timedelta(hours=1)
    )
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, TOKEN_URL, **answer)
        with pytest.raises(tokens.TokenError) as caught:
            tokens.get_access_token("ENDPOINT")
    assert str(caught.value).startswith("ENDPOINT: " + expected)
    stored = reload(record)
    assert stored.access_token == OLD_ACCESS
    assert stored.status == Status.FAILED
    [event] = events(record)
    assert (event.kind, event.success) == (EventKind.REQUEST_FAILED, False)
    assert_safe(str(caught.value), stored.last_error, event.message, caplog.text)


def test_it_survives_an_absurd_expires_in(db) -> None:
    # 10**12 s is past year 9999: either stored capped, or a TokenError with the tokens kept.
    record = authorization_code(expires_in=-1)
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, TOKEN_URL, json=token_json(expires_in=10**12))
        try:
            assert tokens.get_access_token("BC") == NEW_ACCESS
        except tokens.TokenError:
            stored = reload(record)
            assert (stored.access_token, stored.refresh_token) == (OLD_ACCESS, OLD_REFRESH)
        else:
            assert reload(record).status == Status.VALID


@responses.activate
def test_it_clears_the_last_error_on_success(db) -> None:
    record = authorization_code(expires_in=-1, token_state=TokenState.FAILED, last_error="Earlier failure.")
    responses.add(responses.POST, TOKEN_URL, json=token_json())
    tokens.get_access_token("BC")
    stored = reload(record)
    assert (stored.state, stored.last_error) == (TokenState.CONNECTED, "")


# --- renew(force, stale_token) -------------------------------------------------------------------------


@responses.activate
def test_it_renews_a_valid_token_when_forced(db) -> None:
    authorization_code(expires_in=3000)
    responses.add(responses.POST, TOKEN_URL, json=token_json())
    assert tokens.renew("BC", force=True) == NEW_ACCESS
    assert len(responses.calls) == 1


@responses.activate
def test_it_renews_a_stale_token_that_is_still_stored(db) -> None:
    record = authorization_code(expires_in=3000)
    responses.add(responses.POST, TOKEN_URL, json=token_json(refresh_token=NEW_REFRESH))
    assert tokens.renew("BC", stale_token=OLD_ACCESS) == NEW_ACCESS
    assert len(responses.calls) == 1
    assert reload(record).refresh_token == NEW_REFRESH


def test_it_does_not_renew_a_stale_token_already_replaced(db) -> None:
    authorization_code(expires_in=3000)
    with responses.RequestsMock() as rsps:
        assert tokens.renew("BC", stale_token="some-older-token") == OLD_ACCESS
        assert len(rsps.calls) == 0


@responses.activate
def test_it_renews_once_for_many_callers_with_the_same_stale_token(db) -> None:
    authorization_code(expires_in=3000)
    responses.add(responses.POST, TOKEN_URL, json=token_json())
    results = {tokens.renew("BC", stale_token=OLD_ACCESS) for _ in range(5)}
    assert results == {NEW_ACCESS}
    assert len(responses.calls) == 1


@responses.activate
def test_it_renews_a_replaced_but_expired_token(db) -> None:
    authorization_code(expires_in=-1)
    responses.add(responses.POST, TOKEN_URL, json=token_json())
    assert tokens.renew("BC", stale_token="some-older-token") == NEW_ACCESS


# --- Consent -----------------------------------------------------------------------------------------


@responses.activate
def test_it_completes_consent(db, admin_user) -> None:
    record = authorization_code(expires_in=-1, refresh_token="")
    responses.add(responses.POST, TOKEN_URL, json=token_json(refresh_token=NEW_REFRESH))
    tokens.complete_consent(
        record.pk,
        code=CODE,
        redirect_uri="https://app.example.com/oauth2/callback/",
        code_verifier="v" * 43,
        trigger=tokens.Trigger.user(admin_user),
    )
    body = body_of(responses.calls[0])
    assert (body["grant_type"], body["code"], body["code_verifier"]) == ("authorization_code", CODE, "v" * 43)
    stored = reload(record)
    assert (stored.access_token, stored.refresh_token, stored.status) == (
        NEW_ACCESS,
        NEW_REFRESH,
        Status.VALID,
    )
    [event] = events(record)
    assert (event.kind, event.trigger, event.success) == (EventKind.CONSENT_GIVEN, "user admin", True)
    assert event.message == "valid for 3600 s, with a new refresh token"


@responses.activate
def test_it_keeps_tokens_when_the_code_exchange_fails(db, admin_user, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    record = authorization_code(expires_in=3000)
    responses.add(responses.POST, TOKEN_URL, json={"error": "invalid_grant"}, status=400)
    with pytest.raises(tokens.TokenError) as caught:
        tokens.complete_consent(
            record.pk, code=CODE, redirect_uri="https://a/cb", code_verifier=None, trigger=tokens.SYSTEM
        )
    assert str(caught.value) == (
        f"BC: Code exchange failed: The token endpoint at {HOST} refused the request: invalid_grant. "
        f"Advice: {advice.for_oauth_error('invalid_grant')}"
    )
    stored = reload(record)
    assert (stored.access_token, stored.refresh_token) == (OLD_ACCESS, OLD_REFRESH)
    assert_safe(str(caught.value), stored.last_error, events(record)[0].message, caplog.text)


def test_it_records_a_denied_consent(db, admin_user) -> None:
    record = authorization_code(expires_in=3000)
    message = tokens.consent_denied(
        record, error="access_denied", description="The user said no", trigger=tokens.Trigger.user(admin_user)
    )
    assert message == "Consent was denied at the provider. (The user said no)"
    stored = reload(record)
    assert (stored.access_token, stored.last_error) == (OLD_ACCESS, message)
    [event] = events(record)
    assert (event.kind, event.trigger, event.success) == (EventKind.CONSENT_DENIED, "user admin", False)


# --- Clear and events -----------------------------------------------------------------------------------


def test_it_clears_the_tokens(db, admin_user) -> None:
    record = authorization_code(expires_in=3000)
    tokens.clear(record, trigger=tokens.Trigger.user(admin_user))
    stored = reload(record)
    assert (stored.access_token, stored.refresh_token, stored.token_type) == ("", "", "")
    assert (stored.expires_at, stored.obtained_at) == (None, None)
    assert stored.status == Status.NOT_CONNECTED
    [event] = events(record)
    assert (event.kind, event.trigger, event.success) == (EventKind.CLEARED, "user admin", True)
    assert event.message == "Access and refresh tokens removed."


@responses.activate
def test_it_records_who_triggered_a_refresh(db, admin_user) -> None:
    record = authorization_code(expires_in=3000)
    responses.add(responses.POST, TOKEN_URL, json=token_json(refresh_token=NEW_REFRESH))
    tokens.renew("BC", force=True, trigger=tokens.Trigger.user(admin_user))
    [event] = events(record)
    assert (event.kind, event.trigger, event.success) == (EventKind.REFRESHED, "user admin", True)
    assert event.message == "valid for 3600 s, with a new refresh token"
    assert_safe(event.message)


@responses.activate
def test_it_records_the_system_as_trigger(db) -> None:
    record = client_credentials()
    responses.add(responses.POST, TOKEN_URL, json={"access_token": NEW_ACCESS})
    tokens.get_access_token("ENDPOINT")
    [event] = events(record)
    assert (event.kind, event.trigger, event.success) == (EventKind.OBTAINED, "system", True)
    assert event.message == "no expiry given, no new refresh token"


def test_it_prunes_old_events(db, monkeypatch) -> None:
    monkeypatch.setattr(tokens, "EVENTS_KEPT", 5)
    record = authorization_code(expires_in=3000)
    other = authorization_code(code="OTHER")
    tokens.add_event(other, EventKind.CLEARED, tokens.SYSTEM, "other")
    for number in range(8):
        tokens.add_event(record, EventKind.REFRESHED, tokens.SYSTEM, f"event {number}")
    assert [event.message for event in events(record)] == [f"event {n}" for n in (7, 6, 5, 4, 3)]
    assert len(events(other)) == 1


def test_it_keeps_events_kept_events(db) -> None:
    record = authorization_code(expires_in=3000)
    TokenEvent.objects.bulk_create(
        TokenEvent(authorization=record, kind=EventKind.REFRESHED, trigger="system", message=str(n))
        for n in range(tokens.EVENTS_KEPT)
    )
    tokens.add_event(record, EventKind.CLEARED, tokens.SYSTEM, "newest")
    assert TokenEvent.objects.filter(authorization=record).count() == tokens.EVENTS_KEPT
    assert events(record)[0].message == "newest"


# --- Provider text that echoes secrets ----------------------------------------------------------


@responses.activate
def test_an_echoed_secret_is_redacted_in_last_error_events_and_log(db, caplog) -> None:
    record = authorization_code(expires_in=-1)
    echo = f"client_secret={CLIENT_SECRET}&refresh_token={OLD_REFRESH} was not accepted"
    responses.add(
        responses.POST, TOKEN_URL, status=400, json={"error": "invalid_request", "error_description": echo}
    )
    caplog.set_level(logging.INFO)
    with pytest.raises(tokens.TokenError) as caught:
        tokens.get_access_token("BC")
    stored = reload(record)
    texts = (str(caught.value), stored.last_error, events(record)[0].message, caplog.text)
    for text in texts:
        assert "[redacted]" in text
    assert_safe(*texts)
