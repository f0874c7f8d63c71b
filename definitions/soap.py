"""SOAP definitions: WSDL mode through zeep, envelope mode as a plain POST.

Every HTTP exchange (the WSDL, its imports and the calls) goes through the definition's
``Caller``, so it carries the same authorization, timeout, size cap and 401 retry as REST.

A WSDL names further documents to fetch (xsd:import, xsd:include, wsdl:import), and whoever serves
it chooses them: each must pass the endpoint URL policy, resolve to public addresses only (unless
CONNECTIT_ALLOW_PRIVATE_NETWORKS), and at most MAX_IMPORTS of them are read.
"""

from __future__ import annotations

import ipaddress
import json
import re
from contextlib import nullcontext
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from lxml import etree
from requests.structures import CaseInsensitiveDict

from connectit import http
from connectit.validators import is_loopback_address, validate_endpoint_url
from definitions.calls import Caller, Exchange, RunFailed, check_status
from definitions.models import Definition, SoapMode, SoapVersion
from definitions.runlog import RunLog
from definitions.templating import fill, json_escape, url_escape, xml_text_escape

WSDL_MAX_BYTES = 8 * 1024 * 1024
# Documents one WSDL may import (all levels together): a chain of imports must not keep a page
# or a run fetching without end.
MAX_IMPORTS = 20
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"


def execute(caller: Caller, run_log: RunLog, params: dict[str, str], payload: str | None) -> None:
    definition = caller.definition
    if definition.soap_mode == SoapMode.ENVELOPE:
        envelope = (
            payload if payload is not None else fill(definition.envelope_template, params, xml_text_escape)
        )
        call_envelope(caller, run_log, fill(definition.endpoint_url, params, url_escape), envelope)
    else:
        call_operation(caller, run_log, params, payload)


# --- Envelope mode -------------------------------------------------------------------------------


