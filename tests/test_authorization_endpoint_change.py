"""A write-only secret (and the tokens) never follow an endpoint to another server unasked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from oauth2_auth.models import Authorization, BearerToken, EventKind, TokenEvent, TokenState
from tests.conftest import form_data, make_authorization

TOKEN_URL = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"
AUTH_URL = "https://login.microsoftonline.com/contoso/oauth2/v2.0/authorize"


@pytest.fixture
def record(db) -> Authorization:
    now = timezone.now()
    return make_authorization(
        code="BC",
        grant_type="authorization_code",
        token_url=TOKEN_URL,
        auth_url=AUTH_URL,
        redirect_url="http://127.0.0.1:8000/oauth2/callback/",
        client_secret="stored-secret-value-1",
        access_token="stored-access-token-1",
        refresh_token="stored-refresh-token-1",
        token_state=TokenState.CONNECTED,
        obtained_at=now,
        expires_at=now + timedelta(hours=1),
    )


def post(client, record: Authorization, **changes: str):
    values = {"code": "BC", "token_url": TOKEN_URL, "auth_url": AUTH_URL, "client_secret": "", **changes}
    data = form_data(**values)
    return client.post(f"/oauth2/authorizations/{record.pk}/", data)


def token(record: Authorization) -> BearerToken:
    return BearerToken.objects.get(pk=record.pk)


@pytest.mark.parametrize(
    ("field", "moved"),
    [
        ("token_url", "https://evil.example.net/token"),
        ("token_url", "http://login.microsoftonline.com/contoso/oauth2/v2.0/token"),  # scheme
        ("token_url", "https://login.microsoftonline.com:8443/contoso/oauth2/v2.0/token"),  # port
        ("auth_url", "https://evil.example.net/authorize"),
    ],
)
def test_it_refuses_a_new_origin_without_the_secret(admin_client, record, field: str, moved: str) -> None:
    response = post(admin_client, record, **{field: moved})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "type the password or secret again" in errors["client_secret"][0]
    fresh = Authorization.objects.get(pk=record.pk)
    assert getattr(fresh, field) != moved  # nothing saved
    assert (token(record).access_token, token(record).refresh_token) == (
        "stored-access-token-1",
        "stored-refresh-token-1",
    )


def test_a_new_path_on_the_same_server_needs_nothing(admin_client, record) -> None:
    response = post(admin_client, record, token_url=TOKEN_URL.replace("contoso", "fabrikam"))
    assert response.status_code == 302
    assert token(record).refresh_token == "stored-refresh-token-1"


def test_it_moves_with_the_secret_typed_again_and_drops_the_tokens(admin_client, record) -> None:
    response = post(
        admin_client, record, token_url="https://idp.example.net/token", client_secret="typed-again-1"
    )
    assert response.status_code == 302
    fresh = Authorization.objects.get(pk=record.pk)
    assert (fresh.token_url, fresh.client_secret) == ("https://idp.example.net/token", "typed-again-1")
    stored = token(record)
    assert (stored.access_token, stored.refresh_token, stored.state) == ("", "", TokenState.NOT_CONNECTED)
    event = TokenEvent.objects.get(authorization=record, kind=EventKind.ENDPOINT_CHANGED)
    assert "https://login.microsoftonline.com:443" in event.message
    assert "https://idp.example.net:443" in event.message
    assert event.trigger == "user admin"


def test_a_record_without_a_secret_moves_but_drops_its_tokens(admin_client, record) -> None:
    Authorization.objects.filter(pk=record.pk).update(client_secret="")
    response = post(admin_client, record, token_url="https://idp.example.net/token")
    assert response.status_code == 302
    assert token(record).refresh_token == ""
