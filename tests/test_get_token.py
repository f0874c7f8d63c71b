"""The Get Token, Refresh now and Clear token buttons."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from oauth2_auth import consent
from oauth2_auth.models import Authorization, GrantType, Status
from tests.conftest import make_authorization

AUTH_URL = "https://login.microsoftonline.com/contoso/oauth2/v2.0/authorize?prompt=consent"


def get_token_url(record: Authorization) -> str:
    return f"/oauth2/authorizations/{record.pk}/get-token/"


@pytest.fixture
def auth_code(db) -> Authorization:
    return make_authorization(
        code="BC",
        grant_type=GrantType.AUTHORIZATION_CODE,
        auth_url=AUTH_URL,
        redirect_url="https://connectit.example.com/oauth2/callback/",
        scope="https://api.businesscentral.dynamics.com/.default offline_access",
        resource_url="https://api.businesscentral.dynamics.com",
    )


def test_it_sends_the_browser_to_the_consent_page(admin_client, auth_code) -> None:
    response = admin_client.post(get_token_url(auth_code))
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == AUTH_URL.split("?")[0]
    query = {key: values[0] for key, values in parse_qs(location.query).items()}
    assert query["prompt"] == "consent"  # the auth URL's own query is kept
    assert query["response_type"] == "code"
    assert query["client_id"] == auth_code.client_id
    assert query["redirect_uri"] == "https://connectit.example.com/oauth2/callback/"
    assert query["scope"] == auth_code.scope
    assert "resource" not in query  # Entra v2 refuses it (AADSTS901002); the scope names it
    assert query["code_challenge_method"] == "S256"
    # The challenge is S256 of the verifier kept in the session, and the secret is not sent.
    pending = admin_client.session[consent.SESSION_KEY][query["state"]]
    digest = hashlib.sha256(pending["verifier"].encode()).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert auth_code.client_secret not in response["Location"]


def test_it_omits_pkce_when_switched_off(admin_client, auth_code) -> None:
    Authorization.objects.filter(pk=auth_code.pk).update(use_pkce=False)
    query = parse_qs(urlsplit(admin_client.post(get_token_url(auth_code))["Location"]).query)
    assert "code_challenge" not in query


def test_it_posts_to_a_post_auth_url(admin_client, auth_code) -> None:
    Authorization.objects.filter(pk=auth_code.pk).update(auth_method="POST")
    response = admin_client.post(get_token_url(auth_code))
    body = response.content.decode()
    assert response.status_code == 200
    assert f'action="{AUTH_URL}"' in body
    assert 'name="code_challenge"' in body and 'name="state"' in body
    assert "consent_post.js" in body
    assert auth_code.client_secret not in body


def test_it_refuses_get(admin_client, auth_code) -> None:
    assert admin_client.get(get_token_url(auth_code)).status_code == 405


def test_it_refuses_a_reader(reader_client, auth_code) -> None:
    assert reader_client.post(get_token_url(auth_code)).status_code == 403
    assert consent.SESSION_KEY not in reader_client.session


@responses.activate
def test_the_message_names_the_scopes_granted_or_asked_for(admin_client, db) -> None:
    record = make_authorization()
    granted = {"access_token": "cc-token", "expires_in": 3600, "scope": "Financials.ReadWrite.All"}
    responses.post(record.token_url, json=granted)
    body = admin_client.post(get_token_url(record), follow=True).content.decode()
    assert "no refresh token, scopes: Financials.ReadWrite.All" in body
    assert (
        record.events.first().message
        == "valid for 3600 s, no new refresh token, scopes: Financials.ReadWrite.All"
    )
    responses.post(record.token_url, json={"access_token": "cc-token-2", "expires_in": 3600})
    body = admin_client.post(get_token_url(record), follow=True).content.decode()
    assert f"scopes: {record.scope} (as asked; the provider did not list them)" in body


@responses.activate
def test_it_gets_a_client_credentials_token_directly(admin_client, db) -> None:
    record = make_authorization()
    responses.post(
        record.token_url, json={"access_token": "cc-token", "expires_in": 3599, "token_type": "Bearer"}
    )
    response = admin_client.post(get_token_url(record), follow=True)
    body = response.content.decode()
    assert "Token obtained for ENDPOINT: valid for " in body
    assert "Valid until" in body
    assert "cc-token" not in body
    record.refresh_from_db()
    assert record.status == Status.VALID


@responses.activate
def test_it_shows_a_failed_request_on_the_page(admin_client, db) -> None:
    record = make_authorization()
    responses.post(record.token_url, status=503, body="<html>down</html>", content_type="text/html")
    body = admin_client.post(get_token_url(record), follow=True).content.decode()
    assert "answered HTTP 503 with text/html, not JSON" in body
    assert 'data-status="failed"' in body


def test_refresh_without_a_refresh_token_asks_for_consent(admin_client, auth_code) -> None:
    with responses.RequestsMock():
        body = admin_client.post(
            f"/oauth2/authorizations/{auth_code.pk}/refresh/", follow=True
        ).content.decode()
    assert "click Get Token" in body
    auth_code.refresh_from_db()
    assert auth_code.status == Status.CONSENT_REQUIRED


def test_clear_needs_post_and_permission(admin_client, reader_client, auth_code) -> None:
    url = f"/oauth2/authorizations/{auth_code.pk}/clear-token/"
    assert admin_client.get(url).status_code == 200  # the confirmation page (it clears nothing)
    assert reader_client.get(url).status_code == 403
    assert reader_client.post(url).status_code == 403


def test_the_page_shows_token_events(admin_client, auth_code) -> None:
    admin_client.post(f"/oauth2/authorizations/{auth_code.pk}/clear-token/")
    body = admin_client.get(f"/oauth2/authorizations/{auth_code.pk}/").content.decode()
    assert "Token cleared" in body and "user admin" in body
