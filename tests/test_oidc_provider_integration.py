"""The app against a real OpenID Connect provider: panva's oidc-provider (npm), run with the
machine's Node.js (tests/oidc_provider). Discovery and Check configuration, the authorization
code flow with PKCE and RFC 9207 ``iss``, refresh tokens (and why prompt=consent is needed),
revocation on Clear token, and client authentication by client_secret_jwt and private_key_jwt.

Everything goes through the app's own code paths: Get Token and the callback through the Django
test client, renewals through ``oauth2_auth.tokens``, metadata through ``oauth2_auth.discovery``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from oauth2_auth import discovery, tokens
from oauth2_auth.models import (
    Authorization,
    BearerToken,
    CredentialType,
    EventKind,
    GrantType,
    Status,
    host_port,
)
from tests.conftest import make_authorization
from tests.oidc_provider.fixtures import BASIC, POST, PS256, RS256, SECRET_JWT, OidcClient, OidcProvider
from tests.provider_helpers import CALLBACK, callback_query, start_consent

pytestmark = pytest.mark.django_db

# The app's credential type for each of oidc-provider's token_endpoint_auth_method values.
CREDENTIAL_TYPES = {
    "client_secret_basic": CredentialType.BASIC,
    "client_secret_post": CredentialType.BODY,
    "client_secret_jwt": "client_secret_jwt",
    "private_key_jwt": "private_key_jwt",
}


@pytest.fixture
def provider(oidc_provider: OidcProvider) -> OidcProvider:
    oidc_provider.reset()
    return oidc_provider


# --- helpers ------------------------------------------------------------------------------------


def credential_fields(client: OidcClient) -> dict[str, Any]:
    """The record's credential fields for ``client``."""
    fields: dict[str, Any] = {
        "client_id": client.client_id,
        "client_secret": client.secret,
        "credential_type": CREDENTIAL_TYPES[client.auth_method],
    }
    if client.credential is not None:
        fields.update(
            private_key=client.credential.private_key_pem,
            certificate=client.credential.certificate_pem,
            assertion_algorithm=client.algorithm,
        )
    return fields


def ac_record(provider: OidcProvider, client_id: str = BASIC, **fields: Any) -> Authorization:
    """An authorization-code record as discovery would fill it, asking for a refresh token the
    way oidc-provider wants: offline_access and prompt=consent."""
    values = {
        "code": "OIDC-AC",
        "grant_type": GrantType.AUTHORIZATION_CODE,
        **credential_fields(provider.clients[client_id]),
        "auth_url": provider.auth_url,
        "token_url": provider.token_url,
        "redirect_url": CALLBACK,
        "issuer": provider.issuer,
        "require_iss": True,
        "scope": "openid offline_access",
        "auth_extra_params": "prompt=consent",
        "api_hosts": host_port(provider.base_url),
    }
    return make_authorization(**{**values, **fields})


def cc_record(provider: OidcProvider, client_id: str, **fields: Any) -> Authorization:
    values = {
        "code": "OIDC-CC",
        "grant_type": GrantType.CLIENT_CREDENTIALS,
        **credential_fields(provider.clients[client_id]),
        "token_url": provider.token_url,
        "scope": "api",
        "api_hosts": host_port(provider.base_url),
    }
    return make_authorization(**{**values, **fields})


def consent(client: Client, provider: OidcProvider, record: Authorization, **changes: str | None) -> str:
    """The authorization-code round trip; ``changes`` alter the callback's query first (None
    removes a parameter). Returns the record page the callback redirected to, as shown."""
    query = callback_query(provider.consent_over_http(start_consent(client, record)))
    for name, value in changes.items():
        if value is None:
            del query[name]
        else:
            query[name] = value
    response = client.get("/oauth2/callback/", query)
    assert response.status_code == 302
    return client.get(response["Location"]).content.decode()


def expire(record: Authorization) -> None:
    BearerToken.objects.filter(pk=record.pk).update(expires_at=timezone.now() - timedelta(seconds=5))


def stored(record: Authorization) -> BearerToken:
    record.refresh_from_db()
    return record.token


# --- discovery ----------------------------------------------------------------------------------


