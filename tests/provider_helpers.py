"""Helpers for tests that run the app against the real test provider (tests/provider)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.test import Client

from oauth2_auth.models import Authorization, GrantType, host_port
from tests.conftest import make_authorization
from tests.provider.fixtures import (
    AC_CLIENT_ID,
    AC_CLIENT_SECRET,
    CC_CLIENT_ID,
    CC_CLIENT_SECRET,
    ProviderServer,
)

CALLBACK = "http://testserver/oauth2/callback/"


def cc_record(provider: ProviderServer, **fields: Any) -> Authorization:
    values = {
        "code": "DOT-CC",
        "client_id": CC_CLIENT_ID,
        "client_secret": CC_CLIENT_SECRET,
        "token_url": provider.token_url,
        "scope": "read",
        "api_hosts": host_port(provider.api_url),
    }
    return make_authorization(**{**values, **fields})


def ac_record(provider: ProviderServer, redirect_url: str = CALLBACK, **fields: Any) -> Authorization:
    provider.set_redirect_uris(fields.get("client_id", AC_CLIENT_ID), [redirect_url])
    values = {
        "code": "DOT-AC",
        "grant_type": GrantType.AUTHORIZATION_CODE,
        "client_id": AC_CLIENT_ID,
        "client_secret": AC_CLIENT_SECRET,
        "token_url": provider.token_url,
        "auth_url": provider.auth_url,
        "redirect_url": redirect_url,
        "scope": "read write",
        "api_hosts": host_port(provider.api_url),
    }
    return make_authorization(**{**values, **fields})


def start_consent(client: Client, record: Authorization) -> str:
    """Click Get Token; returns the provider URL the browser is sent to."""
    response = client.post(f"/oauth2/authorizations/{record.pk}/get-token/")
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


def callback_query(location: str) -> dict[str, str]:
    assert location.startswith(CALLBACK), location
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def give_consent(client: Client, provider: ProviderServer, record: Authorization, approve: bool = True):
    """The whole authorization-code round trip over HTTP; returns the callback's response."""
    location = provider.consent_over_http(start_consent(client, record), approve=approve)
    return client.get("/oauth2/callback/", callback_query(location))


def call_api(provider: ProviderServer, token: str, path: str = "items/") -> int:
    import requests

    response = requests.get(provider.api_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    return response.status_code
