from __future__ import annotations

import pytest
from django import forms
from django.db import connection
from django.test import Client

from definitions.models import AuthType, Definition, Direction, Kind, Run
from tests.conftest import make_authorization
from tests.test_definition_create import (
    client_for,
    definition_data,
    definitions_user,
    errors,
    make_definition,
    text,
)

SECRETS = {
    "auth_password": "basic-password-plaintext-1",
    "bearer_token": "static-bearer-plaintext-2",
    "api_key_value": "api-key-plaintext-3",
}


def url(record: Definition) -> str:
    return f"/definitions/{record.pk}/"


def raw_dump() -> str:
    """Every column of every definition row, as a database dump would show them."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {Definition._meta.db_table}")
        return repr(cursor.fetchall())


def edit_data(record: Definition, **overrides) -> dict:
    """The record's current values as the form would post them, with ``overrides``."""
    current = {
        "code": record.code,
        "description": record.description,
        "endpoint_url": record.endpoint_url,
        "direction": record.direction,
        "auth_type": record.auth_type,
        "auth_username": record.auth_username,
        "api_key_header": record.api_key_header,
    }
    return definition_data(**{**current, **overrides})


@pytest.fixture
def bearer_record(db) -> Definition:
    return make_definition(auth_type=AuthType.BEARER, bearer_token=SECRETS["bearer_token"])


@pytest.fixture
def definitions_reader_client(db) -> Client:
    return client_for(definitions_user("defreader", "view_definition"))


def test_it_redirects_anonymous_to_login(client, admin_user, bearer_record) -> None:
    response = client.get(url(bearer_record))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_shows_a_record_without_its_secrets(admin_client, db) -> None:
    record = make_definition(auth_type=AuthType.BASIC, auth_username="svc", **SECRETS)
    response = admin_client.get(url(record))
    body = response.content.decode()
    assert response.status_code == 200
    for secret in SECRETS.values():
        assert secret not in body
    assert body.count("Stored (encrypted).") == 3
    assert 'value="svc"' in body  # the username is not a secret
    assert 'type="password"' in body


def test_it_says_not_set_for_empty_secrets(admin_client, db) -> None:
    record = make_definition()
    body = admin_client.get(url(record)).content.decode()
    assert "Stored (encrypted)." not in body
    assert body.count("Not set.") == 3


def test_it_saves_changes(admin_client, bearer_record) -> None:
    response = admin_client.post(url(bearer_record), edit_data(bearer_record, description="Changed"))
    assert response.status_code == 302
    assert response["Location"] == url(bearer_record)
    bearer_record.refresh_from_db()
    assert bearer_record.description == "Changed"
    assert "Definition CUSTOMERS was saved." in text(admin_client.get(url(bearer_record)))


def test_a_blank_secret_keeps_the_stored_one(admin_client, bearer_record) -> None:
    # The stored token also satisfies "required for a static bearer token".
    response = admin_client.post(url(bearer_record), edit_data(bearer_record, bearer_token=""))
    assert response.status_code == 302
    bearer_record.refresh_from_db()
    assert bearer_record.bearer_token == SECRETS["bearer_token"]


def test_a_new_value_replaces_the_secret(admin_client, bearer_record) -> None:
    response = admin_client.post(
        url(bearer_record), edit_data(bearer_record, bearer_token="brand-new-bearer-value")
    )
    assert response.status_code == 302
    bearer_record.refresh_from_db()
    assert bearer_record.bearer_token == "brand-new-bearer-value"
    dump = raw_dump()
    assert "brand-new-bearer-value" not in dump
    assert SECRETS["bearer_token"] not in dump


def test_the_clear_checkbox_removes_the_secret(admin_client, bearer_record) -> None:
    data = edit_data(bearer_record, auth_type=AuthType.ANONYMOUS, bearer_token_clear="on")
    response = admin_client.post(url(bearer_record), data)
    assert response.status_code == 302
    bearer_record.refresh_from_db()
    assert bearer_record.bearer_token == ""
    assert bearer_record.auth_type == AuthType.ANONYMOUS
    assert "Stored (encrypted)." not in admin_client.get(url(bearer_record)).content.decode()


