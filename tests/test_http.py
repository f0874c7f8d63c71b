"""connectit.http: the one wrapper for outbound calls (timeouts, size caps, safe messages)."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import responses
from django.test import override_settings

from connectit import http


@pytest.fixture
def trickling_server():
    """Answers with headers at once, then one body byte every 0.2 s."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    stop = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):
            if stop.is_set():
                break
            try:
                conn.sendall(b" ")
            except OSError:
                break
            time.sleep(0.2)
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/token"
    stop.set()
    server.close()


def test_a_trickling_answer_hits_the_deadline(trickling_server: str) -> None:
    with pytest.raises(http.HttpError, match=r"did not answer within 1 seconds"):
        http.send("GET", trickling_server, max_bytes=1024, timeout=1)


@responses.activate
def test_an_oversized_answer_is_refused_or_cut() -> None:
    responses.get("https://api.example.com/big", body=b"x" * 5000)
    with pytest.raises(http.HttpError, match="larger than 4 KiB"):
        http.send("GET", "https://api.example.com/big", max_bytes=4096)
    answer = http.send("GET", "https://api.example.com/big", max_bytes=4096, truncate=True)
    assert (len(answer.content), answer.truncated) == (4096, True)


@responses.activate
@override_settings(CONNECTIT_HTTP_TIMEOUT=7)
def test_every_call_has_the_configured_timeout() -> None:
    responses.get("https://api.example.com/x", body=b"{}")
    http.send("GET", "https://api.example.com/x", max_bytes=10)
    assert responses.calls[0].request.req_kwargs["timeout"] == 7


def test_errors_name_the_host_never_the_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    url = f"http://127.0.0.1:{port}/token?client_secret=do-not-show"
    with pytest.raises(http.HttpError) as raised:
        http.send("GET", url, max_bytes=10, timeout=2)
    assert str(raised.value) == f"Could not connect to 127.0.0.1:{port} (connection refused)."
