"""The worker's one-statement claim (``connectit.task_loop``): the queue's order, what is not
ready, and many claimers at once (threads and processes) never taking one task twice. On SQLite
and PostgreSQL alike (CI runs both)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from connectit.task_loop import TaskLoop, claim_next
from definitions.tasks import execute_run
from tests.processes import REPO, race, worker_env

pytestmark = pytest.mark.django_db(transaction=True)


def enqueue(number: int, **options) -> str:
    """A task in the queue (never run here: only claimed), told apart by its argument."""
    return str(execute_run.using(**options).enqueue(number).id)


def claim_all(worker_id: str) -> list[str]:
    taken = []
    while (task := claim_next(worker_id, "default", "default")) is not None:
        taken.append(str(task.id))
    return taken


def test_tasks_are_claimed_in_the_queues_order_and_marked_running() -> None:
    later = enqueue(1)
    urgent = enqueue(2, priority=10)
    first = enqueue(3, run_after=timezone.now() - timedelta(minutes=5))
    task = claim_next("worker-a/0", "default", "default")
    assert str(task.id) == urgent
    assert task.task_result.args == [2]  # the claimed row comes back whole, converted
    assert [str(claim_next("worker-a/0", "default", "default").id) for _ in range(2)] == [first, later]
    assert claim_next("worker-a/0", "default", "default") is None
    stored = DBTaskResult.objects.get(pk=urgent)
    assert stored.status == TaskResultStatus.RUNNING and stored.worker_ids == ["worker-a/0"]
    assert timezone.now() - stored.started_at < timedelta(minutes=1)


def test_tasks_not_ready_stay_queued() -> None:
    future = enqueue(1, run_after=timezone.now() + timedelta(hours=1))
    other_queue = enqueue(2)
    DBTaskResult.objects.filter(pk=other_queue).update(queue_name="other")  # as another app's queue
    assert claim_next("worker-a/0", "default", "default") is None
    statuses = DBTaskResult.objects.filter(pk__in=[future, other_queue]).values_list("status", flat=True)
    assert set(statuses) == {TaskResultStatus.READY}


def test_the_loop_runs_what_it_claims_and_records_the_outcome() -> None:
    queued = enqueue(999_999)  # no such run: the task returns at once, successfully
    TaskLoop(worker_id="batch", interval=0.01, batch=True).run()
    stored = DBTaskResult.objects.get(pk=queued)
    assert stored.status == TaskResultStatus.SUCCESSFUL and stored.finished_at is not None


def test_threads_and_processes_claiming_at_once_take_each_task_once() -> None:
    queued = {enqueue(n) for n in range(300)}
    start_at = time.time() + 3  # time for each interpreter to import Django first
    claimers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.claim_worker", f"process-{n}", str(start_at)],
            cwd=REPO,
            env=worker_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    time.sleep(max(0.0, start_at - time.time()))
    by_thread = race(lambda: claim_all("thread"), 6)
    by_process = []
    for claimer in claimers:
        out, err = claimer.communicate(timeout=120)
        assert claimer.returncode == 0, err
        by_process.append(json.loads(out.strip().splitlines()[-1]))
    taken = [task for batch in by_thread + by_process for task in batch]
    assert len(taken) == len(set(taken)) == 300  # none twice, none left behind
    assert set(taken) == queued
    assert all(by_process), "each process took some of the tasks: the race really ran"
    assert not DBTaskResult.objects.filter(status=TaskResultStatus.READY).exists()


def test_a_database_error_drops_the_connection_and_the_loop_goes_on(monkeypatch, caplog) -> None:
    from django.db import OperationalError

    from connectit import task_loop

    queued = enqueue(999_999)
    failures = [
        OperationalError("server closed the connection unexpectedly"),
        OperationalError("database is locked"),
    ]
    real = task_loop.claim_next

    def flaky(*args):
        if failures:
            raise failures.pop(0)
        return real(*args)

    monkeypatch.setattr(task_loop, "claim_next", flaky)
    monkeypatch.setattr(task_loop, "ERROR_PAUSE", 0)
    TaskLoop(worker_id="flaky", interval=0.01, batch=True).run()
    assert DBTaskResult.objects.get(pk=queued).status == TaskResultStatus.SUCCESSFUL
    warnings = [r.getMessage() for r in caplog.records if r.name == "connectit.task_loop"]
    assert any("could not be read (server closed the connection" in text for text in warnings)
    assert not any("locked" in text for text in warnings)  # a lock is waited out, not reported
