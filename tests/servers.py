"""Starting and stopping the test suite's own servers (provider, SOAP, oidc-provider) as subprocesses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30
STOP_TIMEOUT = 10


class ServerError(RuntimeError):
    """A test server did not start."""


@dataclass(frozen=True)
class Started:
    base_url: str  # "http://127.0.0.1:PORT", no trailing slash
    pid: int
    log_path: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def run_server(
    module: str, env_for: Callable[[Path], dict[str, str]], *, ready_path: str = "/test/stats/"
) -> Iterator[Started]:
    """Run ``python -m module 127.0.0.1:PORT`` in a temp dir; stop it by PID on exit.

    ``env_for(tmp)`` gives the extra environment (it may place files in ``tmp``).
    """
    with run_command(
        lambda port: [sys.executable, "-m", module, f"127.0.0.1:{port}"],
        env_for,
        name=module.rsplit(".", 1)[0].replace(".", "-"),
        ready_path=ready_path,
        extra_env={"PYTHONUNBUFFERED": "1"},
    ) as started:
        yield started


@contextmanager
def run_command(
    argv_for: Callable[[int], list[str]],
    env_for: Callable[[Path], dict[str, str]],
    *,
    name: str,
    ready_path: str,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Started]:
    """Run the command ``argv_for(port)`` (any program, Python or not) on a free port of
    127.0.0.1, from the repository root, until ``ready_path`` answers 2xx; stop it by PID on exit.

    ``env_for(tmp)`` gives the extra environment and may place files in the temp dir ``tmp``.
    """
    with tempfile.TemporaryDirectory(prefix=name + "-") as tmp:
        port = free_port()
        started = Started(f"http://127.0.0.1:{port}", 0, Path(tmp) / "server.log")
        env = {**os.environ, **(extra_env or {}), **env_for(Path(tmp))}
        with started.log_path.open("wb") as log:
            process = subprocess.Popen(
                argv_for(port),
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _wait_until_up(process, started.base_url + ready_path, started.log_path)
            yield Started(started.base_url, process.pid, started.log_path)
        finally:
            stop(process)


def _wait_until_up(process: subprocess.Popen, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"server exited with {process.returncode}:\n{tail(log_path)}")
        try:
            requests.get(url, timeout=1).raise_for_status()
            return
        except requests.RequestException:
            time.sleep(0.05)
    raise ServerError(f"server not up after {START_TIMEOUT}s:\n{tail(log_path)}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # SIGTERM (to the gunicorn master, or node): graceful
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        # The master leads its own process group (start_new_session), so this also reaches a
        # worker that hangs, and nothing we did not start.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT)


def tail(path: Path, limit: int = 4000) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-limit:] or "(no output)"
