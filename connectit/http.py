"""The one wrapper every outbound HTTP call goes through.

Every call has one wall-clock deadline over connecting, the answer's headers and its body (a hung
or trickling endpoint must never hang a page or a worker; only a slow host-name lookup can overrun
it), and reads at most ``max_bytes`` of the body (a misconfigured URL that streams a huge file must
not eat memory). Connections are kept alive per thread, cookies are not: one thread serves many
runs, definitions and authorizations, and a cookie received while calling as one of them must never
be sent for another.
Errors are turned into ``HttpError`` with a message that names only the host: request URLs can
carry secrets in their query string (a GET token endpoint), so they never reach a message.

Where a connection goes is checked when it is opened: the host name is resolved, every address
must pass the call's checks, and the socket connects to those very addresses (a second lookup
could answer otherwise: DNS rebinding). Plain http, unless CONNECTIT_ALLOW_HTTP, goes to loopback
addresses only: "*.localhost" passes validation as this machine, but the name is resolved through
the network's DNS and could send a token elsewhere in clear. A caller may add its own check (the
WSDL reader refuses private and link-local addresses for the documents a WSDL imports).
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import ipaddress
import itertools
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookiejar import Cookie, DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.sessions import merge_setting
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError
from urllib3.util.connection import allowed_gai_family

from connectit.validators import is_loopback_address

USER_AGENT = "ConnectIT-OAuth2/1.0"
_local = threading.local()


class HttpError(Exception):
    """A request that got no usable answer (timeout, refused connection, oversized body)."""


class AddressRefused(HttpError):
    """A host resolved to an address this call may not go to; raised before connecting there."""


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Called with the host name and every address it resolved to; raises AddressRefused to refuse.
AddressCheck = Callable[[str, list[IPAddress]], None]


def require_loopback(host: str, addresses: list[IPAddress]) -> None:
    """Plain http: a token must not travel in clear past this machine."""
    outside = [address for address in addresses if not is_loopback_address(address)]
    if outside:
        raise AddressRefused(
            f"{host} resolves to {outside[0]}, which is not this machine; plain http is sent to "
            "loopback addresses only, so nothing was sent. Use https:// (or set CONNECTIT_ALLOW_HTTP=true)."
        )


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    content: bytes
    truncated: bool = False

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


# --- The deadline --------------------------------------------------------------------------------


class _Deadline:
    """One wall-clock limit over connecting, the headers and the body of a single call.

    requests' ``timeout`` bounds each connect and each socket read on its own, so a server that
    sends one byte a second never trips it. Instead the process's watchdog shuts the call's
    socket down when the limit passes; shutdown(), unlike close(), wakes a recv() blocked in
    another thread.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self.ends = time.monotonic() + seconds
        self._lock = threading.Lock()  # orders the watchdog's shutdown against finish()
        self.finished = False
        self._connection: HTTPConnection | None = None
        self._socket: socket.socket | None = None
        self._outer: _Deadline | None = None

    def __enter__(self) -> _Deadline:
        self._outer = _current_deadline()
        _local.deadline = self
        _watchdog.watch(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _local.deadline = self._outer
        self.finish()

    def remaining(self) -> float:
        # Never zero: a zero timeout would make the socket non-blocking rather than fail it.
        return max(self.ends - time.monotonic(), 0.001)

    def watch(self, connection: HTTPConnection, sock: socket.socket | None) -> None:
        """Make ``connection`` (and its socket, before urllib3 stores it) the one to cut."""
        with self._lock:
            self._connection = connection
            self._socket = sock or self._socket
            if self.expired:  # the limit passed while connecting: cut it right away
                self._shut()

    def finish(self) -> bool:
        """Stop watching, so the connection can go back to the pool; True if the limit passed."""
        with self._lock:
            self.finished = True
            # The watchdog may hold this object until its time comes: not the connection too.
            self._connection = self._socket = None
        return self.expired

    def expire(self) -> None:
        with self._lock:
            if not self.finished:
                self.expired = True
                self._shut()

    def _shut(self) -> None:
        _shut_down(self._socket)
        if self._connection is not None:
            _shut_down(self._connection.sock)  # the TLS socket, once the handshake wrapped it


WATCHDOG_NAME = "connectit-http-deadlines"


class _Watchdog:
    """One thread per process that cuts the calls whose deadline has passed. A timer thread per
    call cost more than a quick call to a local API itself (thread start, cancel and join)."""

    def __init__(self) -> None:
        self._reset()
        # A fork copies none of the threads, and may copy the lock taken by one of them: the
        # child starts afresh (its parent's calls are not its own).
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._wake = threading.Condition()
        self._due: list[tuple[float, int, _Deadline]] = []  # a heap, earliest first
        self._order = itertools.count()  # breaks ties without comparing deadlines
        self._thread: threading.Thread | None = None

    def watch(self, deadline: _Deadline) -> None:
        with self._wake:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=WATCHDOG_NAME, daemon=True)
                self._thread.start()
            heapq.heappush(self._due, (deadline.ends, next(self._order), deadline))
            if self._due[0][2] is deadline:  # earlier than what the thread waits for
                self._wake.notify()

    def _loop(self) -> None:
        while True:
            due = self._next_due()
            due.expire()  # outside the condition's lock: it takes the deadline's own

    def _next_due(self) -> _Deadline:
        with self._wake:
            while True:
                while self._due and self._due[0][2].finished:
                    heapq.heappop(self._due)  # finished calls leave when their time comes
                if not self._due:
                    self._wake.wait()
                    continue
                wait = self._due[0][0] - time.monotonic()
                if wait <= 0:
                    return heapq.heappop(self._due)[2]
                self._wake.wait(wait)


