"""One worker thread's loop over the task queue: django-tasks-db's loop with a cheaper claim.

django-tasks-db's own loop takes a task in five round trips (a health-check ``SELECT 1``, then
BEGIN, ``SELECT ... FOR UPDATE SKIP LOCKED``, an UPDATE of the whole row and COMMIT) and checks
the connection twice per task. A small run costs about as much as that, so this loop claims in
one statement instead:

    UPDATE task SET status = 'RUNNING', ... WHERE id = (
        SELECT id FROM task WHERE <ready> ORDER BY <the queue's order> LIMIT 1 [FOR UPDATE SKIP LOCKED]
    ) AND status = 'READY' RETURNING *

On PostgreSQL the subquery skips rows other workers hold, exactly as django-tasks-db does; on
SQLite the statement holds the database's one write lock from start to end, so no two workers
take the same task either (``tests/test_worker.py`` races them). Everything else (running the
task, its signals, storing how it ended) is django-tasks-db's own ``run_task``; only the success
is stored by an UPDATE written here, as the claim is.

The connection is checked (``close_old_connections``) when the queue is empty and after a
database error, not twice per task: a connection that broke meanwhile fails its next statement,
and the loop then drops it and goes on.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any

from django.db import DatabaseError, OperationalError, close_old_connections, connection
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks.base import DEFAULT_TASK_QUEUE_NAME
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult, get_date_max
from django_tasks_db.utils import is_locked_database_exception, retry

from connectit.db import update_returning, update_where, where_equal

log = logging.getLogger(__name__)

ERROR_PAUSE = 1.0  # seconds to wait after a database error before trying again


class TaskLoop(Worker):
    """django-tasks-db's ``Worker`` for one queue and one backend, claiming in one statement."""

    def __init__(
        self, *, worker_id: str, interval: float, batch: bool, backend_name: str = "default"
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

    def run(self) -> None:
        log.info("Task loop %s started", self.worker_id)
        while self.running:
            try:
                task = claim_next(self.worker_id, self.backend_name, self.queue_names[0])
            except OperationalError as exc:
                if not is_locked_database_exception(exc):
                    self._after_error(exc)
                continue  # a locked SQLite database: try again at once, as django-tasks-db does
            except DatabaseError as exc:
                self._after_error(exc)
                continue
            if task is not None:
                self.run_task(task)
                continue
            if self.batch:
                return
            close_old_connections()  # idle: drop a connection past its age, or a broken one
            time.sleep(self.interval)

    def _after_error(self, exc: DatabaseError) -> None:
        log.warning("Task loop %s: the queue could not be read (%s); retrying", self.worker_id, exc)
        connection.close()
        time.sleep(ERROR_PAUSE)


def claim_next(worker_id: str, backend_name: str, queue_name: str) -> DBTaskResult | None:
    """Mark the next ready task of the queue as running for ``worker_id``, in one statement;
    the task, or None when none is ready."""
    quote = connection.ops.quote_name
    table = quote(DBTaskResult._meta.db_table)
    # SQLite has no row locks: its statement holds the whole database's write lock instead.
    lock = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    # The queue's order and its partial index (status, priority DESC, run_after, enqueued_at).
    is_ready = "status = %s AND backend_name = %s AND queue_name = %s AND (run_after = %s OR run_after <= %s)"
    order = "ORDER BY priority DESC, run_after ASC, enqueued_at ASC"
    where = f"id = (SELECT id FROM {table} WHERE {is_ready} {order} LIMIT 1{lock}) AND status = %s"  # noqa: S608
    now, at, ready = timezone.now(), connection.ops.adapt_datetimefield_value, TaskResultStatus.READY
    # A task is claimed once (only READY tasks are claimed, and nothing makes a task READY
    # again), so its list of workers is just this one, as django-tasks-db's claim leaves it.
    values = {"status": TaskResultStatus.RUNNING, "started_at": now, "worker_ids": [worker_id]}
    params = [ready, backend_name, queue_name, at(get_date_max()), at(now), ready]
    task = update_returning(DBTaskResult, values, where, params)
    if task is not None:
        # run_task stores a success through this; the instance's own would compile its UPDATE.
        task.set_successful = partial(_set_successful, task)  # type: ignore[method-assign]
    return task


@retry()  # as django-tasks-db retries its own
def _set_successful(task: DBTaskResult, return_value: Any) -> None:
    """``DBTaskResult.set_successful`` in one UPDATE written without the ORM's compiler."""
    task.status, task.finished_at = TaskResultStatus.SUCCESSFUL, timezone.now()
    task.return_value, task.exception_class_path, task.traceback = return_value, "", ""
    values = {name: getattr(task, name) for name in FINISHED_FIELDS}
    key = DBTaskResult._meta.pk.get_db_prep_value(task.pk, connection)
    update_where(DBTaskResult, values, where_equal(DBTaskResult, "id"), [key])


# What django-tasks-db's set_successful writes.
FINISHED_FIELDS = ("status", "return_value", "finished_at", "exception_class_path", "traceback")
