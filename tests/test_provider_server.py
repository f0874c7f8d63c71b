"""The test authorization server behaves like the real thing the app will talk to."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tests.provider.fixtures import (
    AC_CLIENT_ID,
    AC_CLIENT_SECRET,
    AC_NOPKCE_CLIENT_ID,
    AC_NOPKCE_CLIENT_SECRET,
    CC_CLIENT_ID,
    CC_CLIENT_SECRET,
    ENV_ACCESS_TOKEN_SECONDS,
    INTROSPECTOR_CLIENT_ID,
    INTROSPECTOR_CLIENT_SECRET,
    PASSWORD,
    USERNAME,
    ProviderError,
    ProviderServer,
    oauth_provider,  # noqa: F401  (the fixture, for runs without the app's conftest)
    run_provider,
)

CALLBACK = "http://127.0.0.1:8123/oauth2/callback/"
TIMEOUT = 10


@pytest.fixture
def provider(oauth_provider: ProviderServer) -> Iterator[ProviderServer]:  # noqa: F811
    oauth_provider.reset()
    oauth_provider.set_redirect_uris(AC_CLIENT_ID, [CALLBACK])
    oauth_provider.set_redirect_uris(AC_NOPKCE_CLIENT_ID, [CALLBACK])
    yield oauth_provider
    oauth_provider.reset()


# --- helpers --------------------------------------------------------------------------------


def client_credentials(provider: ProviderServer, **extra: str) -> requests.Response:
    data = {"grant_type": "client_credentials", **extra}
    auth = (CC_CLIENT_ID, CC_CLIENT_SECRET)
    return requests.post(provider.token_url, data=data, auth=auth, timeout=TIMEOUT)


def cc_token(provider: ProviderServer) -> str:
    response = client_credentials(provider)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def api_get(provider: ProviderServer, path: str, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(provider.api_url + path, headers=headers, timeout=TIMEOUT)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(provider: ProviderServer, client_id: str, state: str, **extra: str) -> str:
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK}
    return f"{provider.auth_url}?{urlencode({**query, 'state': state, **extra})}"


def callback_params(location: str) -> dict[str, str]:
    assert location.startswith(CALLBACK), location
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def exchange_code(provider: ProviderServer, code: str, **extra: str) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, **extra}
    auth = (AC_CLIENT_ID, AC_CLIENT_SECRET)
    return requests.post(provider.token_url, data=data, auth=auth, timeout=TIMEOUT)


def auth_code_tokens(provider: ProviderServer) -> dict:
    verifier, challenge = pkce_pair()
    url = authorize_url(provider, AC_CLIENT_ID, "s1", code_challenge=challenge, code_challenge_method="S256")
    params = callback_params(provider.consent_over_http(url))
    response = exchange_code(provider, params["code"], code_verifier=verifier)
    assert response.status_code == 200, response.text
    return response.json()


def refresh(provider: ProviderServer, refresh_token: str) -> requests.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    auth = (AC_CLIENT_ID, AC_CLIENT_SECRET)
    return requests.post(provider.token_url, data=data, auth=auth, timeout=TIMEOUT)


def introspect(provider: ProviderServer, token: str, auth: tuple[str, str] | None) -> requests.Response:
    return requests.post(provider.introspect_url, data={"token": token}, auth=auth, timeout=TIMEOUT)


INTROSPECTOR = (INTROSPECTOR_CLIENT_ID, INTROSPECTOR_CLIENT_SECRET)


# --- client credentials ---------------------------------------------------------------------


def test_it_issues_client_credentials_token_with_basic_auth(provider: ProviderServer) -> None:
    response = client_credentials(provider)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == "read"
    assert "refresh_token" not in body


def test_it_issues_client_credentials_token_with_body_credentials(provider: ProviderServer) -> None:
    data = {
        "grant_type": "client_credentials",
        "client_id": CC_CLIENT_ID,
        "client_secret": CC_CLIENT_SECRET,
        "scope": "read write",
    }
    response = requests.post(provider.token_url, data=data, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read write"


def test_it_rejects_a_wrong_secret(provider: ProviderServer) -> None:
    data = {"grant_type": "client_credentials"}
    auth = (CC_CLIENT_ID, "wrong")
    response = requests.post(provider.token_url, data=data, auth=auth, timeout=TIMEOUT)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_it_rejects_an_unknown_scope(provider: ProviderServer) -> None:
    response = client_credentials(provider, scope="https://example.com/.default")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


# --- protected API --------------------------------------------------------------------------


def test_api_requires_a_token(provider: ProviderServer) -> None:
    response = api_get(provider, "items/", None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_api_rejects_an_unknown_token(provider: ProviderServer) -> None:
    assert api_get(provider, "items/", "not-a-token").status_code == 401


def test_api_answers_with_a_token(provider: ProviderServer) -> None:
    token = cc_token(provider)
    response = api_get(provider, "customers/", token)
    assert response.status_code == 200
    assert len(response.json()["value"]) == 3
    assert api_get(provider, "items/7/", token).json()["number"] == "ITEM-0007"
    assert api_get(provider, "whoami/", token).json()["client_id"] == CC_CLIENT_ID
    assert api_get(provider, "nothing-here/", token).status_code == 404


def test_api_pages_by_number(provider: ProviderServer) -> None:
    token = cc_token(provider)
    body = api_get(provider, "items/?page=3", token).json()
    assert body["page"] == 3
    assert body["total_pages"] == 3
    assert [row["id"] for row in body["value"]] == [21, 22, 23, 24, 25]


def test_api_pages_by_next_link(provider: ProviderServer) -> None:
    token = cc_token(provider)
    url, ids = provider.api_url + "paged/?page=1", []
    while url:
        body = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)
        ids += [row["id"] for row in body.json()["value"]]
        url = body.json()["next"]
    assert ids == list(range(1, 26))


@pytest.mark.parametrize(("method", "status"), [("POST", 201), ("PUT", 200), ("PATCH", 200)])
def test_api_echoes_json_bodies(provider: ProviderServer, method: str, status: int) -> None:
    token = cc_token(provider)
    payload = {"number": "SO-1", "lines": [{"qty": 2}]}
    headers = {"Authorization": f"Bearer {token}"}
    response = requests.request(
        method, provider.api_url + "orders/", json=payload, headers=headers, timeout=TIMEOUT
    )
    assert response.status_code == status
    assert response.json() == payload


def test_api_refuses_a_token_in_the_query_string(provider: ProviderServer) -> None:
    token = cc_token(provider)
    url = provider.api_url + "items/?" + urlencode({"access_token": token})
    assert requests.get(url, timeout=TIMEOUT).status_code == 401


# --- authorization code ---------------------------------------------------------------------


def test_auth_code_flow_with_pkce(provider: ProviderServer) -> None:
    verifier, challenge = pkce_pair()
    url = authorize_url(
        provider, AC_CLIENT_ID, "st-42", code_challenge=challenge, code_challenge_method="S256"
    )
    params = callback_params(provider.consent_over_http(url))
    assert params["state"] == "st-42"

    response = exchange_code(provider, params["code"], code_verifier=verifier)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["refresh_token"]
    assert api_get(provider, "whoami/", tokens["access_token"]).json()["username"] == "alice"


def test_auth_code_rejects_a_wrong_verifier(provider: ProviderServer) -> None:
    _, challenge = pkce_pair()
    url = authorize_url(provider, AC_CLIENT_ID, "s", code_challenge=challenge, code_challenge_method="S256")
    code = callback_params(provider.consent_over_http(url))["code"]
    response = exchange_code(provider, code, code_verifier=pkce_pair()[0])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_auth_code_client_requires_pkce(provider: ProviderServer) -> None:
    location = provider.consent_over_http(authorize_url(provider, AC_CLIENT_ID, "s"))
    params = callback_params(location)
    assert params["error"] == "invalid_request"
    assert "code" not in params


def test_nopkce_client_works_without_pkce(provider: ProviderServer) -> None:
    location = provider.consent_over_http(authorize_url(provider, AC_NOPKCE_CLIENT_ID, "s"))
    data = {
        "grant_type": "authorization_code",
        "code": callback_params(location)["code"],
        "redirect_uri": CALLBACK,
        "client_id": AC_NOPKCE_CLIENT_ID,
        "client_secret": AC_NOPKCE_CLIENT_SECRET,
    }
    response = requests.post(provider.token_url, data=data, timeout=TIMEOUT)
    assert response.status_code == 200, response.text


def test_denial_redirects_with_access_denied(provider: ProviderServer) -> None:
    _, challenge = pkce_pair()
    url = authorize_url(
        provider, AC_CLIENT_ID, "st-9", code_challenge=challenge, code_challenge_method="S256"
    )
    params = callback_params(provider.consent_over_http(url, approve=False))
    assert params == {"error": "access_denied", "state": "st-9"}


def test_authorize_sends_a_visitor_through_login_and_back(provider: ProviderServer) -> None:
    # What a browser does: no provider session yet, so login first with ?next=.
    _, challenge = pkce_pair()
    url = authorize_url(provider, AC_CLIENT_ID, "s", code_challenge=challenge, code_challenge_method="S256")
    with requests.Session() as browser:
        login_page = browser.get(url, timeout=TIMEOUT)
        assert login_page.url.startswith(provider.login_url)
        assert 'name="next"' in login_page.text
        form = {
            "csrfmiddlewaretoken": browser.cookies["provider_csrftoken"],
            "username": USERNAME,
            "password": PASSWORD,
            "next": parse_qs(urlsplit(login_page.url).query)["next"][0],
        }
        consent = browser.post(provider.login_url, data=form, timeout=TIMEOUT)
    assert consent.url.startswith(provider.auth_url)
    assert 'value="Authorize"' in consent.text
    assert 'value="Cancel"' in consent.text


def test_an_unregistered_redirect_uri_gets_an_error_page(provider: ProviderServer) -> None:
    provider.set_redirect_uris(AC_CLIENT_ID, ["http://127.0.0.1:8123/elsewhere/"])
    with pytest.raises(ProviderError, match="400"):
        provider.consent_over_http(authorize_url(provider, AC_CLIENT_ID, "s"))


def test_a_code_works_once(provider: ProviderServer) -> None:
    verifier, challenge = pkce_pair()
    url = authorize_url(provider, AC_CLIENT_ID, "s", code_challenge=challenge, code_challenge_method="S256")
    code = callback_params(provider.consent_over_http(url))["code"]
    assert exchange_code(provider, code, code_verifier=verifier).status_code == 200
    replay = exchange_code(provider, code, code_verifier=verifier)
    assert replay.json()["error"] == "invalid_grant"


# --- refresh --------------------------------------------------------------------------------


def test_refresh_rotates_the_refresh_token(provider: ProviderServer) -> None:
    first = auth_code_tokens(provider)
    response = refresh(provider, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]

    reused = refresh(provider, first["refresh_token"])
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    assert refresh(provider, second["refresh_token"]).status_code == 200


# --- counters and knobs ---------------------------------------------------------------------


def test_stats_count_exactly(provider: ProviderServer) -> None:
    tokens = auth_code_tokens(provider)
    refresh(provider, tokens["refresh_token"])
    threads = [threading.Thread(target=client_credentials, args=(provider,)) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    api_get(provider, "items/", None)

    stats = provider.stats()
    assert stats["client_credentials"] == 20
    assert stats["authorization_code"] == 1
    assert stats["refresh_token"] == 1
    assert stats["total"] == 22
    assert (stats["api"], stats["api_unauthorized"]) == (1, 1)

    provider.reset()
    assert set(provider.stats().values()) == {0}


def test_expire_makes_the_api_answer_401_until_refreshed(provider: ProviderServer) -> None:
    tokens = auth_code_tokens(provider)
    assert provider.expire_tokens() >= 1
    assert api_get(provider, "items/", tokens["access_token"]).status_code == 401

    fresh = refresh(provider, tokens["refresh_token"]).json()
    assert api_get(provider, "items/", fresh["access_token"]).status_code == 200


def test_revoke_makes_the_api_answer_401_and_kills_refresh(provider: ProviderServer) -> None:
    tokens = auth_code_tokens(provider)
    provider.revoke_tokens()
    assert api_get(provider, "items/", tokens["access_token"]).status_code == 401

    response = refresh(provider, tokens["refresh_token"])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_token_delay_slows_the_token_endpoint(provider: ProviderServer) -> None:
    provider.set_token_delay(0.6)
    started = time.monotonic()
    assert client_credentials(provider).status_code == 200
    assert time.monotonic() - started >= 0.6

    provider.reset()  # also clears the delay
    started = time.monotonic()
    client_credentials(provider)
    assert time.monotonic() - started < 0.6


def test_a_delayed_token_endpoint_serves_concurrent_requests(provider: ProviderServer) -> None:
    provider.set_token_delay(0.5)
    threads = [threading.Thread(target=client_credentials, args=(provider,)) for _ in range(8)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The threads overlap on the server instead of queueing behind one another.
    assert time.monotonic() - started < 2.0
    assert provider.stats()["client_credentials"] == 8


# --- introspection --------------------------------------------------------------------------


def test_introspection_reports_active_tokens(provider: ProviderServer) -> None:
    token = cc_token(provider)
    response = introspect(provider, token, INTROSPECTOR)
    assert response.status_code == 200
    body = response.json()
    assert body["active"] is True
    assert body["client_id"] == CC_CLIENT_ID
    assert provider.stats()["introspect"] == 1


def test_introspection_reports_inactive_tokens(provider: ProviderServer) -> None:
    token = cc_token(provider)
    provider.expire_tokens()
    assert introspect(provider, token, INTROSPECTOR).json() == {"active": False}
    assert introspect(provider, "garbage", INTROSPECTOR).json() == {"active": False}


def test_introspection_requires_client_authentication(provider: ProviderServer) -> None:
    token = cc_token(provider)
    assert introspect(provider, token, None).status_code == 403
    assert introspect(provider, token, (INTROSPECTOR_CLIENT_ID, "wrong")).status_code == 403


def test_resource_bound_tokens_work_under_their_resource(provider: ProviderServer) -> None:
    response = client_credentials(provider, resource=provider.api_url)
    assert response.status_code == 200, response.text
    assert api_get(provider, "items/", response.json()["access_token"]).status_code == 200

    elsewhere = client_credentials(provider, resource="https://api.example.com/")
    assert api_get(provider, "items/", elsewhere.json()["access_token"]).status_code == 401


# --- process management ---------------------------------------------------------------------


def test_the_access_token_lifetime_is_configurable() -> None:
    with run_provider(access_token_seconds=7) as server:
        assert client_credentials(server).json()["expires_in"] == 7


def test_a_provider_that_cannot_start_reports_its_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_ACCESS_TOKEN_SECONDS, "soon")
    with pytest.raises(ProviderError, match="must be an integer"), run_provider():
        pass
