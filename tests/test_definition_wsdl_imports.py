"""The documents a WSDL makes the app fetch obey the same URL policy as endpoints, and more.

The issue: an xsd:import in a WSDL made the app GET whatever URL it named (plain http to private,
link-local (cloud metadata) or loopback addresses); only file: and ftp: were refused, and
CONNECTIT_ALLOW_HTTP was ignored. Now every URL zeep's transport fetches passes
validate_endpoint_url, its addresses are checked when the connection is opened, and a WSDL may
import at most MAX_IMPORTS documents.

The WSDLs are served by a real server on 127.0.0.1 that each test starts. Addresses outside
loopback are never contacted: ``socket.connect`` is guarded and names are resolved by a fake.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import responses
from django.test import override_settings

from definitions import soap
from definitions.calls import Caller, RunFailed
from definitions.models import Definition, Kind, SoapMode
from oauth2_auth.tokens import Trigger
from tests.test_definition_create import make_definition

WSDL = """<?xml version="1.0" encoding="utf-8"?>
<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:tns="urn:test" targetNamespace="urn:test">
  <types>
    <xsd:schema targetNamespace="urn:test" elementFormDefault="qualified">
      {imports}
      <xsd:element name="Ping"><xsd:complexType><xsd:sequence>
        <xsd:element name="value" type="xsd:string"/>
      </xsd:sequence></xsd:complexType></xsd:element>
      <xsd:element name="PingResponse"><xsd:complexType><xsd:sequence>
        <xsd:element name="value" type="xsd:string"/>
      </xsd:sequence></xsd:complexType></xsd:element>
    </xsd:schema>
  </types>
  <message name="PingIn"><part name="parameters" element="tns:Ping"/></message>
  <message name="PingOut"><part name="parameters" element="tns:PingResponse"/></message>
  <portType name="PingPort">
    <operation name="Ping"><input message="tns:PingIn"/><output message="tns:PingOut"/></operation>
  </portType>
  <binding name="PingBinding" type="tns:PingPort">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <operation name="Ping"><soap:operation soapAction="urn:Ping"/>
      <input><soap:body use="literal"/></input><output><soap:body use="literal"/></output>
    </operation>
  </binding>
  <service name="PingService">
    <port name="PingPort" binding="tns:PingBinding"><soap:address location="http://127.0.0.1:9/ping"/></port>
  </service>
</definitions>
"""

SCHEMA = """<?xml version="1.0" encoding="utf-8"?>
<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="{namespace}">
  {imports}
  <xsd:simpleType name="Value"><xsd:restriction base="xsd:string"/></xsd:simpleType>
</xsd:schema>
"""


def xsd_import(namespace: str, location: str) -> str:
    return f'<xsd:import namespace="{namespace}" schemaLocation="{location}"/>'


class Documents:
    """A loopback server's documents, by path; ``fetched`` lists the paths asked for."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.files: dict[str, str] = {}
        self.fetched: list[str] = []

    def wsdl(self, *imports: str) -> str:
        self.files["/svc.wsdl"] = WSDL.format(imports="\n".join(imports))
        return f"{self.base_url}/svc.wsdl"

    def schema(self, path: str, namespace: str, *imports: str) -> str:
        self.files[path] = SCHEMA.format(namespace=namespace, imports="\n".join(imports))
        return f"{self.base_url}{path}"


def _handler(documents: Documents) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            documents.fetched.append(self.path)
            body = documents.files.get(self.path)
            self.send_response(200 if body is not None else 404)
            data = (body or "not found").encode()
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def serve() -> Iterator[Callable[[], Documents]]:
    """Start document servers on 127.0.0.1 (each on its own port, so its own origin)."""
    running: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start() -> Documents:
        documents = Documents("")
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(documents))
        documents.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        running.append((httpd, thread))
        return documents

    yield start
    for httpd, thread in running:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def docs(serve) -> Documents:
    return serve()


def definition(wsdl_url: str) -> Definition:
    return make_definition(
        code="PING",
        kind=Kind.SOAP,
        soap_mode=SoapMode.WSDL,
        endpoint_url="http://127.0.0.1:9/ping",
        wsdl_url=wsdl_url,
    )


def read_operations(wsdl_url: str) -> list[str]:
    record = definition(wsdl_url)
    return [item["name"] for item in soap.list_operations(record, Caller(record, Trigger("test")))]


def refusal(wsdl_url: str) -> str:
    with pytest.raises(RunFailed) as raised:
        read_operations(wsdl_url)
    return str(raised.value)


# --- What still works ----------------------------------------------------------------------------


def test_an_import_from_the_same_server_works(db, guard, names, docs) -> None:
    location = docs.schema("/types.xsd", "urn:types")
    assert read_operations(docs.wsdl(xsd_import("urn:types", location))) == ["Ping"]
    assert docs.fetched == ["/svc.wsdl", "/types.xsd"]
    assert guard.outside == []


def test_an_import_from_another_loopback_server_works(db, guard, names, serve) -> None:
    wsdl_docs, schema_docs = serve(), serve()
    location = schema_docs.schema("/types.xsd", "urn:types")
    assert read_operations(wsdl_docs.wsdl(xsd_import("urn:types", location))) == ["Ping"]
    assert schema_docs.fetched == ["/types.xsd"]


def test_twenty_imports_are_allowed(db, guard, names, docs) -> None:
    wsdl_url = docs.wsdl(xsd_import("urn:chain1", chain(docs, soap.MAX_IMPORTS)))
    assert read_operations(wsdl_url) == ["Ping"]
    assert len(docs.fetched) == 1 + soap.MAX_IMPORTS


