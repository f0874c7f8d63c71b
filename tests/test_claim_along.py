"""A worker's task claim takes the task's run too (``connectit.task_loop.Along``, registered by
``definitions.tasks``): on PostgreSQL in the claim's own statement, one round trip fewer per run;
on SQLite the task claims its run when it starts, as before. Either way a run is taken once, a
cancelled run is not run, and an exclusive run whose definition is busy waits for its turn
without undoing the claim of its task. On SQLite and PostgreSQL alike (CI runs both)."""

from __future__ import annotations

import pytest
import responses
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from connectit.task_loop import TaskLoop, claim_next
from definitions import runs, tasks
from definitions.models import Definition, Outcome, Run
from oauth2_auth.tokens import Trigger
from tests.claim_worker import race_claimers
from tests.test_definition_create import make_definition
from tests.test_task_loop import claim_plan

pytestmark = pytest.mark.django_db(transaction=True)

URL = "http://127.0.0.1:1/items"  # answered by `responses`; nothing listens there
TRIGGER = Trigger("test")
POSTGRESQL = connection.vendor == "postgresql"


def definition(code: str = "ITEMS", *, overlap: bool = True) -> Definition:
    return make_definition(code=code, endpoint_url=URL, allow_overlap=overlap)


def submit(target: Definition) -> Run:
    return tasks.submit(target, params={}, trigger=TRIGGER)[0]


def run_claimed(task: DBTaskResult) -> None:
    """What the worker's loop does with the task it claimed."""
    TaskLoop(worker_id="w/0", interval=0.01, batch=True).run_task(task)


def test_the_claim_takes_the_run_in_its_own_statement_on_postgresql(monkeypatch) -> None:
    run = submit(definition())
    with CaptureQueriesContext(connection) as captured:
        task = claim_next("w/0", "default", "default")
    claimed = Run.objects.get(pk=run.pk)
    if POSTGRESQL:
        assert len(captured) == 1
        assert claimed.outcome == Outcome.RUNNING and claimed.step == runs.FIRST_STEP
        assert claimed.worker == tasks._worker_name() and claimed.running_since == task.started_at
        assert claimed.heartbeat_at == claimed.running_since

        def never(*args, **kwargs):
            raise AssertionError("the task claimed its run again")

        monkeypatch.setattr(runs, "claim", never)  # the task takes what the claim took
    else:
        assert claimed.outcome == Outcome.QUEUED  # the task claims it when it starts
    with responses.RequestsMock() as api:
        api.get(URL, json={"value": [{"id": 1}]})
        run_claimed(task)
    done = Run.objects.get(pk=run.pk)
    assert done.outcome == Outcome.SUCCESS and done.pages == 1 and done.worker == tasks._worker_name()
    assert DBTaskResult.objects.get(pk=task.pk).status == TaskResultStatus.SUCCESSFUL


def test_a_run_cancelled_before_its_task_is_claimed_is_not_run() -> None:
    run = submit(definition())
    assert runs.cancel(run.pk, by="admin") == "cancelled"
    task = claim_next("w/0", "default", "default")
    with responses.RequestsMock():  # any request would fail the run: nothing may be sent
        run_claimed(task)
    run.refresh_from_db()
    assert run.outcome == Outcome.CANCELLED and "before it started" in run.message and run.worker == ""


def test_an_exclusive_run_waits_for_its_turn_and_its_task_stays_claimed() -> None:
    busy = definition(overlap=False)
    running = Run.objects.create(definition=busy, trigger="a", outcome=Outcome.RUNNING, exclusive=True)
    waiting = submit(busy)
    task = claim_next("w/0", "default", "default")  # on PostgreSQL, meets the unique index
    assert task is not None and DBTaskResult.objects.get(pk=task.pk).status == TaskResultStatus.RUNNING
    with responses.RequestsMock():
        run_claimed(task)
    waiting.refresh_from_db()
    assert waiting.outcome == Outcome.QUEUED and waiting.task_id == ""
    assert waiting.step == f"Waiting for run {running.pk} of this definition to finish"
    # Its turn comes when the running run ends: queued again, then run.
    Run.objects.filter(pk=running.pk).update(outcome=Outcome.SUCCESS)
    tasks.start_waiting(busy.pk)
    with responses.RequestsMock() as api:
        api.get(URL, json={})
        run_claimed(claim_next("w/0", "default", "default"))
    waiting.refresh_from_db()
    assert waiting.outcome == Outcome.SUCCESS


def test_only_a_run_the_claim_set_running_is_run() -> None:
    """What the claim function returns is the run set running, or the run still queued (it then
    waits); any other state (cancelled meanwhile) is taken as nothing to run."""
    run = submit(definition())
    assert runs.cancel(run.pk, by="admin") == "cancelled"
    run.refresh_from_db()
    assert runs.claimed(run.pk, run) is None and runs.claimed(run.pk, None) is None
    Run.objects.filter(pk=run.pk).update(outcome=Outcome.RUNNING)
    run.refresh_from_db()
    assert runs.claimed(run.pk, run) == run


def test_a_claimed_run_goes_to_its_own_task_only() -> None:
    """What a claim took along waits for its own task: another task run meanwhile in the same
    thread (not claimed by the loop: the tests' drain, say) claims its run itself."""
    first, second = submit(definition("FIRST")), submit(definition("SECOND"))
    task = claim_next("w/0", "default", "default")
    other = DBTaskResult.objects.exclude(pk=task.pk).get()
    mine, theirs = (first, second) if task.args_kwargs["args"] == [first.pk] else (second, first)
    assert tasks._claim(theirs.pk, other.task_result.id).pk == theirs.pk
    assert tasks._claim(mine.pk, task.task_result.id).pk == mine.pk
    assert Run.objects.filter(outcome=Outcome.RUNNING).count() == 2


def test_threads_and_processes_claiming_at_once_take_each_run_once() -> None:
    overlap, exclusive = definition("MANY"), definition("ONE-AT-A-TIME", overlap=False)
    queued = {submit(overlap).pk for _ in range(150)} | {submit(exclusive).pk for _ in range(30)}
    by_thread, by_process = race_claimers("runs")
    taken = [tuple(item) for batch in by_thread + by_process for item in batch]
    assert sorted(run_id for run_id, _ in taken) == sorted(queued)  # each task once, none left
    assert all(by_process), "each process took some of the runs: the race really ran"
    running = [run_id for run_id, how in taken if how == "running"]
    stored = dict(Run.objects.values_list("pk", "outcome"))
    assert sorted(running) == sorted(pk for pk, outcome in stored.items() if outcome == Outcome.RUNNING)
    exclusive_running = Run.objects.filter(definition=exclusive, outcome=Outcome.RUNNING).count()
    assert exclusive_running == 1  # the other 29 wait for their turn
    assert Run.objects.filter(definition=exclusive, outcome=Outcome.QUEUED, task_id="").count() == 29
    assert Run.objects.filter(definition=overlap, outcome=Outcome.RUNNING).count() == 150
    assert {how for _, how in taken} == {"running", "waits"}


if POSTGRESQL:

    def test_the_claim_reads_the_runs_definition_by_its_key() -> None:
        """Told nothing (no statistics yet), the planner hashed the whole definitions table for
        every claim: 0.7 ms a claim with 1,000 definitions, against 0.25 ms. The plan read is
        the one PostgreSQL keeps after five calls of the prepared statement."""
        target = definition()
        for _ in range(8):
            submit(target)
        plan = claim_plan()
        assert "definitions_definition_pkey" in plan, plan
        assert "Seq Scan on definitions_definition" not in plan and "Hash" not in plan, plan
