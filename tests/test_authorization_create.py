from __future__ import annotations

import pytest
from django.test import override_settings

from oauth2_auth.models import Authorization, GrantType
from tests.conftest import form_data, make_authorization

URL = "/oauth2/authorizations/new/"


def test_it_redirects_anonymous_to_login(client, db) -> None:
    make_authorization()  # a user-less database would send people to setup instead
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_it_shows_the_form_with_defaults(admin_client) -> None:
    response = admin_client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    for tab in ("General", "Credentials", "Authorization Code", "Bearer Token"):
        assert tab in body
    assert 'value="http://testserver/oauth2/callback/"' in body
    for default in ("access_token", "expires_in", "refresh_token"):
        assert f'value="{default}"' in body
    assert "Not connected" in body


@override_settings(CONNECTIT_PUBLIC_URL="https://connectit.example.com")
def test_it_prefills_the_callback_from_the_public_url(admin_client) -> None:
    response = admin_client.get(URL)
    assert 'value="https://connectit.example.com/oauth2/callback/"' in response.content.decode()


def test_it_creates_a_record(admin_client) -> None:
    response = admin_client.post(URL, form_data())
    record = Authorization.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/oauth2/authorizations/{record.pk}/"
    assert record.code == "BC-SANDBOX"
    assert record.grant_type == GrantType.AUTHORIZATION_CODE
    assert record.client_secret == "form-secret-value-123"
    assert record.use_pkce is True
    assert record.scope.endswith("offline_access")


def test_it_creates_a_client_credentials_record_without_auth_code_fields(admin_client) -> None:
    data = form_data(grant_type=GrantType.CLIENT_CREDENTIALS, auth_url="", redirect_url="")
    response = admin_client.post(URL, data)
    assert response.status_code == 302
    assert Authorization.objects.get().grant_type == GrantType.CLIENT_CREDENTIALS


def test_it_requires_auth_code_fields_for_that_grant(admin_client) -> None:
    response = admin_client.post(URL, form_data(auth_url="", redirect_url=""))
    assert response.status_code == 200
    assert response.content.decode().count("Required for the authorization code grant.") == 2
    assert not Authorization.objects.exists()


def test_it_rejects_a_duplicate_code(admin_client) -> None:
    make_authorization(code="BC-SANDBOX")
    response = admin_client.post(URL, form_data(code="bc-sandbox"))
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Authorization.objects.count() == 1


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("has space", "Use only letters, digits"),
        ("x" * 21, "at most 20 characters"),
        ("ÄÖÜ", "Use only letters, digits"),
        ("", "This field is required."),
    ],
)
def test_it_rejects_a_bad_code(admin_client, code: str, message: str) -> None:
    response = admin_client.post(URL, form_data(code=code))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Authorization.objects.exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("login.microsoftonline.com/token", "starting with https://"),
        ("ftp://example.com/token", "starting with https://"),
        ("https:///token", "with a host name"),
        ("https://user:pw@example.com/token", "Do not put credentials in the URL"),
        ("https://example.com:99999/token", "Enter a valid URL."),
        ("http://login.microsoftonline.com/token", "Plain http is refused"),
    ],
)
def test_it_rejects_a_bad_url(admin_client, url: str, message: str) -> None:
    response = admin_client.post(URL, form_data(token_url=url))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Authorization.objects.exists()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9000/token", "http://localhost/token", "http://[::1]:8080/t"]
)
def test_it_allows_http_for_loopback(admin_client, url: str) -> None:
    response = admin_client.post(URL, form_data(token_url=url))
    assert response.status_code == 302


@override_settings(CONNECTIT_ALLOW_HTTP=True)
def test_it_allows_http_when_configured(admin_client) -> None:
    response = admin_client.post(URL, form_data(token_url="http://idp.internal/token"))
    assert response.status_code == 302


def test_it_rejects_a_bad_method(admin_client) -> None:
    response = admin_client.post(URL, form_data(token_method="PUT"))
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_it_keeps_what_was_typed_on_error(admin_client) -> None:
    response = admin_client.post(URL, form_data(token_url="nonsense", environment="kept text"))
    body = response.content.decode()
    assert 'value="kept text"' in body
    # ...except the secret, which is never sent back to the browser.
    assert "form-secret-value-123" not in body


def test_it_denies_a_reader(reader_client) -> None:
    assert reader_client.get(URL).status_code == 403
    assert reader_client.post(URL, form_data()).status_code == 403
    assert not Authorization.objects.exists()
