"""Run queued tasks (definition runs, token renewals, alerts) and the periodic jobs.

Start one or more of these beside the web servers, on any machine that reaches the database. Each
runs up to ``--threads`` tasks at once (a run spends most of its time waiting for an API, so one
hanging import does not hold up the rest), and no two threads or workers ever take the same task:
each thread is a ``connectit.task_loop.TaskLoop``, which claims a task in one UPDATE that skips
rows other workers hold on PostgreSQL and runs under the database's write lock on SQLite.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils.crypto import get_random_string

from connectit import worker
from connectit.task_loop import Siblings, TaskLoop

log = logging.getLogger("connectit.worker")


class Command(BaseCommand):
    help = "Run queued tasks and periodic jobs (schedules, token keep-alive, retention, alerts)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--poll",
            type=float,
            default=None,
            help="Seconds between looks at the queue when idle (default CONNECTIT_WORKER_POLL).",
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=None,
            help="Tasks this worker runs at once (default CONNECTIT_WORKER_THREADS).",
        )
        parser.add_argument("--worker-id", default="", help="A name for this worker (default: random).")
        parser.add_argument("--batch", action="store_true", help="Run what is queued, then exit.")
        parser.add_argument(
            "--no-periodic", action="store_true", help="Run tasks only: no schedules, keep-alive, alerts."
        )

    def handle(
        self, *args: Any, poll: float | None, threads: int | None, worker_id: str, batch: bool, **options: Any
    ) -> None:
        count = settings.CONNECTIT_WORKER_THREADS if threads is None else threads
        if count < 1:
            raise CommandError("--threads must be 1 or more.")
        worker_id = (worker_id or f"worker-{get_random_string(12)}")[:60]
        interval = settings.CONNECTIT_WORKER_POLL if poll is None else max(poll, 0.01)
        names = [f"{worker_id}/{n}" if count > 1 else worker_id for n in range(count)]
        siblings = Siblings()  # a burst wakes every idle thread of this worker
        loops = [
            TaskLoop(worker_id=name, interval=interval, batch=batch, siblings=siblings) for name in names
        ]
        ticker = None if options["no_periodic"] else worker.Ticker()
        stopping = _on_signals(loops)
        self.stdout.write(
            f"Worker {worker_id} started with {count} thread(s); Ctrl-C stops it after the current page."
        )
        self.stdout.flush()
        running = [threading.Thread(target=_run, args=(loop,), name=loop.worker_id) for loop in loops]
        for thread in running:
            thread.start()
        if ticker is not None:
            ticker.start()
        try:
            # Joined with a timeout, so this (main) thread stays free to take the signals.
            while any(thread.is_alive() for thread in running):
                for thread in running:
                    thread.join(0.2)
        finally:
            if ticker is not None:
                ticker.stop()
        log.info("Worker %s stopped%s.", worker_id, " on request" if stopping.is_set() else "")


def _run(loop: TaskLoop) -> None:
    try:
        loop.run()
    finally:
        connection.close()


def _on_signals(loops: list[TaskLoop]) -> threading.Event:
    """The first SIGINT/SIGTERM lets every thread finish its task, and runs end at their next page
    boundary; a second one ends the process at once."""
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            log.warning("Received %s again: stopping now.", signal.strsignal(signum))
            os._exit(1)
        stopping.set()
        log.warning(
            "Received %s: stopping after the current pages (again to stop at once).", signal.strsignal(signum)
        )
        for loop in loops:
            loop.running = False
        worker.shutting_down()

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, stop)
    return stopping
