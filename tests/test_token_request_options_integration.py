"""Token request options against a real authorization server (django-oauth-toolkit, started by
the suite): extra parameters, raw Basic credentials and several resources (issue 13)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from oauth2_auth import tokens
from oauth2_auth.models import BearerToken, Status
from tests.provider_helpers import ac_record, call_api, cc_record, give_consent, start_consent

pytestmark = pytest.mark.django_db
ELSEWHERE = "https://api.example.com/"


@pytest.fixture
def provider(oauth_provider):
    oauth_provider.reset()
    return oauth_provider


@pytest.mark.parametrize("encoding", ["raw", "form"])
def test_a_basic_header_in_either_encoding_gets_a_token(provider, encoding: str) -> None:
    # cc-secret has no reserved characters: both encodings spell it the same way.
    record = cc_record(provider, credential_type="basic", basic_encoding=encoding)
    assert call_api(provider, tokens.get_access_token(record.code)) == 200
    assert provider.stats()["client_credentials"] == 1


def test_a_raw_basic_header_with_a_wrong_secret_is_refused(provider) -> None:
    record = cc_record(
        provider, credential_type="basic", basic_encoding="raw", client_secret="cc-secret-wrong"
    )
    with pytest.raises(tokens.TokenError) as caught:
        tokens.get_access_token(record.code)
    assert "invalid_client" in str(caught.value)
    assert "cc-secret-wrong" not in str(caught.value)


def test_extra_token_parameters_leave_a_real_token_request_working(provider) -> None:
    record = cc_record(provider, token_extra_params=f"audience={ELSEWHERE}\nx-trace=connectit")
    assert call_api(provider, tokens.get_access_token(record.code)) == 200


def test_extra_token_parameters_go_with_a_code_exchange_and_a_refresh(provider, admin_client) -> None:
    record = ac_record(provider, token_extra_params=f"audience={ELSEWHERE}")
    assert give_consent(admin_client, provider, record).status_code == 302
    record.refresh_from_db()
    assert record.status == Status.VALID
    BearerToken.objects.filter(pk=record.pk).update(expires_at=timezone.now() - timedelta(seconds=5))
    assert call_api(provider, tokens.get_access_token(record.code)) == 200
    stats = provider.stats()
    assert (stats["authorization_code"], stats["refresh_token"]) == (1, 1)


def test_an_extra_sign_in_parameter_reaches_the_provider(provider, admin_client) -> None:
    # prompt=login makes django-oauth-toolkit send a signed-in user back to its login page.
    record = ac_record(provider, auth_extra_params="prompt=login")
    location = provider.consent_over_http(start_consent(admin_client, record))
    assert location.startswith("/accounts/login/") or location.startswith(provider.login_url)
    plain = ac_record(provider, code="DOT-AC2")
    assert provider.consent_over_http(start_consent(admin_client, plain)).startswith("http://testserver/")


def test_the_resource_reaches_the_provider_and_binds_the_token(provider) -> None:
    bound_elsewhere = cc_record(provider, resource_url=ELSEWHERE)
    assert call_api(provider, tokens.get_access_token(bound_elsewhere.code)) == 401


@pytest.mark.parametrize("api_first", [True, False])
def test_several_resources_reach_the_provider(provider, api_first: bool) -> None:
    # In either order the token works on the API: every resource parameter arrived.
    resources = [provider.api_url, ELSEWHERE] if api_first else [ELSEWHERE, provider.api_url]
    record = cc_record(provider, resource_url="\n".join(resources))
    assert call_api(provider, tokens.get_access_token(record.code)) == 200
