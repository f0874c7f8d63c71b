"""Unit tests of definitions.runner.run for REST definitions, with HTTP mocked by `responses`.

Every test asserts what went over the wire (method, URL, headers, body) and what the stored Run
says. Secrets are distinct, recognisable strings so a leak anywhere is easy to find.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import timedelta
from io import StringIO
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
import responses
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from lxml import etree

from definitions import runner
from definitions.models import AuthType, Definition, Direction, Outcome, Paging, Run, RunPage
from oauth2_auth.models import Authorization, GrantType, TokenState
from oauth2_auth.tokens import Trigger
from tests.conftest import make_authorization
from tests.queue import drain

API = "https://api.example.com/v2.0"
HOST = "api.example.com"
TOKEN_URL = "https://login.example.com/contoso/oauth2/v2.0/token"
USERNAME = "svc-user"
PASSWORD = "basic-password-PPPP1111"
BASIC = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
BEARER = "static-bearer-token-BBBB2222"
API_KEY = "api-key-value-KKKK3333"
ACCESS = "stored-access-token-AAAA4444"
NEW_ACCESS = "new-access-token-NNNN5555"
REFRESH = "refresh-token-value-RRRR7777"
CLIENT_SECRET = "client-secret-value-SSSS6666"
ALL_SECRETS = (PASSWORD, BASIC, BEARER, API_KEY, ACCESS, NEW_ACCESS, REFRESH, CLIENT_SECRET)
MIB = 1024 * 1024


# --- Helpers -------------------------------------------------------------------------------------


@pytest.fixture
def api():
    """Mocked HTTP: a request to anything not registered raises ConnectionError."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def make_definition(**fields: Any) -> Definition:
    values: dict[str, Any] = {
        "code": "CUSTOMERS",
        "endpoint_url": f"{API}/customers",
        "direction": Direction.IMPORT,
        "http_method": "GET",
    }
    values.update(fields)
    return Definition.objects.create(**values)


def oauth2_authorization(**fields: Any) -> Authorization:
    """Client credentials with a stored token valid for an hour: no token request needed."""
    now = timezone.now()
    values: dict[str, Any] = {
        "token_url": TOKEN_URL,
        "client_secret": CLIENT_SECRET,
        "access_token": ACCESS,
        "token_type": "Bearer",
        "token_state": TokenState.CONNECTED,
        "obtained_at": now,
        "expires_at": now + timedelta(hours=1),
        "api_hosts": "api.example.com",
    }
    values.update(fields)
    return make_authorization(**values)


def go(definition: Definition, payload: str | None = None, **params: str) -> Run:
    result = runner.run(definition, params=params, payload=payload, trigger=Trigger("test"))
    return Run.objects.get(pk=result.pk)


def token_calls(mock: responses.RequestsMock) -> list:
    return [call for call in mock.calls if call.request.url == TOKEN_URL]


def api_calls(mock: responses.RequestsMock) -> list:
    return [call for call in mock.calls if call.request.url != TOKEN_URL]


def add_token_endpoint(mock: responses.RequestsMock, access_token: str = NEW_ACCESS) -> None:
    body = {"access_token": access_token, "expires_in": 3600, "token_type": "Bearer"}
    mock.add(responses.POST, TOKEN_URL, json=body)


def stored_text() -> str:
    """Every column of every Run and RunPage row, read with raw SQL."""
    values = []
    with connection.cursor() as cursor:
        for table in (Run._meta.db_table, RunPage._meta.db_table):
            cursor.execute(f"SELECT * FROM {table}")
            values += [str(value) for row in cursor.fetchall() for value in row]
    return "\n".join(values)


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in ALL_SECRETS:
            assert secret not in text


# --- Placeholders --------------------------------------------------------------------------------


def test_it_url_encodes_parameters_in_the_url(db, api) -> None:
    definition = make_definition(endpoint_url=f"{API}/customers/{{id}}?filter={{filter}}")
    expected = f"{API}/customers/a%20b%2Fc%26d%3Fe?filter=M%C3%BCller%20%26%20S%C3%B6hne"
    api.add(responses.GET, expected, json=[])
    run = go(definition, id="a b/c&d?e", filter="Müller & Söhne")
    assert run.outcome == Outcome.SUCCESS, run.message
    assert api.calls[0].request.url == expected
    assert run.request_line == f"GET {expected}"


def test_it_json_escapes_parameters_in_a_json_body(db, api) -> None:
    definition = make_definition(
        direction=Direction.EXPORT,
        http_method="POST",
        body_template='{"name": "{name}", "id": {id}}',
    )
    api.add(responses.POST, f"{API}/customers", status=201, json={})
    name = 'say "hi" \\ back\nslash'
    run = go(definition, name=name, id="7")
    assert run.outcome == Outcome.SUCCESS, run.message
    body = api.calls[0].request.body
    assert body == b'{"name": "say \\"hi\\" \\\\ back\\nslash", "id": 7}'
    assert json.loads(body) == {"name": name, "id": 7}


def test_it_xml_escapes_parameters_in_an_xml_body(db, api) -> None:
    definition = make_definition(
        direction=Direction.EXPORT,
        http_method="POST",
        content_type="application/xml",
        body_template="<customer name='{name}'><note>{name}</note></customer>",
    )
    api.add(responses.POST, f"{API}/customers", status=200, body="<ok/>")
    name = "A & B <c> \"d\" 'e'"
    run = go(definition, name=name)
    assert run.outcome == Outcome.SUCCESS, run.message
    body = api.calls[0].request.body
    escaped = "A &amp; B &lt;c&gt; &quot;d&quot; &apos;e&apos;"
    assert body == f"<customer name='{escaped}'><note>{escaped}</note></customer>".encode()
    root = etree.fromstring(body)
    assert root.get("name") == name
    assert root.findtext("note") == name


