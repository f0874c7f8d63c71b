"""The queue side of runs: queued rows, claiming, cancelling, lost workers and retention.

A run is created queued (``create``), and a worker claims it (``claim``) with a compare-and-set
on its outcome. A definition that does not allow overlap has at most one running run: the
database's unique constraint on running exclusive runs refuses a second claim, which then waits
(``task_id`` empty) until ``pick_waiting`` hands it to the queue again. Nothing here enqueues;
``definitions.tasks`` does, so the task framework stays behind one thin module.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from connectit.db import single_statement, update_returning_with, where_equal
from definitions.models import UNFINISHED, Definition, Outcome, Run, RunPage
from oauth2_auth.tokens import Trigger

log = logging.getLogger(__name__)

PENDING = "pending"  # task_id while a task is being enqueued for a run
PAGE_BATCH = 1000
RUN_BATCH = 200


def create(
    definition: Definition,
    *,
    params: dict[str, str],
    payload: str | None = None,
    trigger: Trigger,
    submission: str | None = None,
    scheduled: bool = False,
) -> tuple[Run, bool]:
    """A queued run, and True; or the run an earlier POST of the same form created, and False."""
    try:
        with transaction.atomic():
            record = Run.objects.create(
                definition=definition,
                trigger=trigger.label[:200],
                parameters=params,
                payload=payload,
                submission=submission,
                scheduled=scheduled,
                exclusive=not definition.allow_overlap,
                task_id=PENDING,
                step="Queued",
            )
    except IntegrityError:
        earlier = Run.objects.filter(submission=submission).first() if submission else None
        if earlier is None:
            raise
        return earlier, False
    return record, True


class MustWait(Exception):
    """Another run of the definition is running: this one now waits for its turn."""

    def __init__(self, definition_id: int) -> None:
        super().__init__(definition_id)
        self.definition_id = definition_id


FIRST_STEP = "Starting"
# The same claim as a PostgreSQL function of (run id, claimed at, worker, first step), migration
# 0009, so that a worker's task claim can make it in its own statement (definitions.tasks).
CLAIM_FUNCTION = "definitions_claim_run"


def claim(run_id: int, *, worker: str) -> Run | None:
    """Take the queued run for this worker, with its definition. None when it is not queued any
    more (cancelled, or taken); ``MustWait`` when another run of its definition is running."""
    now = timezone.now()
    values = {"outcome": Outcome.RUNNING, "running_since": now, "heartbeat_at": now, "worker": worker[:64]}
    values["step"] = FIRST_STEP
    # One statement on PostgreSQL: the compare-and-set on the outcome also reads the run and
    # its definition (a worker claims every run, so each SELECT would cost as much again).
    # Its authorization, if any, loads when a request first needs its token.
    where = where_equal(Run, "id", "outcome")
    try:
        with single_statement():
            params = [run_id, Outcome.QUEUED]
            return update_returning_with(Run, values, where, params, "definition", prepared=True)
    except IntegrityError:
        definition_id = _wait(run_id)
        raise MustWait(definition_id) from None


def claimed(run_id: int, record: Run | None) -> Run | None:
    """What CLAIM_FUNCTION returned for the run, as claim() returns it: the run, running; None
    when it was not queued any more; ``MustWait`` when it is still queued (another run of its
    definition is running)."""
    if record is not None and record.outcome == Outcome.QUEUED:
        raise MustWait(_wait(run_id))
    return record if record is not None and record.outcome == Outcome.RUNNING else None


def _wait(run_id: int) -> int:
    """Mark the run as waiting for its turn; its definition's id."""
    definition_id = Run.objects.filter(pk=run_id).values_list("definition_id", flat=True).get()
    running = (
        Run.objects.filter(definition_id=definition_id, outcome=Outcome.RUNNING, exclusive=True)
        .values_list("pk", flat=True)
        .first()
    )
    step = f"Waiting for run {running} of this definition to finish" if running else "Waiting"
    Run.objects.filter(pk=run_id, outcome=Outcome.QUEUED).update(task_id="", step=step)
    return definition_id


def pick_waiting(definition_id: int) -> list[int]:
    """The oldest run of the definition that waits for a turn, if its turn has come; marked so
    that only one caller enqueues it."""
    waiting = Run.objects.filter(definition_id=definition_id, outcome=Outcome.QUEUED, task_id="")
    oldest = waiting.order_by("started_at", "id").values_list("pk", flat=True).first()
    if oldest is None:  # the common case: one query
        return []
    busy = Run.objects.filter(definition_id=definition_id, outcome=Outcome.RUNNING, exclusive=True)
    if busy.exists() or not Run.objects.filter(pk=oldest, task_id="").update(task_id=PENDING):
        return []
    return [oldest]


