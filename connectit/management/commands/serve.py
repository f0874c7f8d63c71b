"""Serve the app (gunicorn) and run background workers beside it; Ctrl-C stops them all.

What ``make run`` starts. For several servers, run ``gunicorn`` and ``manage.py worker`` under a
process manager instead (README: "Several servers").
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

# The access log leaves out query strings: the OAuth2 callback carries a one-time code there.
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
# A worker finishes the page it is fetching before it stops; after this long it is killed.
STOP_GRACE = 30


class Command(BaseCommand):
    help = "Serve the web app with gunicorn and run background workers beside it; Ctrl-C stops all."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000")
        parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
        parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
        parser.add_argument("--task-workers", type=int, default=1, help="manage.py worker processes")

    def handle(
        self, *args: Any, bind: str, web_workers: int, threads: int, task_workers: int, **options: Any
    ) -> None:
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        commands = {
            "web server": [
                sys.executable,
                "-m",
                "gunicorn",
                "connectit.wsgi",
                "--bind",
                bind,
                "--workers",
                str(web_workers),
                "--threads",
                str(threads),
                "--worker-class",
                "gthread",
                "--access-logfile",
                "-",
                "--access-logformat",
                ACCESS_LOG_FORMAT,
                "--forwarded-allow-ips",
                "127.0.0.1",
                # gunicorn 27's control socket has one path per user (~/.gunicorn/gunicorn.ctl):
                # a second install on the machine would take it over.
                "--no-control-socket",
            ],
            **{f"worker {n + 1}": [sys.executable, manage, "worker"] for n in range(task_workers)},
        }
        stop = {"signal": 0}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop["signal"] = signum

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        # Own sessions: a Ctrl-C reaches only this process, which stops each child exactly once
        # (a worker given a second signal would abandon its run instead of finishing the page).
        # (S603: argv is this interpreter with fixed arguments.)
        children = {
            name: subprocess.Popen(argv, start_new_session=True)  # noqa: S603
            for name, argv in commands.items()
        }
        self.stdout.write(
            f"Serving ConnectIT OAuth2 at http://{bind}/ with {task_workers} worker(s); Ctrl-C stops."
        )
        self.stdout.flush()
        died = ""
        while not stop["signal"] and not died:
            died = next((name for name, child in children.items() if child.poll() is not None), "")
            time.sleep(0.2)
        _stop_all(children)
        if died:
            raise CommandError(
                f"The {died} stopped (exit code {children[died].returncode}); stopped the rest too."
            )
        self.stdout.write("Stopped.")


def _stop_all(children: dict[str, subprocess.Popen]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for child in children.values():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
