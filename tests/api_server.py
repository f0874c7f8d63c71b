"""A small JSON API on 127.0.0.1 for run tests: paged imports, slow and hanging pages, 429s, and
an export endpoint that counts what it received. It runs in a thread of the test process, so a
test reads its counters directly while worker processes call it.

Paths:
- ``/items?page=N``: page N of ``pages`` pages, ``per_page`` items each; after each page it
  sleeps ``page_delay`` seconds (so a run can be watched and cancelled between pages).
- ``/throttled``: 429 with ``Retry-After: <retry_after>`` for the first ``throttle`` calls, then 200.
- ``/hang``: answers after ``hang`` seconds.
- ``/orders`` (POST): counted in ``posts``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class ApiState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.pages = 3
        self.per_page = 2
        self.page_delay = 0.0
        self.throttle = 0
        self.retry_after = "1"
        self.hang = 30.0
        self.posts: list[bytes] = []

    def count(self, path: str) -> int:
        with self.lock:
            self.calls[path] += 1
            return self.calls[path]


class Handler(BaseHTTPRequestHandler):
    server: ApiServer

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet

    def do_GET(self) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        number = state.count(parts.path)
        if parts.path == "/items":
            page = int(parse_qs(parts.query).get("page", ["1"])[0])
            items = [{"no": f"{page}-{i}"} for i in range(state.per_page)] if page <= state.pages else []
            time.sleep(state.page_delay)
            self._json(200, {"value": items, "page": page, "total": state.pages})
        elif parts.path == "/throttled":
            if number <= state.throttle:
                self._json(429, {"error": "too many requests"}, {"Retry-After": state.retry_after})
            else:
                self._json(200, {"value": [{"no": 1}]})
        elif parts.path == "/hang":
            time.sleep(state.hang)
            self._json(200, {"value": []})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        state = self.server.state
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        state.count(urlsplit(self.path).path)
        with state.lock:
            state.posts.append(body)
        self._json(201, {"created": True})

    def _json(self, status: int, value: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, header in (headers or {}).items():
            self.send_header(name, header)
        self.end_headers()
        with contextlib.suppress(OSError):  # the client gave up (a cancelled or timed-out run)
            self.wfile.write(data)


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = ApiState()
        self.thread = threading.Thread(target=self.serve_forever, name="test-api", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> ApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
