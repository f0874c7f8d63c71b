"""The background worker: runs queued tasks and the periodic jobs the apps register.

``manage.py worker`` runs django-tasks-db's tasks in ``connectit.task_loop`` threads (each claims
one queued task at a time in one statement, skipping locked rows on PostgreSQL and under SQLite's
write lock) plus a ticker thread for the periodic jobs. Apps register those jobs in their
``AppConfig.ready``:

- ``every_worker`` jobs run in every worker, each claiming its own rows the way the task backend
  claims jobs (due schedules): cheap when there is nothing to do. They run in the ticker's own
  thread, so they must only read and write the database, never wait on the network.
- other jobs run once per period across all workers: a worker claims the period with one
  compare-and-set UPDATE on the job's ``PeriodicJob`` row (keep-alive, retention, sweeps, alert
  deliveries). Each runs in a thread of its own, so a slow one (a token endpoint that hangs)
  delays neither the others nor the tasks, and never twice at once in one process.

The ticker keeps its database connection from tick to tick, as the task threads keep theirs:
opening one each second (a schedule check, a period claim) cost PostgreSQL a new process each
time. A job's own thread closes its connection when the job ends: it runs rarely, and a
connection kept by each would multiply the connections every worker holds.

The task layer stays thin: only this module and the apps' ``tasks.py`` know django-tasks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, close_old_connections, connection
from django.utils import timezone

log = logging.getLogger(__name__)

TICK = 0.25  # how often the ticker looks at its jobs (seconds)


@dataclass
class Job:
    name: str
    every: Callable[[], float]  # seconds; a callable, so settings changed in tests apply
    run: Callable[[], object]
    every_worker: bool = False
    next_check: float = 0.0
    thread: threading.Thread | None = field(default=None, repr=False)


_jobs: dict[str, Job] = {}
_shutdown_hooks: list[Callable[[], None]] = []


def periodic(name: str, every: Callable[[], float], *, every_worker: bool = False):
    """Register ``func`` as a periodic job (a decorator)."""

    def register(func: Callable[[], object]) -> Callable[[], object]:
        _jobs[name] = Job(name, every, func, every_worker)
        return func

    return register


def on_shutdown(hook: Callable[[], None]) -> Callable[[], None]:
    """Called when a worker is asked to stop, so long work can end at its next safe point."""
    _shutdown_hooks.append(hook)
    return hook


def jobs() -> dict[str, Job]:
    return dict(_jobs)


def shutting_down() -> None:
    for hook in _shutdown_hooks:
        hook()


def claim_period(name: str, every: float) -> bool:
    """Take the job's current period: True for exactly one caller per period, across workers."""
    from connectit.models import PeriodicJob

    now = timezone.now()
    until = now + timedelta(seconds=every)
    if PeriodicJob.objects.filter(name=name, next_at__lte=now).update(next_at=until, last_started_at=now):
        return True
    try:
        PeriodicJob.objects.create(name=name, next_at=until, last_started_at=now)
    except IntegrityError:
        return False  # another worker holds this period (or created the row first)
    return True


def run_job(job: Job) -> None:
    """Run one job now, in this thread, with its own database connection closed afterwards."""
    try:
        job.run()
    except Exception:
        log.exception("Periodic job %s failed", job.name)
    finally:
        connection.close()


class Ticker:
    """Starts each registered job when it is due, in its own thread."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="connectit-ticker", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()

    def _loop(self) -> None:
        while not self.stopped.wait(TICK):
            try:
                self.tick()
            except Exception:
                log.exception("The worker's ticker failed; retrying")
                close_old_connections()
                time.sleep(1)

    def tick(self) -> None:
        now = time.monotonic()
        for job in _jobs.values():
            if now < job.next_check or (job.thread is not None and job.thread.is_alive()):
                continue
            every = job.every()
            job.next_check = now + (every if job.every_worker else min(every, 5.0))
            if job.every_worker:
                self._run_here(job)
                continue
            if not self._claim(job, every):
                continue
            job.thread = threading.Thread(target=run_job, args=(job,), name=f"job-{job.name}", daemon=True)
            job.thread.start()

    def _run_here(self, job: Job) -> None:
        """An every_worker job, in this thread, on the connection it keeps."""
        close_old_connections()  # one past its age, or broken, is replaced
        try:
            job.run()
        except Exception:
            log.exception("Periodic job %s failed", job.name)

    def _claim(self, job: Job, every: float) -> bool:
        close_old_connections()
        return claim_period(job.name, every)
