"""Real ``manage.py worker`` processes on the test database, stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import close_old_connections

from tests.processes import REPO, worker_env


class WorkerProcess:
    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.log = Path(tempfile.mkstemp(prefix=f"{name}-", suffix=".log")[1])
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "worker", "--worker-id", name, "--poll", "0.05"],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """As a crash would: no chance to clean up."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


@contextmanager
def workers(count: int = 1, **settings: str) -> Iterator[list[WorkerProcess]]:
    """``count`` worker processes with extra environment ``settings``; stopped on exit."""
    env = worker_env(PYTHONUNBUFFERED="1", **settings)
    started = [WorkerProcess(f"w{index}-{os.getpid()}", env) for index in range(count)]
    try:
        yield started
    finally:
        for worker in started:
            worker.stop()
            worker.log.unlink(missing_ok=True)


def wait_for(check: Callable[[], object], timeout: float = 30, what: str = "the condition") -> object:
    """Poll ``check`` (reading fresh rows) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        close_old_connections()
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