def test_it_sends_text_bodies_as_they_are(db, api) -> None:
    definition = make_definition(
        direction=Direction.EXPORT, http_method="POST", content_type="text/plain", body_template="id={id}&x"
    )
    api.add(responses.POST, f"{API}/customers", body="ok")
    assert go(definition, id="a&b").outcome == Outcome.SUCCESS
    assert api.calls[0].request.body == b"id=a&b&x"


def test_it_fails_a_run_with_a_missing_parameter_before_sending(db, api) -> None:
    definition = make_definition(endpoint_url=f"{API}/customers/{{id}}")
    run = go(definition)
    assert run.outcome == Outcome.FAILED
    assert run.message.startswith("Missing parameter(s): id")
    assert len(api.calls) == 0
    assert run.http_status is None
    assert run.finished_at is not None


def test_it_names_every_missing_parameter(db, api) -> None:
    definition = make_definition(
        endpoint_url=f"{API}/{{company}}/customers/{{id}}",
        direction=Direction.EXPORT,
        http_method="POST",
        body_template='{"name": "{name}"}',
    )
    run = go(definition, company="contoso")
    assert run.outcome == Outcome.FAILED
    assert "Missing parameter(s): id, name" in run.message
    assert len(api.calls) == 0


def test_it_lists_parameter_names_in_order_without_page(db) -> None:
    definition = make_definition(
        endpoint_url=f"{API}/{{company}}/items?page={{page}}&q={{q}}&c={{company}}",
        body_template="{q} {name} {page}",
    )
    assert runner.parameter_names(definition) == ["company", "q", "name"]


# --- Authorization types -------------------------------------------------------------------------


def test_it_sends_no_authorization_for_anonymous(db, api) -> None:
    api.add(responses.GET, f"{API}/customers", json=[])
    run = go(make_definition())
    assert run.outcome == Outcome.SUCCESS, run.message
    headers = api.calls[0].request.headers
    assert "Authorization" not in headers
    assert headers["Accept"] == "application/json"
    assert "Content-Type" not in headers
    assert api.calls[0].request.body is None


def test_it_sends_basic_authorization(db, api) -> None:
    definition = make_definition(auth_type=AuthType.BASIC, auth_username=USERNAME, auth_password=PASSWORD)
    api.add(responses.GET, f"{API}/customers", json=[])
    run = go(definition)
    assert run.outcome == Outcome.SUCCESS, run.message
    assert api.calls[0].request.headers["Authorization"] == f"Basic {BASIC}"
    assert "Authorization: Basic [redacted]" in run.request_headers


def test_it_sends_a_static_bearer_token(db, api) -> None:
    definition = make_definition(auth_type=AuthType.BEARER, bearer_token=BEARER)
    api.add(responses.GET, f"{API}/customers", json=[])
    run = go(definition)
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {BEARER}"
    assert "Authorization: Bearer [redacted]" in run.request_headers


def test_it_sends_an_api_key_in_its_custom_header(db, api) -> None:
    definition = make_definition(
        auth_type=AuthType.API_KEY, api_key_header="X-Api-Key", api_key_value=API_KEY
    )
    api.add(responses.GET, f"{API}/customers", json=[])
    run = go(definition)
    headers = api.calls[0].request.headers
    assert headers["X-Api-Key"] == API_KEY
    assert "Authorization" not in headers
    assert "X-Api-Key: [redacted]" in run.request_headers


def test_it_sends_the_stored_oauth2_token(db, api) -> None:
    definition = make_definition(auth_type=AuthType.OAUTH2, authorization=oauth2_authorization())
    api.add(responses.GET, f"{API}/customers", json=[])
    run = go(definition)
    assert run.outcome == Outcome.SUCCESS, run.message
    assert len(api.calls) == 1  # no token request: the stored token is valid
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {ACCESS}"
    assert "Authorization: Bearer [redacted]" in run.request_headers


def test_it_requests_one_client_credentials_token_for_several_runs(db, api) -> None:
    authorization = make_authorization(
        token_url=TOKEN_URL, client_secret=CLIENT_SECRET, scope="api/.default", api_hosts="api.example.com"
    )
    add_token_endpoint(api)
    api.add(responses.GET, f"{API}/customers", json=[])
    api.add(responses.GET, f"{API}/vendors", json=[])
    customers = make_definition(auth_type=AuthType.OAUTH2, authorization=authorization)
    vendors = make_definition(
        code="VENDORS", endpoint_url=f"{API}/vendors", auth_type=AuthType.OAUTH2, authorization=authorization
    )
    runs = [go(customers), go(vendors), go(customers)]
    assert [run.outcome for run in runs] == [Outcome.SUCCESS] * 3
    assert len(token_calls(api)) == 1
    # The token event names the run that asked for it, not only who started the run.
    event = authorization.events.get()
    assert event.trigger == f"run {runs[0].pk} of CUSTOMERS, started by test"
    form = dict(parse_qsl(token_calls(api)[0].request.body))
    assert form["grant_type"] == "client_credentials"
    assert form["client_secret"] == CLIENT_SECRET
    assert form["scope"] == "api/.default"
    assert [call.request.headers["Authorization"] for call in api_calls(api)] == [f"Bearer {NEW_ACCESS}"] * 3


def test_it_fails_when_the_oauth2_token_cannot_be_had(db, api) -> None:
    authorization = make_authorization(
        token_url=TOKEN_URL, client_secret=CLIENT_SECRET, api_hosts="api.example.com"
    )
    api.add(responses.POST, TOKEN_URL, status=401, json={"error": "invalid_client"})
    run = go(make_definition(auth_type=AuthType.OAUTH2, authorization=authorization))
    assert run.outcome == Outcome.FAILED
    assert "Could not get a token from OAuth2 authorization ENDPOINT" in run.message
    assert api_calls(api) == []
    assert_no_secret(stored_text())