def test_discovery_reads_the_providers_openid_configuration(provider) -> None:
    metadata = discovery.read(provider.issuer)
    assert metadata.source == provider.discovery_url
    assert metadata.issuer == provider.issuer
    assert (metadata.authorization_endpoint, metadata.token_endpoint, metadata.revocation_endpoint) == (
        provider.auth_url,
        provider.token_url,
        provider.revocation_url,
    )
    assert metadata.pkce_s256 is True
    assert metadata.sends_iss is True  # RFC 9207, always on in oidc-provider 8
    assert {"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"} <= set(
        metadata.auth_methods
    )
    assert discovery.fields(metadata) == {
        "token_url": provider.token_url,
        "issuer": provider.issuer,
        "use_pkce": True,
        "require_iss": True,
        "credential_type": CredentialType.BASIC,
        "auth_url": provider.auth_url,
        "revocation_url": provider.revocation_url,
    }


def check(client: Client, record: Authorization) -> str:
    return client.post(f"/oauth2/authorizations/{record.pk}/check/", follow=True).content.decode()


def test_check_configuration_against_the_provider(provider, admin_client) -> None:
    record = ac_record(provider, revocation_url=provider.revocation_url)
    page = check(admin_client, record)
    assert f"The record matches the provider&#x27;s metadata ({provider.discovery_url})" in page
    Authorization.objects.filter(pk=record.pk).update(require_iss=False)
    page = check(admin_client, record)
    assert "says otherwise: require iss: the record has False, the provider says True." in page
    # A certificate record matches too: the provider lists private_key_jwt.
    record = ac_record(provider, PS256, code="OIDC-PK", revocation_url=provider.revocation_url)
    assert "The record matches the provider&#x27;s metadata" in check(admin_client, record)


# --- authorization code, refresh tokens ---------------------------------------------------------


def test_prompt_consent_brings_a_refresh_token_that_refreshes_and_rotates(provider, admin_client) -> None:
    record = ac_record(provider)
    page = consent(admin_client, provider, record)
    assert "Consent given: OIDC-AC now holds a token." in page
    token = stored(record)
    assert record.status == Status.VALID
    assert token.refresh_token and token.scope == "openid offline_access"
    assert provider.userinfo_status(token.access_token) == 200
    old_access, old_refresh = token.access_token, token.refresh_token
    expire(record)

    new_access = tokens.get_access_token(record.code)

    token = stored(record)
    assert new_access != old_access and token.access_token == new_access
    assert token.refresh_token not in ("", old_refresh)  # rotated, and the new one saved
    assert provider.userinfo_status(new_access) == 200
    assert record.events.first().kind == EventKind.REFRESHED
    assert provider.stats()["token"] == {
        "authorization_code:client_secret_basic": 1,
        "refresh_token:client_secret_basic": 1,
    }
    # Rotation spent the old refresh token; the new one is live.
    assert provider.introspect(old_refresh) == {"active": False}
    assert provider.introspect(token.refresh_token)["active"] is True
    # Replaying the spent one revokes the whole grant (reuse detection): why the app must save
    # every rotated refresh token and never send an old one again.
    assert provider.refresh_directly(BASIC, old_refresh)["error"] == "invalid_grant"
    assert provider.introspect(token.refresh_token) == {"active": False}


def test_without_prompt_consent_oidc_provider_drops_offline_access(provider, admin_client) -> None:
    # OIDC Core 11: offline_access is ignored unless prompt includes consent. That is why the
    # preset and README advise prompt=consent for a refresh token.
    record = ac_record(provider, auth_extra_params="")
    consent(admin_client, provider, record)
    token = stored(record)
    assert record.status == Status.VALID
    assert (token.refresh_token, token.scope) == ("", "openid")
    message = record.events.first().message
    assert message.startswith("valid for 300 s, no refresh token (the provider gave none")
    assert provider.userinfo_status(token.access_token) == 200


def test_clear_token_revokes_the_refresh_token_at_the_provider(provider, admin_client) -> None:
    record = ac_record(provider, revocation_url=provider.revocation_url)
    consent(admin_client, provider, record)
    refresh_token = stored(record).refresh_token
    assert provider.introspect(refresh_token)["active"] is True

    response = admin_client.post(f"/oauth2/authorizations/{record.pk}/clear-token/", follow=True)

    page = response.content.decode()
    assert "The tokens of OIDC-AC were removed; the provider confirmed the revocation" in page
    assert (stored(record).refresh_token, record.status) == ("", Status.NOT_CONNECTED)
    assert provider.stats()["revocations"] == 1
    assert provider.introspect(refresh_token) == {"active": False}
    assert provider.refresh_directly(BASIC, refresh_token)["error"] == "invalid_grant"


