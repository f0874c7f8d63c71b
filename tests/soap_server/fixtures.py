"""pytest plugin: the ``soap_server`` fixture runs the spyne SOAP test server.

Register it from the root conftest with ``pytest_plugins = [..., "tests.soap_server.fixtures"]``
(next to ``tests.provider.fixtures``, whose ``oauth_provider`` it needs: every SOAP request's
bearer token is checked through that provider's introspection endpoint).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.provider.constants import INTROSPECTOR_CLIENT_ID, INTROSPECTOR_CLIENT_SECRET
from tests.servers import ServerError, run_server
from tests.soap_server.app import (
    ENV_INTROSPECT_CLIENT_ID,
    ENV_INTROSPECT_CLIENT_SECRET,
    ENV_INTROSPECT_URL,
    UNAUTHORIZED_MESSAGE,  # noqa: F401  (re-exported for tests)
)
from tests.soap_server.service import TNS  # noqa: F401  (re-exported for tests)

TIMEOUT = 10  # seconds, for every request to the server's test controls
SoapServerError = ServerError  # what a failed start raises


@dataclass(frozen=True)
class SoapServer:
    base_url: str  # "http://127.0.0.1:PORT", no trailing slash
    pid: int
    log_path: Path  # gunicorn's and spyne's stderr

    @property
    def soap11_url(self) -> str:
        return f"{self.base_url}/soap11/"

    @property
    def soap12_url(self) -> str:
        return f"{self.base_url}/soap12/"

    @property
    def wsdl11_url(self) -> str:
        return f"{self.soap11_url}?wsdl"

    @property
    def wsdl12_url(self) -> str:
        return f"{self.soap12_url}?wsdl"

    def stats(self) -> dict[str, int]:
        """Since the last reset(): calls (authorized SOAP requests other than the WSDL, faults
        included), wsdl (authorized WSDL fetches), unauthorized (401 answers)."""
        return self._call("GET", "stats/")

    def reset(self) -> None:
        """Zero the counters and restart order ids at 1001."""
        self._call("POST", "reset/")

    def _call(self, method: str, path: str) -> dict:
        response = requests.request(method, f"{self.base_url}/test/{path}", timeout=TIMEOUT)
        response.raise_for_status()
        return response.json()


def _server_env(introspect_url: str) -> dict[str, str]:
    return {
        ENV_INTROSPECT_URL: introspect_url,
        ENV_INTROSPECT_CLIENT_ID: INTROSPECTOR_CLIENT_ID,
        ENV_INTROSPECT_CLIENT_SECRET: INTROSPECTOR_CLIENT_SECRET,
    }


@contextmanager
def run_soap_server(introspect_url: str) -> Iterator[SoapServer]:
    """Start the SOAP server checking tokens at ``introspect_url``; stop it on exit."""
    with run_server("tests.soap_server.serve", lambda tmp: _server_env(introspect_url)) as started:
        yield SoapServer(base_url=started.base_url, pid=started.pid, log_path=started.log_path)


@pytest.fixture(scope="session")
def soap_server(oauth_provider) -> Iterator[SoapServer]:
    with run_soap_server(oauth_provider.introspect_url) as server:
        yield server
