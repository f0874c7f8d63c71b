"""A run's page, its per-page pages and the payload download."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from unittest import mock

import pytest
import responses
from django.utils import timezone

from definitions.models import AuthType, Definition, Direction, Outcome, Paging, Run, RunPage
from tests.conftest import make_authorization
from tests.queue import drain
from tests.test_definition_create import client_for, definitions_user, make_definition, text

TOKEN = "static-bearer-for-run-detail"
CUT_NOTE = "… (cut at 1 MiB; download for the whole payload)"
MIB = 1024 * 1024


def url(run: Run) -> str:
    return f"/definitions/runs/{run.pk}/"


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked


@pytest.fixture
def paged(db) -> Definition:
    """A next-link REST import authorized with a static bearer token."""
    return make_definition(
        code="CUSTOMERS",
        endpoint_url="https://api.example.com/customers?company={company}",
        auth_type=AuthType.BEARER,
        bearer_token=TOKEN,
        extra_headers="X-Tenant: contoso",
        paging=Paging.NEXT_LINK,
        items_property="value",
        next_link_property="@odata.nextLink",
    )


@pytest.fixture
def imported(admin_client, paged, http) -> Run:
    """A real two-page import run through the Run view."""
    http.get(
        "https://api.example.com/customers?company=contoso",
        json={"value": [{"no": "C1", "name": "Adatum"}], "@odata.nextLink": "/customers?skiptoken=2"},
    )
    http.get(
        "https://api.example.com/customers?skiptoken=2", json={"value": [{"no": "C2", "name": "Fabrikam"}]}
    )
    response = admin_client.post(f"/definitions/{paged.pk}/run/", {"param_company": "contoso"})
    assert response.status_code == 302
    assert drain() == 1  # a worker runs it
    return Run.objects.get()


def test_it_redirects_anonymous_to_login(client, admin_user, paged) -> None:
    run = Run.objects.create(definition=paged, trigger="system")
    response = client.get(url(run))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_shows_the_outcome_and_numbers(admin_client, imported) -> None:
    response = admin_client.get(url(imported))
    assert response.status_code == 200
    body = text(response)
    assert imported.outcome == Outcome.SUCCESS
    assert 'data-outcome="success"' in body
    assert '<dd class="col-sm-4" id="http-status">200</dd>' in body
    assert f"{imported.duration_ms} ms" in body
    assert "user admin" in body
    assert "company=contoso" in body  # the parameters
    assert f'href="/definitions/{imported.definition_id}/"' in body
    assert f'href="/definitions/runs/{imported.pk}/download/"' in body
    assert f'href="/definitions/{imported.definition_id}/run/">Run again</a>' in body


def test_it_shows_the_request_with_redacted_headers(admin_client, imported) -> None:
    body = text(admin_client.get(url(imported)))
    request = body.split('id="request">', 1)[1].split("</pre>", 1)[0]
    assert request.startswith("GET https://api.example.com/customers?skiptoken=2\n")
    assert "Authorization: Bearer [redacted]" in request
    assert "X-Tenant: contoso" in request
    assert "Accept: application/json" in request
    assert TOKEN not in body


def test_a_paged_import_says_which_page_the_request_and_the_body_belong_to(admin_client, imported) -> None:
    # The request block holds the last page's request; page 1's body sits under page 1's URL.
    body = text(admin_client.get(url(imported)))
    assert "of page 2, the last" in body.split('id="request-which">', 1)[1].split("</small>", 1)[0]
    first = body.split('id="first-page-request">', 1)[1].split("</p>", 1)[0]
    assert first == "GET https://api.example.com/customers?company=contoso · HTTP 200"
    assert body.index('id="first-page-request"') < body.index('id="response-body"')
    assert 'id="run-items">2<' in body  # the record count, over both pages


def test_it_shows_the_response_headers_and_a_pretty_printed_body(admin_client, imported) -> None:
    body = text(admin_client.get(url(imported)))
    assert "content-type: application/json" in body.lower()
    response_body = body.split('id="response-body">', 1)[1].split("</pre>", 1)[0]
    assert json.loads(response_body)["value"] == [{"no": "C1", "name": "Adatum"}]
    assert '{\n  "value": [\n    {\n      "no": "C1",' in response_body  # indented


def test_it_lists_the_pages_of_an_import(admin_client, imported) -> None:
    body = text(admin_client.get(url(imported)))
    assert f'<a href="/definitions/runs/{imported.pk}/pages/1/">1</a>' in body
    assert f'<a href="/definitions/runs/{imported.pk}/pages/2/">2</a>' in body
    assert "https://api.example.com/customers?company=contoso" in body
    assert "https://api.example.com/customers?skiptoken=2" in body
    assert imported.pages == 2


def test_it_shows_each_page(admin_client, imported) -> None:
    response = admin_client.get(f"/definitions/runs/{imported.pk}/pages/2/")
    assert response.status_code == 200
    body = text(response)
    assert "Fabrikam" in body
    assert "Adatum" not in body
    assert "HTTP 200" in body
    assert "https://api.example.com/customers?skiptoken=2" in body
    response_body = body.split('id="response-body">', 1)[1].split("</pre>", 1)[0]
    assert json.loads(response_body) == {"value": [{"no": "C2", "name": "Fabrikam"}]}


def test_a_missing_page_is_404(admin_client, imported) -> None:
    assert admin_client.get(f"/definitions/runs/{imported.pk}/pages/3/").status_code == 404
    assert admin_client.get("/definitions/runs/999999/pages/1/").status_code == 404


def test_a_page_that_was_not_kept_says_so(admin_client, paged) -> None:
    run = Run.objects.create(definition=paged, trigger="system", pages=1, response_truncated=True)
    RunPage.objects.create(run=run, number=1, http_status=200, url="https://x.example/", size=99, kept=False)
    assert "not kept" in text(admin_client.get(f"/definitions/runs/{run.pk}/pages/1/"))
    assert "99 (not kept)" in text(admin_client.get(url(run)))


def test_it_downloads_the_import_as_one_list(admin_client, imported) -> None:
    response = admin_client.get(f"/definitions/runs/{imported.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"] == f'attachment; filename="customers-run-{imported.pk}.json"'
    payload = json.loads(b"".join(response.streaming_content))
    assert payload == [{"no": "C1", "name": "Adatum"}, {"no": "C2", "name": "Fabrikam"}]


def test_it_shows_and_downloads_an_export_answer(admin_client, db, http) -> None:
    export = make_definition(
        code="ORDERS",
        direction=Direction.EXPORT,
        http_method="POST",
        endpoint_url="https://api.example.com/orders",
        body_template='{"number": "{number}"}',
    )
    http.post("https://api.example.com/orders", json={"id": 42, "status": "created"}, status=201)
    admin_client.post(f"/definitions/{export.pk}/run/", {"param_number": "SO-1"})
    drain()
    run = Run.objects.get()
    body = text(admin_client.get(url(run)))
    assert '<dd class="col-sm-4" id="http-status">201</dd>' in body
    assert '{\n  "number": "SO-1"\n}' in body  # the request body, pretty-printed
    assert '"status": "created"' in body
    download = admin_client.get(f"/definitions/runs/{run.pk}/download/")
    assert json.loads(b"".join(download.streaming_content)) == {"id": 42, "status": "created"}


def test_it_shows_why_a_run_failed(admin_client, paged) -> None:
    run = Run.objects.create(
        definition=paged,
        trigger="system",
        outcome=Outcome.FAILED,
        http_status=500,
        message="The endpoint answered HTTP 500.",
        finished_at=timezone.now(),
    )
    body = text(admin_client.get(url(run)))
    assert '<div class="alert alert-danger" id="run-message">The endpoint answered HTTP 500.</div>' in body
    assert 'data-outcome="failed"' in body
    assert "Download payload" not in body  # nothing was received


def test_a_running_run_has_no_duration(admin_client, paged) -> None:
    # Running: the time since a worker began it, in seconds, not a duration in ms.
    now = timezone.now()
    run = Run.objects.create(
        definition=paged,
        trigger="system",
        outcome=Outcome.RUNNING,
        started_at=now - timedelta(seconds=65),
        running_since=now - timedelta(seconds=5),
    )
    body = text(admin_client.get(url(run)))
    assert 'data-outcome="running"' in body
    assert '<dt class="col-sm-2">Elapsed</dt>' in body
    assert re.search(r'<dd class="col-sm-4" id="run-elapsed">[56] s</dd>', body), body
    assert "Duration" not in body
    # Queued: not begun, so neither.
    queued = Run.objects.create(definition=paged, trigger="system", started_at=now - timedelta(seconds=5))
    body = text(admin_client.get(url(queued)))
    assert 'data-outcome="queued"' in body
    assert '<dd class="col-sm-4" id="run-elapsed">—</dd>' in body
    assert "Duration" not in body


def test_an_import_body_over_one_mib_is_cut_on_the_page(admin_client, paged) -> None:
    run = Run.objects.create(
        definition=paged,
        trigger="system",
        outcome=Outcome.SUCCESS,
        pages=1,
        response_content_type="text/plain",
    )
    big = "x" * (MIB + 500) + "THE-END"
    RunPage.objects.create(run=run, number=1, http_status=200, url="https://api.example.com/c", body=big)
    for page_url in (url(run), f"/definitions/runs/{run.pk}/pages/1/"):
        body = text(admin_client.get(page_url))
        assert CUT_NOTE in body
        assert "THE-END" not in body
        assert len(body) < MIB + 20_000
    download = admin_client.get(f"/definitions/runs/{run.pk}/download/")
    assert b"".join(download.streaming_content).decode().endswith("THE-END")


def test_an_export_body_over_one_mib_is_cut_on_the_page(admin_client, db) -> None:
    export = make_definition(code="ORDERS", direction=Direction.EXPORT)
    answer = json.dumps({"items": ["y" * 1000] * 1100})  # about 1.1 MB
    run = Run.objects.create(
        definition=export,
        trigger="system",
        outcome=Outcome.SUCCESS,
        response_content_type="application/json",
        response_body=answer,
    )
    body = text(admin_client.get(url(run)))
    assert CUT_NOTE in body
    assert len(body) < MIB + 20_000


def test_a_body_under_one_mib_is_not_cut(admin_client, imported) -> None:
    assert CUT_NOTE not in text(admin_client.get(url(imported)))


def test_a_missing_run_is_404(admin_client) -> None:
    assert admin_client.get("/definitions/runs/999999/").status_code == 404
    assert admin_client.get("/definitions/runs/999999/download/").status_code == 404


def test_a_definitions_reader_may_see_but_not_run_again(db, paged) -> None:
    run = Run.objects.create(definition=paged, trigger="system")
    response = client_for(definitions_user("defreader", "view_definition")).get(url(run))
    assert response.status_code == 200
    assert "Run again" not in response.content.decode()


def test_an_authorizations_reader_cannot_see(reader_client, paged) -> None:
    run = Run.objects.create(definition=paged, trigger="system")
    RunPage.objects.create(run=run, number=1, http_status=200, url="https://x.example/", body="{}")
    assert reader_client.get(url(run)).status_code == 403
    assert reader_client.get(f"/definitions/runs/{run.pk}/pages/1/").status_code == 403
    assert reader_client.get(f"/definitions/runs/{run.pk}/download/").status_code == 403


@pytest.mark.parametrize(
    ("fields", "secret", "header"),
    [
        (
            {"auth_type": AuthType.BASIC, "auth_username": "svc", "auth_password": "basic-pass-on-page"},
            "basic-pass-on-page",
            "Authorization: Basic [redacted]",
        ),
        ({"auth_type": AuthType.BEARER, "bearer_token": "bearer-on-page"}, "bearer-on-page", None),
        (
            {
                "auth_type": AuthType.API_KEY,
                "api_key_header": "X-Api-Key",
                "api_key_value": "api-key-on-page",
            },
            "api-key-on-page",
            "X-Api-Key: [redacted]",
        ),
        ({"auth_type": AuthType.OAUTH2}, "oauth2-access-token-on-page", None),
    ],
    ids=["basic", "bearer", "api-key", "oauth2"],
)
def test_no_secret_reaches_the_run_pages(admin_client, db, http, fields, secret: str, header) -> None:
    if fields["auth_type"] == AuthType.OAUTH2:
        fields = {**fields, "authorization": make_authorization()}
    record = make_definition(endpoint_url="https://api.example.com/echo", **fields)
    # A careless endpoint echoes the credential back in a header and in the body.
    http.get("https://api.example.com/echo", json={"you_sent": secret}, headers={"X-Echo": secret})
    with mock.patch("oauth2_auth.tokens.get_access_token", return_value=secret):
        # A browser always posts the CSRF token; with no parameters that is all the form holds.
        admin_client.post(f"/definitions/{record.pk}/run/", {"csrfmiddlewaretoken": "x"})
        drain()  # the worker fetches the token
    run = Run.objects.get()
    assert run.outcome == Outcome.SUCCESS, run.message
    for page_url in (
        url(run),
        f"/definitions/runs/{run.pk}/pages/1/",
        f"/definitions/runs/{run.pk}/download/",
    ):
        response = admin_client.get(page_url)
        content = b"".join(response.streaming_content) if response.streaming else response.content
        assert secret.encode() not in content, page_url
    body = text(admin_client.get(url(run)))
    assert (header or "Authorization: Bearer [redacted]") in body
    assert "X-Echo: [redacted]".lower() in body.lower()
