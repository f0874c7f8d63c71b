"""The benchmarks' local HTTP server: ``python -m bench.server PORT TOKEN_DELAY_MS PAGE_BYTES PAGES``.

- POST /token: a token endpoint that takes TOKEN_DELAY_MS to answer; GET /stats counts them.
- POST /api/...: a tiny JSON API that answers at once (definition run overhead).
- GET /pages?page=N: import pages of about PAGE_BYTES of JSON each, PAGES of them.
- GET /hang?seconds=S: an API that answers after S seconds (runs that hang); /stats counts them.
It runs in its own process so its memory and CPU never mix with what is measured.
"""

from __future__ import annotations

import itertools
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_counter = itertools.count(1)
_lock = threading.Lock()
_token_requests = 0
_hangs_arrived = 0
_hangs_in_flight = 0


def _page(number: int, size: int, pages: int) -> bytes:
    record = {"id": 0, "number": "ITEM-000000", "displayName": "x" * 200, "unitPrice": 1.5}
    per_item = len(json.dumps(record)) + 2
    items = [{**record, "id": number * 10000 + i, "number": f"ITEM-{i:06d}"} for i in range(size // per_item)]
    return json.dumps({"value": items, "page": number, "total_pages": pages}).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    delay = 0.2
    page_bytes = 512 * 1024
    pages = 200
    page_cache: dict[int, bytes] = {}

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle and the client's delayed
        # ACK add 40 ms to every answer, and every figure would measure that instead.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        path = urlsplit(self.path).path
        if path == "/token":
            self._token()
        elif path == "/token-hang":
            # A token endpoint that hangs: the writes around it are what is measured.
            self._token(float(parse_qs(urlsplit(self.path).query).get("seconds", ["5"])[0]))
        elif path == "/reset":
            self._reset()
        else:
            self._send(201, body or b"{}")

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/stats":
            stats = {
                "token_requests": _token_requests,
                "hangs_arrived": _hangs_arrived,
                "hangs_in_flight": _hangs_in_flight,
            }
            self._send(200, json.dumps(stats).encode())
        elif parts.path == "/hang":
            self._hang(float(parse_qs(parts.query).get("seconds", ["20"])[0]))
        elif parts.path == "/pages":
            number = int(parse_qs(parts.query).get("page", ["1"])[0])
            if number not in self.page_cache:
                self.page_cache[number] = _page(number, self.page_bytes, self.pages)
            self._send(200, self.page_cache[number])
        else:
            # ?delay_ms=N: an API that takes N ms to answer, as a real one does.
            time.sleep(int(parse_qs(parts.query).get("delay_ms", ["0"])[0]) / 1000)
            self._send(200, b'{"value": []}')

    def _token(self, delay: float | None = None) -> None:
        global _token_requests
        with _lock:
            _token_requests += 1  # counted on arrival: callers wait for a request in flight
        time.sleep(self.delay if delay is None else delay)
        token = f"bench-token-{next(_counter)}-" + "x" * 1200  # about the size of an Entra token
        self._send(
            200, json.dumps({"access_token": token, "expires_in": 3600, "token_type": "Bearer"}).encode()
        )

    def _hang(self, seconds: float) -> None:
        global _hangs_arrived, _hangs_in_flight
        with _lock:
            _hangs_arrived += 1
            _hangs_in_flight += 1
        try:
            time.sleep(seconds)
            with _lock:
                _hangs_in_flight -= 1
            self._send(200, b'{"value": []}')
        except OSError:  # the caller gave up first (its timeout): nothing to answer
            pass

    def _reset(self) -> None:
        global _token_requests, _hangs_arrived, _hangs_in_flight
        with _lock:
            _token_requests = _hangs_arrived = _hangs_in_flight = 0
        self._send(200, b"{}")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # quiet: the bench prints its own table
        pass


def main() -> None:
    port, delay_ms, page_bytes, pages = (int(value) for value in sys.argv[1:5])
    Handler.delay = delay_ms / 1000
    Handler.page_bytes = page_bytes
    Handler.pages = pages
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    server.serve_forever()


if __name__ == "__main__":
    main()
