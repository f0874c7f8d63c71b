"""A local stand-in for Entra ID's v2 token endpoint, in a thread of the test process:
POST /<tenant>/oauth2/v2.0/token answers a client-credentials request for the known client with
a token for the scope it asked, and remembers each request's form for the test to read.

The client proves itself with its secret, or, like Entra ID, with a client assertion signed by
a certificate uploaded to the app registration (``upload_certificate``): PS256 with the
certificate named by ``x5t#S256``, the token endpoint as audience, the client as issuer and
subject."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from oauth2_auth.client_assertion import ASSERTION_TYPE


class _Handler(BaseHTTPRequestHandler):
    server: EntraStandIn

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = {name: values[0] for name, values in parse_qs(self.rfile.read(length).decode()).items()}
        self.server.requests.append((self.path, form))
        if not self.path.endswith("/oauth2/v2.0/token"):
            self._send(404, {"error": "invalid_request"})
            return
        refusal = self.server.refusal(form, self.server.base_url + self.path)
        if refusal:
            code, text = refusal
            self._send(401, {"error": "invalid_client", "error_description": text, "error_codes": [code]})
            return
        self._send(
            200,
            {
                "access_token": "standin-access-token",
                "token_type": "Bearer",
                "expires_in": 3599,
                "scope": form.get("scope", ""),
            },
        )

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:  # quiet
        pass


class EntraStandIn(ThreadingHTTPServer):
    def __init__(self, client_id: str, client_secret: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.client = (client_id, client_secret)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.certificates: dict[str, x509.Certificate] = {}  # by x5t#S256
        self.jtis: set[str] = set()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> EntraStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()

    def upload_certificate(self, pem: str) -> None:
        """What an administrator does in the app registration's Certificates & secrets."""
        certificate = x509.load_pem_x509_certificate(pem.encode())
        der = certificate.public_bytes(serialization.Encoding.DER)
        self.certificates[jwt.utils.base64url_encode(hashlib.sha256(der).digest()).decode()] = certificate

    def refusal(self, form: dict[str, str], token_url: str) -> tuple[int, str] | None:
        """Entra's code and text for a client that did not prove itself, or None."""
        if form.get("client_id") != self.client[0]:
            return 700016, "AADSTS700016: Application not found in the directory."
        if "client_assertion" not in form:
            if form.get("client_secret") != self.client[1]:
                return 7000215, "AADSTS7000215: Invalid client secret provided."
            return None
        return self._assertion_refusal(form, token_url)

    def _assertion_refusal(self, form: dict[str, str], token_url: str) -> tuple[int, str] | None:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return 700025, "AADSTS700025: Client assertion type is not supported."
        assertion = form["client_assertion"]
        header = jwt.get_unverified_header(assertion)
        certificate = self.certificates.get(header.get("x5t#S256", ""))
        if certificate is None:
            return (
                700027,
                "AADSTS700027: The certificate with identifier used to sign the assertion is not registered.",
            )
        try:
            claims = jwt.decode(
                assertion,
                certificate.public_key(),
                algorithms=["PS256"],
                audience=token_url,
                issuer=self.client[0],
                options={"require": ["exp", "nbf", "jti", "sub"]},
            )
        except jwt.PyJWTError as exc:
            return (
                700027,
                f"AADSTS700027: Client assertion failed signature validation ({type(exc).__name__}).",
            )
        if claims["sub"] != self.client[0] or claims["jti"] in self.jtis:
            return 700027, "AADSTS700027: The assertion's subject or jti is not acceptable."
        self.jtis.add(claims["jti"])
        return None
