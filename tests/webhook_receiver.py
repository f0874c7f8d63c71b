"""A local webhook receiver that does what the README tells receivers to do: check the signature
(HMAC-SHA256 of "<timestamp>.<body>" with the shared secret), refuse a stale timestamp and a
replayed signature. It answers with the statuses a test queues (then 200) and records every post.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_AGE = 300  # seconds a signed post stays acceptable


@dataclass
class Post:
    status: int  # what the receiver answered
    body: dict[str, Any] | None  # None when the post was refused
    path: str
    reason: str = ""  # why it was refused


@dataclass
class ReceiverState:
    secret: str
    statuses: list[int] = field(default_factory=list)  # answers to give first, in order
    posts: list[Post] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # signatures already accepted
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self, event: str | None = None) -> list[dict[str, Any]]:
        """Bodies answered with 2xx (optionally of one event)."""
        with self.lock:
            bodies = [post.body for post in self.posts if 200 <= post.status < 300 and post.body]
        return [body for body in bodies if event is None or body["event"] == event]

    def refused(self) -> list[Post]:
        with self.lock:
            return [post for post in self.posts if post.reason]


def verify(secret: str, headers: Any, body: bytes, now: float | None = None) -> str:
    """Why a post must be refused ("" when it is genuine and fresh)."""
    timestamp = headers.get("X-ConnectIT-Timestamp", "")
    given = headers.get("X-ConnectIT-Signature", "")
    if not timestamp.isdigit() or not given:
        return "unsigned"
    expected = (
        "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    )
    if not hmac.compare_digest(expected, given):
        return "bad signature"
    if abs((now or time.time()) - int(timestamp)) > MAX_AGE:
        return "stale"
    return ""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        state = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        reason = verify(state.secret, self.headers, body)
        with state.lock:
            signature = self.headers.get("X-ConnectIT-Signature", "")
            if not reason and signature in state.seen:
                reason = "replayed"
            if reason:
                status, parsed = 401, None
            else:
                status = state.statuses.pop(0) if state.statuses else 200
                parsed = json.loads(body)
                if 200 <= status < 300:
                    state.seen.add(signature)
            state.posts.append(Post(status, parsed, self.path, reason))
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: ReceiverState


class WebhookReceiver:
    """``with WebhookReceiver(secret) as hook:`` -> ``hook.url``, ``hook.state``."""

    def __init__(self, secret: str, path: str = "/hooks/alerts") -> None:
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.state = ReceiverState(secret)
        self.path = path
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def state(self) -> ReceiverState:
        return self.server.state

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