def test_clearing_a_secret_the_auth_type_needs_is_refused(admin_client, bearer_record) -> None:
    response = admin_client.post(url(bearer_record), edit_data(bearer_record, bearer_token_clear="on"))
    assert errors(response)["bearer_token"] == ["Required for a static bearer token."]
    bearer_record.refresh_from_db()
    assert bearer_record.bearer_token == SECRETS["bearer_token"]


def test_it_refuses_a_new_secret_and_clear_together(admin_client, bearer_record) -> None:
    data = edit_data(bearer_record, bearer_token="another", bearer_token_clear="on")
    response = admin_client.post(url(bearer_record), data)
    assert errors(response)["bearer_token_clear"] == ["Either enter a new value or clear it, not both."]
    bearer_record.refresh_from_db()
    assert bearer_record.bearer_token == SECRETS["bearer_token"]


def test_basic_and_api_key_secrets_are_kept_and_replaced(admin_client, db) -> None:
    record = make_definition(
        auth_type=AuthType.API_KEY,
        api_key_header="X-Api-Key",
        api_key_value=SECRETS["api_key_value"],
        auth_username="svc",
        auth_password=SECRETS["auth_password"],
    )
    # API key kept on a blank save; then switch to Basic with the password already stored.
    assert admin_client.post(url(record), edit_data(record)).status_code == 302
    record.refresh_from_db()
    assert record.api_key_value == SECRETS["api_key_value"]
    response = admin_client.post(url(record), edit_data(record, auth_type=AuthType.BASIC))
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.auth_type == AuthType.BASIC
    assert record.auth_password == SECRETS["auth_password"]


def test_the_database_holds_no_secret_in_plain_text(admin_client, db) -> None:
    # Created through the form, as an administrator would.
    data = definition_data(
        auth_type=AuthType.BASIC, auth_username="svc", **{key: value for key, value in SECRETS.items()}
    )
    assert admin_client.post("/definitions/new/", data).status_code == 302
    record = Definition.objects.get()
    assert (record.auth_password, record.bearer_token, record.api_key_value) == tuple(SECRETS.values())
    dump = raw_dump()
    for secret in SECRETS.values():
        assert secret not in dump
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT auth_password, bearer_token, api_key_value FROM {Definition._meta.db_table}")
        for column in cursor.fetchone():
            assert column.startswith("gAAAA")  # a Fernet token


def test_a_failed_save_loses_nothing(admin_client, bearer_record) -> None:
    data = edit_data(bearer_record, endpoint_url="http://evil.example/steal", bearer_token="typed-new-one")
    response = admin_client.post(url(bearer_record), data)
    assert "Plain http is refused" in text(response)
    assert "typed-new-one" not in response.content.decode()
    bearer_record.refresh_from_db()
    assert bearer_record.endpoint_url == "https://api.example.com/customers"
    assert bearer_record.bearer_token == SECRETS["bearer_token"]


def test_it_rejects_renaming_to_an_existing_code(admin_client, bearer_record) -> None:
    make_definition(code="OTHER")
    response = admin_client.post(url(bearer_record), edit_data(bearer_record, code="other"))
    assert "already exists" in errors(response)["code"][0]
    bearer_record.refresh_from_db()
    assert bearer_record.code == "CUSTOMERS"


def test_it_shows_the_run_and_runs_buttons_and_recent_runs(admin_client, bearer_record) -> None:
    run = Run.objects.create(
        definition=bearer_record, trigger="user admin", outcome="success", http_status=200
    )
    body = admin_client.get(url(bearer_record)).content.decode()
    assert f'href="/definitions/{bearer_record.pk}/run/"' in body
    assert 'href="/definitions/runs/?definition=CUSTOMERS"' in body
    assert "Recent runs" in body
    assert f'href="/definitions/runs/{run.pk}/"' in body


