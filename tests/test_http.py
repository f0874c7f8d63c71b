"""connectit.http: the one wrapper for outbound calls (deadline, size caps, no cookies, safe messages).

The deadline tests run real sockets on 127.0.0.1: the point is what a blocked ``recv`` does, which a
mocked transport cannot show. Each server is started by its test and stopped in teardown.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import responses
from django.test import override_settings

from connectit import http

# How much later than its limit a call may fail: the watchdog's own wake-up and the error path.
SLACK = 0.5
SECRET_QUERY = "?client_secret=do-not-show"

Handler = Callable[[socket.socket, threading.Event], None]


# --- Raw loopback servers ------------------------------------------------------------------------


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], str]]:
    """Start a TCP server on 127.0.0.1 that runs ``handler(conn, stop)`` for each connection.

    One thread serves the connections one after another, so a test that counts threads knows the
    server adds none while it runs. Handlers wait on ``stop`` rather than sleep, so teardown is quick.
    """
    started: list[tuple[socket.socket, threading.Event, threading.Thread]] = []

    def start(handler: Handler) -> str:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        listener.settimeout(0.05)  # accept() wakes up to notice ``stop``
        stop = threading.Event()
        thread = threading.Thread(target=_accept_loop, args=(listener, handler, stop), daemon=True)
        thread.start()
        started.append((listener, stop, thread))
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    for listener, stop, thread in started:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def _accept_loop(listener: socket.socket, handler: Handler, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            conn.settimeout(5)  # a handler never outlives a broken test by long
            try:
                _read_request(conn)
                handler(conn, stop)
            except OSError:
                pass  # the client gave up (that is what most of these tests want)


def _read_request(conn: socket.socket) -> None:
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = conn.recv(65536)
        if not chunk:
            return
        received += chunk


def _trickle(conn: socket.socket, data: bytes, every: float, stop: threading.Event) -> None:
    """Send ``data`` one byte at a time, ``every`` seconds apart."""
    for byte in data:
        conn.sendall(bytes([byte]))
        if stop.wait(every):
            return


HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n"


def trickled_headers(conn: socket.socket, stop: threading.Event) -> None:
    _trickle(conn, HEADERS + b"{}", 1.0, stop)


def trickled_body(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
    _trickle(conn, b" " * 100, 0.2, stop)


def silent(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait(30)


def large_and_slow(conn: socket.socket, stop: threading.Event) -> None:
    """50 MB announced, 16 KiB every 50 ms: every read brings data, the whole never arrives in time."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 50000000\r\n\r\n")
    while not stop.wait(0.05):
        conn.sendall(b"x" * 16384)