# --- Extra headers -------------------------------------------------------------------------------


def test_it_sends_extra_headers(db, api) -> None:
    definition = make_definition(extra_headers="X-Company: Contoso Ltd\n\nIf-Match: *\n")
    api.add(responses.GET, f"{API}/customers", json=[])
    run = go(definition)
    headers = api.calls[0].request.headers
    assert headers["X-Company"] == "Contoso Ltd"
    assert headers["If-Match"] == "*"
    assert "X-Company: Contoso Ltd" in run.request_headers


def test_it_lets_the_authorization_win_over_an_extra_header(db, api) -> None:
    definition = make_definition(
        auth_type=AuthType.BEARER, bearer_token=BEARER, extra_headers="Authorization: Bearer other"
    )
    api.add(responses.GET, f"{API}/customers", json=[])
    go(definition)
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {BEARER}"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("not a header line", "Line 1: write a header as 'Name: value'."),
        ("X-Ok: 1\nBad Name: 2", "Line 2: write a header as 'Name: value'."),
        ("Host: evil.example.net", "Line 1: Host is set by the app and cannot be overridden."),
    ],
)
def test_it_fails_a_run_with_invalid_extra_headers(db, api, extra: str, expected: str) -> None:
    run = go(make_definition(extra_headers=extra))
    assert run.outcome == Outcome.FAILED
    assert run.message == f"Extra headers: {expected}"
    assert len(api.calls) == 0


# --- REST methods, content types, export ---------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_it_sends_the_body_with_each_method(db, api, method: str) -> None:
    definition = make_definition(
        endpoint_url=f"{API}/customers/{{id}}",
        direction=Direction.EXPORT,
        http_method=method,
        body_template='{"id": "{id}"}',
        accept="application/json;odata.metadata=none",
    )
    api.add(method, f"{API}/customers/5", status=200, json={"ok": True})
    run = go(definition, id="5")
    assert run.outcome == Outcome.SUCCESS, run.message
    request = api.calls[0].request
    assert (request.method, request.url) == (method, f"{API}/customers/5")
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["Accept"] == "application/json;odata.metadata=none"
    assert request.body == b'{"id": "5"}'
    assert run.request_line == f"{method} {API}/customers/5"
    assert run.request_body == '{"id": "5"}'


def test_it_sends_no_body_with_get(db, api) -> None:
    definition = make_definition(body_template='{"id": 1}')
    api.add(responses.GET, f"{API}/customers", json=[])
    assert go(definition).outcome == Outcome.SUCCESS
    request = api.calls[0].request
    assert request.body is None
    assert "Content-Type" not in request.headers


def test_it_sends_utf8_with_the_charset(db, api) -> None:
    definition = make_definition(
        direction=Direction.EXPORT,
        http_method="POST",
        content_type="text/plain",
        body_template="Grüße {name}",
    )
    api.add(responses.POST, f"{API}/customers", body="ok")
    go(definition, name="Zoë")
    request = api.calls[0].request
    assert request.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert request.body == "Grüße Zoë".encode()


def test_it_omits_accept_when_blank(db, api) -> None:
    api.add(responses.GET, f"{API}/customers", json=[])
    go(make_definition(accept=""))
    # requests' own default, not one this app chose
    assert api.calls[0].request.headers.get("Accept") in (None, "*/*")


def test_it_sends_the_payload_instead_of_the_body_template(db, api) -> None:
    definition = make_definition(
        direction=Direction.EXPORT, http_method="POST", body_template='{"name": "{name}"}'
    )
    api.add(responses.POST, f"{API}/customers", status=201, json={"id": 42}, headers={"Location": "/c/42"})
    payload = '[{"name": "{not a placeholder}"}]'
    run = go(definition, payload=payload)
    assert run.outcome == Outcome.SUCCESS, run.message
    assert api.calls[0].request.body == payload.encode()
    assert run.request_body == payload
    assert run.http_status == 201
    assert run.response_body == '{"id": 42}'
    assert run.response_content_type == "application/json"
    assert "location: /c/42" in run.response_headers.lower()
    assert run.pages == 1
    assert not run.response_truncated
    assert RunPage.objects.count() == 0


def test_it_cuts_an_export_answer_at_one_mib(db, api) -> None:
    definition = make_definition(direction=Direction.EXPORT, http_method="POST", body_template="x")
    api.add(responses.POST, f"{API}/customers", body=b"a" * (MIB + 4096), content_type="text/plain")
    run = go(definition)
    assert run.outcome == Outcome.SUCCESS, run.message
    assert run.response_truncated
    assert len(run.response_body) == MIB
    assert run.bytes_received == MIB


def test_it_keeps_an_export_answer_of_exactly_one_mib(db, api) -> None:
    definition = make_definition(direction=Direction.EXPORT, http_method="POST", body_template="x")
    api.add(responses.POST, f"{API}/customers", body=b"a" * MIB, content_type="text/plain")
    run = go(definition)
    assert not run.response_truncated
    assert len(run.response_body) == MIB


def test_it_stores_a_single_import_as_one_page(db, api) -> None:
    api.add(responses.GET, f"{API}/customers", json={"value": [{"id": 1}]})
    run = go(make_definition())
    assert (run.outcome, run.http_status, run.pages) == (Outcome.SUCCESS, 200, 1)
    page = run.page_set.get()
    assert (page.number, page.http_status, page.url, page.kept) == (1, 200, f"{API}/customers", True)
    assert json.loads(page.body) == {"value": [{"id": 1}]}
    assert page.size == len(page.body)
    assert run.trigger == "test"
    assert run.started_at <= run.finished_at