# --- Refused, before any connection --------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "says"),
    [
        ("http://169.254.169.254/latest/meta-data/x.xsd", "Plain http is refused"),
        ("http://10.0.0.1/x.xsd", "Plain http is refused"),
        ("https://169.254.169.254/x.xsd", "169.254.169.254 is a link-local address"),
        ("https://10.0.0.1/x.xsd", "10.0.0.1 is a private address"),
        ("https://[fd00::1]/x.xsd", "fd00::1 is a private address"),
        ("https://[fe80::1]/x.xsd", "fe80::1 is a link-local address"),
        ("https://[::ffff:169.254.169.254]/x.xsd", "a link-local address"),
        ("https://0.0.0.0/x.xsd", "0.0.0.0 is an unspecified address"),
        ("https://224.0.0.1/x.xsd", "224.0.0.1 is a multicast address"),
        ("https://100.100.100.200/x.xsd", "100.100.100.200 is a private address"),  # Alibaba's metadata
    ],
)
def test_an_import_of_an_internal_address_is_refused(
    db, guard, names, docs, location: str, says: str
) -> None:
    message = refusal(docs.wsdl(xsd_import("urn:types", location)))
    assert says in message
    assert guard.outside == []
    assert docs.fetched == ["/svc.wsdl"]


@override_settings(CONNECTIT_ALLOW_HTTP=True)
@pytest.mark.parametrize(
    ("location", "says"),
    [
        ("http://169.254.169.254/latest/meta-data/x.xsd", "169.254.169.254 is a link-local address"),
        ("http://10.0.0.1/x.xsd", "10.0.0.1 is a private address"),
    ],
)
def test_allowing_http_does_not_open_internal_addresses(
    db, guard, names, docs, location: str, says: str
) -> None:
    message = refusal(docs.wsdl(xsd_import("urn:types", location)))
    assert says in message
    assert "CONNECTIT_ALLOW_PRIVATE_NETWORKS" in message
    assert guard.attempts == ["127.0.0.1"]  # the WSDL only


def test_a_name_is_judged_by_its_addresses(db, guard, names, docs) -> None:
    names["schemas.example.com"] = ["93.184.215.14", "10.1.2.3"]
    message = refusal(docs.wsdl(xsd_import("urn:types", "https://schemas.example.com/x.xsd")))
    assert "schemas.example.com resolves to 10.1.2.3, a private address" in message
    assert guard.outside == []


def test_a_loopback_import_from_a_wsdl_elsewhere_is_refused(db, guard, names, docs) -> None:
    """A WSDL on another machine must not make this app fetch from its own loopback services."""
    names["erp.example.com"] = ["93.184.215.14"]
    wsdl = WSDL.format(imports=xsd_import("urn:types", docs.schema("/types.xsd", "urn:types")))
    with responses.RequestsMock() as api:
        api.add_passthru(docs.base_url)  # the import goes out for real, to the loopback server
        api.get("https://erp.example.com/svc.wsdl", body=wsdl, content_type="text/xml")
        message = refusal("https://erp.example.com/svc.wsdl")
    assert "127.0.0.1 is a loopback address" in message
    assert docs.fetched == []


def test_more_than_twenty_imports_stop_the_read(db, guard, names, docs) -> None:
    wsdl_url = docs.wsdl(xsd_import("urn:chain1", chain(docs, 25)))
    message = refusal(wsdl_url)
    assert f"more than {soap.MAX_IMPORTS} documents" in message
    assert len(docs.fetched) == 1 + soap.MAX_IMPORTS  # the WSDL and twenty imports, no more


@override_settings(CONNECTIT_ALLOW_HTTP=True, CONNECTIT_ALLOW_PRIVATE_NETWORKS=True)
def test_an_administrator_may_allow_internal_addresses(db, guard, names, docs) -> None:
    message = refusal(docs.wsdl(xsd_import("urn:types", "http://10.0.0.1/x.xsd")))
    # Allowed, so tried: only the test's guard stopped the connection.
    assert "10.0.0.1" in message
    assert "private address" not in message
    assert guard.attempts == ["127.0.0.1", "10.0.0.1"]


def test_the_wsdl_itself_must_not_be_on_an_internal_address(db, guard, names) -> None:
    names["wsdl.internal.example"] = ["192.168.1.20"]
    message = refusal("https://wsdl.internal.example/svc.wsdl")
    assert "192.168.1.20, a private address" in message
    assert guard.attempts == []


def test_a_run_in_wsdl_mode_is_refused_the_same_way(db, guard, names, docs) -> None:
    from definitions import runner
    from definitions.models import Outcome

    record = definition(docs.wsdl(xsd_import("urn:types", "https://169.254.169.254/x.xsd")))
    record.operation = "Ping"
    record.save()
    run = runner.run(record, params={}, trigger=Trigger("test"))
    assert run.outcome == Outcome.FAILED
    assert "169.254.169.254 is a link-local address" in run.message
    assert guard.outside == []


def chain(docs: Documents, length: int) -> str:
    """Schemas 1..length, each importing the next; the URL of the first."""
    for number in range(1, length + 1):
        following = (
            xsd_import(f"urn:chain{number + 1}", f"{docs.base_url}/chain/{number + 1}.xsd")
            if number < length
            else ""
        )
        docs.schema(f"/chain/{number}.xsd", f"urn:chain{number}", following)
    return f"{docs.base_url}/chain/1.xsd"
