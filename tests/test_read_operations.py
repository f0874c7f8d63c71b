from __future__ import annotations

from unittest import mock

import pytest
import responses
from django.test import Client

from definitions.calls import Caller, RunFailed
from definitions.models import Definition, Kind, SoapMode
from tests.test_definition_create import client_for, definition_data, definitions_user, make_definition, text


def url(record: Definition) -> str:
    return f"/definitions/{record.pk}/operations/"


@pytest.fixture
def record(db) -> Definition:
    return make_definition(
        code="ERP-CUSTOMER",
        kind=Kind.SOAP,
        soap_mode=SoapMode.WSDL,
        endpoint_url="https://erp.example.com/ws/Customers",
        wsdl_url="https://erp.example.com/ws/Customers?wsdl",
    )


@pytest.fixture
def definitions_reader_client(db) -> Client:
    return client_for(definitions_user("defreader", "view_definition"))


def test_the_button_shows_for_a_wsdl_definition(admin_client, record) -> None:
    body = text(admin_client.get(f"/definitions/{record.pk}/"))
    assert f'action="{url(record)}"' in body
    assert "Read operations from WSDL</button>" in body
    assert "Save, then click Read operations from WSDL to pick from a list." in body


def test_the_button_is_hidden_in_envelope_mode(admin_client, record) -> None:
    record.soap_mode = SoapMode.ENVELOPE
    record.save()
    assert f'action="{url(record)}"' not in admin_client.get(f"/definitions/{record.pk}/").content.decode()


def test_it_stores_the_operations_and_offers_them_in_a_select(admin_client, record) -> None:
    with mock.patch(
        "definitions.soap.list_operations", return_value=["GetCustomer", "ListCustomers"]
    ) as read:
        response = admin_client.post(url(record))

    assert response.status_code == 302
    assert response["Location"] == f"/definitions/{record.pk}/"
    record.refresh_from_db()
    assert record.wsdl_operations == ["GetCustomer", "ListCustomers"]
    definition, caller = read.call_args.args
    assert definition.pk == record.pk
    assert isinstance(caller, Caller)
    assert caller.trigger.label == "user admin"

    page = admin_client.get(response["Location"])
    body = text(page)
    assert "Read 2 operation(s) from the WSDL: GetCustomer, ListCustomers." in body
    assert '<select name="operation"' in body
    assert '<option value="GetCustomer">GetCustomer</option>' in body
    assert '<option value="ListCustomers">ListCustomers</option>' in body


def test_the_select_keeps_an_operation_no_longer_in_the_wsdl(admin_client, record) -> None:
    record.operation = "OldOperation"
    record.wsdl_operations = ["GetCustomer"]
    record.save()
    body = text(admin_client.get(f"/definitions/{record.pk}/"))
    assert '<option value="OldOperation" selected>OldOperation (not in the WSDL)</option>' in body


def test_an_operation_from_the_list_can_be_saved(admin_client, record) -> None:
    record.wsdl_operations = ["GetCustomer", "ListCustomers"]
    record.save()
    data = definition_data(
        code=record.code,
        kind=Kind.SOAP,
        endpoint_url=record.endpoint_url,
        wsdl_url=record.wsdl_url,
        operation="ListCustomers",
    )
    assert admin_client.post(f"/definitions/{record.pk}/", data).status_code == 302
    record.refresh_from_db()
    assert record.operation == "ListCustomers"
    assert record.wsdl_operations == ["GetCustomer", "ListCustomers"]  # not editable by the form


def test_a_failure_shows_a_message_and_keeps_the_old_list(admin_client, record) -> None:
    record.wsdl_operations = ["GetCustomer"]
    record.save()
    with mock.patch("definitions.soap.list_operations", side_effect=RunFailed("boom")):
        response = admin_client.post(url(record), follow=True)
    assert response.redirect_chain == [(f"/definitions/{record.pk}/", 302)]
    assert "Could not read operations: boom" in text(response)
    record.refresh_from_db()
    assert record.wsdl_operations == ["GetCustomer"]


def test_get_is_not_allowed(admin_client, record) -> None:
    with mock.patch("definitions.soap.list_operations") as read:
        assert admin_client.get(url(record)).status_code == 405
    read.assert_not_called()


def test_it_denies_a_reader(definitions_reader_client, record) -> None:
    with mock.patch("definitions.soap.list_operations", return_value=["Evil"]) as read:
        assert definitions_reader_client.post(url(record)).status_code == 403
    read.assert_not_called()
    record.refresh_from_db()
    assert record.wsdl_operations == []
    # ...and the reader does not see the button.
    page = definitions_reader_client.get(f"/definitions/{record.pk}/")
    assert f'action="{url(record)}"' not in page.content.decode()


def test_it_denies_an_authorizations_reader(reader_client, record) -> None:
    assert reader_client.post(url(record)).status_code == 403


def test_it_redirects_anonymous_to_login(client, admin_user, record) -> None:
    response = client.post(url(record))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_404s_for_a_missing_definition(admin_client) -> None:
    assert admin_client.post("/definitions/999999/operations/").status_code == 404


def test_a_wsdl_url_with_placeholders_is_not_fetched_literally(admin_client, db) -> None:
    # "A missing parameter is a clear error before any request is sent": reading operations has
    # no run parameters, so a templated WSDL URL must not go out as ".../%7Btenant%7D/...".
    record = make_definition(
        code="ERP-TENANT",
        kind=Kind.SOAP,
        soap_mode=SoapMode.WSDL,
        endpoint_url="https://erp.example.com/{tenant}/ws",
        wsdl_url="https://erp.example.com/{tenant}/ws?wsdl",
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as http:
        response = admin_client.post(url(record), follow=True)
        assert [call.request.url for call in http.calls] == []
    body = text(response)
    assert "Could not read operations:" in body
    assert "tenant" in body.split("Could not read operations:", 1)[1].split("</div>", 1)[0]


def test_a_failure_message_never_shows_the_credential(admin_client, db, monkeypatch) -> None:
    from definitions.calls import RunFailed
    from definitions.models import AuthType, Definition, Kind

    record = Definition.objects.create(
        code="WSDLSECRET",
        kind=Kind.SOAP,
        endpoint_url="https://erp.example.com/ws",
        wsdl_url="https://erp.example.com/ws?wsdl",
        auth_type=AuthType.BEARER,
        bearer_token="bearer-secret-ZZZZ9999",
    )

    def quoting_failure(definition, caller):
        caller.auth_headers(definition.wsdl_url)
        raise RunFailed("server said: bad token bearer-secret-ZZZZ9999")

    monkeypatch.setattr("definitions.soap.list_operations", quoting_failure)
    response = admin_client.post(f"/definitions/{record.pk}/operations/", follow=True)
    body = response.content.decode()
    assert "Could not read operations: server said: bad token [redacted]" in body
    assert "bearer-secret-ZZZZ9999" not in body
