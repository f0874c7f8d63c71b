"""connectit.http checks where a connection goes, when it is opened.

Plain http is accepted for "this machine" only, and "*.localhost" counts as this machine, but such
a name is resolved through the network's DNS: it could point anywhere, and a token would travel
there in clear. So the name is resolved when the connection is opened, every address must be
loopback, and the connection goes to those very addresses (a second lookup could answer otherwise:
DNS rebinding).

Name lookups are faked (no test asks a real DNS server) and ``socket.connect`` is guarded: a
connection to anything but 127.0.0.1/::1 is recorded and refused before any packet leaves.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings

from connectit import http
from connectit.validators import is_loopback_host, validate_endpoint_url

OUTSIDE = "203.0.113.5"  # TEST-NET-3: never reachable, and never tried


class _Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a second call can reuse the connection

    def do_GET(self) -> None:
        body = b'{"hello": "loopback"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    """An HTTP server on 127.0.0.1; its port."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def get(url: str) -> http.Response:
    return http.send("GET", url, max_bytes=1024, timeout=5)


def test_validation_still_takes_a_localhost_name() -> None:
    # The form cannot know what the name will resolve to when a request is sent; the send checks.
    assert is_loopback_host("evil.localhost")
    validate_endpoint_url("http://evil.localhost:8080/token")


def test_a_localhost_name_that_resolves_elsewhere_is_refused_before_connecting(guard, names, server) -> None:
    names["evil.localhost"] = [OUTSIDE]
    with pytest.raises(http.HttpError) as raised:
        get(f"http://evil.localhost:{server}/token?client_secret=do-not-show")
    message = str(raised.value)
    assert "evil.localhost" in message
    assert OUTSIDE in message
    assert "not this machine" in message
    assert "do-not-show" not in message
    assert guard.attempts == []  # not even a refused attempt: checked before connecting


def test_one_outside_address_among_loopback_ones_is_enough_to_refuse(guard, names, server) -> None:
    names["mixed.localhost"] = ["127.0.0.1", OUTSIDE]
    with pytest.raises(http.AddressRefused, match=r"mixed\.localhost"):
        get(f"http://mixed.localhost:{server}/")
    assert guard.attempts == []


def test_a_localhost_name_on_loopback_works(guard, names, server) -> None:
    names["api.localhost"] = ["127.0.0.1"]
    assert get(f"http://api.localhost:{server}/").status == 200
    assert guard.attempts == ["127.0.0.1"]


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_localhost_and_the_loopback_address_still_work(guard, names, server, host: str) -> None:
    assert get(f"http://{host}:{server}/").status == 200
    assert guard.outside == []


def test_it_connects_to_the_address_it_checked(guard, names, server) -> None:
    """DNS rebinding: the first answer passes the check, a second would point elsewhere."""
    answers = iter([["127.0.0.1"], [OUTSIDE], [OUTSIDE]])
    names["rebind.localhost"] = lambda: next(answers)
    assert get(f"http://rebind.localhost:{server}/").status == 200
    assert guard.attempts == ["127.0.0.1"]
    assert names.lookups.count("rebind.localhost") == 1


def test_a_kept_alive_connection_is_checked_again(guard, names, server) -> None:
    names["api.localhost"] = ["127.0.0.1"]
    assert get(f"http://api.localhost:{server}/").status == 200
    # The next call reuses the pooled connection: its peer is loopback, so it goes.
    assert get(f"http://api.localhost:{server}/again").status == 200
    assert guard.attempts == ["127.0.0.1"]


def test_https_is_not_held_to_loopback(guard, names) -> None:
    # TLS protects what travels; only plain http must stay on this machine. (The guard stops the
    # connection itself, so the error is a refused connection, not a refusal to send.)
    names["api.example.com"] = [OUTSIDE]
    with pytest.raises(http.HttpError) as raised:
        get("https://api.example.com/")
    assert not isinstance(raised.value, http.AddressRefused)
    assert guard.attempts == [OUTSIDE]


@override_settings(CONNECTIT_ALLOW_HTTP=True)
def test_allowing_http_lifts_the_loopback_rule(guard, names) -> None:
    names["evil.localhost"] = [OUTSIDE]
    with pytest.raises(http.HttpError) as raised:
        get("http://evil.localhost:8080/")
    assert not isinstance(raised.value, http.AddressRefused)
    assert guard.attempts == [OUTSIDE]  # tried, and stopped by the guard only


def test_an_unknown_name_says_so(guard, names) -> None:
    with pytest.raises(
        http.HttpError, match=r"Could not connect to nowhere\.localhost:9 \(host name not found\)"
    ):
        get("http://nowhere.localhost:9/")
    assert guard.attempts == []


def test_a_caller_check_sees_the_addresses_before_any_connection(guard, names, server) -> None:
    seen: list[tuple[str, list[str]]] = []

    def refuse(host: str, addresses: list) -> None:
        seen.append((host, [str(address) for address in addresses]))
        raise http.AddressRefused(f"{host} is not for this call.")

    names["api.localhost"] = ["127.0.0.1"]
    with pytest.raises(http.AddressRefused, match=r"api\.localhost is not for this call\."):
        http.send("GET", f"http://api.localhost:{server}/", max_bytes=1024, check_addresses=refuse)
    assert seen == [("api.localhost", ["127.0.0.1"])]
    assert guard.attempts == []
