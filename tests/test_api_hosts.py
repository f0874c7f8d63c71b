"""A token goes only to the API hosts its authorization allows."""

from __future__ import annotations

from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from oauth2_auth import tokens
from oauth2_auth.models import Authorization, TokenState, host_port, parse_hosts
from tests.conftest import form_data, make_authorization


@pytest.fixture
def record(db) -> Authorization:
    now = timezone.now()
    return make_authorization(
        code="HOSTS",
        api_hosts="api.businesscentral.dynamics.com\napi.example.com:8443",
        access_token="valid-access-token-1",
        token_state=TokenState.CONNECTED,
        obtained_at=now,
        expires_at=now + timedelta(hours=1),
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://API.example.com/x", "api.example.com"),
        ("https://api.example.com:443/x", "api.example.com"),
        ("https://api.example.com:8443/x", "api.example.com:8443"),
        ("http://[::1]:8000/x", "[::1]:8000"),
        ("not a url", ""),
    ],
)
def test_host_port_spells_hosts_one_way(url: str, expected: str) -> None:
    assert host_port(url) == expected


def test_host_lists_accept_lines_commas_and_urls() -> None:
    assert parse_hosts("a.example.com, B.example.com\nhttps://c.example.com:443/path") == [
        "a.example.com",
        "b.example.com",
        "c.example.com",
    ]


def test_an_allowed_host_gets_the_token(record) -> None:
    url = "https://api.businesscentral.dynamics.com/v2.0/x"
    assert tokens.get_access_token("HOSTS", for_url=url) == "valid-access-token-1"
    assert (
        tokens.get_access_token("HOSTS", for_url="https://api.example.com:8443/y") == "valid-access-token-1"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.net/collect",
        "https://api.example.com/x",  # right host, wrong port
        "https://api.businesscentral.dynamics.com.evil.example.net/",
    ],
)
def test_any_other_host_is_refused_and_nothing_is_sent(record, url: str) -> None:
    with responses.RequestsMock(), pytest.raises(tokens.TokenError, match="may be sent only to"):
        tokens.get_access_token("HOSTS", for_url=url)
    with responses.RequestsMock(), pytest.raises(tokens.TokenError, match="may be sent only to"):
        tokens.renew("HOSTS", force=True, for_url=url)  # no renewal for it either


def test_an_empty_list_allows_nothing(record) -> None:
    Authorization.objects.filter(pk=record.pk).update(api_hosts="")
    with pytest.raises(tokens.TokenError, match="no host yet"):
        tokens.get_access_token("HOSTS", for_url="https://api.example.com/x")


def test_the_form_fills_the_list_from_the_resource_url(admin_client, db) -> None:
    data = form_data(code="RES", resource_url="https://api.businesscentral.dynamics.com/")
    assert admin_client.post("/oauth2/authorizations/new/", data).status_code == 302
    assert Authorization.objects.get(code="RES").api_hosts == "api.businesscentral.dynamics.com"


def test_the_form_refuses_something_that_is_no_host(admin_client, db) -> None:
    response = admin_client.post("/oauth2/authorizations/new/", form_data(code="BAD", api_hosts="https://"))
    assert "Not a host name" in response.content.decode()
