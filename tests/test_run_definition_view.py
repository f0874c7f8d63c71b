from __future__ import annotations

import json
import re
from unittest import mock

import pytest
import requests
import responses
from django.test import Client
from django_tasks_db.models import DBTaskResult

from definitions.models import AuthType, Definition, Direction, Outcome, Paging, Run
from oauth2_auth.tokens import Trigger
from tests.queue import drain
from tests.test_definition_create import client_for, definitions_user, make_definition, text

TOKEN = "static-bearer-for-run-view"


def url(record: Definition) -> str:
    return f"/definitions/{record.pk}/run/"


@pytest.fixture
def record(db) -> Definition:
    """A REST import with one parameter, authorized with a static bearer token."""
    return make_definition(
        endpoint_url="https://api.example.com/{company}/customers",
        auth_type=AuthType.BEARER,
        bearer_token=TOKEN,
    )


@pytest.fixture
def export(db) -> Definition:
    return make_definition(
        code="ORDERS",
        direction=Direction.EXPORT,
        http_method="POST",
        endpoint_url="https://api.example.com/orders",
        body_template='{"number": "{number}"}',
    )


@pytest.fixture
def http():
    # Nothing registered means any unexpected request fails the test with ConnectionError.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked


@pytest.fixture
def runner_client(db) -> Client:
    return client_for(definitions_user("runner", "view_definition", "run_definition"))


@pytest.fixture
def definitions_reader_client(db) -> Client:
    return client_for(definitions_user("defreader", "view_definition"))


def test_it_redirects_anonymous_to_login(client, admin_user, record) -> None:
    response = client.get(url(record))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_shows_one_field_per_placeholder_but_not_page(admin_client, db) -> None:
    record = make_definition(
        endpoint_url="https://api.example.com/{company}/customers?page={page}&since={since}",
        http_method="POST",
        body_template='{"company": "{company}", "region": "{region}", "page": {page}}',
        paging=Paging.PAGE_NUMBER,
    )
    response = admin_client.get(url(record))
    assert response.status_code == 200
    form = response.context["form"]
    # A hidden, fresh submission key first (a second POST of the same form finds the first run).
    assert list(form.fields) == ["submission", "param_company", "param_since", "param_region"]
    body = response.content.decode()
    assert re.search(r'<input type="hidden" name="submission" value="[\w-]{20,}"', body)
    assert 'name="param_company"' in body
    assert 'name="param_page"' not in body
    assert 'name="payload"' not in body  # imports take no payload


def test_it_offers_a_payload_box_for_an_export(admin_client, export) -> None:
    response = admin_client.get(url(export))
    assert list(response.context["form"].fields) == ["submission", "payload", "param_number"]
    assert 'name="payload"' in response.content.decode()


def test_it_says_when_no_parameters_are_needed(admin_client, db) -> None:
    record = make_definition()
    assert "This definition needs no parameters." in text(admin_client.get(url(record)))


def test_it_runs_and_redirects_to_the_run(admin_client, record, http) -> None:
    http.get(
        "https://api.example.com/contoso%20ltd%2Fsub/customers",
        json={"value": [{"number": "C0001"}]},
    )
    response = admin_client.post(url(record), {"param_company": "contoso ltd/sub"})

    result = Run.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/definitions/runs/{result.pk}/"
    # The request only queued the run: nothing was sent before a worker took it.
    assert result.outcome == Outcome.QUEUED
    assert len(http.calls) == 0
    assert drain() == 1
    result.refresh_from_db()
    assert result.outcome == Outcome.SUCCESS
    assert result.trigger == "user admin"
    assert result.parameters == {"company": "contoso ltd/sub"}
    assert len(http.calls) == 1
    assert http.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    page = text(admin_client.get(response["Location"]))
    assert "C0001" in page
    assert TOKEN not in page


def test_it_passes_parameters_payload_and_user_to_the_runner(admin_client, export) -> None:
    queued = Run.objects.create(definition=export, trigger="user admin")
    with mock.patch("definitions.tasks.submit", return_value=(queued, True)) as submit:
        response = admin_client.post(
            url(export), {"param_number": " SO-1 ", "payload": '{"x": 1}', "submission": "form-key-1"}
        )
    assert response["Location"] == f"/definitions/runs/{queued.pk}/"
    submit.assert_called_once_with(
        export,
        params={"number": " SO-1 "},
        payload='{"x": 1}',
        trigger=Trigger("user admin"),
        submission="form-key-1",
    )


def test_a_blank_payload_means_the_body_template(admin_client, export) -> None:
    queued = Run.objects.create(definition=export, trigger="user admin")
    with mock.patch("definitions.tasks.submit", return_value=(queued, True)) as submit:
        admin_client.post(url(export), {"param_number": "SO-1", "payload": ""})
    assert submit.call_args.kwargs["payload"] is None