def fast(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(HEADERS.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n") + b"{}")


def fails_within(seconds: float, url: str) -> str:
    """Call ``url`` with a ``seconds`` limit; return the error, checking it came in time."""
    start = time.monotonic()
    with pytest.raises(http.HttpError) as raised:
        http.send("GET", url, max_bytes=1024 * 1024, timeout=seconds)
    elapsed = time.monotonic() - start
    assert elapsed < seconds + SLACK, f"failed after {elapsed:.2f} s, limit {seconds} s"
    return str(raised.value)


def host(url: str) -> str:
    return url.removeprefix("http://")


# --- The deadline --------------------------------------------------------------------------------


def test_headers_trickling_one_byte_a_second_hit_the_deadline(serve: Callable[[Handler], str]) -> None:
    url = serve(trickled_headers)
    message = fails_within(2, url + "/token" + SECRET_QUERY)
    assert message == f"{host(url)} did not answer within 2 seconds."


def test_a_trickling_body_hits_the_deadline(serve: Callable[[Handler], str]) -> None:
    url = serve(trickled_body)
    assert fails_within(1, url + "/token").endswith("did not answer within 1 seconds.")


def test_a_large_slow_body_hits_the_deadline(serve: Callable[[Handler], str]) -> None:
    url = serve(large_and_slow)
    assert fails_within(2, url + "/export").endswith("did not answer within 2 seconds.")


def test_a_server_that_accepts_and_never_answers_hits_the_deadline(serve: Callable[[Handler], str]) -> None:
    url = serve(silent)
    assert fails_within(1, url + "/token").endswith("did not answer within 1 seconds.")


def test_a_server_that_never_accepts_hits_the_deadline() -> None:
    # The kernel completes the handshake into the backlog, so the request goes out and nobody reads it.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        assert fails_within(1, url + "/token") == f"{host(url)} did not answer within 1 seconds."


def test_connecting_counts_against_the_deadline() -> None:
    # With the backlog full, Linux drops the SYN, so connect() itself hangs.
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        filler.connect(listener.getsockname())
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        assert fails_within(1, url + "/token") == f"{host(url)} did not answer within 1 seconds."


def test_a_fast_answer_is_read(serve: Callable[[Handler], str]) -> None:
    answer = http.send("GET", serve(fast) + "/token", max_bytes=1024, timeout=2)
    assert (answer.status, answer.content_type, answer.content) == (200, "application/json", b"{}")


def test_one_watchdog_thread_serves_every_call(serve: Callable[[Handler], str]) -> None:
    url = serve(fast)
    http.send("GET", url, max_bytes=1024, timeout=2)  # the process's watchdog runs from here on
    before = set(threading.enumerate())
    assert http.WATCHDOG_NAME in {thread.name for thread in before}
    for _ in range(20):
        http.send("GET", url, max_bytes=1024, timeout=2)
    with socket.socket() as listener:  # and one that runs into its deadline
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        fails_within(1, f"http://127.0.0.1:{listener.getsockname()[1]}/")
    assert set(threading.enumerate()) - before == set()


def test_a_forked_process_gets_a_watchdog_of_its_own(serve: Callable[[Handler], str]) -> None:
    """A fork copies no thread: the child's calls are still cut at their deadline."""
    url = serve(fast)
    http.send("GET", url, max_bytes=1024, timeout=2)  # the parent's watchdog runs
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        silent_url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        pid = os.fork()
        if pid == 0:  # the child: exit status 0 only if both calls behave, and never return
            ok = False
            try:
                ok = http.send("GET", url, max_bytes=1024, timeout=2).status == 200
                ok = ok and fails_within(1, silent_url).endswith("did not answer within 1 seconds.")
            except BaseException:  # the exit status tells the parent
                pass
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_deadlines_of_calls_in_several_threads_each_cut_their_own(serve: Callable[[Handler], str]) -> None:
    """Two slow calls with different limits and a quick one, at once: each slow one fails at its
    own limit, the quick one is not cut."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        silent_url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        results: dict[str, object] = {}

        def call(name: str, url: str, timeout: float) -> None:
            began = time.monotonic()
            try:
                http.send("GET", url, max_bytes=1024, timeout=timeout)
                results[name] = ("ok", time.monotonic() - began)
            except http.HttpError:
                results[name] = ("cut", time.monotonic() - began)

        threads = [
            threading.Thread(target=call, args=("long", silent_url, 2.0)),
            threading.Thread(target=call, args=("short", silent_url, 0.5)),
            threading.Thread(target=call, args=("quick", serve(fast), 5.0)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert results["quick"][0] == "ok"
    assert results["short"][0] == "cut" and 0.4 < results["short"][1] < 1.5
    assert results["long"][0] == "cut" and 1.9 < results["long"][1] < 3.5


# --- Keep-alive and cookies, against a real HTTP server ------------------------------------------


class Recorder(BaseHTTPRequestHandler):
    """Keep-alive; sets a cookie on the first answer; records what each request carried."""

    protocol_version = "HTTP/1.1"
    timeout = 5  # a kept-alive connection's thread ends on its own after a test
    server: RecordingServer

    def do_GET(self) -> None:
        self.server.seen.append(
            {
                "cookie": self.headers.get("Cookie"),
                "user-agent": self.headers.get("User-Agent"),
                "client-port": self.client_address[1],
                "target": self.path,  # the whole URL when the request came as to a proxy
            }
        )
        self.send_response(200)
        if len(self.server.seen) == 1:
            self.send_header("Set-Cookie", "sid=abc; Path=/")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the test output clean


class RecordingServer(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[dict[str, object]]


@pytest.fixture
def recording_server() -> Iterator[RecordingServer]:
    server = RecordingServer(("127.0.0.1", 0), Recorder)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def url_of(server: RecordingServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_a_cookie_from_one_call_is_not_sent_with_the_next(recording_server: RecordingServer) -> None:
    http.send("GET", url_of(recording_server, "/as-authorization-a"), max_bytes=1024, timeout=5)
    http.send("GET", url_of(recording_server, "/anonymous"), max_bytes=1024, timeout=5)
    assert [seen["cookie"] for seen in recording_server.seen] == [None, None]
    assert {seen["user-agent"] for seen in recording_server.seen} == {http.USER_AGENT}


def test_a_kept_alive_connection_outlives_the_previous_calls_deadline(
    recording_server: RecordingServer,
) -> None:
    http.send("GET", url_of(recording_server, "/first"), max_bytes=1024, timeout=1)
    time.sleep(1 + SLACK)  # the first call's deadline has passed while its connection sat in the pool
    answer = http.send("GET", url_of(recording_server, "/second"), max_bytes=1024, timeout=5)
    assert answer.status == 200
    first, second = recording_server.seen
    assert first["client-port"] == second["client-port"], "the connection was not reused"


def test_the_proxy_variables_are_followed_and_a_change_applies_at_once(
    recording_server: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proxy is read from the environment once per host (not per call); a changed variable
    is seen by the next call all the same."""
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as closed:  # a port nothing listens on: only the proxy can answer
        closed.bind(("127.0.0.1", 0))
        target = f"http://127.0.0.1:{closed.getsockname()[1]}/through"
    monkeypatch.setenv("HTTP_PROXY", url_of(recording_server, ""))
    for _ in range(2):
        assert http.send("GET", target, max_bytes=1024, timeout=5).status == 200
    assert [seen["target"] for seen in recording_server.seen] == [target, target]
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with pytest.raises(http.HttpError):  # now sent directly, to the port nothing listens on
        http.send("GET", target, max_bytes=1024, timeout=5)
    monkeypatch.delenv("NO_PROXY")
    assert http.send("GET", target, max_bytes=1024, timeout=5).status == 200
    assert len(recording_server.seen) == 3


@responses.activate
def test_a_cookie_is_never_kept_in_the_session() -> None:
    responses.get("https://api.example.com/x", body=b"{}", headers={"Set-Cookie": "sid=abc; Path=/"})
    http.send("GET", "https://api.example.com/x", max_bytes=10)
    http.send("GET", "https://api.example.com/x", max_bytes=10)
    assert "Cookie" not in responses.calls[1].request.headers
    assert len(http.session().cookies) == 0


@responses.activate
def test_a_cookie_passed_for_one_call_is_still_sent() -> None:
    responses.get("https://api.example.com/x", body=b"{}")
    http.send("GET", "https://api.example.com/x", max_bytes=10, cookies={"tenant": "t1"})
    http.send("GET", "https://api.example.com/x", max_bytes=10)
    assert responses.calls[0].request.headers["Cookie"] == "tenant=t1"
    assert "Cookie" not in responses.calls[1].request.headers


# --- Size caps and messages ----------------------------------------------------------------------


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
    url = f"http://127.0.0.1:{port}/token" + SECRET_QUERY
    with pytest.raises(http.HttpError) as raised:
        http.send("GET", url, max_bytes=10, timeout=2)
    assert str(raised.value) == f"Could not connect to 127.0.0.1:{port} (connection refused)."