# --- Paging --------------------------------------------------------------------------------------


def page_number_definition(**fields: Any) -> Definition:
    values: dict[str, Any] = {
        "endpoint_url": f"{API}/items?page={{page}}&size=2",
        "paging": Paging.PAGE_NUMBER,
        "items_property": "value",
    }
    values.update(fields)
    return make_definition(**values)


def test_it_pages_by_number_until_an_empty_page(db, api) -> None:
    for page, items in ((1, [1, 2]), (2, [3]), (3, [])):
        api.add(responses.GET, f"{API}/items?page={page}&size=2", json={"value": items})
    run = go(page_number_definition())
    assert run.outcome == Outcome.SUCCESS, run.message
    assert [call.request.url for call in api.calls] == [f"{API}/items?page={n}&size=2" for n in (1, 2, 3)]
    assert run.pages == 3
    pages = list(run.page_set.order_by("number"))
    assert [page.number for page in pages] == [1, 2, 3]
    assert [page.url for page in pages] == [f"{API}/items?page={n}&size=2" for n in (1, 2, 3)]
    assert [json.loads(page.body)["value"] for page in pages] == [[1, 2], [3], []]
    assert run.message == ""


def test_it_starts_at_the_start_page(db, api) -> None:
    api.add(responses.GET, f"{API}/items?page=0&size=2", json={"value": [1]})
    api.add(responses.GET, f"{API}/items?page=1&size=2", json={"value": []})
    run = go(page_number_definition(page_start=0))
    assert run.outcome == Outcome.SUCCESS, run.message
    assert len(api.calls) == 2


def test_it_stops_at_the_last_page_the_total_says(db, api) -> None:
    for page in (1, 2):
        body = {"value": [page], "meta": {"totalPages": 2}}
        api.add(responses.GET, f"{API}/items?page={page}&size=2", json=body)
    run = go(page_number_definition(total_pages_property="meta.totalPages"))
    assert run.outcome == Outcome.SUCCESS, run.message
    assert len(api.calls) == 2  # page 3 is never asked for
    assert run.pages == 2


def test_it_stops_at_the_maximum_page_count(db, api) -> None:
    for page in (1, 2, 3):
        api.add(responses.GET, f"{API}/items?page={page}&size=2", json={"value": [page]})
    run = go(page_number_definition(max_pages=2))
    assert run.outcome == Outcome.SUCCESS, run.message
    assert len(api.calls) == 2
    assert run.pages == 2
    assert run.message == "Stopped after the maximum of 2 pages."


def test_it_fills_the_page_in_a_body_too(db, api) -> None:
    definition = page_number_definition(
        endpoint_url=f"{API}/search", http_method="POST", body_template='{"page": {page}, "q": "{q}"}'
    )
    api.add(responses.POST, f"{API}/search", json={"value": [1]})
    api.add(responses.POST, f"{API}/search", json={"value": []})
    run = go(definition, q="x")
    assert run.outcome == Outcome.SUCCESS, run.message
    assert [call.request.body for call in api.calls] == [b'{"page": 1, "q": "x"}', b'{"page": 2, "q": "x"}']


def next_link_definition(**fields: Any) -> Definition:
    values: dict[str, Any] = {
        "endpoint_url": f"{API}/companies(1)/customers",
        "paging": Paging.NEXT_LINK,
        "items_property": "value",
        "next_link_property": "@odata.nextLink",
    }
    values.update(fields)
    return make_definition(**values)


def test_it_follows_an_odata_next_link(db, api) -> None:
    second = f"{API}/companies(1)/customers?$skiptoken=abc"
    api.add(responses.GET, f"{API}/companies(1)/customers", json={"value": [1], "@odata.nextLink": second})
    api.add(responses.GET, second, json={"value": [2]})
    run = go(next_link_definition())
    assert run.outcome == Outcome.SUCCESS, run.message
    assert [call.request.url for call in api.calls] == [f"{API}/companies(1)/customers", second]
    assert run.pages == 2
    assert list(run.page_set.values_list("url", flat=True)) == [f"{API}/companies(1)/customers", second]


def test_it_follows_a_nested_next_link(db, api) -> None:
    second = f"{API}/companies(1)/customers?cursor=2"
    api.add(responses.GET, f"{API}/companies(1)/customers", json={"links": {"next": second}})
    api.add(responses.GET, second, json={"links": {"next": None}})
    run = go(next_link_definition(next_link_property="links.next"))
    assert run.outcome == Outcome.SUCCESS, run.message
    assert len(api.calls) == 2


def test_it_follows_an_odata_next_link_inside_a_nested_object(db, api) -> None:
    second = f"{API}/companies(1)/customers?$skiptoken=abc"
    api.add(responses.GET, f"{API}/companies(1)/customers", json={"d": {"@odata.nextLink": second}})
    api.add(responses.GET, second, json={"d": {}})
    run = go(next_link_definition(next_link_property="d.@odata.nextLink"))
    assert run.outcome == Outcome.SUCCESS, run.message
    assert len(api.calls) == 2


def test_it_resolves_a_relative_next_link(db, api) -> None:
    api.add(responses.GET, f"{API}/companies(1)/customers", json={"@odata.nextLink": "customers?page=2"})
    api.add(responses.GET, f"{API}/companies(1)/customers?page=2", json={"value": []})
    run = go(next_link_definition())
    assert run.outcome == Outcome.SUCCESS, run.message
    assert api.calls[1].request.url == f"{API}/companies(1)/customers?page=2"


