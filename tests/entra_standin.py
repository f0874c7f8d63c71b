"""A local stand-in for Entra ID's v2 token endpoint, in a thread of the test process:
POST /<tenant>/oauth2/v2.0/token answers a client-credentials request for the known client with
a token for the scope it asked, and remembers each request's form for the test to read."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class _Handler(BaseHTTPRequestHandler):
    server: EntraStandIn

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = {name: values[0] for name, values in parse_qs(self.rfile.read(length).decode()).items()}
        self.server.requests.append((self.path, form))
        known = (form.get("client_id"), form.get("client_secret")) == self.server.client
        if not self.path.endswith("/oauth2/v2.0/token") or not known:
            body = {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret.",
                "error_codes": [7000215],
            }
            self._send(401, body)
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
