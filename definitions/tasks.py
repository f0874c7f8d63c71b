"""The task layer of runs: the one module that knows the task framework (django-tasks).

``submit`` queues a run and its task in one transaction; ``execute_run`` is the task a worker
runs. Swapping the backend touches only this module and ``connectit.worker``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_tasks import TaskContext, TaskResultStatus, task
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import normalize_uuid

from connectit import task_loop
from definitions import runner, runs
from definitions.models import Definition, Run
from oauth2_auth.tokens import Trigger

log = logging.getLogger(__name__)


def _worker_name() -> str:
    """Where the run runs: host, process and thread (a worker runs several runs at once)."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"[:64]


def submit(
    definition: Definition,
    *,
    params: dict[str, str],
    payload: str | None = None,
    trigger: Trigger,
    submission: str | None = None,
    scheduled: bool = False,
) -> tuple[Run, bool]:
    """Queue a run of ``definition``; (run, True). A form sent twice gets the first run back,
    with False, and nothing is queued again."""
    with transaction.atomic():
        record, created = runs.create(
            definition,
            params=params,
            payload=payload,
            trigger=trigger,
            submission=submission,
            scheduled=scheduled,
        )
        if created:
            _enqueue(record.pk)
    return record, created


def _enqueue(run_id: int) -> None:
    result = execute_run.enqueue(run_id)
    runs.set_task(run_id, result.id)


@task(takes_context=True)
def execute_run(context: TaskContext, run_id: int) -> None:
    """Claim the run and run it; then let the next waiting run of its definition start.

    It never raises: a run's failure is stored on the run, and the task framework would keep an
    exception's traceback (which may quote a secret) in its own table."""
    try:
        _execute(run_id, context.task_result.id)
    except Exception as exc:  # noqa: BLE001 - its text may quote a parameter: the type only
        # Where it failed (file, line, code), never the exception's text or any variable.
        where = "".join(traceback.format_tb(exc.__traceback__))
        log.error("Run %s: the task failed with %s at:\n%s", run_id, type(exc).__name__, where)


def _execute(run_id: int, task_id: str) -> None:
    try:
        record = _claim(run_id, task_id)
    except runs.MustWait as wait:
        # Its turn may have come already: the running run may have ended before this one waited.
        start_waiting(wait.definition_id)
        return
    if record is None:
        return  # cancelled or taken meanwhile
    runner.execute(record)
    if record.exclusive:
        start_waiting(record.definition_id)


# What a worker thread's task claim claimed along with an execute_run task (PostgreSQL):
# (the task's id, its run or None), taken by that task when it starts.
_claimed_along = threading.local()


def _claim(run_id: int, task_id: str) -> Run | None:
    along = getattr(_claimed_along, "run", None)
    if along is not None and along[0] == task_id:
        _claimed_along.run = None
        return runs.claimed(run_id, along[1])
    return runs.claim(run_id, worker=_worker_name())  # SQLite, or a task no worker loop claimed


def _along_params(claimed_at: object) -> list[object]:
    return [execute_run.module_path, claimed_at, _worker_name()[:64], runs.FIRST_STEP]


def _receive(task: DBTaskResult, joined: tuple[Run | None, Definition | None]) -> None:
    if task.task_path != execute_run.module_path:
        return
    record, definition = joined
    if record is not None:
        record.definition = definition
    _claimed_along.run = (normalize_uuid(task.pk), record)


def _along() -> task_loop.Along:
    """The run of an execute_run task (its first argument), claimed by the worker's task claim."""
    quote = connection.ops.quote_name
    definitions, key = quote(Definition._meta.db_table), quote(Definition._meta.pk.column)
    of_run = f"r.{quote(Run._meta.get_field('definition').column)}"
    # The definition by its key, for the one run at most: a LATERAL subquery with LIMIT is
    # never flattened into a join, so no statistics can make the planner scan every definition.
    definition = f"SELECT * FROM {definitions} WHERE {key} = {of_run} LIMIT 1"  # noqa: S608 - quoted names
    join = (
        f"LEFT JOIN LATERAL {runs.CLAIM_FUNCTION}("
        "CASE WHEN t.task_path = %s THEN (t.args_kwargs -> 'args' ->> 0)::bigint END, %s, %s, %s) r ON true "
        f"LEFT JOIN LATERAL ({definition}) d ON true"
    )
    return task_loop.Along(join, (Run, Definition), ("r", "d"), _along_params, _receive)


def start_waiting(definition_id: int) -> None:
    if not runs.has_waiting(definition_id):  # the common case: one query, no transaction
        return
    with transaction.atomic():  # marked and queued together, or neither
        for run_id in runs.pick_waiting(definition_id):
            _enqueue(run_id)


def sweep() -> None:
    """Fail the runs of lost workers, and start runs that wait for a turn that has come."""
    lost = runs.mark_lost()
    stale = runs.queued_long_ago()
    if stale:
        taken = DBTaskResult.objects.filter(id__in=list(stale)).exclude(status=TaskResultStatus.READY)
        runs.lost_before_start([stale[str(task_id)] for task_id in taken.values_list("id", flat=True)])
    for definition_id in {*lost, *runs.waiting_definitions()}:
        start_waiting(definition_id)


def prune(now: datetime | None = None) -> int:
    """Delete finished runs past their retention, and the queue's records of finished tasks
    as old as the server's retention. Returns the runs deleted."""
    now = now or timezone.now()
    deleted = runs.prune(now)
    cutoff = now - timedelta(days=settings.CONNECTIT_RUN_RETENTION_DAYS)
    done = DBTaskResult.objects.filter(
        status__in=[TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED], finished_at__lt=cutoff
    )
    while batch := list(done.values_list("pk", flat=True)[: runs.RUN_BATCH]):
        DBTaskResult.objects.filter(pk__in=batch).delete()
    return deleted


# A worker's task claim claims the task's run in the same statement (connectit.task_loop).
task_loop.claim_along(_along())
