"""Get Token against a real authorization server (django-oauth-toolkit, started by the suite)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from oauth2_auth import tokens
from oauth2_auth.models import Authorization, BearerToken, EventKind, Status
from tests.provider.fixtures import AC_NOPKCE_CLIENT_ID, AC_NOPKCE_CLIENT_SECRET
from tests.provider_helpers import ac_record, call_api, cc_record, give_consent

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(oauth_provider):
    oauth_provider.reset()
    return oauth_provider


def expire(record: Authorization) -> None:
    BearerToken.objects.filter(pk=record.pk).update(expires_at=timezone.now() - timedelta(seconds=5))


@pytest.mark.parametrize("credential_type", ["basic", "body"])
def test_client_credentials_token_works_on_the_api(provider, admin_client, credential_type: str) -> None:
    record = cc_record(provider, credential_type=credential_type)
    response = admin_client.post(f"/oauth2/authorizations/{record.pk}/get-token/", follow=True)
    assert "Token obtained for DOT-CC: valid for " in response.content.decode()
    record.refresh_from_db()
    assert record.status == Status.VALID
    assert record.token.refresh_token == ""  # client credentials never get one
    assert call_api(provider, record.token.access_token) == 200
    assert provider.stats()["client_credentials"] == 1
    # A valid token is reused: no further token request.
    assert tokens.get_access_token("dot-cc") == record.token.access_token
    assert provider.stats()["total"] == 1


def test_client_credentials_are_requested_again_after_expiry(provider) -> None:
    record = cc_record(provider)
    first = tokens.get_access_token(record.code)
    expire(record)
    second = tokens.get_access_token(record.code)
    assert second != first
    assert call_api(provider, second) == 200
    assert provider.stats()["client_credentials"] == 2


def test_wrong_client_secret_gives_a_clear_error(provider, admin_client) -> None:
    record = cc_record(provider, client_secret="wrong-secret-value")
    response = admin_client.post(f"/oauth2/authorizations/{record.pk}/get-token/", follow=True)
    body = response.content.decode()
    assert "refused the request: invalid_client" in body
    assert "wrong-secret-value" not in body
    record.refresh_from_db()
    assert record.status == Status.FAILED


def test_authorization_code_flow_with_pkce(provider, admin_client) -> None:
    record = ac_record(provider)
    response = give_consent(admin_client, provider, record)
    assert response.status_code == 302
    assert response["Location"] == f"/oauth2/authorizations/{record.pk}/#token"
    record.refresh_from_db()
    assert record.status == Status.VALID
    assert record.token.refresh_token
    assert call_api(provider, record.token.access_token) == 200
    assert provider.stats()["authorization_code"] == 1
    event = record.events.first()
    assert (event.kind, event.trigger, event.success) == (EventKind.CONSENT_GIVEN, "user admin", True)
    page = admin_client.get(response["Location"]).content.decode()
    assert "Consent given: DOT-AC now holds a token." in page
    assert "Valid until" in page
    assert record.token.access_token not in page and record.token.refresh_token not in page


def test_authorization_code_flow_without_pkce(provider, admin_client) -> None:
    record = ac_record(
        provider, client_id=AC_NOPKCE_CLIENT_ID, client_secret=AC_NOPKCE_CLIENT_SECRET, use_pkce=False
    )
    give_consent(admin_client, provider, record)
    record.refresh_from_db()
    assert record.status == Status.VALID


def test_the_provider_refuses_a_pkce_app_without_a_challenge(provider, admin_client) -> None:
    record = ac_record(provider, use_pkce=False)
    response = give_consent(admin_client, provider, record)
    page = admin_client.get(response["Location"]).content.decode()
    assert "The provider answered invalid_request" in page
    record.refresh_from_db()
    assert record.status == Status.NOT_CONNECTED


def test_refresh_after_expiry_rotates_the_refresh_token(provider, admin_client) -> None:
    record = ac_record(provider)
    give_consent(admin_client, provider, record)
    record.refresh_from_db()
    old_access, old_refresh = record.token.access_token, record.token.refresh_token
    provider.expire_tokens()
    expire(record)

    new_access = tokens.get_access_token(record.code)

    record.refresh_from_db()
    assert new_access != old_access
    assert record.token.refresh_token != old_refresh  # rotated, saved with the access token
    assert call_api(provider, new_access) == 200
    assert call_api(provider, old_access) == 401
    assert provider.stats()["refresh_token"] == 1
    assert record.events.first().kind == EventKind.REFRESHED
    # The old refresh token is dead at the provider now.
    dead = requests.post(
        provider.token_url,
        data={"grant_type": "refresh_token", "refresh_token": old_refresh},
        auth=(record.client_id, record.client_secret),
        timeout=10,
    )
    assert dead.json()["error"] == "invalid_grant"


def test_a_revoked_refresh_token_asks_for_consent_again(provider, admin_client) -> None:
    record = ac_record(provider)
    give_consent(admin_client, provider, record)
    provider.revoke_tokens()
    expire(record)
    record.refresh_from_db()
    stored_refresh = record.token.refresh_token

    with pytest.raises(tokens.TokenError) as raised:
        tokens.get_access_token(record.code)

    assert raised.value.consent_required
    assert "click Get Token" in str(raised.value)
    record.refresh_from_db()
    assert record.status == Status.CONSENT_REQUIRED
    assert record.token.refresh_token == stored_refresh  # kept; only consent replaces it
    # Consent again and all is well.
    give_consent(admin_client, provider, record)
    record.refresh_from_db()
    assert record.status == Status.VALID


def test_denial_shows_a_message_and_keeps_the_record(provider, admin_client) -> None:
    record = ac_record(provider)
    response = give_consent(admin_client, provider, record, approve=False)
    page = admin_client.get(response["Location"]).content.decode()
    assert "Consent was denied at the provider." in page
    record.refresh_from_db()
    assert record.status == Status.NOT_CONNECTED
    assert record.events.first().kind == EventKind.CONSENT_DENIED
    assert provider.stats()["total"] == 0


def test_refresh_now_and_clear_token_buttons(provider, admin_client) -> None:
    record = ac_record(provider)
    give_consent(admin_client, provider, record)
    record.refresh_from_db()
    before = record.token.access_token
    page = admin_client.post(f"/oauth2/authorizations/{record.pk}/refresh/", follow=True).content.decode()
    assert "Token refreshed for DOT-AC: valid for " in page and "a refresh token is stored" in page
    record.refresh_from_db()
    assert record.token.access_token != before

    page = admin_client.post(f"/oauth2/authorizations/{record.pk}/clear-token/", follow=True).content.decode()
    assert "The tokens of DOT-AC were removed." in page
    record.refresh_from_db()
    assert (record.token.access_token, record.token.refresh_token, record.status) == (
        "",
        "",
        Status.NOT_CONNECTED,
    )
    assert [e.kind for e in record.events.all()[:3]] == [
        EventKind.CLEARED,
        EventKind.REFRESHED,
        EventKind.CONSENT_GIVEN,
    ]