def test_it_resolves_a_root_relative_next_link(db, api) -> None:
    api.add(responses.GET, f"{API}/companies(1)/customers", json={"@odata.nextLink": "/v2.0/more?p=2"})
    api.add(responses.GET, f"{API}/more?p=2", json={"value": []})
    run = go(next_link_definition())
    assert run.outcome == Outcome.SUCCESS, run.message
    assert api.calls[1].request.url == f"{API}/more?p=2"


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example.net/steal",
        "//evil.example.net/steal",
        "http://api.example.com/v2.0/plain-http",
        "https://api.example.com:8443/v2.0/other-port",
    ],
)
def test_it_refuses_a_next_link_to_another_origin(db, api, link: str) -> None:
    definition = next_link_definition(auth_type=AuthType.OAUTH2, authorization=oauth2_authorization())
    api.add(responses.GET, f"{API}/companies(1)/customers", json={"value": [1], "@odata.nextLink": link})
    run = go(definition)
    assert run.outcome == Outcome.FAILED
    assert "next link points to another host" in run.message
    assert len(api.calls) == 1  # the token never went there
    assert run.pages == 1


def test_it_stops_following_next_links_at_the_maximum(db, api) -> None:
    api.add(responses.GET, f"{API}/companies(1)/customers", json={"@odata.nextLink": "customers?p=2"})
    api.add(responses.GET, f"{API}/companies(1)/customers?p=2", json={"@odata.nextLink": "customers?p=3"})
    run = go(next_link_definition(max_pages=2))
    assert run.outcome == Outcome.SUCCESS, run.message
    assert len(api.calls) == 2
    assert run.message == "Stopped after the maximum of 2 pages."


def test_it_keeps_page_bodies_up_to_the_keep_limit(db, api) -> None:
    bodies = [json.dumps({"value": [n] * 10}) for n in (1, 2, 3)] + [json.dumps({"value": []})]
    for number, body in enumerate(bodies, start=1):
        api.add(
            responses.GET, f"{API}/items?page={number}&size=2", body=body, content_type="application/json"
        )
    with override_settings(CONNECTIT_RUN_KEEP_BYTES=len(bodies[0]) + 5):
        run = go(page_number_definition())
    assert run.outcome == Outcome.SUCCESS, run.message
    assert run.pages == 4
    assert run.response_truncated
    pages = list(run.page_set.order_by("number"))
    assert [page.kept for page in pages] == [True, False, False, False]
    assert pages[0].body == bodies[0]
    assert [page.body for page in pages[1:]] == ["", "", ""]
    assert [page.size for page in pages] == [len(body) for body in bodies]
    assert run.bytes_received == sum(len(body) for body in bodies)


def test_it_keeps_no_page_after_the_first_one_over_the_keep_limit(db, api) -> None:
    # A small page after a big one must not be kept: the download would silently skip the big one.
    bodies = [json.dumps({"value": [1]}), json.dumps({"value": ["x" * 500]}), json.dumps({"value": [3]})]
    bodies.append(json.dumps({"value": []}))
    for number, body in enumerate(bodies, start=1):
        api.add(
            responses.GET, f"{API}/items?page={number}&size=2", body=body, content_type="application/json"
        )
    with override_settings(CONNECTIT_RUN_KEEP_BYTES=100):
        run = go(page_number_definition())
    assert [page.kept for page in run.page_set.order_by("number")] == [True, False, False, False]


def test_it_counts_the_items_of_a_single_page_import_and_of_each_page(db, api) -> None:
    api.add(responses.GET, f"{API}/customers", json={"value": [1, 2, 3]})
    assert go(make_definition(items_property="value")).items == 3
    for page, items in ((1, [1, 2]), (2, [3]), (3, [])):
        api.add(responses.GET, f"{API}/items?page={page}&size=2", json={"value": items})
    assert go(page_number_definition(code="PAGED")).items == 3


def test_a_single_page_import_that_is_not_json_succeeds_without_a_count(db, api) -> None:
    # Only paging needs JSON: a plain import of a CSV is fine, it just has no record count.
    api.add(responses.GET, f"{API}/customers", body="id,name\n1,a\n", content_type="text/csv")
    run = go(make_definition(items_property="value"))
    assert run.outcome == Outcome.SUCCESS and run.items is None and run.pages == 1


def test_it_fails_paging_on_a_page_that_is_not_json(db, api) -> None:
    api.add(responses.GET, f"{API}/items?page=1&size=2", json={"value": [1]})
    api.add(
        responses.GET, f"{API}/items?page=2&size=2", body="<html>Sign in</html>", content_type="text/html"
    )
    run = go(page_number_definition())
    assert run.outcome == Outcome.FAILED
    assert "not JSON" in run.message
    assert "text/html" in run.message
    assert run.pages == 2


def test_it_fails_paging_on_an_http_error_page(db, api, settings) -> None:
    settings.CONNECTIT_RETRY_ATTEMPTS = 0  # 503 is retried by default (test_run_retry_after.py)
    api.add(responses.GET, f"{API}/items?page=1&size=2", json={"value": [1]})
    api.add(responses.GET, f"{API}/items?page=2&size=2", status=503, body="busy")
    run = go(page_number_definition())
    assert run.outcome == Outcome.FAILED
    assert run.message == "The endpoint answered HTTP 503."
    assert run.http_status == 503
    assert len(api.calls) == 2


# --- 401 retry -----------------------------------------------------------------------------------


