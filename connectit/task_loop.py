"""One worker thread's loop over the task queue: django-tasks-db's loop with a cheaper claim.

django-tasks-db's own loop takes a task in five round trips (a health-check ``SELECT 1``, then
BEGIN, ``SELECT ... FOR UPDATE SKIP LOCKED``, an UPDATE of the whole row and COMMIT) and checks
the connection twice per task. A small run costs about as much as that, so this loop claims in
one statement instead:

    UPDATE task SET status = 'RUNNING', ... WHERE id = (
        SELECT id FROM task WHERE <ready> ORDER BY <the queue's order> LIMIT 1 [FOR UPDATE SKIP LOCKED]
    ) RETURNING *

On PostgreSQL the subquery skips rows other workers hold, exactly as django-tasks-db does (and
it runs inside the function ``connectit_claim_task``, which keeps the planner from sorting the
queue: connectit migration 0006); on SQLite the statement holds the database's one write lock
from start to end, so no two workers take the same task either (``tests/test_task_loop.py``
races them). Everything else (running the task, its signals, storing how it ended) is
django-tasks-db's own ``run_task``; only the success is stored by SQL written here, as the claim
is: on PostgreSQL by the loop's next claim, which follows at once, in the same statement.

A kind of task may claim what it needs first along with its task (``Along``): on PostgreSQL the
task claim's statement claims a run task's run too (definitions.tasks).

The connection is checked (``close_old_connections``) when the queue is empty and after a
database error, not twice per task: a connection that broke meanwhile fails its next statement,
and the loop then drops it and goes on.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

from django.db import DatabaseError, OperationalError, close_old_connections, connection, models
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks.base import DEFAULT_TASK_QUEUE_NAME
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult, get_date_max
from django_tasks_db.utils import is_locked_database_exception, retry

from connectit.db import columns_of, select_from, select_joined, update_returning

log = logging.getLogger(__name__)

ERROR_PAUSE = 1.0  # seconds to wait after a database error before trying again


class Siblings:
    """The task loops of one worker process. When one of them finds a task after the queue was
    empty, the idle others look at the queue at once instead of at their next poll, so a burst
    (a schedule's runs, several clicks on Run) starts on every thread together."""

    def __init__(self) -> None:
        self._found = threading.Condition()
        self._bursts = 0

    def wait(self, timeout: float) -> None:
        """Sleep for ``timeout`` seconds, or until a sibling finds work."""
        with self._found:
            seen = self._bursts
            self._found.wait_for(lambda: self._bursts != seen, timeout)

    def found_work(self) -> None:
        with self._found:
            self._bursts += 1
            self._found.notify_all()


class TaskLoop(Worker):
    """django-tasks-db's ``Worker`` for one queue and one backend, claiming in one statement."""

    def __init__(
        self,
        *,
        worker_id: str,
        interval: float,
        batch: bool,
        backend_name: str = "default",
        siblings: Siblings | None = None,
    ) -> None:
        super().__init__(
            queue_names=[DEFAULT_TASK_QUEUE_NAME],
            interval=interval,
            batch=batch,
            backend_name=backend_name,
            startup_delay=False,
            max_tasks=None,
            worker_id=worker_id,
            excluded_queue_names=[],
        )

        # The last task's success, not stored yet: the next claim stores it (PostgreSQL).
        self.succeeded: Succeeded | None = None
        self.siblings = siblings or Siblings()
        self.idle = False  # the last claim found the queue empty

    def run(self) -> None:
        log.info("Task loop %s started", self.worker_id)
        try:
            self._loop()
        finally:
            if self.succeeded is not None:  # stopped between a task and the next claim
                _store_success(self.succeeded)

    def _loop(self) -> None:
        while self.running:
            try:
                task = claim_next(self.worker_id, self.backend_name, self.queue_names[0], self.succeeded)
            except OperationalError as exc:
                if not is_locked_database_exception(exc):
                    self._after_error(exc)
                continue  # a locked SQLite database: try again at once, as django-tasks-db does
            except DatabaseError as exc:
                self._after_error(exc)
                continue
            self.succeeded = None  # stored by that claim
            if task is not None:
                if self.idle:  # the first task after a quiet spell: maybe a burst
                    self.idle = False
                    self.siblings.found_work()
                # run_task stores a success through this; the instance's own would compile
                # its UPDATE. On PostgreSQL the next claim, which follows at once, stores it.
                store = self._defer_success if connection.vendor == "postgresql" else _set_successful
                task.set_successful = partial(store, task)  # type: ignore[method-assign]
                self.run_task(task)
                continue
            if self.batch:
                return
            close_old_connections()  # idle: drop a connection past its age, or a broken one
            self.idle = True
            self.siblings.wait(self.interval)

    def _defer_success(self, task: DBTaskResult, return_value: Any) -> None:
        self.succeeded = _succeeded(task, return_value)

    def _after_error(self, exc: DatabaseError) -> None:
        log.warning("Task loop %s: the queue could not be read (%s); retrying", self.worker_id, exc)
        connection.close()
        time.sleep(ERROR_PAUSE)


@dataclass(frozen=True)
class Succeeded:
    """A task's success as stored: its key, when it finished and its return value (JSON),
    each prepared for the database."""

    task_id: Any
    finished_at: Any
    return_value: str | None


@dataclass(frozen=True)
class Along:
    """What one kind of task claims first thing, claimed on PostgreSQL by the task claim's own
    statement and handed to the task before it runs: one round trip fewer for every such task.

    ``join`` is SQL joined to the claimed task, whose alias is ``t`` (a LEFT JOIN LATERAL to a
    function of the task's columns, say); it yields whole rows of ``models``, under ``aliases``.
    ``params(claimed_at)`` are its placeholders' values for a claim at that time (adapted).
    ``receive(task, instances)`` gets the claimed task and one instance per model, or None
    where the join found nothing; it is called for every claimed task, of any kind."""

    join: str
    models: tuple[type[models.Model], ...]
    aliases: tuple[str, ...]
    params: Callable[[Any], Sequence[Any]]
    receive: Callable[[DBTaskResult, tuple[Any, ...]], None]


_along: Along | None = None


def claim_along(along: Along | None) -> None:
    """Have every worker's task claim make ``along`` too (PostgreSQL; one at most: the task
    layer of the app whose tasks these are registers it)."""
    global _along
    _along = along


def claim_next(
    worker_id: str, backend_name: str, queue_name: str, succeeded: Succeeded | None = None
) -> DBTaskResult | None:
    """Mark the next ready task of the queue as running for ``worker_id``, in one statement;
    the task, or None when none is ready. ``succeeded``, the loop's last task, is stored first
    (in the same statement on PostgreSQL)."""
    now, at, ready = timezone.now(), connection.ops.adapt_datetimefield_value, TaskResultStatus.READY
    # A task is claimed once (only READY tasks are claimed, and nothing makes a task READY
    # again), so its list of workers is just this one, as django-tasks-db's claim leaves it.
    if connection.vendor == "postgresql":
        claimed_by = DBTaskResult._meta.get_field("worker_ids").get_db_prep_save([worker_id], connection)
        # The same UPDATE in a function that keeps the planner from sorting the queue
        # (connectit migration 0006); its subquery skips rows other workers hold, exactly as
        # django-tasks-db's claim does.
        done = succeeded or Succeeded(None, None, None)
        params = [backend_name, queue_name, at(now), at(get_date_max()), claimed_by]
        params += [done.task_id, done.finished_at, done.return_value]
        source = "connectit_claim_task(%s, %s, %s, %s, %s, %s, %s, %s)"
        if _along is None:
            found = select_from(DBTaskResult, source, params, prepared=True)
            return found[0] if found else None
        return _claim_along(_along, source, params, at(now))
    if succeeded is not None:
        _store_success(succeeded)
    # SQLite has no row locks: the statement holds the whole database's write lock instead.
    table = connection.ops.quote_name(DBTaskResult._meta.db_table)
    # The queue's order and its partial index (status, priority DESC, run_after, enqueued_at).
    is_ready = "status = %s AND backend_name = %s AND queue_name = %s AND (run_after = %s OR run_after <= %s)"
    order = "ORDER BY priority DESC, run_after ASC, enqueued_at ASC"
    where = f"id = (SELECT id FROM {table} WHERE {is_ready} {order} LIMIT 1)"  # noqa: S608
    values = {"status": TaskResultStatus.RUNNING, "started_at": now, "worker_ids": [worker_id]}
    params = [ready, backend_name, queue_name, at(get_date_max()), at(now)]
    return update_returning(DBTaskResult, values, where, params)


def _claim_along(along: Along, source: str, params: list[Any], claimed_at: Any) -> DBTaskResult | None:
    parts, values = (DBTaskResult, *along.models), [*params, *along.params(claimed_at)]
    found = select_joined(parts, _along_sql(along, source), values, prepared=True)
    if not found:
        return None
    task, *joined = found[0]
    along.receive(task, tuple(joined))
    return task


@cache  # the same text for every claim: worked out once per process
def _along_sql(along: Along, source: str) -> str:
    parts = [columns_of(DBTaskResult, "t")]
    parts += [columns_of(model, alias) for model, alias in zip(along.models, along.aliases, strict=True)]
    return f"SELECT {', '.join(parts)} FROM {source} t {along.join}"  # noqa: S608 - quoted names


def _succeeded(task: DBTaskResult, return_value: Any) -> Succeeded:
    """Mark the instance successful, as django-tasks-db's ``set_successful`` does; what to
    store. The return value is encoded here, so that one JSON cannot encode fails the task
    (run_task then stores it as failed), as in django-tasks-db."""
    task.status, task.finished_at = TaskResultStatus.SUCCESSFUL, timezone.now()
    task.return_value, task.exception_class_path, task.traceback = return_value, "", ""
    field = DBTaskResult._meta.get_field("return_value")
    encoded = None if return_value is None else json.dumps(return_value, cls=field.encoder)
    return Succeeded(
        DBTaskResult._meta.pk.get_db_prep_value(task.pk, connection),
        connection.ops.adapt_datetimefield_value(task.finished_at),
        encoded,
    )


def _set_successful(task: DBTaskResult, return_value: Any) -> None:
    """``DBTaskResult.set_successful`` in one UPDATE written without the ORM's compiler."""
    _store_success(_succeeded(task, return_value))


@retry()  # as django-tasks-db retries its own
def _store_success(succeeded: Succeeded) -> None:
    """What django-tasks-db's set_successful writes, in one UPDATE written here."""
    names = ("status", "exception_class_path", "traceback", "finished_at", "return_value")
    assignments = ", ".join(f"{connection.ops.quote_name(name)} = %s" for name in names)
    table = connection.ops.quote_name(DBTaskResult._meta.db_table)
    params = [TaskResultStatus.SUCCESSFUL, "", "", succeeded.finished_at, succeeded.return_value]
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {assignments} WHERE id = %s", [*params, succeeded.task_id])  # noqa: S608