def test_it_preselects_the_oauth2_authorization(admin_client, db) -> None:
    authorization = make_authorization()
    record = make_definition(auth_type=AuthType.OAUTH2, authorization=authorization)
    body = admin_client.get(url(record)).content.decode()
    assert '<option value="ENDPOINT" selected>' in body


def test_a_reader_sees_but_cannot_change(definitions_reader_client, bearer_record) -> None:
    page = definitions_reader_client.get(url(bearer_record))
    assert page.status_code == 200
    body = page.content.decode()
    assert SECRETS["bearer_token"] not in body
    assert ">Save</button>" not in body
    assert "/delete/" not in body
    assert f"/definitions/{bearer_record.pk}/run/" not in body
    response = definitions_reader_client.post(
        url(bearer_record), edit_data(bearer_record, description="hacked")
    )
    assert response.status_code == 403
    bearer_record.refresh_from_db()
    assert bearer_record.description != "hacked"


def test_an_authorizations_reader_cannot_see(reader_client, bearer_record) -> None:
    assert reader_client.get(url(bearer_record)).status_code == 403


def test_an_outsider_cannot_see(outsider_client, bearer_record) -> None:
    assert outsider_client.get(url(bearer_record)).status_code == 403


def test_it_404s_for_a_missing_record(admin_client) -> None:
    assert admin_client.get("/definitions/999999/").status_code == 404


def test_the_kind_can_change_from_rest_to_soap(admin_client, bearer_record) -> None:
    data = edit_data(
        bearer_record,
        kind=Kind.SOAP,
        direction=Direction.EXPORT,
        soap_mode="envelope",
        envelope_template="<Envelope><Body>{id}</Body></Envelope>",
    )
    assert admin_client.post(url(bearer_record), data).status_code == 302
    bearer_record.refresh_from_db()
    assert bearer_record.kind == Kind.SOAP


def posted_back(response) -> dict[str, str]:
    """What a browser submits for the page as shown: every field's current value."""
    data = {}
    for name, field in response.context["form"].fields.items():
        value = response.context["form"][name].value()
        if isinstance(field.widget, forms.CheckboxInput):
            if value:
                data[name] = "on"
        else:
            data[name] = "" if value is None else str(value)
    return data


@pytest.mark.parametrize(
    "fields",
    [
        {"auth_type": AuthType.BASIC, "auth_username": "svc", "auth_password": SECRETS["auth_password"]},
        {"auth_type": AuthType.BEARER, "bearer_token": SECRETS["bearer_token"]},
        {"auth_type": AuthType.API_KEY, "api_key_header": "X-Api-Key", "api_key_value": "key-1234"},
        {"auth_type": AuthType.OAUTH2},
        {
            "kind": Kind.SOAP,
            "soap_mode": "wsdl",
            "wsdl_url": "https://erp.example.com/ws?wsdl",
            "operation": "GetCustomer",
            "wsdl_operations": ["GetCustomer", "ListCustomers"],
            "parameters_json": '{"id": "{id}"}',
        },
        {"active": False, "extra_headers": "If-Match: *", "timeout": 90},
    ],
    ids=["basic", "bearer", "api-key", "oauth2", "soap-wsdl", "inactive"],
)
def test_saving_the_page_unchanged_changes_nothing(admin_client, db, fields) -> None:
    if fields.get("auth_type") == AuthType.OAUTH2:
        fields = {**fields, "authorization": make_authorization(code="BC-PROD")}
    record = make_definition(**fields)
    before = Definition.objects.values().get(pk=record.pk)
    page = admin_client.get(url(record))
    response = admin_client.post(url(record), posted_back(page))
    assert response.status_code == 302, errors(response)
    after = Definition.objects.values().get(pk=record.pk)
    before.pop("updated_at")
    after.pop("updated_at")
    assert after == before