_watchdog = _Watchdog()


def _current_deadline() -> _Deadline | None:
    return getattr(_local, "deadline", None)


def _shut_down(sock: object) -> None:
    # TLS-in-TLS (an HTTPS proxy) hands out an SSLTransport; the real socket is underneath.
    if not isinstance(sock, socket.socket):
        sock = getattr(sock, "socket", None)
    if isinstance(sock, socket.socket):
        # OSError: already closed by the thread that owns it.
        with contextlib.suppress(OSError):
            # socket.socket's shutdown, not SSLSocket's: that one also drops the TLS state the
            # blocked reader is still using.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


# --- Where a connection may go -------------------------------------------------------------------


@dataclass(frozen=True)
class _Checks:
    """The address checks of one call (see send)."""

    host: str  # the URL's host and port
    port: int | None
    # For whatever socket the call opens, to the host or to a proxy: plain http travels on it.
    socket_checks: tuple[AddressCheck, ...]
    # For the URL's host. Through a proxy its name is resolved here only to be checked: the
    # proxy connects, and only the proxy's socket is this process's.
    host_checks: tuple[AddressCheck, ...]

    def before_connect(self, connection: HTTPConnection) -> list[IPAddress]:
        """The addresses ``connection`` may connect to, all checked; raises AddressRefused."""
        proxied = connection.proxy is not None
        if proxied and self.host_checks:
            self._check(self.host_checks, self.host, _resolve(connection, self.host, self.port))
        addresses = _resolve(connection, connection._dns_host, connection.port)
        self._check(self._for(proxied), connection.host, addresses)
        return addresses

    def kept_alive(self, connection: HTTPConnection) -> None:
        """Check a pooled connection again: an earlier call may have opened it under other rules."""
        proxied = connection.proxy is not None
        if proxied and self.host_checks:
            self._check(self.host_checks, self.host, _resolve(connection, self.host, self.port))
        checks = self._for(proxied)
        if checks:
            self._check(checks, connection.host, [_peer(connection.sock)])

    def _for(self, proxied: bool) -> tuple[AddressCheck, ...]:
        return self.socket_checks if proxied else self.socket_checks + self.host_checks

    @staticmethod
    def _check(checks: tuple[AddressCheck, ...], host: str, addresses: list[IPAddress]) -> None:
        for check in checks:
            check(host, addresses)


def _current_checks() -> _Checks | None:
    return getattr(_local, "checks", None)


def resolve(host: str, port: int | None = None) -> list[IPAddress]:
    """The addresses ``host`` resolves to, in the resolver's order, as a connection would look
    them up; ``HttpError`` if it resolves to none."""
    try:
        return _lookup(host, port)
    except (socket.gaierror, UnicodeError):
        raise HttpError(f"Could not resolve {host} (host name not found).") from None


def _resolve(connection: HTTPConnection, host: str, port: int | None) -> list[IPAddress]:
    try:
        return _lookup(host, port)
    except socket.gaierror as exc:
        raise NameResolutionError(host, connection, exc) from exc  # as urllib3 itself says it


def _lookup(host: str, port: int | None) -> list[IPAddress]:
    addresses: list[IPAddress] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, allowed_gai_family(), socket.SOCK_STREAM):
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _peer(sock: object) -> IPAddress:
    # TLS-in-TLS (an HTTPS proxy) hands out an SSLTransport; the real socket is underneath.
    if not isinstance(sock, socket.socket):
        sock = getattr(sock, "socket", sock)
    return ipaddress.ip_address(sock.getpeername()[0])  # type: ignore[union-attr]


