"""Reading a WSDL's operations from the definition form as typed (issue 12, item 11): the
endpoint, what it reads with, what it refuses, and how the read list reaches the saved record."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from django.test import Client

from definitions.calls import Caller, RunFailed
from definitions.forms import parse_catalog
from definitions.models import AuthType, Definition, Kind, SoapMode
from tests.test_definition_create import client_for, definition_data, definitions_user, make_definition, text

CATALOG = [
    {
        "name": "GetCustomer",
        "parameters": [{"name": "customer_id", "type": "integer", "required": True, "many": False}],
    },
    {"name": "ListCustomers", "parameters": []},
]
WSDL = "https://erp.example.com/ws/Customers?wsdl"


def url(record: Definition | None = None) -> str:
    return f"/definitions/{record.pk}/operations/" if record else "/definitions/new/operations/"


@pytest.fixture
def record(db) -> Definition:
    return make_definition(
        code="ERP-CUSTOMER",
        kind=Kind.SOAP,
        soap_mode=SoapMode.WSDL,
        endpoint_url="https://erp.example.com/ws/Customers",
        wsdl_url=WSDL,
    )


def soap_data(**overrides) -> dict:
    return definition_data(
        **{
            "code": "ERP-CUSTOMER",
            "kind": Kind.SOAP,
            "soap_mode": SoapMode.WSDL,
            "wsdl_url": WSDL,
            **overrides,
        }
    )


@pytest.fixture
def definitions_reader_client(db) -> Client:
    return client_for(definitions_user("defreader", "view_definition"))


def test_the_form_offers_read_operations_beside_the_operation(admin_client, record) -> None:
    body = text(admin_client.get(f"/definitions/{record.pk}/"))
    assert f'data-read-url="{url(record)}"' in body
    assert "Read operations</button>" in body
    assert "— read the operations first —" in body
    new = text(admin_client.get("/definitions/new/"))
    assert f'data-read-url="{url()}"' in new  # a new definition reads before its first save


def test_it_reads_the_wsdl_url_as_typed_and_saves_nothing(admin_client, record) -> None:
    typed = "https://erp.example.com/ws/Other?wsdl"
    with mock.patch("definitions.soap.list_operations", return_value=CATALOG) as read:
        response = admin_client.post(url(record), soap_data(wsdl_url=typed))
    assert response.status_code == 200
    answer = response.json()
    assert answer["operations"] == CATALOG
    assert (
        answer["descriptions"]["GetCustomer"] == "Parameters of GetCustomer: customer_id (integer, required)."
    )
    definition, caller = read.call_args.args
    assert definition.wsdl_url == typed and isinstance(caller, Caller)
    assert caller.trigger.label == "user admin"
    record.refresh_from_db()
    assert record.wsdl_url == WSDL and record.wsdl_operations == []  # nothing saved


def test_a_new_definition_reads_before_it_is_saved(admin_client) -> None:
    with mock.patch("definitions.soap.list_operations", return_value=CATALOG):
        response = admin_client.post(url(), soap_data(code=""))  # other fields may still be wrong
    assert response.status_code == 200 and len(response.json()["operations"]) == 2
    assert not Definition.objects.exists()


def test_it_reads_with_the_secret_as_typed_or_else_the_stored_one(admin_client, record) -> None:
    record.auth_type, record.bearer_token = AuthType.BEARER, "stored-bearer-secret"
    record.save()
    with mock.patch("definitions.soap.list_operations", return_value=CATALOG) as read:
        admin_client.post(url(record), soap_data(auth_type=AuthType.BEARER, bearer_token=""))
        admin_client.post(
            url(record), soap_data(auth_type=AuthType.BEARER, bearer_token="typed-bearer-secret")
        )
    assert [call.args[0].bearer_token for call in read.call_args_list] == [
        "stored-bearer-secret",
        "typed-bearer-secret",
    ]
    record.refresh_from_db()
    assert record.bearer_token == "stored-bearer-secret"


def test_a_failure_is_said_and_redacted(admin_client, record) -> None:
    failure = RunFailed("401 for https://erp.example.com/ws?key=typed-bearer-secret")
    with mock.patch("definitions.soap.list_operations", side_effect=failure):
        response = admin_client.post(
            url(record), soap_data(auth_type=AuthType.BEARER, bearer_token="typed-bearer-secret")
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith("Could not read operations: 401 for") and "typed-bearer-secret" not in error


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"wsdl_url": ""}, "WSDL URL: Required in WSDL mode."),
        ({"wsdl_url": "ftp://erp.example.com/x"}, "WSDL URL:"),
    ],
)
def test_a_wsdl_url_that_cannot_be_read_sends_nothing(admin_client, record, fields, said) -> None:
    with mock.patch("definitions.soap.list_operations") as read:
        response = admin_client.post(url(record), soap_data(**fields))
    assert response.status_code == 400 and response.json()["error"].startswith(said)
    read.assert_not_called()


def test_save_stores_the_operations_read_and_the_chosen_one(admin_client, record) -> None:
    data = soap_data(operation="GetCustomer", operation_catalog=json.dumps(CATALOG))
    assert admin_client.post(f"/definitions/{record.pk}/", data).status_code == 302
    record.refresh_from_db()
    assert record.operation == "GetCustomer" and record.wsdl_operations == CATALOG
    body = text(admin_client.get(f"/definitions/{record.pk}/"))
    assert "Parameters of GetCustomer: customer_id (integer, required)." in body
    assert 'data-parameters="Parameters of GetCustomer: customer_id (integer, required)."' in body


def test_saving_without_reading_keeps_the_stored_operations(admin_client, record) -> None:
    record.wsdl_operations = CATALOG
    record.save()
    data = soap_data(operation="ListCustomers", operation_catalog="")
    assert admin_client.post(f"/definitions/{record.pk}/", data).status_code == 302
    record.refresh_from_db()
    assert (record.operation, record.wsdl_operations) == ("ListCustomers", CATALOG)


def test_the_select_keeps_an_operation_no_longer_in_the_wsdl_and_reads_old_rows(admin_client, record) -> None:
    record.operation = "OldOperation"
    record.wsdl_operations = ["GetCustomer"]  # saved before parameters were read: names only
    record.save()
    body = text(admin_client.get(f"/definitions/{record.pk}/"))
    assert "OldOperation (not in the WSDL read last)" in body
    assert '<option value="GetCustomer"' in body


def test_a_posted_catalog_of_the_wrong_shape_is_ignored() -> None:
    assert parse_catalog("not json") is None
    assert parse_catalog('{"name": "x"}') is None
    assert parse_catalog('[{"parameters": []}]') is None
    kept = parse_catalog('[{"name": "Op", "parameters": [{"name": "a", "type": "string", "extra": 1}]}]')
    assert kept == [
        {"name": "Op", "parameters": [{"name": "a", "type": "string", "required": False, "many": False}]}
    ]


def test_get_is_not_allowed(admin_client, record) -> None:
    with mock.patch("definitions.soap.list_operations") as read:
        assert admin_client.get(url(record)).status_code == 405
    read.assert_not_called()


def test_it_denies_a_reader(definitions_reader_client, record) -> None:
    with mock.patch("definitions.soap.list_operations", return_value=CATALOG) as read:
        assert definitions_reader_client.post(url(record), soap_data()).status_code == 403
        assert definitions_reader_client.post(url(), soap_data()).status_code == 403
    read.assert_not_called()


def test_it_denies_an_authorizations_reader(reader_client, record) -> None:
    assert reader_client.post(url(record), soap_data()).status_code == 403


def test_it_redirects_anonymous_to_login(client, admin_user, record) -> None:
    response = client.post(url(record))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