def test_the_payload_replaces_the_body_template(admin_client, export, http) -> None:
    http.post("https://api.example.com/orders", json={"ok": True}, status=201)
    admin_client.post(url(export), {"param_number": "SO-1", "payload": '{"custom": true}'})
    drain()
    assert http.calls[0].request.body == b'{"custom": true}'
    assert Run.objects.get().outcome == Outcome.SUCCESS


def test_an_import_ignores_a_posted_payload(admin_client, record, http) -> None:
    http.get("https://api.example.com/contoso/customers", json={"value": []})
    admin_client.post(url(record), {"param_company": "contoso", "payload": "sneaked in"})
    assert Run.objects.get().payload is None
    drain()
    assert http.calls[0].request.body is None


def test_a_missing_parameter_is_a_form_error_and_nothing_is_sent(admin_client, record, http) -> None:
    with mock.patch("definitions.tasks.submit") as submit:
        response = admin_client.post(url(record), {"param_company": ""})
    assert response.status_code == 200
    assert response.context["form"].errors == {"param_company": ["This field is required."]}
    submit.assert_not_called()
    assert len(http.calls) == 0
    assert not Run.objects.exists()
    assert not DBTaskResult.objects.exists()


def test_an_inactive_definition_is_refused(admin_client, record, http) -> None:
    record.active = False
    record.save()
    page = text(admin_client.get(url(record)))
    assert "This definition is not active; activate it to run it." in page
    response = admin_client.post(url(record), {"param_company": "contoso"})
    assert response.status_code == 200
    assert "Definition CUSTOMERS is not active." in text(response)
    assert drain() == 0
    assert len(http.calls) == 0
    assert not Run.objects.exists()


def test_a_failing_endpoint_is_a_failed_run_not_an_error_page(admin_client, record, http) -> None:
    http.get("https://api.example.com/contoso/customers", body="oops", status=500)
    response = admin_client.post(url(record), {"param_company": "contoso"})
    assert response.status_code == 302
    drain()
    result = Run.objects.get()
    assert result.outcome == Outcome.FAILED
    page = text(admin_client.get(response["Location"]))
    assert "The endpoint answered HTTP 500." in page


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (requests.ConnectionError("[Errno 111] Connection refused"), "Could not connect to api.example.com"),
        (requests.ReadTimeout("read timed out"), "api.example.com did not answer within 30 seconds."),
    ],
)
def test_a_network_failure_is_a_failed_run(admin_client, record, http, error, message: str) -> None:
    http.get("https://api.example.com/contoso/customers", body=error)
    response = admin_client.post(url(record), {"param_company": "contoso"})
    assert response.status_code == 302
    drain()
    result = Run.objects.get()
    assert result.outcome == Outcome.FAILED
    assert message in result.message
    assert message in text(admin_client.get(response["Location"]))


def test_a_definition_without_parameters_runs_from_the_browser_form(admin_user, http) -> None:
    # A browser posts only the CSRF token for such a form; that must still run.
    record = make_definition(endpoint_url="https://api.example.com/ping")
    http.get("https://api.example.com/ping", json={"value": []})
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    browser.get(url(record))
    response = browser.post(url(record), {"csrfmiddlewaretoken": browser.cookies["csrftoken"].value})
    assert response.status_code == 302
    drain()
    assert Run.objects.get().outcome == Outcome.SUCCESS


def test_a_runner_may_run(runner_client, record, http) -> None:
    http.get("https://api.example.com/contoso/customers", json={"value": []})
    assert runner_client.get(url(record)).status_code == 200
    response = runner_client.post(url(record), {"param_company": "contoso"})
    assert response.status_code == 302
    drain()
    result = Run.objects.get()
    assert (result.trigger, result.outcome) == ("user runner", Outcome.SUCCESS)


def test_a_user_without_run_permission_is_denied(definitions_reader_client, record, http) -> None:
    assert definitions_reader_client.get(url(record)).status_code == 403
    assert definitions_reader_client.post(url(record), {"param_company": "x"}).status_code == 403
    assert drain() == 0
    assert len(http.calls) == 0
    assert not Run.objects.exists()


def test_an_authorizations_reader_is_denied(reader_client, record) -> None:
    assert reader_client.post(url(record), {"param_company": "x"}).status_code == 403
    assert not Run.objects.exists()
    assert not DBTaskResult.objects.exists()


def test_it_404s_for_a_missing_definition(admin_client) -> None:
    assert admin_client.get("/definitions/999999/run/").status_code == 404


def test_the_run_log_holds_the_parameters_but_not_the_token(admin_client, record, http) -> None:
    http.get("https://api.example.com/acme/customers", json={"echo": TOKEN})
    admin_client.post(url(record), {"param_company": "acme"})
    drain()
    stored = Run.objects.values().get()
    assert stored["outcome"] == Outcome.SUCCESS
    assert TOKEN not in json.dumps(stored, default=str)
    assert stored["request_headers"].count("Bearer [redacted]") == 1
