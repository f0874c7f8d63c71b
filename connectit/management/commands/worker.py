"""Run queued tasks (definition runs, token renewals, alerts) and the periodic jobs.

Start one or more of these beside the web servers, on any machine that reaches the database:
each takes one task at a time, and no two ever take the same one.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker as TaskWorker

from connectit import worker

log = logging.getLogger("connectit.worker")


class Worker(TaskWorker):
    def shutdown(self, signum: int, frame: FrameType | None) -> None:
        # Runs end at their next page boundary instead of holding the stop (or being cut off).
        worker.shutting_down()
        super().shutdown(signum, frame)


class Command(BaseCommand):
    help = "Run queued tasks and periodic jobs (schedules, token keep-alive, retention, alerts)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--poll",
            type=float,
            default=None,
            help="Seconds between looks at the queue when idle (default CONNECTIT_WORKER_POLL).",
        )
        parser.add_argument("--worker-id", default="", help="A name for this worker (default: random).")
        parser.add_argument("--batch", action="store_true", help="Run what is queued, then exit.")
        parser.add_argument(
            "--no-periodic", action="store_true", help="Run tasks only: no schedules, keep-alive, alerts."
        )

    def handle(self, *args: Any, poll: float | None, worker_id: str, batch: bool, **options: Any) -> None:
        worker_id = worker_id or f"worker-{get_random_string(12)}"
        ticker = None if options["no_periodic"] else worker.Ticker()
        task_worker = Worker(
            queue_names=["default"],
            interval=settings.CONNECTIT_WORKER_POLL if poll is None else max(poll, 0.01),
            batch=batch,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=worker_id,
            excluded_queue_names=[],
        )
        self.stdout.write(f"Worker {worker_id} started (Ctrl-C stops it after the current page).")
        self.stdout.flush()
        task_worker.configure_signals()
        if ticker is not None:
            ticker.start()
        try:
            task_worker.run()
        finally:
            if ticker is not None:
                ticker.stop()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
        log.info("Worker %s stopped.", worker_id)
