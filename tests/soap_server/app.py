"""The WSGI layer: SOAP 1.1 and 1.2 endpoints behind a bearer-token check, plus test controls.

    /soap11/   SOAP 1.1 (WSDL at /soap11/?wsdl)
    /soap12/   SOAP 1.2 (WSDL at /soap12/?wsdl)
    /test/stats/  GET, no auth: {"calls", "unauthorized", "wsdl"} since the last reset
    /test/reset/  POST, no auth: zero the counters and restart order ids

Every SOAP request, the WSDL included, needs ``Authorization: Bearer <token>``. Each one is
checked with the provider's introspection endpoint and never cached, so a revoked or expired
token is refused on the very next request. The introspection URL and credentials come from
the environment (see ``ENV_*``); ``create_app()`` is the gunicorn entry point.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import requests
from spyne.server.wsgi import WsgiApplication

from tests.soap_server.service import build_application, order_numbers

ENV_INTROSPECT_URL = "SOAP_INTROSPECT_URL"
ENV_INTROSPECT_CLIENT_ID = "SOAP_INTROSPECT_CLIENT_ID"
ENV_INTROSPECT_CLIENT_SECRET = "SOAP_INTROSPECT_CLIENT_SECRET"

INTROSPECT_TIMEOUT = 5  # seconds
UNAUTHORIZED_MESSAGE = "401 Unauthorized: invalid or expired token"
INTROSPECTION_FAILED_MESSAGE = "503 Service Unavailable: token introspection failed"

Environ = dict[str, Any]
StartResponse = Callable[..., object]

SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
CONTENT_TYPES = {"1.1": "text/xml; charset=utf-8", "1.2": "application/soap+xml; charset=utf-8"}


class IntrospectionError(RuntimeError):
    """The provider could not say whether the token is active."""


@dataclass(frozen=True)
class Introspector:
    url: str
    client_id: str
    client_secret: str

    @classmethod
    def from_environ(cls) -> Introspector:
        return cls(
            url=os.environ[ENV_INTROSPECT_URL],
            client_id=os.environ[ENV_INTROSPECT_CLIENT_ID],
            client_secret=os.environ[ENV_INTROSPECT_CLIENT_SECRET],
        )

    def is_active(self, token: str) -> bool:
        try:
            response = requests.post(
                self.url,
                data={"token": token},
                auth=(self.client_id, self.client_secret),
                timeout=INTROSPECT_TIMEOUT,
            )
            response.raise_for_status()
            return response.json().get("active") is True
        except (requests.RequestException, ValueError) as exc:
            raise IntrospectionError(str(exc)) from exc


class Counters:
    """Request counts for the tests; one gunicorn worker, so one set of counters."""

    NAMES = ("calls", "unauthorized", "wsdl")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(self.NAMES, 0)

    def add(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts = dict.fromkeys(self.NAMES, 0)


def fault_envelope(soap_version: str, code: str, message: str) -> bytes:
    """A SOAP Fault exactly as spyne writes its own: "Client.X" in 1.1, Sender + Subcode X in 1.2.

    Same prefixes too, because zeep reports a fault's code as the raw text ("soap11env:...").
    """
    text = escape(message)
    kind, _, subcode = code.partition(".")
    if soap_version == "1.1":
        prefix, namespace = "soap11env", SOAP11_ENV
        body = f"<faultcode>{prefix}:{code}</faultcode><faultstring>{text}</faultstring>"
    else:
        prefix, namespace = "soap12env", SOAP12_ENV
        value = {"Client": "Sender", "Server": "Receiver"}[kind]
        body = (
            f"<{prefix}:Code><{prefix}:Value>{prefix}:{value}</{prefix}:Value>"
            f"<{prefix}:Subcode><{prefix}:Value>{subcode}</{prefix}:Value></{prefix}:Subcode>"
            f"</{prefix}:Code>"
            f'<{prefix}:Reason><{prefix}:Text xml:lang="en">{text}</{prefix}:Text></{prefix}:Reason>'
        )
    envelope = (
        f"<?xml version='1.0' encoding='UTF-8'?>"
        f'<{prefix}:Envelope xmlns:{prefix}="{namespace}"><{prefix}:Body>'
        f"<{prefix}:Fault>{body}</{prefix}:Fault></{prefix}:Body></{prefix}:Envelope>"
    )
    return envelope.encode()


def bearer_token(environ: Environ) -> str | None:
    scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def respond(
    start_response: StartResponse,
    status: str,
    body: bytes,
    content_type: str,
    extra_headers: tuple[tuple[str, str], ...] = (),
) -> Iterable[bytes]:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra_headers]
    start_response(status, headers)
    return [body]


def respond_json(start_response: StartResponse, status: str, data: dict) -> Iterable[bytes]:
    return respond(start_response, status, json.dumps(data).encode(), "application/json")


class SoapTestServer:
    """Routes by path; SOAP requests pass the bearer check before spyne sees them."""

    def __init__(self, introspector: Introspector) -> None:
        self.introspector = introspector
        self.counters = Counters()
        self.endpoints = {
            "/soap11/": ("1.1", WsgiApplication(build_application("1.1"))),
            "/soap12/": ("1.2", WsgiApplication(build_application("1.2"))),
        }

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path.startswith("/test/"):
            return self.test_control(path, environ, start_response)
        # "/soap11" and "/soap11/" both work: clients differ on the trailing slash.
        endpoint = self.endpoints.get(path.rstrip("/") + "/")
        if endpoint is None:
            return respond(start_response, "404 Not Found", b"not found\n", "text/plain")
        return self.soap(*endpoint, environ, start_response)

    def soap(
        self, version: str, spyne_app: WsgiApplication, environ: Environ, start_response: StartResponse
    ) -> Iterable[bytes]:
        token = bearer_token(environ)
        try:
            active = token is not None and self.introspector.is_active(token)
        except IntrospectionError:
            # Not the caller's fault: a 401 here would send the client off to refresh for nothing.
            body = fault_envelope(version, "Server.IntrospectionFailed", INTROSPECTION_FAILED_MESSAGE)
            return respond(start_response, "503 Service Unavailable", body, CONTENT_TYPES[version])
        if not active:
            self.counters.add("unauthorized")
            body = fault_envelope(version, "Client.Unauthorized", UNAUTHORIZED_MESSAGE)
            return respond(
                start_response,
                "401 Unauthorized",
                body,
                CONTENT_TYPES[version],
                (("WWW-Authenticate", 'Bearer error="invalid_token"'),),
            )
        self.counters.add("wsdl" if spyne_app.is_wsdl_request(environ) else "calls")
        return spyne_app(environ, start_response)

    def test_control(self, path: str, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/test/stats/" and method == "GET":
            return respond_json(start_response, "200 OK", self.counters.snapshot())
        if path == "/test/reset/" and method == "POST":
            self.counters.reset()
            order_numbers.reset()
            return respond_json(start_response, "200 OK", {"reset": True})
        return respond_json(start_response, "404 Not Found", {"error": "no such test control"})


def create_app() -> SoapTestServer:
    """gunicorn entry point: ``tests.soap_server.app:create_app()``."""
    return SoapTestServer(Introspector.from_environ())