# --- RFC 9207: iss in the authorization response ------------------------------------------------


def test_an_answer_without_iss_is_refused_when_iss_is_required(provider, admin_client) -> None:
    record = ac_record(provider)
    page = consent(admin_client, provider, record, iss=None)
    assert "The provider sent no &#x27;iss&#x27; with its answer, which this authorization requires" in page
    assert (stored(record).access_token, record.status) == ("", Status.NOT_CONNECTED)
    assert provider.stats()["token"] == {}  # the code was never sent


def test_an_answer_from_another_issuer_is_refused(provider, admin_client) -> None:
    record = ac_record(provider)
    page = consent(admin_client, provider, record, iss="http://127.0.0.1:1")
    assert "The answer came from an unexpected issuer (http://127.0.0.1:1); the code was not used." in page
    assert (stored(record).access_token, record.status) == ("", Status.NOT_CONNECTED)
    assert provider.stats()["token"] == {}


def test_the_providers_own_iss_is_accepted(provider, admin_client) -> None:
    record = ac_record(provider)
    location = provider.consent_over_http(start_consent(admin_client, record))
    assert callback_query(location)["iss"] == provider.issuer
    admin_client.get("/oauth2/callback/", callback_query(location))
    record.refresh_from_db()
    assert record.status == Status.VALID


# --- client authentication: secret in the body, client_secret_jwt, private_key_jwt ---------------

ASSERTION_CLIENTS = [SECRET_JWT, PS256, RS256]


def assert_assertion_header(provider: OidcProvider, client: OidcClient) -> None:
    """The header of the last assertion oidc-provider received: the algorithm, and the
    certificate named by x5t#S256 (PS256) or x5t (RS256), no kid."""
    header = provider.stats()["last_assertion_header"]
    if client.credential is None:
        assert header == {"alg": "HS256", "typ": "JWT"}
    elif client.algorithm == "PS256":
        assert header == {"alg": "PS256", "typ": "JWT", "x5t#S256": client.credential.x5t_s256}
    else:
        assert header == {"alg": "RS256", "typ": "JWT", "x5t": client.credential.x5t}


@pytest.mark.parametrize("client_id", [POST, *ASSERTION_CLIENTS])
def test_client_credentials_with_each_authentication_method(provider, admin_client, client_id: str) -> None:
    client = provider.clients[client_id]
    record = cc_record(provider, client_id)
    response = admin_client.post(f"/oauth2/authorizations/{record.pk}/get-token/", follow=True)
    assert "Token obtained for OIDC-CC: valid for " in response.content.decode()
    token = stored(record)
    assert record.status == Status.VALID and token.refresh_token == ""
    assert provider.api_status(token.access_token) == 200
    assert provider.stats()["token"] == {f"client_credentials:{client.auth_method}": 1}
    if client_id != POST:
        assert_assertion_header(provider, client)


@pytest.mark.parametrize("client_id", ASSERTION_CLIENTS)
def test_authorization_code_and_refresh_with_a_client_assertion(
    provider, admin_client, client_id: str
) -> None:
    client = provider.clients[client_id]
    record = ac_record(provider, client_id)
    consent(admin_client, provider, record)
    token = stored(record)
    assert record.status == Status.VALID and token.refresh_token
    expire(record)
    new_access = tokens.get_access_token(record.code)  # the refresh signs a fresh assertion
    assert provider.userinfo_status(new_access) == 200
    assert provider.stats()["token"] == {
        f"authorization_code:{client.auth_method}": 1,
        f"refresh_token:{client.auth_method}": 1,
    }
    assert_assertion_header(provider, client)


def test_a_key_the_provider_does_not_know_is_refused_as_invalid_client(provider, admin_client) -> None:
    # The PS256 client's record holding the RS256 client's key pair: its public key is not
    # registered for this client, so the signature cannot be verified.
    stranger = provider.clients[RS256].credential
    record = cc_record(
        provider, PS256, private_key=stranger.private_key_pem, certificate=stranger.certificate_pem
    )
    response = admin_client.post(f"/oauth2/authorizations/{record.pk}/get-token/", follow=True)
    page = response.content.decode()
    assert "refused the request: invalid_client" in page
    token = stored(record)
    assert (token.access_token, record.status) == ("", Status.FAILED)
    assert "invalid_client" in token.last_error
    assert provider.stats()["token_errors"] == {"client_credentials:invalid_client": 1}