def test_it_renews_the_token_once_and_retries_after_a_401(db, api) -> None:
    definition = make_definition(auth_type=AuthType.OAUTH2, authorization=oauth2_authorization())
    api.add(responses.GET, f"{API}/customers", status=401, json={"error": "invalid_token"})
    api.add(responses.GET, f"{API}/customers", json={"value": []})
    add_token_endpoint(api)
    run = go(definition)
    assert run.outcome == Outcome.SUCCESS, run.message
    assert len(token_calls(api)) == 1
    assert dict(parse_qsl(token_calls(api)[0].request.body))["grant_type"] == "client_credentials"
    sent = [call.request.headers["Authorization"] for call in api_calls(api)]
    assert sent == [f"Bearer {ACCESS}", f"Bearer {NEW_ACCESS}"]
    assert run.http_status == 200
    assert Authorization.objects.get().token.access_token == NEW_ACCESS


def test_it_refreshes_an_authorization_code_token_after_a_401(db, api) -> None:
    authorization = oauth2_authorization(
        code="BC", grant_type=GrantType.AUTHORIZATION_CODE, refresh_token=REFRESH
    )
    definition = make_definition(auth_type=AuthType.OAUTH2, authorization=authorization)
    api.add(responses.GET, f"{API}/customers", status=401)
    api.add(responses.GET, f"{API}/customers", json=[])
    add_token_endpoint(api)
    run = go(definition)
    assert run.outcome == Outcome.SUCCESS, run.message
    form = dict(parse_qsl(token_calls(api)[0].request.body))
    assert (form["grant_type"], form["refresh_token"]) == ("refresh_token", REFRESH)
    assert len(token_calls(api)) == 1
    assert_no_secret(stored_text())


def test_it_fails_naming_the_authorization_after_a_second_401(db, api) -> None:
    definition = make_definition(auth_type=AuthType.OAUTH2, authorization=oauth2_authorization())
    api.add(responses.GET, f"{API}/customers", status=401)
    add_token_endpoint(api)
    run = go(definition)
    assert run.outcome == Outcome.FAILED
    assert "OAuth2 authorization ENDPOINT" in run.message
    assert HOST in run.message
    assert len(token_calls(api)) == 1
    assert len(api_calls(api)) == 2


def test_it_does_not_retry_a_401_without_oauth2(db, api) -> None:
    definition = make_definition(auth_type=AuthType.BEARER, bearer_token=BEARER)
    api.add(responses.GET, f"{API}/customers", status=401)
    run = go(definition)
    assert run.outcome == Outcome.FAILED
    assert run.message == "The endpoint answered HTTP 401."
    assert len(api.calls) == 1


def test_it_does_not_renew_on_a_403(db, api) -> None:
    definition = make_definition(auth_type=AuthType.OAUTH2, authorization=oauth2_authorization())
    api.add(responses.GET, f"{API}/customers", status=403)
    run = go(definition)
    assert run.outcome == Outcome.FAILED
    assert run.message == "The endpoint answered HTTP 403."
    assert token_calls(api) == []


# --- Redaction -----------------------------------------------------------------------------------


def echo(request) -> tuple[int, dict[str, str], str]:
    """An endpoint that repeats every credential it received, in its headers and its body."""
    seen = " | ".join(
        f"{name}={value}" for name, value in request.headers.items() if name in ("Authorization", "X-Api-Key")
    )
    decoded = ""
    if request.headers.get("Authorization", "").startswith("Basic "):
        decoded = base64.b64decode(request.headers["Authorization"][6:]).decode()
    body = json.dumps({"value": [{"seen": seen, "decoded": decoded}]})
    return 200, {"X-Echo": seen, "X-Decoded": decoded, "Content-Type": "application/json"}, body


AUTH_CASES = {
    "basic": {"auth_type": AuthType.BASIC, "auth_username": USERNAME, "auth_password": PASSWORD},
    "bearer": {"auth_type": AuthType.BEARER, "bearer_token": BEARER},
    "api_key": {"auth_type": AuthType.API_KEY, "api_key_header": "X-Api-Key", "api_key_value": API_KEY},
    "oauth2": {"auth_type": AuthType.OAUTH2},
}


@pytest.mark.parametrize("case", sorted(AUTH_CASES))
@pytest.mark.parametrize("direction", [Direction.IMPORT, Direction.EXPORT])
def test_it_redacts_secrets_the_endpoint_echoes(db, api, admin_client, case: str, direction: str) -> None:
    fields = dict(AUTH_CASES[case])
    if case == "oauth2":
        fields["authorization"] = oauth2_authorization()
    definition = make_definition(direction=direction, http_method="POST", body_template="{}", **fields)
    api.add_callback(responses.POST, f"{API}/customers", callback=echo)
    run = go(definition)
    assert run.outcome == Outcome.SUCCESS, run.message
    assert "[redacted]" in run.response_headers
    assert "[redacted]" in (run.response_body or run.page_set.get().body)
    assert_no_secret(stored_text())
    page = admin_client.get(f"/definitions/runs/{run.pk}/")
    assert page.status_code == 200
    assert_no_secret(page.content.decode())
    if direction == Direction.IMPORT:
        assert_no_secret(admin_client.get(f"/definitions/runs/{run.pk}/pages/1/").content.decode())
        assert_no_secret(b"".join(admin_client.get(f"/definitions/runs/{run.pk}/download/")).decode())


def test_it_redacts_an_echoed_secret_in_a_failure(db, api, admin_client) -> None:
    definition = make_definition(auth_type=AuthType.BEARER, bearer_token=BEARER)
    api.add(
        responses.GET, f"{API}/customers", status=500, body=f"bad token {BEARER}", headers={"X-T": BEARER}
    )
    run = go(definition)
    assert run.outcome == Outcome.FAILED
    assert_no_secret(stored_text(), admin_client.get(f"/definitions/runs/{run.pk}/").content.decode())