def envelope_headers(definition: Definition, action: str) -> dict[str, str]:
    if definition.soap_version == SoapVersion.SOAP12:
        content_type = "application/soap+xml; charset=utf-8"
        if action:
            content_type += f'; action="{action}"'
        return {"Content-Type": content_type, "Accept": "application/soap+xml, text/xml"}
    return {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"', "Accept": "text/xml"}


def call_envelope(caller: Caller, run_log: RunLog, url: str, envelope: str) -> None:
    headers = envelope_headers(caller.definition, caller.definition.soap_action)
    exchange = caller.send(
        "POST",
        url,
        headers=headers,
        body=envelope.encode(),
        max_bytes=settings.CONNECTIT_RESPONSE_MAX_BYTES,
        unauthorized=is_unauthorized,
    )
    run_log.exchange(exchange)
    response = exchange.response
    assert response is not None
    run_log.export_body(response)
    fault = fault_text(response.content)
    if fault:
        raise RunFailed(f"SOAP fault: {fault}")
    check_status(response)


def fault_text(content: bytes) -> str | None:
    """'code: message' of a SOAP 1.1 or 1.2 Fault in the body, or None.

    Read from the exact places the two versions put them, so an element of the same name inside
    the fault's detail never stands in for the real reason.
    """
    try:
        root = etree.fromstring(content, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except (etree.XMLSyntaxError, ValueError):
        return None
    for env in (SOAP11_ENV, SOAP12_ENV):
        fault = root.find(f"{{{env}}}Body/{{{env}}}Fault")
        if fault is not None:
            return _fault_11(fault) if env == SOAP11_ENV else _fault_12(fault, env)
    return None


def _fault_11(fault: etree._Element) -> str:
    code = (fault.findtext("faultcode") or "Fault").strip()
    return f"{code}: {(fault.findtext('faultstring') or '').strip()}".strip(": ")[:1000]


def _fault_12(fault: etree._Element, env: str) -> str:
    code = (fault.findtext(f"{{{env}}}Code/{{{env}}}Value") or "Fault").strip()
    subcode = fault.findtext(f"{{{env}}}Code/{{{env}}}Subcode/{{{env}}}Value")
    if subcode:
        code += f" ({subcode.strip()})"
    reason = fault.findtext(f"{{{env}}}Reason/{{{env}}}Text") or ""
    return f"{code}: {reason.strip()}".strip(": ")[:1000]


_UNAUTHORIZED = re.compile(r"\b401\b|unauthori[sz]ed", re.IGNORECASE)


def is_unauthorized(response: http.Response) -> bool:
    """HTTP 401, or a fault that says 401/Unauthorized (some stacks answer 500 with such a fault)."""
    if response.status == 401:
        return True
    fault = fault_text(response.content) if response.status >= 400 else None
    return bool(fault) and bool(_UNAUTHORIZED.search(fault))


# --- WSDL mode (zeep) ----------------------------------------------------------------------------


def call_operation(caller: Caller, run_log: RunLog, params: dict[str, str], payload: str | None) -> None:
    import zeep.exceptions

    definition = caller.definition
    if not definition.operation:
        raise RunFailed("Pick an operation (use Read operations from WSDL).")
    arguments = operation_arguments(payload if payload is not None else definition.parameters_json, params)
    transport = CallerTransport(caller, run_log, fill(definition.wsdl_url, params, url_escape))
    service = bind(transport, definition, fill(definition.endpoint_url, params, url_escape))
    try:
        operation = getattr(service, definition.operation)
    except AttributeError:
        raise RunFailed(
            f"The WSDL has no operation {definition.operation!r} for SOAP {definition.soap_version}."
        ) from None
    try:
        operation(**arguments)
    except zeep.exceptions.Fault as fault:
        raise RunFailed(f"SOAP fault: {fault.code or 'Fault'}: {fault.message}") from None
    except zeep.exceptions.TransportError as exc:
        raise RunFailed(f"The SOAP endpoint answered HTTP {exc.status_code}.") from None
    except (TypeError, zeep.exceptions.ValidationError) as exc:
        raise RunFailed(f"The parameters do not fit operation {definition.operation}: {exc}") from None


def operation_arguments(template: str, params: dict[str, str]) -> dict[str, Any]:
    if not template.strip():
        return {}
    text = fill(template, params, json_escape)
    try:
        arguments = json.loads(text)
    except ValueError as exc:
        raise RunFailed(f"Parameters (JSON) is not valid JSON after filling in placeholders: {exc}") from None
    if not isinstance(arguments, dict):
        raise RunFailed("Parameters (JSON) must be an object of parameter names and values.")
    return arguments


def load_client(transport: CallerTransport):
    import zeep

    try:
        return zeep.Client(transport.wsdl_url, transport=transport, settings=zeep.Settings(strict=False))
    except RunFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - zeep raises many kinds for a broken WSDL
        raise RunFailed(f"Could not read the WSDL: {type(exc).__name__}: {str(exc)[:300]}") from None


def bind(transport: CallerTransport, definition: Definition, endpoint: str):
    client = load_client(transport)
    binding = find_binding(client, definition.soap_version)
    return client.create_service(binding.name, endpoint)


def find_binding(client, version: str):
    from zeep.wsdl.bindings import Soap11Binding, Soap12Binding

    wanted = Soap12Binding if version == SoapVersion.SOAP12 else Soap11Binding
    for binding in client.wsdl.bindings.values():
        if type(binding) is wanted:
            return binding
    raise RunFailed(f"The WSDL has no SOAP {version} binding.")


def list_operations(definition: Definition, caller: Caller) -> list[dict[str, Any]]:
    """The operations of the definition's SOAP version, read from its WSDL, each with the names
    and types of its parameters: ``{"name": ..., "parameters": [{"name", "type", "required",
    "many"}]}``, in name order (the shape ``Definition.wsdl_operations`` keeps)."""
    # A WSDL URL with placeholders cannot be read without a run's parameters: say so, send nothing.
    transport = CallerTransport(caller, None, fill(definition.wsdl_url, {}, url_escape))
    binding = find_binding(load_client(transport), definition.soap_version)
    return [
        {"name": name, "parameters": _parameters(operation)}
        for name, operation in sorted(binding._operations.items())
    ]


def _parameters(operation: Any) -> list[dict[str, Any]]:
    """A document/literal operation's input elements; an operation zeep describes another way
    gets its signature's ``name: type`` pairs instead."""
    body = getattr(operation.input, "body", None)
    elements = getattr(getattr(body, "type", None), "elements", None)
    if elements is not None:
        return [
            {
                "name": name,
                "type": getattr(element.type, "name", None) or type(element.type).__name__,
                "required": (element.min_occurs or 0) >= 1,
                "many": element.max_occurs != 1,
            }
            for name, element in elements
        ]
    pairs = [part.split(":", 1) for part in operation.input.signature().split(", ") if ":" in part]
    return [{"name": n.strip(), "type": t.strip(), "required": False, "many": False} for n, t in pairs]


class CallerTransport:
    """A zeep transport that sends through the definition's Caller (auth, timeout, caps, 401).

    The auth headers go only to the WSDL's own origin: an XSD imported from elsewhere is fetched
    without them, and non-HTTP locations (zeep would open local files) are refused. Every document
    (the WSDL too) passes the endpoint URL policy and ``check_addresses``, and no more than
    MAX_IMPORTS documents are read besides the WSDL.
    """

    def __init__(self, caller: Caller, run_log: RunLog | None, wsdl_url: str) -> None:
        self.caller = caller
        self.run_log = run_log
        self.wsdl_url = wsdl_url
        self.origin = _origin(wsdl_url)
        self.loads = 0
        self._wsdl_on_loopback: bool | None = None

    def load(self, url: str) -> bytes:
        if urlsplit(url).scheme not in ("http", "https"):
            raise RunFailed(f"The WSDL refers to a non-HTTP location ({url[:100]}); refused.")
        if self.loads > MAX_IMPORTS:
            raise RunFailed(
                f"The WSDL imports more than {MAX_IMPORTS} documents (xsd:import, xsd:include, "
                "wsdl:import); reading it was stopped."
            )
        self.loads += 1
        try:
            validate_endpoint_url(url)
        except ValidationError as exc:
            what = "The WSDL URL" if self.loads == 1 else f"A document the WSDL imports ({http.host_of(url)})"
            raise RunFailed(f"{what} is refused: {' '.join(exc.messages)}") from None
        if _origin(url) != self.origin:
            return self._anonymous_get(url)
        try:
            exchange = self.caller.send(
                "GET", url, headers={}, max_bytes=WSDL_MAX_BYTES, check_addresses=self.check_addresses
            )
        except RunFailed as exc:
            self._log(exc.exchange)  # shown on the run if reading the WSDL fails
            raise
        self._log(exchange, with_response=False)
        assert exchange.response is not None
        if exchange.response.status != 200:
            raise RunFailed(f"Fetching the WSDL answered HTTP {exchange.response.status}.")
        return exchange.response.content

    def _log(self, exchange: Exchange | None, *, with_response: bool = True) -> None:
        if self.run_log is not None and exchange is not None:
            if not with_response:
                exchange = replace(exchange, response=None)
            self.run_log.exchange(exchange)

    def _anonymous_get(self, url: str) -> bytes:
        try:
            response = http.send(
                "GET",
                url,
                max_bytes=WSDL_MAX_BYTES,
                timeout=self.caller.definition.timeout,
                check_addresses=self.check_addresses,
            )
        except http.HttpError as exc:
            raise RunFailed(f"Fetching a schema the WSDL imports failed: {exc}") from None
        if response.status != 200:
            raise RunFailed(f"Fetching a schema the WSDL imports answered HTTP {response.status}.")
        return response.content

    def check_addresses(self, host: str, addresses: list[http.IPAddress]) -> None:
        """Refuse internal addresses for the documents fetched: the WSDL's server picks the
        imports, and must not reach what only this machine can (cloud metadata, the intranet, local
        services). Loopback is allowed when the WSDL itself is on loopback; an administrator may
        allow everything with CONNECTIT_ALLOW_PRIVATE_NETWORKS. Called when connecting."""
        if settings.CONNECTIT_ALLOW_PRIVATE_NETWORKS:
            return
        for address in addresses:
            kind = internal_kind(address)
            if kind is None or (kind == "loopback" and self.wsdl_on_loopback()):
                continue
            where = f"{host} is" if _is_literal(host, address) else f"{host} resolves to {address},"
            raise http.AddressRefused(
                f"{where} {'an' if kind[0] in 'aeiou' else 'a'} {kind} address; the WSDL and what it "
                "imports are fetched from public addresses only (an administrator may set "
                "CONNECTIT_ALLOW_PRIVATE_NETWORKS=true)."
            )

    def wsdl_on_loopback(self) -> bool:
        """Whether the WSDL's host resolves to loopback addresses only (asked once)."""
        if self._wsdl_on_loopback is None:
            parts = urlsplit(self.wsdl_url)
            try:
                addresses = http.resolve(parts.hostname or "", parts.port)
            except http.HttpError:
                addresses = []
            self._wsdl_on_loopback = bool(addresses) and all(map(is_loopback_address, addresses))
        return self._wsdl_on_loopback

    def post_xml(self, address: str, envelope, headers: dict[str, str]) -> requests.Response:
        from zeep.wsdl.utils import etree_to_string

        return self.post(address, etree_to_string(envelope), headers)

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> requests.Response:
        try:
            exchange = self.caller.send(
                "POST",
                address,
                headers=dict(headers),
                body=message,
                max_bytes=settings.CONNECTIT_RESPONSE_MAX_BYTES,
                unauthorized=is_unauthorized,
            )
        except RunFailed as exc:
            self._log(exc.exchange)
            raise
        self._log(exchange)
        response = exchange.response
        assert response is not None
        if self.run_log is not None:
            self.run_log.export_body(response)
        return _as_requests_response(response, address)

    def get(self, address: str, params: dict, headers: dict[str, str]) -> requests.Response:
        raise RunFailed("SOAP over HTTP GET is not supported.")

    def settings(self, timeout=None):
        # zeep may narrow the timeout per operation; the Caller applies the definition's own.
        return nullcontext()


def _is_literal(host: str, address: http.IPAddress) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")) == address
    except ValueError:
        return False


def internal_kind(address: http.IPAddress) -> str | None:
    """What makes ``address`` internal ("loopback", "link-local", ...), or None for a public one.

    An IPv6 address that carries an IPv4 one (mapped, 6to4, Teredo, NAT64) is judged by that too:
    "::ffff:169.254.169.254" reaches the metadata service all the same.
    """
    for embedded in _embedded_ipv4(address):
        kind = _kind(embedded)
        if kind is not None:
            return kind
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return None  # a public IPv4 address, written the IPv6 way
    return _kind(address)


def _kind(address: http.IPAddress) -> str | None:
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    # RFC 1918, fc00::/7, shared (100.64/10), reserved and documentation ranges alike.
    site_local = isinstance(address, ipaddress.IPv6Address) and address.is_site_local
    if address.is_private or not address.is_global or site_local:
        return "private"
    return None


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: http.IPAddress) -> list[ipaddress.IPv4Address]:
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [candidate for candidate in found if candidate is not None]


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def _as_requests_response(response: http.Response, url: str) -> requests.Response:
    """zeep reads a requests.Response; build one from what the Caller read."""
    result = requests.Response()
    result.status_code = response.status
    result._content = response.content
    result.headers = CaseInsensitiveDict(response.headers)
    result.url = url
    result.encoding = "utf-8"
    return result
