"""Run pages, run messages and the commands say what really happened (issue 12, item 12):
a token failure names its code once, a request never sent is not shown as sent, a 401 that
survived the retry keeps its answer, and a success after a renewal says so."""

from __future__ import annotations

import html
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import requests
import responses
from django.core.management import CommandError, call_command
from django.utils import timezone

from definitions import runner
from definitions.models import AuthType, Definition, Direction, Outcome, Run
from oauth2_auth.models import Authorization, TokenState
from oauth2_auth.tokens import Trigger
from tests.conftest import make_authorization
from tests.test_definition_create import client_for, definitions_user

API = "https://api.example.com/v2.0"
TOKEN_URL = "https://login.example.com/contoso/oauth2/v2.0/token"
CLIENT_SECRET = "client-secret-value-SSSS6666"
ACCESS = "stored-access-token-AAAA4444"
NEW_ACCESS = "new-access-token-NNNN5555"


@pytest.fixture
def api():
    """Mocked HTTP: a request to anything not registered raises ConnectionError."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def quirky(**fields: Any) -> Authorization:
    values: dict[str, Any] = {
        "code": "QUIRKY-CC",
        "token_url": TOKEN_URL,
        "client_secret": CLIENT_SECRET,
        "api_hosts": "api.example.com",
    }
    return make_authorization(**{**values, **fields})


def make_definition(**fields: Any) -> Definition:
    values: dict[str, Any] = {
        "code": "CUSTOMERS",
        "endpoint_url": f"{API}/customers",
        "direction": Direction.IMPORT,
        "http_method": "GET",
    }
    return Definition.objects.create(**{**values, **fields})


def oauth2_definition(authorization: Authorization, **fields: Any) -> Definition:
    return make_definition(auth_type=AuthType.OAUTH2, authorization=authorization, **fields)


def go(definition: Definition, **params: str) -> Run:
    result = runner.run(definition, params=params, trigger=Trigger("test"))
    return Run.objects.get(pk=result.pk)


def refused_token_endpoint(mock: responses.RequestsMock) -> None:
    mock.add(responses.POST, TOKEN_URL, status=401, json={"error": "invalid_client"})


# --- 1. A token failure names the code once ------------------------------------------------------


def test_a_token_failure_names_the_code_once_in_the_run_message(db, api) -> None:
    refused_token_endpoint(api)
    run = go(oauth2_definition(quirky()))
    assert run.outcome == Outcome.FAILED
    assert run.message.startswith("Could not get a token from OAuth2 authorization QUIRKY-CC: ")
    assert run.message.count("QUIRKY-CC") == 1
    assert "invalid_client" in run.message


def test_run_definition_names_the_code_once(db, api) -> None:
    refused_token_endpoint(api)
    oauth2_definition(quirky())
    with pytest.raises(CommandError) as raised:
        call_command("run_definition", "CUSTOMERS", "--here", stdout=StringIO(), stderr=StringIO())
    assert "QUIRKY-CC" in str(raised.value)
    assert str(raised.value).count("QUIRKY-CC") == 1


def test_refresh_tokens_names_the_code_once(db, api) -> None:
    # Expired: the failure is raised (a token still valid would be handed out, its error stored).
    expires_at = timezone.now() - timedelta(minutes=5)
    quirky(
        access_token=ACCESS,
        token_state=TokenState.CONNECTED,
        expires_at=expires_at,
        obtained_at=expires_at - timedelta(hours=1),
    )
    refused_token_endpoint(api)
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("refresh_tokens", stdout=StringIO(), stderr=err)
    line = next(line for line in err.getvalue().splitlines() if line.startswith("FAILED"))
    assert line.startswith("FAILED QUIRKY-CC: ")
    assert line.count("QUIRKY-CC") == 1


# --- 2. A request never sent is not shown as sent ------------------------------------------------


def run_page(client, run: Run) -> str:
    response = client.get(f"/definitions/runs/{run.pk}/")
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_a_run_missing_parameters_says_not_sent(db, admin_client, api) -> None:
    run = go(make_definition(endpoint_url=f"{API}/customers?company={{company}}"))
    assert run.outcome == Outcome.FAILED
    assert not run.request_sent and run.never_sent
    page = run_page(admin_client, run)
    assert 'id="request-not-sent">Not sent: Missing' in page
    assert 'id="request">' not in page
    assert '<h2 class="h5">Response</h2>' not in page
    assert len(api.calls) == 0


def test_a_token_failure_before_sending_says_not_sent(db, admin_client, api) -> None:
    refused_token_endpoint(api)
    run = go(oauth2_definition(quirky()))
    assert not run.request_sent
    page = run_page(admin_client, run)
    assert 'id="request-not-sent">Not sent: Could not get a token from OAuth2 authorization QUIRKY-CC' in page
    assert 'id="request">' not in page
    assert "GET https://api.example.com" not in page


def test_a_refused_address_says_not_sent(db, admin_client) -> None:
    # Plain http to an address that is not this machine: refused before connecting.
    run = go(make_definition(endpoint_url="http://192.0.2.10/customers"))
    assert run.outcome == Outcome.FAILED
    assert "nothing was sent" in run.message
    assert not run.request_sent
    page = run_page(admin_client, run)
    assert 'id="request-not-sent">Not sent: ' in page
    assert 'id="request">' not in page


def test_a_request_that_timed_out_is_shown_as_sent(db, admin_client, api) -> None:
    api.add(responses.GET, f"{API}/customers", body=requests.Timeout("slow"))
    run = go(make_definition())
    assert run.outcome == Outcome.FAILED
    assert run.request_sent and not run.never_sent
    page = run_page(admin_client, run)
    assert 'id="request">GET https://api.example.com/v2.0/customers\n' in page
    assert "request-not-sent" not in page


def test_a_sent_request_is_shown(db, admin_client, api) -> None:
    api.add(responses.GET, f"{API}/customers", json={"value": []})
    run = go(make_definition())
    assert run.outcome == Outcome.SUCCESS and run.request_sent
    assert 'id="request">GET ' in run_page(admin_client, run)


def test_run_definition_says_when_nothing_was_sent(db, api) -> None:
    make_definition(endpoint_url=f"{API}/customers?company={{company}}")
    with pytest.raises(CommandError, match=r"failed \(request not sent, 0 page\(s\)\)"):
        call_command("run_definition", "CUSTOMERS", "--here", stdout=StringIO(), stderr=StringIO())


# --- 3. A 401 that survived the retry keeps its answer -------------------------------------------


def connected_quirky() -> Authorization:
    """An authorization holding a valid token the API will refuse."""
    expires_at = timezone.now() + timedelta(hours=1)
    return quirky(
        access_token=ACCESS,
        token_state=TokenState.CONNECTED,
        expires_at=expires_at,
        obtained_at=expires_at - timedelta(minutes=5),
    )


def add_token_endpoint(mock: responses.RequestsMock) -> None:
    mock.add(responses.POST, TOKEN_URL, json={"access_token": NEW_ACCESS, "expires_in": 3600})


def refusing_api(mock: responses.RequestsMock, url: str, method: str = responses.GET) -> None:
    body = {"error": {"code": "Authentication_InvalidCredentials", "message": "The scope is wrong."}}
    mock.add(method, url, status=401, json=body, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def test_an_import_refused_after_the_renewal_keeps_the_401_and_its_body(db, admin_client, api) -> None:
    add_token_endpoint(api)
    refusing_api(api, f"{API}/customers")
    run = go(oauth2_definition(connected_quirky()))
    assert run.outcome == Outcome.FAILED
    assert "even after a refresh" in run.message
    assert run.http_status == 401
    assert run.request_sent
    assert "www-authenticate" in run.response_headers.lower()
    page = run.page_set.get(number=1)
    assert (page.http_status, page.kept) == (401, True)
    assert "Authentication_InvalidCredentials" in page.body
    shown = run_page(admin_client, run)
    assert '<dd class="col-sm-4" id="http-status">401</dd>' in shown
    assert "Authentication_InvalidCredentials" in shown
    assert ACCESS not in shown and NEW_ACCESS not in shown


def test_an_export_refused_after_the_renewal_keeps_the_401_and_its_body(db, admin_client, api) -> None:
    add_token_endpoint(api)
    refusing_api(api, f"{API}/customers", responses.POST)
    definition = oauth2_definition(
        connected_quirky(), direction=Direction.EXPORT, http_method="POST", body_template='{"no": "C1"}'
    )
    run = go(definition)
    assert run.outcome == Outcome.FAILED
    assert run.http_status == 401
    assert "Authentication_InvalidCredentials" in run.response_body
    shown = run_page(admin_client, run)
    assert '<dd class="col-sm-4" id="http-status">401</dd>' in shown
    assert 'id="response-body">' in shown


def test_run_definition_reports_the_401_that_survived_the_retry(db, api) -> None:
    add_token_endpoint(api)
    refusing_api(api, f"{API}/customers")
    oauth2_definition(connected_quirky())
    with pytest.raises(CommandError) as raised:
        call_command("run_definition", "CUSTOMERS", "--here", stdout=StringIO(), stderr=StringIO())
    assert "failed (HTTP 401, 1 page(s))" in str(raised.value)
    assert "no HTTP answer" not in str(raised.value)


# --- 4. A success after renew-and-retry says so -------------------------------------------------

RENEWED_NOTE = "The token was refused once (HTTP 401) and renewed; the retry succeeded."


def test_a_success_after_a_renewal_says_so(db, admin_client, api) -> None:
    add_token_endpoint(api)
    refusing_api(api, f"{API}/customers")
    api.add(responses.GET, f"{API}/customers", json={"value": [{"no": "C1"}]})
    run = go(oauth2_definition(connected_quirky()))
    assert run.outcome == Outcome.SUCCESS
    assert run.http_status == 200
    assert run.message == RENEWED_NOTE
    assert RENEWED_NOTE in run_page(admin_client, run)


def test_a_success_without_a_renewal_says_nothing_of_it(db, api) -> None:
    api.add(responses.GET, f"{API}/customers", json={"value": []})
    run = go(oauth2_definition(connected_quirky()))
    assert run.outcome == Outcome.SUCCESS
    assert "refused" not in run.message


def test_run_definition_prints_the_renewal(db, api) -> None:
    add_token_endpoint(api)
    refusing_api(api, f"{API}/customers")
    api.add(responses.GET, f"{API}/customers", json={"value": []})
    oauth2_definition(connected_quirky())
    out = StringIO()
    call_command("run_definition", "CUSTOMERS", "--here", stdout=out, stderr=StringIO())
    assert RENEWED_NOTE in out.getvalue()


# --- 5. Links to the definition and the authorization; a filter on part of a code ----------------


def finished_run(definition: Definition) -> Run:
    return Run.objects.create(
        definition=definition, trigger="system", outcome=Outcome.SUCCESS, http_status=200
    )


def test_the_run_page_links_the_definition_and_the_authorization(db, admin_client) -> None:
    authorization = quirky()
    definition = oauth2_definition(authorization)
    page = run_page(admin_client, finished_run(definition))
    assert (
        f'id="run-definition"><a class="code-cell" href="/definitions/{definition.pk}/">CUSTOMERS</a>' in page
    )
    assert (
        f'id="run-authorization"><a class="code-cell" href="/oauth2/authorizations/{authorization.pk}/">'
        "QUIRKY-CC</a>" in page
    )


def test_the_run_page_names_the_auth_type_without_an_authorization(db, admin_client) -> None:
    definition = make_definition(auth_type=AuthType.BEARER, bearer_token="static-bearer-XXXX")
    page = run_page(admin_client, finished_run(definition))
    assert 'id="run-authorization">Bearer token (static)</dd>' in page


def test_a_reader_without_authorization_access_sees_the_code_unlinked(db) -> None:
    authorization = quirky()
    run = finished_run(oauth2_definition(authorization))
    reader = client_for(definitions_user("defreader", "view_definition"))
    for url in (f"/definitions/runs/{run.pk}/", "/definitions/runs/"):
        page = reader.get(url).content.decode()
        assert "QUIRKY-CC" in page
        assert f"/oauth2/authorizations/{authorization.pk}/" not in page


def test_the_runs_list_links_the_definition_and_the_authorization(db, admin_client) -> None:
    authorization = quirky()
    definition = oauth2_definition(authorization)
    finished_run(definition)
    page = html.unescape(admin_client.get("/definitions/runs/").content.decode())
    assert f'href="/definitions/{definition.pk}/">CUSTOMERS</a>' in page
    assert f'href="/oauth2/authorizations/{authorization.pk}/">QUIRKY-CC</a>' in page


def test_the_runs_list_filter_matches_part_of_a_code(db, admin_client) -> None:
    mine = finished_run(make_definition(code="CUSTOMERS-EU"))
    finished_run(make_definition(code="VENDORS"))
    page = admin_client.get("/definitions/runs/", {"definition": "tomers"}).content.decode()
    assert f'href="/definitions/runs/{mine.pk}/"' in page
    assert "VENDORS" not in page