def test_it_redacts_both_tokens_of_a_401_retry(db, api, admin_client) -> None:
    definition = make_definition(auth_type=AuthType.OAUTH2, authorization=oauth2_authorization())
    api.add_callback(
        responses.GET, f"{API}/customers", callback=lambda request: (401, {}, str(request.headers))
    )
    add_token_endpoint(api)
    run = go(definition)
    assert run.outcome == Outcome.FAILED
    assert_no_secret(stored_text(), admin_client.get(f"/definitions/runs/{run.pk}/").content.decode())


@pytest.mark.parametrize("value", ["rawkeyvalue-XXXX9999", "Token rawkeyvalue-XXXX9999"])
def test_it_redacts_an_authorization_extra_header(db, api, value: str) -> None:
    # Some APIs take a bare key in Authorization; the run log must not show it either way.
    definition = make_definition(extra_headers=f"Authorization: {value}")
    api.add(responses.GET, f"{API}/customers", json=[])
    run = go(definition)
    assert api.calls[0].request.headers["Authorization"] == value
    assert "rawkeyvalue-XXXX9999" not in run.request_headers
    assert "Authorization: " in run.request_headers


def test_it_stores_the_definition_secrets_encrypted(db) -> None:
    make_definition(auth_type=AuthType.BASIC, auth_username=USERNAME, auth_password=PASSWORD)
    make_definition(code="B", bearer_token=BEARER, api_key_header="X-Api-Key", api_key_value=API_KEY)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {Definition._meta.db_table}")
        dump = "\n".join(str(value) for row in cursor.fetchall() for value in row)
    assert_no_secret(dump)


# --- Failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "message", "status"),
    [
        ({"status": 500, "body": "boom"}, "The endpoint answered HTTP 500.", 500),
        ({"status": 404, "json": {"error": "nope"}}, "The endpoint answered HTTP 404.", 404),
        ({"body": requests.exceptions.ReadTimeout()}, f"{HOST} did not answer within 30 seconds.", None),
        (
            {"body": requests.exceptions.ConnectionError("[Errno 111] Connection refused")},
            f"Could not connect to {HOST} (connection refused).",
            None,
        ),
    ],
)
@pytest.mark.parametrize("direction", [Direction.IMPORT, Direction.EXPORT])
def test_it_fails_the_run_on_a_failed_request(
    db, api, admin_client, answer: dict, message: str, status: int | None, direction: str
) -> None:
    definition = make_definition(direction=direction, http_method="POST", body_template="{}")
    api.add(responses.POST, f"{API}/customers", **answer)
    run = go(definition)
    assert (run.outcome, run.message, run.http_status) == (Outcome.FAILED, message, status)
    assert run.request_line == f"POST {API}/customers"
    assert run.finished_at is not None
    page = admin_client.get(f"/definitions/runs/{run.pk}/")
    assert page.status_code == 200
    assert message in page.content.decode()


def test_it_uses_the_definition_timeout(db, api, monkeypatch) -> None:
    seen = {}

    def callback(request):
        seen["timeout"] = request.req_kwargs["timeout"]
        return 200, {}, "[]"

    api.add_callback(responses.GET, f"{API}/customers", callback=callback)
    go(make_definition(timeout=7))
    assert seen["timeout"] == 7


def test_it_refuses_an_import_answer_above_the_maximum(db, api) -> None:
    api.add(responses.GET, f"{API}/customers", body=b"x" * 5000, content_type="application/json")
    with override_settings(CONNECTIT_RESPONSE_MAX_BYTES=1024):
        run = go(make_definition())
    assert run.outcome == Outcome.FAILED
    assert run.message == f"The answer from {HOST} is larger than 1 KiB; it was not read."
    assert run.page_set.count() == 0


def test_it_turns_a_crash_into_a_failed_run(db, api, monkeypatch, caplog) -> None:
    def broken(*args, **kwargs):
        raise KeyError(BEARER)

    monkeypatch.setitem(runner.PROTOCOLS, "rest", broken)
    with caplog.at_level(logging.ERROR, logger="definitions.runner"):
        run = go(make_definition(auth_type=AuthType.BEARER, bearer_token=BEARER))
    assert run.outcome == Outcome.FAILED
    assert run.message == "Internal error (KeyError); see the server log."
    assert_no_secret(stored_text())
    # The log keeps the traceback, with the secret the exception quoted redacted.
    assert "Traceback" in caplog.text and "KeyError: '[redacted]'" in caplog.text
    assert_no_secret(caplog.text)


def test_it_names_a_secret_no_configured_key_can_decrypt(db, api) -> None:
    make_definition(auth_type=AuthType.BEARER, bearer_token=BEARER)
    api.add(responses.GET, f"{API}/customers", json=[])
    # The key that encrypted the bearer token is replaced by another one.
    with override_settings(CONNECTIT_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]):
        run = go(Definition.objects.get(code="CUSTOMERS"))
    assert run.outcome == Outcome.FAILED
    assert run.message.startswith("The stored bearer token of definition CUSTOMERS cannot be decrypted")
    assert "CONNECTIT_ENCRYPTION_KEYS" in run.message
    assert "gAAAA" not in run.message  # no ciphertext either
    assert run.finished_at is not None
    assert len(api.calls) == 0
    assert_no_secret(stored_text())


# --- Payload download ----------------------------------------------------------------------------


