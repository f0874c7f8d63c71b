"""Discovery against the django-oauth-toolkit provider the suite starts (RFC 8414 metadata
under its /o/ mount), and the record page's Check configuration button."""

from __future__ import annotations

import pytest

from oauth2_auth import discovery
from oauth2_auth.models import Authorization
from tests.provider_helpers import ac_record

pytestmark = pytest.mark.django_db


def test_the_providers_metadata_fills_a_record(oauth_provider) -> None:
    issuer = f"{oauth_provider.base_url}/o"
    metadata = discovery.read(issuer)
    assert metadata.issuer == issuer
    assert metadata.source == f"{issuer}/.well-known/oauth-authorization-server"
    values = discovery.fields(metadata)
    assert values["auth_url"] == oauth_provider.auth_url
    assert values["token_url"] == oauth_provider.token_url
    assert values["revocation_url"] == f"{oauth_provider.base_url}/o/revoke_token/"
    assert values["use_pkce"] is True


def check(client, record: Authorization) -> str:
    response = client.post(f"/oauth2/authorizations/{record.pk}/check/", follow=True)
    return response.content.decode()


def test_check_configuration_says_whether_the_record_matches(admin_client, oauth_provider) -> None:
    issuer = f"{oauth_provider.base_url}/o"
    record = ac_record(oauth_provider, issuer=issuer)
    values = discovery.fields(discovery.read(issuer))
    Authorization.objects.filter(pk=record.pk).update(
        **{name: value for name, value in values.items() if name != "credential_type"},
        credential_type=values["credential_type"],
    )
    record.refresh_from_db()
    page = check(admin_client, record)
    assert "The record matches the provider&#x27;s metadata" in page
    Authorization.objects.filter(pk=record.pk).update(token_url=f"{oauth_provider.base_url}/o/old-token/")
    page = check(admin_client, record)
    assert "says otherwise: access token URL: the record has" in page and "/o/old-token/" in page
    assert Authorization.objects.get(pk=record.pk).token_url.endswith("/o/old-token/")  # nothing changed


def test_check_configuration_needs_an_issuer_and_a_readable_document(admin_client, oauth_provider) -> None:
    record = ac_record(oauth_provider, code="NO-ISSUER", issuer="")
    assert "Set the expected issuer first" in check(admin_client, record)
    Authorization.objects.filter(pk=record.pk).update(issuer=f"{oauth_provider.base_url}/nothing-here")
    assert "Could not read the provider&#x27;s metadata" in check(admin_client, record)


def test_check_configuration_is_for_those_who_may_change_the_record(
    admin_client, reader_client, oauth_provider
) -> None:
    record = ac_record(oauth_provider, code="READ-ONLY", issuer=f"{oauth_provider.base_url}/o")
    assert reader_client.post(f"/oauth2/authorizations/{record.pk}/check/").status_code == 403
    url = f"/oauth2/authorizations/{record.pk}/"
    assert 'id="check-configuration"' not in reader_client.get(url).content.decode()
    assert 'id="check-configuration"' in admin_client.get(url).content.decode()
