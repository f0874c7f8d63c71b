"""pytest plugin: the ``soap_server`` fixture runs the spyne SOAP test server.

Register it from the root conftest with ``pytest_plugins = [..., "tests.soap_server.fixtures"]``
(next to ``tests.provider.fixtures``, whose ``oauth_provider`` it needs: every SOAP request's
bearer token is checked through that provider's introspection endpoint).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.provider.constants import INTROSPECTOR_CLIENT_ID, INTROSPECTOR_CLIENT_SECRET
from tests.soap_server.app import (
    ENV_INTROSPECT_CLIENT_ID,
    ENV_INTROSPECT_CLIENT_SECRET,
    ENV_INTROSPECT_URL,
    UNAUTHORIZED_MESSAGE,  # noqa: F401  (re-exported for tests)
)
from tests.soap_server.service import TNS  # noqa: F401  (re-exported for tests)

REPO_ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 10  # seconds, for every request to the server's test controls
START_TIMEOUT = 30
STOP_TIMEOUT = 10


class SoapServerError(RuntimeError):
    """The SOAP server did not start."""


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(introspect_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env[ENV_INTROSPECT_URL] = introspect_url
    env[ENV_INTROSPECT_CLIENT_ID] = INTROSPECTOR_CLIENT_ID
    env[ENV_INTROSPECT_CLIENT_SECRET] = INTROSPECTOR_CLIENT_SECRET
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _wait_until_up(process: subprocess.Popen, base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SoapServerError(f"SOAP server exited with {process.returncode}:\n{_tail(log_path)}")
        try:
            requests.get(f"{base_url}/test/stats/", timeout=1).raise_for_status()
            return
        except requests.RequestException:
            time.sleep(0.05)
    raise SoapServerError(f"SOAP server not up after {START_TIMEOUT}s:\n{_tail(log_path)}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # SIGTERM to the gunicorn master: graceful, at most ~1 s
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        # The master leads its own process group (start_new_session), so this also reaches
        # a worker that hangs, and nothing we did not start.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT)


def _tail(path: Path, limit: int = 4000) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-limit:] or "(no output)"


@contextmanager
def run_soap_server(introspect_url: str) -> Iterator[SoapServer]:
    """Start the SOAP server checking tokens at ``introspect_url``; stop it on exit."""
    with tempfile.TemporaryDirectory(prefix="soap-server-") as tmp:
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        log_path = Path(tmp) / "server.log"
        command = [sys.executable, "-m", "tests.soap_server.serve", f"127.0.0.1:{port}"]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=_server_env(introspect_url),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _wait_until_up(process, base_url, log_path)
            yield SoapServer(base_url=base_url, pid=process.pid, log_path=log_path)
        finally:
            _stop(process)


@pytest.fixture(scope="session")
def soap_server(oauth_provider) -> Iterator[SoapServer]:
    with run_soap_server(oauth_provider.introspect_url) as server:
        yield server
