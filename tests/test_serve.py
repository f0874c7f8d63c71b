"""`make run` (manage.py serve): the web server and a worker together; Ctrl-C stops both."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from definitions import tasks
from definitions.models import Definition, Outcome, Run
from oauth2_auth.tokens import Trigger
from tests.api_server import ApiServer
from tests.processes import REPO, worker_env
from tests.servers import free_port
from tests.workers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_it_serves_runs_queued_work_and_stops_everything_on_ctrl_c(tmp_path) -> None:
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    serve = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{port}"],
        cwd=REPO,
        env=worker_env(PYTHONUNBUFFERED="1"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: _healthy(port), what="the web server")
        started = children(serve.pid)
        assert len(started) == 2  # gunicorn's master and one worker
        with ApiServer() as api:
            definition = Definition.objects.create(code="PING", endpoint_url=f"{api.base_url}/items")
            run, _ = tasks.submit(definition, params={}, trigger=Trigger("test"))
            done = wait_for(lambda: Run.objects.filter(pk=run.pk).exclude(outcome=Outcome.QUEUED).first())
            wait_for(lambda: Run.objects.get(pk=run.pk).finished, what="the run")
        assert Run.objects.get(pk=done.pk).outcome == Outcome.SUCCESS
        serve.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
        assert serve.wait(40) == 0
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in started)
    finally:
        if serve.poll() is None:
            serve.kill()
        log.close()
    assert b"Stopped." in (tmp_path / "serve.log").read_bytes()


def _healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False