def has_waiting(definition_id: int) -> bool:
    return Run.objects.filter(definition_id=definition_id, outcome=Outcome.QUEUED, task_id="").exists()


def waiting_definitions() -> list[int]:
    return list(
        Run.objects.filter(outcome=Outcome.QUEUED, task_id="")
        .values_list("definition_id", flat=True)
        .distinct()
    )


def set_task(run_id: int, task_id: str) -> None:
    Run.objects.filter(pk=run_id).update(task_id=str(task_id)[:64])


def has_unfinished(definition: Definition) -> bool:
    return Run.objects.filter(definition=definition, outcome__in=UNFINISHED).exists()


def cancel(run_id: int, *, by: str) -> str:
    """Cancel a run: a queued one at once ("cancelled"), a running one at its next page boundary
    ("requested"); "finished" when it had already ended."""
    now = timezone.now()
    queued = Run.objects.filter(pk=run_id, outcome=Outcome.QUEUED)
    if queued.update(
        outcome=Outcome.CANCELLED,
        finished_at=now,
        step="",
        payload=None,
        message=f"Cancelled by {by} before it started.",
    ):
        return "cancelled"
    if Run.objects.filter(pk=run_id, outcome=Outcome.RUNNING).update(cancel_requested=True):
        return "requested"
    return "finished"


def mark_lost() -> list[int]:
    """Fail the runs whose worker died: running without a heartbeat for WORKER_LOST_AFTER
    seconds, or queued while their task was taken by a worker that never began them. Returns
    the definitions whose waiting runs may now start."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.CONNECTIT_WORKER_LOST_AFTER)
    silent = Run.objects.filter(outcome=Outcome.RUNNING, heartbeat_at__lt=cutoff)
    definitions = set()
    for pk, definition_id, worker in silent.values_list("pk", "definition_id", "worker"):
        message = (
            f"Worker lost: its worker ({worker or 'unknown'}) stopped sending a heartbeat for more than "
            f"{settings.CONNECTIT_WORKER_LOST_AFTER} s (killed, or its server went down). Run it again."
        )
        if silent.filter(pk=pk).update(
            outcome=Outcome.FAILED, finished_at=now, step="", payload=None, message=message
        ):
            log.warning("Run %s: worker %s lost", pk, worker)
            definitions.add(definition_id)
    return sorted(definitions)


def queued_long_ago() -> dict[str, int]:
    """{task id: run id} of runs queued for WORKER_LOST_AFTER seconds whose task was enqueued
    (``definitions.tasks`` asks the queue whether a worker took those tasks)."""
    cutoff = timezone.now() - timedelta(seconds=settings.CONNECTIT_WORKER_LOST_AFTER)
    stale = Run.objects.filter(outcome=Outcome.QUEUED, started_at__lt=cutoff).exclude(
        task_id__in=("", PENDING)
    )
    return dict(stale.values_list("task_id", "pk")[:RUN_BATCH])


def lost_before_start(run_ids: list[int]) -> None:
    """Fail queued runs whose task a worker took but never began (it died in between)."""
    Run.objects.filter(pk__in=run_ids, outcome=Outcome.QUEUED).update(
        outcome=Outcome.FAILED,
        finished_at=timezone.now(),
        step="",
        payload=None,
        message="Worker lost before the run began. Run it again.",
    )


def prune(now=None) -> int:
    """Delete finished runs (and their pages) older than their retention, in small batches that
    each hold their locks only briefly. Returns the number of runs deleted."""
    now = now or timezone.now()
    deleted = 0
    for days, condition in _retention_groups():
        old = Run.objects.filter(condition, started_at__lt=now - timedelta(days=days)).exclude(
            outcome__in=UNFINISHED
        )
        while True:
            ids = list(old.values_list("pk", flat=True)[:RUN_BATCH])
            if not ids:
                break
            _delete_pages(ids)
            Run.objects.filter(pk__in=ids).delete()
            deleted += len(ids)
    return deleted


def _retention_groups() -> list[tuple[int, Q]]:
    """(days, which runs) for the server default and for each definition's own retention."""
    own = Definition.objects.exclude(keep_runs_days=None).values_list("keep_runs_days", flat=True).distinct()
    groups = [(settings.CONNECTIT_RUN_RETENTION_DAYS, Q(definition__keep_runs_days=None))]
    groups += [(days, Q(definition__keep_runs_days=days)) for days in own]
    return groups


def _delete_pages(run_ids: list[int]) -> None:
    pages = RunPage.objects.filter(run_id__in=run_ids)
    while True:
        batch = list(pages.values_list("pk", flat=True)[:PAGE_BATCH])
        if not batch:
            return
        RunPage.objects.filter(pk__in=batch).delete()
