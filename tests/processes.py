"""Separate processes that share the test database, for races that threads cannot show."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

REPO = Path(__file__).resolve().parent.parent


def worker_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "connectit.settings",
        **extra,
    }


def database_url() -> str:
    """The test database, as a URL the worker processes can open."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user = settings["USER"] or "postgres"
    password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
    host = f"{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
    return f"postgres://{user}{password}@{host}/{settings['NAME']}"


def in_processes(code: str, count: int) -> list[dict]:
    env = worker_env()
    start_at = time.time() + 3  # time for every interpreter to import Django first
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.single_flight_worker", code, str(start_at)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def race(func, count: int, timeout: float = 60) -> list:
    """Call ``func()`` in ``count`` threads released at the same moment; their results (each
    thread with its own database connection, closed afterwards). Fails on any thread's error."""
    import threading

    from django.db import connections

    barrier = threading.Barrier(count)
    results: list = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            barrier.wait()
            results.append(func())
        except BaseException as exc:  # reported below with the test's failure
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not errors, errors
    return results
