"""The spyne SOAP test server: bearer tokens checked at the provider, both SOAP versions, faults."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests
import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.plugins import HistoryPlugin
from zeep.wsdl.bindings import Soap11Binding, Soap12Binding

from tests.provider.fixtures import CC_CLIENT_ID, CC_CLIENT_SECRET
from tests.servers import free_port
from tests.soap_server import fixtures as soap_fixtures
from tests.soap_server.fixtures import TNS, UNAUTHORIZED_MESSAGE

TIMEOUT = 10
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
NS = {"wsdl": WSDL_NS, "s11": SOAP11_ENV, "s12": SOAP12_ENV, "tns": TNS}

# What a definition in envelope mode sends: hand-written, no WSDL involved.
GET_CUSTOMER_11 = """<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ord="urn:connectit:test:orders">
  <soap:Body>
    <ord:GetCustomer><ord:customer_id>{customer_id}</ord:customer_id></ord:GetCustomer>
  </soap:Body>
</soap:Envelope>"""
ECHO_12 = """<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:ord="urn:connectit:test:orders">
  <soap:Body>
    <ord:Echo><ord:text>{text}</ord:text></ord:Echo>
  </soap:Body>
</soap:Envelope>"""


def new_token(provider) -> str:
    response = requests.post(
        provider.token_url,
        data={"grant_type": "client_credentials", "scope": "read"},
        auth=(CC_CLIENT_ID, CC_CLIENT_SECRET),
        timeout=TIMEOUT,
    )
    response.raise_for_status()
    return response.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(autouse=True)
def fresh_counts(soap_server, oauth_provider) -> None:
    soap_server.reset()
    oauth_provider.reset()


@pytest.fixture
def token(oauth_provider) -> str:
    # A new token per test: some tests expire or revoke every token the provider holds.
    return new_token(oauth_provider)


@pytest.fixture
def session(token: str) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers.update(bearer(token))
        yield session


@pytest.fixture(params=["1.1", "1.2"])
def soap_version(request) -> str:
    return request.param


@pytest.fixture
def history() -> HistoryPlugin:
    return HistoryPlugin()


@pytest.fixture
def client(soap_server, soap_version, session, history) -> zeep.Client:
    wsdl_url = soap_server.wsdl11_url if soap_version == "1.1" else soap_server.wsdl12_url
    # The WSDL is behind the same bearer check, so zeep must fetch it with the same session.
    return zeep.Client(wsdl_url, transport=zeep.Transport(session=session), plugins=[history])


def wsdl_url(server, version: str) -> str:
    return server.wsdl11_url if version == "1.1" else server.wsdl12_url


def soap_url(server, version: str) -> str:
    return server.soap11_url if version == "1.1" else server.soap12_url


def fault_string(body: bytes) -> str:
    return etree.fromstring(body).xpath("string(//faultstring | //s12:Reason/s12:Text)", namespaces=NS)


# --- the WSDL ---------------------------------------------------------------------------------


def test_it_refuses_the_wsdl_without_a_token(soap_server, soap_version):
    response = requests.get(wsdl_url(soap_server, soap_version), timeout=TIMEOUT)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert fault_string(response.content) == UNAUTHORIZED_MESSAGE
    assert soap_server.stats() == {"calls": 0, "unauthorized": 1, "wsdl": 0}


def test_it_serves_the_wsdl_with_a_token(soap_server, soap_version, token):
    response = requests.get(wsdl_url(soap_server, soap_version), headers=bearer(token), timeout=TIMEOUT)

    assert response.status_code == 200
    wsdl = etree.fromstring(response.content)
    assert wsdl.get("targetNamespace") == TNS
    operations = wsdl.xpath("wsdl:portType/wsdl:operation/@name", namespaces=NS)
    assert sorted(operations) == ["CreateOrder", "Echo", "GetCustomer", "ListItems"]
    address = wsdl.xpath("string(wsdl:service/wsdl:port/*[local-name()='address']/@location)", namespaces=NS)
    assert address == soap_url(soap_server, soap_version)


def test_zeep_cannot_load_the_wsdl_without_a_token(soap_server):
    with pytest.raises(requests.HTTPError) as caught:
        zeep.Client(soap_server.wsdl11_url)

    assert caught.value.response.status_code == 401


# --- operations through zeep, on both SOAP versions ----------------------------------------------


def test_zeep_picks_the_binding_of_the_endpoint(client, soap_version, history):
    expected = Soap11Binding if soap_version == "1.1" else Soap12Binding
    assert isinstance(client.service._binding, expected)

    client.service.Echo(text="ping")

    content_type = history.last_sent["http_headers"]["Content-Type"]
    if soap_version == "1.1":
        assert content_type == "text/xml; charset=utf-8"
        assert history.last_sent["http_headers"]["SOAPAction"] == '"Echo"'
    else:
        assert content_type == 'application/soap+xml; charset=utf-8; action="Echo"'


def test_get_customer(client):
    customer = client.service.GetCustomer(customer_id=1)

    assert (customer.id, customer.name, customer.city) == (1, "Contoso Ltd", "Redmond")


def test_list_items_first_page(client):
    items = client.service.ListItems(page=1)

    assert [(item.sku, item.name, item.price) for item in items] == [
        ("SKU-100", "Widget", Decimal("9.99")),
        ("SKU-200", "Gadget", Decimal("24.50")),
        ("SKU-300", "Gizmo", Decimal("105.00")),
    ]


def test_list_items_later_pages_are_empty(client):
    # An empty array arrives as an empty result element, which zeep turns into None.
    assert client.service.ListItems(page=2) is None


def test_create_order_counts_order_ids_from_1001(client):
    first = client.service.CreateOrder(customer_id=2, sku="SKU-200", quantity=3)
    second = client.service.CreateOrder(customer_id=3, sku="SKU-100", quantity=1)

    assert (first.order_id, first.status) == (1001, "CREATED")
    assert second.order_id == 1002


def test_echo(client):
    assert client.service.Echo(text="Grüße <&> ünïcode") == "Grüße <&> ünïcode"


def assert_client_fault(fault: Fault, soap_version: str, subcode: str) -> None:
    if soap_version == "1.1":
        assert fault.code == f"soap11env:Client.{subcode}"
    else:
        assert fault.code == "soap12env:Sender"
        assert [code.localname for code in fault.subcodes] == [subcode]


def test_unknown_customer_is_a_not_found_fault(client, soap_version):
    with pytest.raises(Fault) as caught:
        client.service.GetCustomer(customer_id=999)

    assert caught.value.message == "Customer 999 not found"
    assert_client_fault(caught.value, soap_version, "NotFound")


def test_zero_quantity_is_a_validation_fault(client, soap_version):
    with pytest.raises(Fault) as caught:
        client.service.CreateOrder(customer_id=1, sku="SKU-100", quantity=0)

    assert caught.value.message == "Quantity must be positive, got 0"
    assert_client_fault(caught.value, soap_version, "ValidationError")


# --- tokens that stop working -----------------------------------------------------------------


@pytest.mark.parametrize("kill_tokens", ["expire_tokens", "revoke_tokens"])
def test_a_dead_token_is_refused_on_the_next_call(client, oauth_provider, soap_server, kill_tokens):
    assert client.service.Echo(text="before") == "before"

    getattr(oauth_provider, kill_tokens)()

    # No caching in the server: the very next call is checked again and refused.
    with pytest.raises(Fault) as caught:
        client.service.Echo(text="after")
    assert caught.value.message == UNAUTHORIZED_MESSAGE
    assert soap_server.stats() == {"calls": 1, "unauthorized": 1, "wsdl": 1}


def test_a_fault_from_a_401_is_marked_unauthorized(client, soap_version):
    client.transport.session.headers.update(bearer("not-a-real-token"))

    with pytest.raises(Fault) as caught:
        client.service.Echo(text="x")

    assert caught.value.message == UNAUTHORIZED_MESSAGE
    assert_client_fault(caught.value, soap_version, "Unauthorized")


def test_a_raw_call_with_a_dead_token_is_401(soap_server, oauth_provider, token):
    oauth_provider.revoke_tokens()

    response = requests.post(
        soap_server.soap11_url,
        data=GET_CUSTOMER_11.format(customer_id=1).encode(),
        headers={**bearer(token), "Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"GetCustomer"'},
        timeout=TIMEOUT,
    )

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert fault_string(response.content) == UNAUTHORIZED_MESSAGE


# --- counting ---------------------------------------------------------------------------------


def test_stats_count_exactly(client, soap_server, oauth_provider):
    client.service.Echo(text="one")
    client.service.GetCustomer(customer_id=1)
    with pytest.raises(Fault):
        client.service.GetCustomer(customer_id=999)
    requests.get(soap_server.wsdl11_url, timeout=TIMEOUT)  # no token

    assert soap_server.stats() == {"calls": 3, "unauthorized": 1, "wsdl": 1}
    # Every request with a token went to the provider: the WSDL and the three calls.
    assert oauth_provider.stats()["introspect"] == 4

    soap_server.reset()
    assert soap_server.stats() == {"calls": 0, "unauthorized": 0, "wsdl": 0}


# --- envelope mode: hand-written envelopes, no WSDL -------------------------------------------


def test_a_raw_soap11_envelope(soap_server, token):
    response = requests.post(
        soap_server.soap11_url,
        data=GET_CUSTOMER_11.format(customer_id=2).encode(),
        headers={**bearer(token), "Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"GetCustomer"'},
        timeout=TIMEOUT,
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    result = etree.fromstring(response.content).find(f"s11:Body/{{{TNS}}}GetCustomerResponse", NS)
    assert result.findtext("tns:GetCustomerResult/tns:name", namespaces=NS) == "Fabrikam Inc"


def test_a_raw_soap11_fault_is_http_500(soap_server, token):
    response = requests.post(
        soap_server.soap11_url,
        data=GET_CUSTOMER_11.format(customer_id=999).encode(),
        headers={**bearer(token), "Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"GetCustomer"'},
        timeout=TIMEOUT,
    )

    assert response.status_code == 500
    assert fault_string(response.content) == "Customer 999 not found"


def test_a_raw_soap12_envelope(soap_server, token):
    response = requests.post(
        soap_server.soap12_url,
        data=ECHO_12.format(text="hello").encode(),
        headers={**bearer(token), "Content-Type": 'application/soap+xml; charset=utf-8; action="Echo"'},
        timeout=TIMEOUT,
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/soap+xml; charset=utf-8"
    body = etree.fromstring(response.content)
    assert body.findtext("s12:Body/tns:EchoResponse/tns:EchoResult", namespaces=NS) == "hello"


def test_a_raw_soap12_call_without_a_token_is_401(soap_server):
    response = requests.post(
        soap_server.soap12_url,
        data=ECHO_12.format(text="hello").encode(),
        headers={"Content-Type": "application/soap+xml; charset=utf-8"},
        timeout=TIMEOUT,
    )

    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/soap+xml; charset=utf-8"
    fault = etree.fromstring(response.content).find("s12:Body/s12:Fault", NS)
    assert fault.findtext("s12:Code/s12:Value", namespaces=NS) == "soap12env:Sender"
    assert fault.findtext("s12:Code/s12:Subcode/s12:Value", namespaces=NS) == "Unauthorized"
    assert fault_string(response.content) == UNAUTHORIZED_MESSAGE


# --- test controls ----------------------------------------------------------------------------


def test_test_controls_need_no_token_and_other_paths_are_404(soap_server):
    assert requests.get(f"{soap_server.base_url}/test/stats/", timeout=TIMEOUT).status_code == 200
    assert requests.get(f"{soap_server.base_url}/soap13/", timeout=TIMEOUT).status_code == 404


def test_it_answers_503_when_the_provider_cannot_be_asked():
    # A 401 here would send clients off to refresh a token that may be fine.
    nobody_listens = f"http://127.0.0.1:{free_port()}/o/introspect/"
    with soap_fixtures.run_soap_server(nobody_listens) as server:
        response = requests.get(server.wsdl11_url, headers=bearer("any-token"), timeout=TIMEOUT)

    assert response.status_code == 503
    assert fault_string(response.content) == "503 Service Unavailable: token introspection failed"
