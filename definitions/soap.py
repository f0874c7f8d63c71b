"""SOAP definitions: WSDL mode through zeep, envelope mode as a plain POST.

Every HTTP exchange (the WSDL, its imports and the calls) goes through the definition's
``Caller``, so it carries the same authorization, timeout, size cap and 401 retry as REST.
"""

from __future__ import annotations

import json
import re
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from lxml import etree
from requests.structures import CaseInsensitiveDict

from connectit import http
from definitions.calls import Caller, RunFailed, check_status
from definitions.models import Definition, SoapMode, SoapVersion
from definitions.templating import fill, json_escape, url_escape, xml_text_escape

if TYPE_CHECKING:
    from definitions.runner import Recorder

WSDL_MAX_BYTES = 8 * 1024 * 1024
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"


def execute(caller: Caller, recorder: Recorder, params: dict[str, str], payload: str | None) -> None:
    definition = caller.definition
    if definition.soap_mode == SoapMode.ENVELOPE:
        envelope = (
            payload if payload is not None else fill(definition.envelope_template, params, xml_text_escape)
        )
        call_envelope(caller, recorder, fill(definition.endpoint_url, params, url_escape), envelope)
    else:
        call_operation(caller, recorder, params, payload)


# --- Envelope mode -------------------------------------------------------------------------------


def envelope_headers(definition: Definition, action: str) -> dict[str, str]:
    if definition.soap_version == SoapVersion.SOAP12:
        content_type = "application/soap+xml; charset=utf-8"
        if action:
            content_type += f'; action="{action}"'
        return {"Content-Type": content_type, "Accept": "application/soap+xml, text/xml"}
    return {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"', "Accept": "text/xml"}


def call_envelope(caller: Caller, recorder: Recorder, url: str, envelope: str) -> None:
    headers = envelope_headers(caller.definition, caller.definition.soap_action)
    try:
        response = caller.send(
            "POST",
            url,
            headers=headers,
            body=envelope.encode(),
            max_bytes=settings.CONNECTIT_RESPONSE_MAX_BYTES,
            unauthorized=is_unauthorized,
        )
    finally:
        recorder.request("POST", url, caller, envelope)
    recorder.response(response)
    recorder.export_body(response)
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


def call_operation(caller: Caller, recorder: Recorder, params: dict[str, str], payload: str | None) -> None:
    import zeep.exceptions

    definition = caller.definition
    if not definition.operation:
        raise RunFailed("Pick an operation (use Read operations from WSDL).")
    arguments = operation_arguments(payload if payload is not None else definition.parameters_json, params)
    transport = CallerTransport(caller, recorder, fill(definition.wsdl_url, params, url_escape))
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


def list_operations(definition: Definition, caller: Caller) -> list[str]:
    """Operation names of the definition's SOAP version, read from its WSDL."""
    # A WSDL URL with placeholders cannot be read without a run's parameters: say so, send nothing.
    transport = CallerTransport(caller, None, fill(definition.wsdl_url, {}, url_escape))
    binding = find_binding(load_client(transport), definition.soap_version)
    return sorted(binding._operations)


class CallerTransport:
    """A zeep transport that sends through the definition's Caller (auth, timeout, caps, 401).

    The auth headers go only to the WSDL's own origin: an XSD imported from elsewhere is fetched
    without them, and non-HTTP locations (zeep would open local files) are refused.
    """

    def __init__(self, caller: Caller, recorder: Recorder | None, wsdl_url: str) -> None:
        self.caller = caller
        self.recorder = recorder
        self.wsdl_url = wsdl_url
        self.origin = _origin(wsdl_url)

    def load(self, url: str) -> bytes:
        if urlsplit(url).scheme not in ("http", "https"):
            raise RunFailed(f"The WSDL refers to a non-HTTP location ({url[:100]}); refused.")
        if _origin(url) != self.origin:
            return self._anonymous_get(url)
        try:
            response = self.caller.send("GET", url, headers={}, max_bytes=WSDL_MAX_BYTES)
        finally:
            if self.recorder is not None:  # shown on the run if reading the WSDL fails
                self.recorder.request("GET", url, self.caller, "")
        if response.status != 200:
            raise RunFailed(f"Fetching the WSDL answered HTTP {response.status}.")
        return response.content

    def _anonymous_get(self, url: str) -> bytes:
        try:
            response = http.send("GET", url, max_bytes=WSDL_MAX_BYTES, timeout=self.caller.definition.timeout)
        except http.HttpError as exc:
            raise RunFailed(f"Fetching a schema the WSDL imports failed: {exc}") from None
        if response.status != 200:
            raise RunFailed(f"Fetching a schema the WSDL imports answered HTTP {response.status}.")
        return response.content

    def post_xml(self, address: str, envelope, headers: dict[str, str]) -> requests.Response:
        from zeep.wsdl.utils import etree_to_string

        return self.post(address, etree_to_string(envelope), headers)

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> requests.Response:
        body = message.decode("utf-8", errors="replace")
        try:
            response = self.caller.send(
                "POST",
                address,
                headers=dict(headers),
                body=message,
                max_bytes=settings.CONNECTIT_RESPONSE_MAX_BYTES,
                unauthorized=is_unauthorized,
            )
        finally:
            if self.recorder is not None:
                self.recorder.request("POST", address, self.caller, body)
        if self.recorder is not None:
            self.recorder.response(response)
            self.recorder.export_body(response)
        return _as_requests_response(response, address)

    def get(self, address: str, params: dict, headers: dict[str, str]) -> requests.Response:
        raise RunFailed("SOAP over HTTP GET is not supported.")

    def settings(self, timeout=None):
        # zeep may narrow the timeout per operation; the Caller applies the definition's own.
        return nullcontext()


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
