"""Definitions against real servers: the django-oauth-toolkit API and the spyne SOAP service."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from definitions import runner
from definitions.models import AuthType, Definition, Direction, Kind, Outcome, Paging, SoapMode, SoapVersion
from oauth2_auth.models import Authorization, BearerToken, host_port
from oauth2_auth.tokens import Trigger
from tests.provider_helpers import ac_record, cc_record, give_consent

TRIGGER = Trigger("test")
ENVELOPE = (
    '<soap:Envelope xmlns:soap="{env}" xmlns:ord="urn:connectit:test:orders"><soap:Body>'
    "<ord:Echo><ord:text>{{text}}</ord:text></ord:Echo></soap:Body></soap:Envelope>"
)
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


@pytest.fixture
def provider(oauth_provider):
    oauth_provider.reset()
    yield oauth_provider
    oauth_provider.reset()


@pytest.fixture
def soap(soap_server):
    soap_server.reset()
    return soap_server


def definition(code: str, authorization: Authorization, url: str, **fields) -> Definition:
    values = {"auth_type": AuthType.OAUTH2, "authorization": authorization, "endpoint_url": url}
    return Definition.objects.create(code=code, **{**values, **fields})


def hosts(*servers) -> str:
    """The API hosts of the test servers a token may go to."""
    return "\n".join(host_port(server.base_url) for server in servers)


def run(record: Definition, **params: str):
    return runner.run(record, params=params, trigger=TRIGGER)


def expire(record: Authorization) -> None:
    BearerToken.objects.filter(pk=record.pk).update(expires_at=timezone.now() - timedelta(seconds=5))


# --- REST ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rest_import_pages_through_the_protected_api(provider) -> None:
    auth = cc_record(provider)
    record = definition(
        "ITEMS",
        auth,
        provider.api_url + "items/?page={page}&page_size={size}",
        paging=Paging.PAGE_NUMBER,
        items_property="value",
        total_pages_property="total_pages",
    )
    result = run(record, size="10")
    assert (result.outcome, result.http_status, result.pages) == (Outcome.SUCCESS, 200, 3), result.message
    bodies = [json.loads(page.body) for page in result.page_set.all()]
    assert sum(len(body["value"]) for body in bodies) == 25
    assert "Authorization: Bearer [redacted]" in result.request_headers
    assert provider.stats()["client_credentials"] == 1


@pytest.mark.django_db
def test_rest_import_follows_next_links(provider) -> None:
    record = definition(
        "PAGED",
        cc_record(provider),
        provider.api_url + "paged/?page=1&page_size=7",
        paging=Paging.NEXT_LINK,
        next_link_property="next",
        items_property="value",
    )
    result = run(record)
    assert (result.outcome, result.pages) == (Outcome.SUCCESS, 4), result.message


@pytest.mark.django_db
def test_rest_export_sends_the_body(provider) -> None:
    record = definition(
        "NEWORDER",
        cc_record(provider),
        provider.api_url + "orders/",
        direction=Direction.EXPORT,
        http_method="POST",
        body_template='{"customerId": {customer}, "note": "{note}"}',
    )
    result = run(record, customer="2", note='rush "today"')
    assert (result.outcome, result.http_status) == (Outcome.SUCCESS, 201), result.message
    assert json.loads(result.response_body) == {"customerId": 2, "note": 'rush "today"'}


@pytest.mark.django_db
def test_an_unknown_record_is_a_failed_run(provider) -> None:
    result = run(definition("MISSING", cc_record(provider), provider.api_url + "items/999/"))
    assert (result.outcome, result.http_status) == (Outcome.FAILED, 404)
    assert result.message == "The endpoint answered HTTP 404."


# --- SOAP ----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("version", [SoapVersion.SOAP11, SoapVersion.SOAP12])
def test_soap_wsdl_mode_calls_an_operation(provider, soap, version: str) -> None:
    url, wsdl = (soap.soap11_url, soap.wsdl11_url) if version == "1.1" else (soap.soap12_url, soap.wsdl12_url)
    record = definition(
        "CUSTOMER",
        cc_record(provider, api_hosts=hosts(provider, soap)),
        url,
        kind=Kind.SOAP,
        soap_version=version,
        wsdl_url=wsdl,
        operation="GetCustomer",
        parameters_json='{"customer_id": {id}}',
    )
    result = run(record, id="2")
    assert (result.outcome, result.http_status) == (Outcome.SUCCESS, 200), result.message
    assert "<tns:name>Fabrikam Inc</tns:name>" in result.response_body
    # The WSDL was fetched with the same token as the call.
    assert soap.stats() == {"calls": 1, "unauthorized": 0, "wsdl": 1}


@pytest.mark.django_db
def test_soap_fault_is_a_failed_run(provider, soap) -> None:
    record = definition(
        "ORDER",
        cc_record(provider, api_hosts=hosts(provider, soap)),
        soap.soap11_url,
        kind=Kind.SOAP,
        direction=Direction.EXPORT,
        wsdl_url=soap.wsdl11_url,
        operation="CreateOrder",
        parameters_json='{"customer_id": 1, "sku": "SKU-100", "quantity": {qty}}',
    )
    result = run(record, qty="0")
    assert result.outcome == Outcome.FAILED
    assert result.message == "SOAP fault: soap11env:Client.ValidationError: Quantity must be positive, got 0"
    assert "Fault" in result.response_body


@pytest.mark.django_db
@pytest.mark.parametrize(("version", "env"), [(SoapVersion.SOAP11, SOAP11), (SoapVersion.SOAP12, SOAP12)])
def test_soap_envelope_mode(provider, soap, version: str, env: str) -> None:
    record = definition(
        "ECHO",
        cc_record(provider, api_hosts=hosts(provider, soap)),
        soap.soap11_url if version == "1.1" else soap.soap12_url,
        kind=Kind.SOAP,
        soap_mode=SoapMode.ENVELOPE,
        soap_version=version,
        soap_action="Echo",
        direction=Direction.EXPORT,
        envelope_template=ENVELOPE.format(env=env),
    )
    result = run(record, text="fish & chips <now>")
    assert result.outcome == Outcome.SUCCESS, result.message
    assert "<tns:EchoResult>fish &amp; chips &lt;now&gt;</tns:EchoResult>" in result.response_body


@pytest.mark.django_db
def test_soap_without_a_valid_token_fails_clearly(provider, soap) -> None:
    record = Definition.objects.create(
        code="NOAUTH",
        kind=Kind.SOAP,
        endpoint_url=soap.soap11_url,
        wsdl_url=soap.wsdl11_url,
        operation="Echo",
        auth_type=AuthType.BEARER,
        bearer_token="not-a-valid-token",
    )
    result = run(record)
    assert result.outcome == Outcome.FAILED
    assert result.message == "Fetching the WSDL answered HTTP 401."
    assert result.request_line == f"GET {soap.wsdl11_url}"
    assert result.request_headers == "Authorization: Bearer [redacted]"
    assert "not-a-valid-token" not in result.request_headers


# --- One token shared; 401 retry -----------------------------------------------------------------


def run_concurrently(records: list[Definition], rounds: int) -> list:
    results: list = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(records) * rounds)

    def worker(record: Definition) -> None:
        try:
            barrier.wait()
            results.append(run(record))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(r,)) for r in records for _ in range(rounds)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_three_definitions_share_one_token(provider, soap) -> None:
    auth = cc_record(provider, code="SHARED", api_hosts=hosts(provider, soap))
    # Overlap allowed: four runs of each definition at once, not one running and three refused.
    records = [
        definition("ITEMS", auth, provider.api_url + "items/", allow_overlap=True),
        definition("CUSTOMERS", auth, provider.api_url + "customers/", allow_overlap=True),
        definition(
            "SOAPCUST",
            auth,
            soap.soap11_url,
            kind=Kind.SOAP,
            wsdl_url=soap.wsdl11_url,
            operation="GetCustomer",
            parameters_json='{"customer_id": 1}',
            allow_overlap=True,
        ),
    ]
    provider.set_token_delay(0.2)  # every run arrives while the one token request is in flight

    results = run_concurrently(records, rounds=4)

    assert [r.outcome for r in results] == [Outcome.SUCCESS] * 12, [r.message for r in results]
    assert provider.stats()["client_credentials"] == 1
    for _ in range(3):
        for record in records:
            assert run(record).outcome == Outcome.SUCCESS
    assert provider.stats()["client_credentials"] == 1

    expire(auth)
    results = run_concurrently(records, rounds=3)
    assert all(r.outcome == Outcome.SUCCESS for r in results)
    assert provider.stats()["client_credentials"] == 2


@pytest.mark.django_db
def test_a_revoked_token_is_renewed_once_and_the_run_succeeds(provider) -> None:
    auth = cc_record(provider)
    record = definition("ITEMS", auth, provider.api_url + "items/")
    assert run(record).outcome == Outcome.SUCCESS
    provider.revoke_tokens()
    provider.reset()

    result = run(record)

    assert result.outcome == Outcome.SUCCESS, result.message
    stats = provider.stats()
    assert (stats["client_credentials"], stats["api_unauthorized"], stats["api"]) == (1, 1, 2)


@pytest.mark.django_db
def test_an_expired_auth_code_token_is_refreshed_on_401(provider, admin_client) -> None:
    auth = ac_record(provider)
    give_consent(admin_client, provider, auth)
    record = definition("ORDERS", auth, provider.api_url + "orders/")
    provider.expire_tokens()  # the server stops accepting it; our copy still looks valid
    provider.reset()

    result = run(record)

    assert result.outcome == Outcome.SUCCESS, result.message
    assert provider.stats()["refresh_token"] == 1


@pytest.mark.django_db
def test_a_revoked_soap_token_is_renewed_once(provider, soap) -> None:
    auth = cc_record(provider, api_hosts=hosts(provider, soap))
    record = definition(
        "ECHO",
        auth,
        soap.soap11_url,
        kind=Kind.SOAP,
        soap_mode=SoapMode.ENVELOPE,
        soap_action="Echo",
        envelope_template=ENVELOPE.format(env=SOAP11),
    )
    assert run(record, text="one").outcome == Outcome.SUCCESS
    provider.revoke_tokens()
    provider.reset()
    result = run(record, text="two")
    assert result.outcome == Outcome.SUCCESS, result.message
    assert provider.stats()["client_credentials"] == 1
    assert soap.stats()["unauthorized"] == 1