class _WatchedConnection(HTTPConnection):
    """Connects only where the call's checks allow, and tells the calling thread's deadline which
    socket to cut, whether new or kept alive."""

    def _new_conn(self) -> socket.socket:
        deadline = _current_deadline()
        if deadline is None:
            return self._checked_conn()
        # A connect that hangs cannot be woken, so each attempt only gets the time left. (Looking
        # up the host name, which comes first, cannot be limited at all.)
        self.timeout = deadline.remaining()
        sock = self._checked_conn()
        sock.settimeout(deadline.remaining())  # the TLS handshake, before the watch can reach it
        deadline.watch(self, sock)
        return sock

    def _checked_conn(self) -> socket.socket:
        checks = _current_checks()
        if checks is None:
            return super()._new_conn()
        addresses = checks.before_connect(self)
        # Connect to the addresses just checked, in the resolver's order, never to the name: it
        # could resolve elsewhere a moment later. TLS still verifies the name (self.host).
        name, failure = self._dns_host, None
        try:
            for address in addresses:
                self._dns_host = str(address)
                deadline = _current_deadline()
                if deadline is not None:
                    self.timeout = deadline.remaining()
                try:
                    return super()._new_conn()
                except ConnectTimeoutError as exc:  # NewConnectionError too: try the next address
                    failure = exc
        finally:
            self._dns_host = name
        assert failure is not None  # getaddrinfo never answers with no address
        raise failure

    def request(self, *args: Any, **kwargs: Any) -> None:
        deadline = _current_deadline()
        if deadline is not None:
            deadline.watch(self, self.sock)  # None until a plain-HTTP connection connects
        checks = _current_checks()
        if checks is not None and self.sock is not None:
            checks.kept_alive(self)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _WatchedPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    """Opens watched connections, directly or through an HTTP(S) proxy."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        # A SOCKS manager is no ProxyManager and needs its own pools; its calls still fail at the
        # deadline, though only once a read returns.
        if isinstance(manager, urllib3.ProxyManager):
            manager.pool_classes_by_scheme = _POOLS
        return manager


# --- The session ---------------------------------------------------------------------------------


class _NoCookies(DefaultCookiePolicy):
    """Keeps no cookie an answer sets, and sends none from the session's jar.

    A cookie passed with ``cookies=`` still goes out with its own call: requests sends it from a
    jar made for that call.
    """

    def set_ok(self, cookie: Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: Cookie, request: Any) -> bool:
        return False


def session() -> requests.Session:
    """One keep-alive session per thread: requests.Session is not thread-safe."""
    current = getattr(_local, "session", None)
    if current is None:
        current = _local.session = _new_session()
    return current


# The variables that decide an http(s) URL's proxy (urllib reads both spellings).
_PROXY_NAMES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
_PROXY_VARIABLES = tuple(spelling for name in _PROXY_NAMES for spelling in (name, name.upper()))


@functools.lru_cache(maxsize=256)
def _environment_proxies(origin: str, variables: tuple[str | None, ...]) -> dict[str, str]:
    # ``variables`` is only part of the key: a changed proxy setting makes a new entry.
    return requests.utils.get_environ_proxies(origin)


class _Session(requests.Session):
    """requests.Session, reading a URL's proxy from the environment once per scheme, host and
    port instead of for every request.

    requests goes through the whole environment for every call (the proxies and no_proxy); for a
    quick call to a local API that was a tenth of a worker's CPU. The proxy variables are part of
    the cache key, so a changed setting still applies; everything else is requests' own logic."""

    def merge_environment_settings(
        self, url: str, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        if not self.trust_env or proxies is None or proxies.get("no_proxy"):
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        variables = tuple(os.environ.get(name) for name in _PROXY_VARIABLES)
        for key, value in _environment_proxies(_origin(url), variables).items():
            proxies.setdefault(key, value)
        if verify is True or verify is None:
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or verify
        return {
            "proxies": merge_setting(proxies, self.proxies),
            "stream": merge_setting(stream, self.stream),
            "verify": merge_setting(verify, self.verify),
            "cert": merge_setting(cert, self.cert),
        }


def _origin(url: str) -> str:
    """scheme://host:port, without any user or password the URL carries (a cache key)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def _new_session() -> requests.Session:
    fresh = _Session()
    fresh.headers["User-Agent"] = USER_AGENT
    fresh.cookies.set_policy(_NoCookies())
    fresh.mount("https://", _WatchedAdapter())
    fresh.mount("http://", _WatchedAdapter())
    return fresh


# --- Sending -------------------------------------------------------------------------------------


def host_of(url: str) -> str:
    try:
        return urlsplit(url).netloc.rsplit("@", 1)[-1] or url[:40]
    except ValueError:
        return "the server"


def send(
    method: str,
    url: str,
    *,
    max_bytes: int,
    timeout: float | None = None,
    truncate: bool = False,
    check_addresses: AddressCheck | None = None,
    **kwargs: Any,
) -> Response:
    """Send a request and read at most ``max_bytes`` of the answer, all within ``timeout`` seconds.

    A longer answer raises ``HttpError``, or with ``truncate`` is cut at ``max_bytes``.
    ``check_addresses`` is called with the URL's host and its addresses before connecting (and on
    a kept-alive connection, with its peer); it raises ``AddressRefused`` to stop the call.
    """
    timeout = timeout or settings.CONNECTIT_HTTP_TIMEOUT
    host = host_of(url)
    checks = _checks_for(url, check_addresses)
    outer_checks = _current_checks()
    _local.checks = checks
    try:
        with _Deadline(timeout) as deadline:
            try:
                # requests gets the limit too: it is what bounds a connect, narrowed to the time left.
                with session().request(
                    method, url, timeout=timeout, stream=True, allow_redirects=False, **kwargs
                ) as answer:
                    content, truncated = _read_capped(answer, max_bytes, host, truncate)
                    # Before the connection goes back to the pool for a later call. If the timer
                    # has fired, the body may have ended only because it cut the socket.
                    if deadline.finish():
                        raise requests.Timeout()
                    return _response(answer, content, truncated)
            except (OSError, urllib3.exceptions.HTTPError) as exc:  # OSError covers requests' errors
                raise _failure(exc, host, timeout, deadline.expired) from None
    finally:
        _local.checks = outer_checks


def _checks_for(url: str, check_addresses: AddressCheck | None) -> _Checks | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None  # requests refuses such a URL before connecting anywhere
    plain = parts.scheme.lower() == "http" and not settings.CONNECTIT_ALLOW_HTTP
    socket_checks: tuple[AddressCheck, ...] = (require_loopback,) if plain else ()
    host_checks: tuple[AddressCheck, ...] = (check_addresses,) if check_addresses else ()
    if not socket_checks and not host_checks:
        return None
    default_port = 443 if parts.scheme.lower() == "https" else 80
    return _Checks(parts.hostname or "", port or default_port, socket_checks, host_checks)


def _response(answer: requests.Response, content: bytes, truncated: bool) -> Response:
    return Response(
        status=answer.status_code,
        headers={k.lower(): v for k, v in answer.headers.items()},
        content=content,
        truncated=truncated,
    )


def _failure(exc: BaseException, host: str, seconds: float, expired: bool) -> HttpError:
    # Once the deadline has cut the socket, whatever broke (a reset, a short read) broke for that.
    if expired or isinstance(exc, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
        return HttpError(f"{host} did not answer within {seconds:g} seconds.")
    if isinstance(exc, requests.ConnectionError):
        return HttpError(f"Could not connect to {host} ({_reason(exc)}).")
    # Reading the body goes to urllib3 directly (see _read_capped), so its errors land here.
    return HttpError(f"The request to {host} failed ({type(exc).__name__}).")


def _read_capped(answer: requests.Response, max_bytes: int, host: str, truncate: bool) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    # read1 returns what one receive brought, so the cap is checked as bytes arrive (iter_content
    # would block until a whole chunk had come, and read() until all of ``amt`` had).
    while chunk := answer.raw.read1(65536, decode_content=True):
        size += len(chunk)
        if size > max_bytes:
            if not truncate:
                raise HttpError(
                    f"The answer from {host} is larger than {max_bytes // 1024} KiB; it was not read."
                )
            chunks.append(chunk[: len(chunk) - (size - max_bytes)])
            return b"".join(chunks), True
        chunks.append(chunk)
    return b"".join(chunks), False


def _reason(exc: requests.ConnectionError) -> str:
    # The exception text embeds the full URL; name the kind of failure only.
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text or "resolve" in text:
        return "host name not found"
    if "ssl" in text or "certificate" in text:
        return "TLS/certificate error"
    if "reset" in text:
        return "connection reset"
    return "network error"
