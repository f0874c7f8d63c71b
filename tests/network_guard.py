"""Fixtures that keep tests off the network while they exercise real sockets.

``install_guard`` wraps ``socket.connect``: a connection to anything but a loopback address is
recorded and refused before any packet leaves. ``install_fake_dns`` fakes host-name lookups, so no
test ever asks a real DNS server. A test module makes fixtures of them.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest


class Guard:
    """What socket.connect was asked to reach; anything but loopback is refused unsent."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    @property
    def outside(self) -> list[str]:
        return [address for address in self.attempts if not ipaddress.ip_address(address).is_loopback]


def install_guard(monkeypatch: pytest.MonkeyPatch) -> Guard:
    watched = Guard()
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address) -> None:
        host = address[0] if isinstance(address, tuple) else str(address)
        watched.attempts.append(host)
        if not ipaddress.ip_address(host.split("%")[0]).is_loopback:
            raise ConnectionRefusedError(f"test guard: no connection to {host}")
        real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return watched


class FakeDns(dict):
    """name -> addresses (or a function giving them, for answers that change); ``lookups`` lists
    the names asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups: list[str] = []


def install_fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    """Fake DNS. IP literals and "localhost" resolve as usual (no network: the hosts file); any
    other name not in the table fails, so a test never sends a real DNS query."""
    table = FakeDns()
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else host
        table.lookups.append(name)
        if name in table:
            answer = table[name]
            addresses = answer() if callable(answer) else answer
            return [
                (
                    socket.AF_INET6 if ":" in address else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (address, port, 0, 0) if ":" in address else (address, port),
                )
                for address in addresses
            ]
        try:
            ipaddress.ip_address(name)
        except ValueError:
            if name != "localhost":
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return real(host, port, family, type, proto, flags)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


# Fixtures (registered as a plugin in tests/conftest.py).
@pytest.fixture
def guard(monkeypatch: pytest.MonkeyPatch) -> Guard:
    return install_guard(monkeypatch)


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    return install_fake_dns(monkeypatch)
