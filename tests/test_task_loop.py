"""The worker's one-statement claim (``connectit.task_loop``): the queue's order, what is not
ready, and many claimers at once (threads and processes) never taking one task twice. On SQLite
and PostgreSQL alike (CI runs both)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from connectit.task_loop import Siblings, TaskLoop, claim_next
from definitions.tasks import execute_run
from tests.claim_worker import race_claimers

pytestmark = pytest.mark.django_db(transaction=True)


def enqueue(number: int, **options) -> str:
    """A task in the queue (never run here: only claimed), told apart by its argument."""
    return str(execute_run.using(**options).enqueue(number).id)


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


@task()
def returns(kind: str) -> object:
    """A task for the loop's tests: a JSON value, or one JSON cannot encode."""
    return {"rows": 3} if kind == "json" else {"when": object()}


def test_each_success_is_stored_with_the_next_claim_on_postgresql() -> None:
    queued = [str(returns.enqueue("json").id) for _ in range(2)]
    with CaptureQueriesContext(connection) as captured:
        TaskLoop(worker_id="batch", interval=0.01, batch=True).run()
    claims = [q for q in captured.captured_queries if "connectit_claim_task" in q["sql"]]
    updates = [q for q in captured.captured_queries if q["sql"].startswith("UPDATE")]
    if connection.vendor == "postgresql":  # two tasks, and the claim that found none
        assert (len(claims), len(updates)) == (3, 0)
    else:  # each claim an UPDATE, then each success
        assert (len(claims), len(updates)) == (0, 5)
    for stored in DBTaskResult.objects.filter(pk__in=queued):
        assert stored.status == TaskResultStatus.SUCCESSFUL and stored.return_value == {"rows": 3}
        assert stored.finished_at >= stored.started_at and stored.worker_ids == ["batch"]


def test_a_success_outlives_a_failed_claim_and_a_stop(monkeypatch) -> None:
    from django.db import OperationalError

    from connectit import task_loop

    first, second = str(returns.enqueue("json").id), str(returns.enqueue("json").id)
    real, calls = task_loop.claim_next, []

    def failing_once_after_a_task(*args):
        calls.append(args)
        if len(calls) == 2:  # the claim that stores the first task's success fails
            raise OperationalError("server closed the connection unexpectedly")
        return real(*args)

    monkeypatch.setattr(task_loop, "claim_next", failing_once_after_a_task)
    monkeypatch.setattr(task_loop, "ERROR_PAUSE", 0)
    loop = TaskLoop(worker_id="stopping", interval=0.01, batch=True)
    run_task = loop.run_task

    def run_then_stop(task) -> None:
        run_task(task)
        if str(task.id) == second:
            loop.running = False  # asked to stop: no claim follows this task

    loop.run_task = run_then_stop
    loop.run()
    statuses = DBTaskResult.objects.filter(pk__in=[first, second]).values_list("status", flat=True)
    assert list(statuses) == [TaskResultStatus.SUCCESSFUL] * 2


def test_a_return_value_json_cannot_encode_fails_the_task() -> None:
    queued = str(returns.enqueue("object").id)
    TaskLoop(worker_id="batch", interval=0.01, batch=True).run()
    stored = DBTaskResult.objects.get(pk=queued)
    assert stored.status == TaskResultStatus.FAILED and stored.exception_class_path == "builtins.TypeError"


def claim_plan() -> str:
    """How the database runs the claim now (it claims a task): SQLite's query plan of the
    statement; on PostgreSQL, the plan auto_explain reports for the statements inside the
    claim's function."""
    if connection.vendor == "sqlite":
        with CaptureQueriesContext(connection) as captured:
            claim_next("worker-a/0", "default", "default")
        (claim,) = [query["sql"] for query in captured.captured_queries]
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + claim)
            return "\n".join(str(row[-1]) for row in cursor.fetchall())
    # The claim is a prepared statement and its function caches its plans: PostgreSQL may
    # switch to a generic plan after five calls, so the plan read is the one after those.
    for _ in range(6):
        claim_next("worker-a/0", "default", "default")
    notices: list[str] = []
    connection.ensure_connection()

    def handler(diagnostic) -> None:
        notices.append(diagnostic.message_primary or "")

    connection.connection.add_notice_handler(handler)
    settings = ["auto_explain.log_min_duration = 0", "auto_explain.log_nested_statements = on"]
    with connection.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'")
        for setting in [*settings, "client_min_messages = log"]:
            cursor.execute(f"SET {setting}")
    try:
        claim_next("worker-a/0", "default", "default")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET client_min_messages")
        connection.connection.remove_notice_handler(handler)
    return "\n".join(notices)


@pytest.mark.parametrize("statistics", ["none", "taken while the queue was empty"])
def test_a_burst_of_queued_tasks_is_claimed_without_sorting_the_queue(statistics: str) -> None:
    # PostgreSQL's planner, told by its statistics that few tasks are ready, would sort every
    # ready task for every claim (connectit migration 0006); SQLite walks the queue's index.
    enqueue(0)
    claim_next("worker-a/0", "default", "default")
    if statistics != "none" and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {DBTaskResult._meta.db_table}")
    for n in range(300):
        enqueue(n)
    plan = claim_plan()
    assert "tasks_db_new_ordering_idx" in plan, plan
    assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan


def test_threads_and_processes_claiming_at_once_take_each_task_once() -> None:
    queued = {enqueue(n) for n in range(300)}
    by_thread, by_process = race_claimers("tasks")
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


_partners = threading.Barrier(2)


@task()
def meets_its_partner() -> str:
    """Ends only when a second thread runs its partner at the same time."""
    _partners.wait(timeout=30)
    return "met"


def test_a_burst_wakes_the_idle_threads_of_a_worker_at_once() -> None:
    """The second loop polls every ten minutes: only the first loop's finding can wake it."""
    _partners.reset()
    siblings = Siblings()
    loops = [
        TaskLoop(worker_id="w/0", interval=0.05, batch=False, siblings=siblings),
        TaskLoop(worker_id="w/1", interval=600, batch=False, siblings=siblings),
    ]
    threads = [threading.Thread(target=run_closing, args=(loop,)) for loop in loops]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 30
        while not all(loop.idle for loop in loops):  # both have found the queue empty
            assert time.monotonic() < deadline, "the loops never went idle"
            time.sleep(0.01)
        queued = [str(meets_its_partner.enqueue().id) for _ in range(2)]
        while DBTaskResult.objects.filter(pk__in=queued, status=TaskResultStatus.SUCCESSFUL).count() < 2:
            failed = DBTaskResult.objects.filter(pk__in=queued, status=TaskResultStatus.FAILED).exists()
            assert not failed and time.monotonic() < deadline + 60, "the second loop slept through the burst"
            time.sleep(0.05)
    finally:
        for loop in loops:
            loop.running = False
        siblings.found_work()  # wakes the sleeper, which then sees it must stop
        for thread in threads:
            thread.join(30)
    workers = {tuple(row.worker_ids) for row in DBTaskResult.objects.filter(pk__in=queued)}
    assert workers == {("w/0",), ("w/1",)}


def run_closing(loop: TaskLoop) -> None:
    from django.db import connections

    try:
        loop.run()
    finally:
        connections.close_all()