def test_it_merges_the_pages_of_a_json_import_for_download(db, api, admin_client) -> None:
    pages = [[{"id": 1}, {"id": 2}], [{"id": 3, "name": "Zoë"}], []]
    for number, items in enumerate(pages, start=1):
        api.add(responses.GET, f"{API}/items?page={number}&size=2", json={"value": items})
    run = go(page_number_definition())
    response = admin_client.get(f"/definitions/runs/{run.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="customers-run-{run.pk}.json"'
    assert json.loads(b"".join(response.streaming_content)) == [
        {"id": 1},
        {"id": 2},
        {"id": 3, "name": "Zoë"},
    ]


def test_it_downloads_a_single_page_as_it_came(db, api, admin_client) -> None:
    body = '{"value": [ {"id": 1} ],\n "odd":   "spacing"}'
    api.add(responses.GET, f"{API}/customers", body=body, content_type="application/json; charset=utf-8")
    run = go(make_definition())
    response = admin_client.get(f"/definitions/runs/{run.pk}/download/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode() == body


# --- Management command --------------------------------------------------------------------------


def test_the_command_runs_a_definition_here(db, api) -> None:
    make_definition(endpoint_url=f"{API}/customers/{{id}}")
    api.add(responses.GET, f"{API}/customers/5", json={"id": 5})
    out = StringIO()
    call_command("run_definition", "customers", "--param", "id=5", "--here", stdout=out)
    run = Run.objects.get()
    assert run.outcome == Outcome.SUCCESS
    assert run.trigger == "command run_definition"
    assert out.getvalue().strip() == f"Run {run.pk} of CUSTOMERS: success (HTTP 200, 1 page(s))"
    assert not DBTaskResult.objects.exists()  # no worker was involved


def test_the_command_queues_a_run_by_default(db, api) -> None:
    make_definition(endpoint_url=f"{API}/customers/{{id}}")
    api.add(responses.GET, f"{API}/customers/5", json={"id": 5})
    out = StringIO()
    call_command("run_definition", "customers", "--param", "id=5", stdout=out)
    run = Run.objects.get()
    assert out.getvalue().strip() == f"Run {run.pk} of CUSTOMERS queued."
    assert (run.outcome, run.trigger, run.parameters) == (
        Outcome.QUEUED,
        "command run_definition",
        {"id": "5"},
    )
    assert len(api.calls) == 0
    assert DBTaskResult.objects.count() == 1
    assert drain() == 1  # what a worker does with it
    run.refresh_from_db()
    assert (run.outcome, run.http_status, run.pages) == (Outcome.SUCCESS, 200, 1)
    assert api.calls[0].request.url == f"{API}/customers/5"


def test_the_command_sends_a_payload_file(db, api, tmp_path) -> None:
    make_definition(direction=Direction.EXPORT, http_method="POST", body_template="template")
    payload = tmp_path / "payload.json"
    payload.write_text('{"from": "file"}')
    api.add(responses.POST, f"{API}/customers", json={})
    call_command("run_definition", "CUSTOMERS", "--payload", str(payload), "--here", stdout=StringIO())
    assert api.calls[0].request.body == b'{"from": "file"}'


def test_a_queued_run_sends_the_payload_file(db, api, tmp_path) -> None:
    make_definition(direction=Direction.EXPORT, http_method="POST", body_template="template")
    payload = tmp_path / "payload.json"
    payload.write_text('{"from": "file"}')
    api.add(responses.POST, f"{API}/customers", json={})
    call_command("run_definition", "CUSTOMERS", "--payload", str(payload), stdout=StringIO())
    payload.unlink()  # read when queued, not when the worker runs it
    drain()
    assert api.calls[0].request.body == b'{"from": "file"}'
    assert Run.objects.get().outcome == Outcome.SUCCESS


def test_the_command_fails_when_the_run_fails(db, api) -> None:
    make_definition()
    api.add(responses.GET, f"{API}/customers", status=500)
    with pytest.raises(CommandError) as failure:
        call_command("run_definition", "CUSTOMERS", "--here", stdout=StringIO())
    run = Run.objects.get()
    assert str(failure.value) == (
        f"Run {run.pk} of CUSTOMERS: failed (HTTP 500, 1 page(s)): The endpoint answered HTTP 500."
    )


def test_the_command_fails_on_a_missing_parameter(db, api) -> None:
    make_definition(endpoint_url=f"{API}/customers/{{id}}")
    with pytest.raises(CommandError, match=r"request not sent.*Missing parameter\(s\): id"):
        call_command("run_definition", "CUSTOMERS", "--here", stdout=StringIO())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["NOPE"], "There is no definition with code 'NOPE'."),
        (["CUSTOMERS", "--param", "id"], "--param takes NAME=VALUE (got 'id')."),
        (["CUSTOMERS", "--param", "=5"], "--param takes NAME=VALUE (got '=5')."),
        (["CUSTOMERS", "--payload", "/nonexistent/payload.json"], "Cannot read the payload file"),
    ],
)
def test_the_command_refuses_bad_arguments(db, api, args: list[str], message: str) -> None:
    make_definition()
    with pytest.raises(CommandError) as failure:
        call_command("run_definition", *args, stdout=StringIO())
    assert str(failure.value).startswith(message)
    assert Run.objects.count() == 0
    assert not DBTaskResult.objects.exists()
    assert len(api.calls) == 0


def test_the_command_refuses_an_inactive_definition(db, api) -> None:
    make_definition(active=False)
    with pytest.raises(CommandError, match=r"^Definition CUSTOMERS is not active\.$"):
        call_command("run_definition", "CUSTOMERS", stdout=StringIO())
    assert Run.objects.count() == 0
    assert not DBTaskResult.objects.exists()


def test_it_does_not_follow_a_redirect_with_credentials(api, db) -> None:
    record = make_definition(auth_type=AuthType.BEARER, bearer_token=BEARER)
    api.get(f"{API}/customers", status=302, headers={"Location": "https://elsewhere.example.net/items"})
    result = go(record)
    assert result.outcome == Outcome.FAILED
    assert result.message == (
        "The endpoint answered HTTP 302, a redirect to elsewhere.example.net; "
        "put the address it redirects to in the definition."
    )
    assert len(api.calls) == 1
