"""Unit tests of SOAP definitions in envelope mode (SOAPAction + XML template), HTTP mocked."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
import responses
from lxml import etree

from definitions.models import AuthType, Definition, Direction, Kind, Outcome, SoapMode, SoapVersion
from oauth2_auth.models import Authorization
from tests.test_definition_runner import (
    ACCESS,
    API,
    BEARER,
    NEW_ACCESS,
    TOKEN_URL,
    add_token_endpoint,
    api_calls,
    assert_no_secret,
    go,
    make_definition,
    oauth2_authorization,
    stored_text,
    token_calls,
)
from tests.test_definition_runner import api as api  # the fixture

URL = f"{API}/soap/customers"
ACTION = "urn:example:customers/GetCustomer"
ENVELOPE_11 = (
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    '<soap:Body><GetCustomer xmlns="urn:example:customers"><Id>{id}</Id></GetCustomer></soap:Body>'
    "</soap:Envelope>"
)
ENVELOPE_12 = ENVELOPE_11.replace(
    "http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope"
)
ANSWER_11 = (
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    '<GetCustomerResponse xmlns="urn:example:customers"><Name>Contoso</Name></GetCustomerResponse>'
    "</soap:Body></soap:Envelope>"
)


def fault_11(text: str, code: str = "soap:Server") -> str:
    return (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
        f"<faultcode>{code}</faultcode><faultstring>{text}</faultstring>"
        "<detail><message>internal detail</message></detail>"
        "</soap:Fault></soap:Body></soap:Envelope>"
    )


def fault_12(text: str, detail: str = "") -> str:
    return (
        '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault>'
        "<env:Code><env:Value>env:Sender</env:Value></env:Code>"
        f'<env:Reason><env:Text xml:lang="en">{text}</env:Text></env:Reason>'
        f"{detail}</env:Fault></env:Body></env:Envelope>"
    )


def soap_definition(**fields: Any) -> Definition:
    values: dict[str, Any] = {
        "code": "SOAPCUST",
        "kind": Kind.SOAP,
        "soap_mode": SoapMode.ENVELOPE,
        "soap_version": SoapVersion.SOAP11,
        "direction": Direction.IMPORT,
        "endpoint_url": URL,
        "soap_action": ACTION,
        "envelope_template": ENVELOPE_11,
    }
    values.update(fields)
    return make_definition(**values)


def test_it_posts_a_soap_11_envelope(db, api) -> None:
    api.add(responses.POST, URL, body=ANSWER_11, content_type="text/xml; charset=utf-8")
    run = go(soap_definition(), id="42")
    assert run.outcome == Outcome.SUCCESS, run.message
    request = api.calls[0].request
    assert (request.method, request.url) == ("POST", URL)
    assert request.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert request.headers["SOAPAction"] == f'"{ACTION}"'
    assert request.headers["Accept"] == "text/xml"
    assert "Authorization" not in request.headers
    assert request.body == ENVELOPE_11.replace("{id}", "42").encode()
    assert (run.http_status, run.response_body, run.pages) == (200, ANSWER_11, 1)
    assert run.request_line == f"POST {URL}"
    assert run.request_body == ENVELOPE_11.replace("{id}", "42")


def test_it_posts_a_soap_12_envelope(db, api) -> None:
    definition = soap_definition(soap_version=SoapVersion.SOAP12, envelope_template=ENVELOPE_12)
    api.add(responses.POST, URL, body=ANSWER_11, content_type="application/soap+xml")
    run = go(definition, id="42")
    assert run.outcome == Outcome.SUCCESS, run.message
    headers = api.calls[0].request.headers
    assert headers["Content-Type"] == f'application/soap+xml; charset=utf-8; action="{ACTION}"'
    assert "SOAPAction" not in headers
    assert headers["Accept"] == "application/soap+xml, text/xml"


def test_it_omits_an_empty_soap_12_action(db, api) -> None:
    definition = soap_definition(
        soap_version=SoapVersion.SOAP12, envelope_template=ENVELOPE_12, soap_action=""
    )
    api.add(responses.POST, URL, body=ANSWER_11)
    go(definition, id="1")
    assert api.calls[0].request.headers["Content-Type"] == "application/soap+xml; charset=utf-8"


def test_it_xml_escapes_parameters_in_the_envelope(db, api) -> None:
    api.add(responses.POST, URL, body=ANSWER_11)
    value = "<x> & \"y\" 'z' Zoë"
    run = go(soap_definition(), id=value)
    assert run.outcome == Outcome.SUCCESS, run.message
    body = api.calls[0].request.body
    assert b"<Id>&lt;x&gt; &amp; &quot;y&quot; &apos;z&apos; Zo\xc3\xab</Id>" in body
    assert etree.fromstring(body).findtext(".//{urn:example:customers}Id") == value


def test_it_url_encodes_parameters_in_the_soap_url(db, api) -> None:
    definition = soap_definition(endpoint_url=f"{API}/soap/{{company}}")
    api.add(responses.POST, f"{API}/soap/A%20%26%20B", body=ANSWER_11)
    run = go(definition, company="A & B", id="1")
    assert run.outcome == Outcome.SUCCESS, run.message


def test_it_fails_a_soap_run_with_a_missing_parameter(db, api) -> None:
    run = go(soap_definition())
    assert run.outcome == Outcome.FAILED
    assert run.message.startswith("Missing parameter(s): id")
    assert len(api.calls) == 0


def test_it_sends_the_payload_instead_of_the_envelope(db, api) -> None:
    api.add(responses.POST, URL, body=ANSWER_11)
    payload = ENVELOPE_11.replace("{id}", "{literal}")
    run = go(soap_definition(direction=Direction.EXPORT), payload=payload)
    assert run.outcome == Outcome.SUCCESS, run.message
    assert api.calls[0].request.body == payload.encode()


def test_it_shows_the_faultstring_of_a_soap_11_fault(db, api, admin_client) -> None:
    api.add(responses.POST, URL, status=500, body=fault_11("Customer 42 not found"), content_type="text/xml")
    run = go(soap_definition(), id="42")
    assert run.outcome == Outcome.FAILED
    assert run.message == "SOAP fault: soap:Server: Customer 42 not found"
    assert run.http_status == 500
    page = admin_client.get(f"/definitions/runs/{run.pk}/")
    assert page.status_code == 200
    assert "Customer 42 not found" in page.content.decode()


def test_it_shows_the_reason_text_of_a_soap_12_fault(db, api) -> None:
    definition = soap_definition(soap_version=SoapVersion.SOAP12, envelope_template=ENVELOPE_12)
    api.add(responses.POST, URL, status=500, body=fault_12("Customer 42 not found"))
    run = go(definition, id="42")
    assert run.outcome == Outcome.FAILED
    assert run.message == "SOAP fault: env:Sender: Customer 42 not found"


def test_it_shows_the_reason_not_a_detail_element_named_alike(db, api) -> None:
    detail = "<env:Detail><m:Text xmlns:m='urn:m'>stack frame 12</m:Text></env:Detail>"
    definition = soap_definition(soap_version=SoapVersion.SOAP12, envelope_template=ENVELOPE_12)
    api.add(responses.POST, URL, status=500, body=fault_12("Customer 42 not found", detail))
    run = go(definition, id="42")
    assert run.message == "SOAP fault: env:Sender: Customer 42 not found"


def test_it_fails_on_a_fault_in_a_200_answer(db, api) -> None:
    api.add(responses.POST, URL, status=200, body=fault_11("Soft failure"))
    run = go(soap_definition(), id="1")
    assert run.outcome == Outcome.FAILED
    assert run.message == "SOAP fault: soap:Server: Soft failure"


def test_it_fails_on_an_http_error_without_a_fault(db, api) -> None:
    api.add(responses.POST, URL, status=502, body="<html>Bad gateway</html>", content_type="text/html")
    run = go(soap_definition(), id="1")
    assert run.outcome == Outcome.FAILED
    assert run.message == "The endpoint answered HTTP 502."


def test_it_sends_the_oauth2_token_with_an_envelope(db, api) -> None:
    definition = soap_definition(auth_type=AuthType.OAUTH2, authorization=oauth2_authorization())
    api.add(responses.POST, URL, body=ANSWER_11)
    run = go(definition, id="1")
    assert run.outcome == Outcome.SUCCESS, run.message
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {ACCESS}"
    assert "Authorization: Bearer [redacted]" in run.request_headers


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 401, "body": ""},
        {"status": 500, "body": fault_11("401 Unauthorized: token expired")},
        {"status": 500, "body": fault_11("Access is unauthorized", code="soap:Client")},
        {"status": 500, "body": fault_12("HTTP 401")},
    ],
)
def test_it_renews_the_token_once_after_an_unauthorized_answer(db, api, answer: dict) -> None:
    definition = soap_definition(auth_type=AuthType.OAUTH2, authorization=oauth2_authorization())
    api.add(responses.POST, URL, **answer)
    api.add(responses.POST, URL, body=ANSWER_11)
    add_token_endpoint(api)
    run = go(definition, id="1")
    assert run.outcome == Outcome.SUCCESS, run.message
    assert len(token_calls(api)) == 1
    assert dict(parse_qsl(token_calls(api)[0].request.body))["grant_type"] == "client_credentials"
    sent = [call.request.headers["Authorization"] for call in api_calls(api)]
    assert sent == [f"Bearer {ACCESS}", f"Bearer {NEW_ACCESS}"]
    assert [call.request.body for call in api_calls(api)] == [ENVELOPE_11.replace("{id}", "1").encode()] * 2
    assert run.response_body == ANSWER_11
    assert Authorization.objects.get().token.access_token == NEW_ACCESS


def test_it_fails_naming_the_authorization_after_a_second_unauthorized_fault(db, api) -> None:
    definition = soap_definition(auth_type=AuthType.OAUTH2, authorization=oauth2_authorization())
    api.add(responses.POST, URL, status=500, body=fault_11("401 Unauthorized"))
    add_token_endpoint(api)
    run = go(definition, id="1")
    assert run.outcome == Outcome.FAILED
    assert "OAuth2 authorization ENDPOINT" in run.message
    assert len(token_calls(api)) == 1
    assert len(api_calls(api)) == 2


@pytest.mark.parametrize("text", ["Order 24017 already exists", "Customer 4010 not found"])
def test_it_does_not_renew_for_an_ordinary_fault(db, api, text: str) -> None:
    # A number that merely contains 401 is no 401; resending an export would duplicate it.
    definition = soap_definition(
        direction=Direction.EXPORT, auth_type=AuthType.OAUTH2, authorization=oauth2_authorization()
    )
    api.add(responses.POST, URL, status=500, body=fault_11(text))
    add_token_endpoint(api)
    run = go(definition, id="1")
    assert run.outcome == Outcome.FAILED
    assert run.message == f"SOAP fault: soap:Server: {text}"
    assert token_calls(api) == []
    assert len(api_calls(api)) == 1


def test_it_does_not_retry_an_unauthorized_fault_without_oauth2(db, api) -> None:
    definition = soap_definition(auth_type=AuthType.BEARER, bearer_token=BEARER)
    api.add(responses.POST, URL, status=500, body=fault_11("401 Unauthorized"))
    run = go(definition, id="1")
    assert run.outcome == Outcome.FAILED
    assert run.message == "SOAP fault: soap:Server: 401 Unauthorized"
    assert len(api.calls) == 1
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {BEARER}"


def test_it_redacts_a_token_a_soap_fault_echoes(db, api, admin_client) -> None:
    definition = soap_definition(auth_type=AuthType.OAUTH2, authorization=oauth2_authorization())
    api.add(responses.POST, URL, status=500, body=fault_11(f"Token {ACCESS} is not valid for this tenant"))
    run = go(definition, id="1")
    assert run.outcome == Outcome.FAILED
    assert "[redacted]" in run.message
    assert_no_secret(stored_text(), admin_client.get(f"/definitions/runs/{run.pk}/").content.decode())


def test_it_reports_a_timeout_of_a_soap_call(db, api) -> None:
    api.add(responses.POST, URL, body=requests.exceptions.ReadTimeout())
    run = go(soap_definition(timeout=5), id="1")
    assert (run.outcome, run.message) == (Outcome.FAILED, "api.example.com did not answer within 5 seconds.")
    assert TOKEN_URL not in stored_text()


def test_it_offers_the_answer_of_a_soap_import_as_the_download(db, api, admin_client) -> None:
    api.add(responses.POST, URL, body=ANSWER_11, content_type="text/xml; charset=utf-8")
    run = go(soap_definition(), id="1")
    response = admin_client.get(f"/definitions/runs/{run.pk}/download/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode() == ANSWER_11
