"""Provider metadata (oauth2_auth/discovery.py): OIDC Discovery and RFC 8414, the issuer check,
what the record takes from it, and the differences "Check configuration" reports."""

from __future__ import annotations

import pytest
import responses

from oauth2_auth import discovery
from oauth2_auth.models import CredentialType
from tests.conftest import make_authorization

ISSUER = "https://id.example.com/tenant-1"
METADATA = {
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/authorize",
    "token_endpoint": f"{ISSUER}/token",
    "revocation_endpoint": f"{ISSUER}/revoke",
    "code_challenge_methods_supported": ["plain", "S256"],
    "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
    "authorization_response_iss_parameter_supported": True,
}


def test_the_metadata_urls_of_an_issuer_with_a_path() -> None:
    assert discovery.candidate_urls(ISSUER + "/") == [
        f"{ISSUER}/.well-known/openid-configuration",
        "https://id.example.com/.well-known/oauth-authorization-server/tenant-1",
        f"{ISSUER}/.well-known/oauth-authorization-server",
    ]
    given = "https://id.example.com/.well-known/oauth-authorization-server/tenant-1"
    assert discovery.candidate_urls(given) == [given]


@responses.activate
def test_it_reads_oidc_discovery_and_fills_the_record() -> None:
    responses.get(f"{ISSUER}/.well-known/openid-configuration", json=METADATA)
    metadata = discovery.read(ISSUER)
    assert discovery.fields(metadata) == {
        "token_url": f"{ISSUER}/token",
        "issuer": ISSUER,
        "use_pkce": True,
        "require_iss": True,
        "credential_type": CredentialType.BASIC,
        "auth_url": f"{ISSUER}/authorize",
        "revocation_url": f"{ISSUER}/revoke",
    }


@responses.activate
def test_it_falls_back_to_rfc_8414() -> None:
    responses.get(f"{ISSUER}/.well-known/openid-configuration", status=404)
    rfc = {**METADATA, "code_challenge_methods_supported": ["plain"]}
    del rfc["token_endpoint_auth_methods_supported"], rfc["authorization_response_iss_parameter_supported"]
    responses.get("https://id.example.com/.well-known/oauth-authorization-server/tenant-1", json=rfc)
    metadata = discovery.read(ISSUER)
    assert (metadata.pkce_s256, metadata.sends_iss) == (False, False)
    assert metadata.auth_methods == ("client_secret_basic",)  # RFC 8414's default


@responses.activate
def test_a_document_for_another_issuer_is_refused() -> None:
    responses.get(
        f"{ISSUER}/.well-known/openid-configuration", json={**METADATA, "issuer": "https://evil.example"}
    )
    responses.get("https://id.example.com/.well-known/oauth-authorization-server/tenant-1", status=404)
    responses.get(f"{ISSUER}/.well-known/oauth-authorization-server", status=404)
    with pytest.raises(
        discovery.DiscoveryError, match=r"names the issuer https://evil\.example, not .*refused"
    ):
        discovery.read(ISSUER)


@pytest.mark.parametrize(
    ("document", "said"),
    [
        ({**METADATA, "token_endpoint": None}, "names no token_endpoint"),
        ({**METADATA, "token_endpoint": "http://id.example.com/token"}, "token_endpoint is refused"),
        ("not an object", "did not answer a JSON object"),
    ],
)
@responses.activate
def test_metadata_that_does_not_hold_together_is_refused(document, said) -> None:
    responses.get(f"{ISSUER}/.well-known/openid-configuration", json=document)
    responses.get("https://id.example.com/.well-known/oauth-authorization-server/tenant-1", status=404)
    responses.get(f"{ISSUER}/.well-known/oauth-authorization-server", status=404)
    with pytest.raises(discovery.DiscoveryError, match=said):
        discovery.read(ISSUER)


def test_a_url_that_is_not_allowed_is_not_fetched() -> None:
    # Any request would fail the test.
    with responses.RequestsMock(), pytest.raises(discovery.DiscoveryError, match="discovery URL is refused"):
        discovery.read("http://id.example.com/")


@pytest.mark.parametrize(
    ("methods", "credential_type"),
    [
        (["client_secret_post"], CredentialType.BODY),
        (["client_secret_basic", "client_secret_post"], CredentialType.BASIC),
        (["private_key_jwt"], CredentialType.BODY),
    ],
)
def test_the_credential_type_follows_what_the_provider_takes(methods, credential_type) -> None:
    assert discovery._credential_type(tuple(methods)) == credential_type


@responses.activate
def test_differences_name_what_the_record_says_otherwise(db) -> None:
    responses.get(f"{ISSUER}/.well-known/openid-configuration", json=METADATA)
    metadata = discovery.read(ISSUER)
    record = make_authorization(
        token_url=f"{ISSUER}/token", issuer=ISSUER, credential_type=CredentialType.BODY
    )
    found = discovery.differences(record, metadata)
    assert any(line.startswith("access token URL") for line in found) is False
    assert any("auth URL: the record has ''" in line for line in found)
    assert any("credential type: the provider does not list client_secret_post" in line for line in found)
    record.auth_url, record.revocation_url = f"{ISSUER}/authorize", f"{ISSUER}/revoke"
    record.use_pkce, record.require_iss, record.credential_type = True, True, CredentialType.BASIC
    assert discovery.differences(record, metadata) == []
