"""Runs in real ``manage.py worker`` processes: execution, no double runs, lost workers, cancel,
one run at a time, schedules across workers. On SQLite and PostgreSQL alike (CI runs both)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from definitions import tasks
from definitions.models import Definition, Direction, Outcome, Paging, Run
from oauth2_auth.tokens import Trigger
from tests.api_server import ApiServer
from tests.workers import wait_for, workers

pytestmark = pytest.mark.django_db(transaction=True)
TRIGGER = Trigger("test")


@pytest.fixture
def api():
    with ApiServer() as server:
        yield server


def paged(api: ApiServer, code: str = "ITEMS", **fields) -> Definition:
    values = {
        "code": code,
        "endpoint_url": f"{api.base_url}/items?page={{page}}",
        "paging": Paging.PAGE_NUMBER,
        "items_property": "value",
        "total_pages_property": "total",
        "max_pages": 1000,
    }
    return Definition.objects.create(**{**values, **fields})


def finished(run_id: int) -> Run | None:
    run = Run.objects.get(pk=run_id)
    return run if run.finished else None


def test_a_queued_run_executes_in_the_worker(api) -> None:
    definition = paged(api)
    run, created = tasks.submit(definition, params={}, trigger=TRIGGER)
    assert created and run.outcome == Outcome.QUEUED
    with workers(1) as (worker,):
        done = wait_for(lambda: finished(run.pk), what="the run to finish")
    assert done.outcome == Outcome.SUCCESS, done.message
    assert done.pages == 3 and done.items == 6
    assert f":{worker.pid}:{worker.name}/" in done.worker  # host, process and thread
    assert done.running_since >= done.started_at
    assert done.payload is None and done.step == ""
    assert api.state.calls["/items"] == 3


def test_two_workers_never_take_the_same_run(api) -> None:
    api.state.pages = 1
    definition = paged(api, allow_overlap=True)
    queued = [tasks.submit(definition, params={}, trigger=TRIGGER)[0].pk for _ in range(40)]
    with workers(2) as pair:
        wait_for(
            lambda: (
                not Run.objects.filter(pk__in=queued, outcome__in=[Outcome.QUEUED, Outcome.RUNNING]).exists()
            ),
            timeout=90,
            what="all 40 runs",
        )
    runs = Run.objects.filter(pk__in=queued)
    assert set(runs.values_list("outcome", flat=True)) == {Outcome.SUCCESS}
    assert api.state.calls["/items"] == 40  # each run sent its one request once
    taken = [result.worker_ids for result in DBTaskResult.objects.all()]
    assert len(taken) == 40 and all(len(ids) == 1 for ids in taken)
    by_worker = {worker.name: sum(ids[0].startswith(f"{worker.name}/") for ids in taken) for worker in pair}
    assert sum(by_worker.values()) == 40


def test_a_killed_workers_run_is_marked_lost_and_the_next_run_starts(api) -> None:
    api.state.pages, api.state.page_delay = 200, 0.2
    definition = paged(api)
    first, _ = tasks.submit(definition, params={}, trigger=TRIGGER)
    fast = {"CONNECTIT_HEARTBEAT_SECONDS": "1", "CONNECTIT_WORKER_LOST_AFTER": "3"}
    with workers(1, **fast) as (doomed,):
        wait_for(lambda: Run.objects.filter(pk=first.pk, pages__gte=1).exists(), what="the first pages")
        second, _ = tasks.submit(definition, params={}, trigger=TRIGGER)  # queued behind the first
        doomed.kill()
    api.state.pages, api.state.page_delay = 1, 0.0
    with workers(1, **fast):
        lost = wait_for(lambda: finished(first.pk), what="the lost run to be marked")
        after = wait_for(lambda: finished(second.pk), what="the waiting run to run")
    assert lost.outcome == Outcome.FAILED
    assert lost.message.startswith("Worker lost")
    assert after.outcome == Outcome.SUCCESS, after.message


def test_cancel_stops_a_multi_page_import(api, admin_user) -> None:
    api.state.pages, api.state.page_delay = 100, 0.1
    run, _ = tasks.submit(paged(api), params={}, trigger=TRIGGER)
    client = Client()
    client.force_login(admin_user)
    with workers(1):
        wait_for(lambda: Run.objects.filter(pk=run.pk, pages__gte=3).exists(), what="three pages")
        response = client.post(f"/definitions/runs/{run.pk}/cancel/")
        assert response.status_code == 302
        done = wait_for(lambda: finished(run.pk), what="the cancel")
    assert done.outcome == Outcome.CANCELLED
    assert 3 <= done.pages < 100
    assert api.state.calls["/items"] == done.pages  # stopped at a page boundary: nothing after
    assert done.cancel_requested


def test_cancel_before_a_worker_takes_the_run_sends_nothing(api, admin_user) -> None:
    run, _ = tasks.submit(paged(api), params={}, trigger=TRIGGER)
    client = Client()
    client.force_login(admin_user)
    client.post(f"/definitions/runs/{run.pk}/cancel/")
    with workers(1):
        wait_for(lambda: DBTaskResult.objects.filter(status="SUCCESSFUL").exists(), what="the task")
    run.refresh_from_db()
    assert run.outcome == Outcome.CANCELLED
    assert "before it started" in run.message
    assert api.state.calls["/items"] == 0


def test_one_run_at_a_time_per_definition(api) -> None:
    api.state.pages, api.state.page_delay = 4, 0.2
    definition = paged(api)
    first = tasks.submit(definition, params={}, trigger=TRIGGER)[0]
    second = tasks.submit(definition, params={}, trigger=TRIGGER)[0]
    with workers(2):
        done = [wait_for(lambda pk=pk: finished(pk), what=f"run {pk}") for pk in (first.pk, second.pk)]
    assert [run.outcome for run in done] == [Outcome.SUCCESS, Outcome.SUCCESS]
    a, b = sorted(done, key=lambda run: run.running_since)
    assert a.finished_at <= b.running_since  # never both running


def test_overlapping_runs_are_allowed_when_the_definition_says_so(api) -> None:
    api.state.pages, api.state.page_delay = 6, 0.3
    definition = paged(api, allow_overlap=True)
    queued = [tasks.submit(definition, params={}, trigger=TRIGGER)[0].pk for _ in range(2)]
    with workers(2):
        done = [wait_for(lambda pk=pk: finished(pk), what=f"run {pk}") for pk in queued]
    a, b = sorted(done, key=lambda run: run.running_since)
    assert b.running_since < a.finished_at  # they ran at the same time


def test_a_schedule_fires_once_per_period_across_two_workers(api) -> None:
    api.state.pages = 1
    definition = paged(api, schedule_enabled=True, schedule_every=60, allow_overlap=True)
    # Fell behind: ten periods were missed while no worker ran.
    Definition.objects.filter(pk=definition.pk).update(next_run_at=timezone.now() - timedelta(hours=10))
    with workers(2):
        wait_for(
            lambda: Run.objects.filter(scheduled=True, outcome=Outcome.SUCCESS).count() == 1, what="a run"
        )
        definition.refresh_from_db()
        assert definition.next_run_at > timezone.now()  # one run, not ten
        # The next period comes: again exactly one run.
        Definition.objects.filter(pk=definition.pk).update(next_run_at=timezone.now())
        wait_for(
            lambda: Run.objects.filter(scheduled=True, outcome=Outcome.SUCCESS).count() == 2, what="run 2"
        )
        wait_for(lambda: not Run.objects.filter(outcome__in=[Outcome.QUEUED, Outcome.RUNNING]).exists())
    assert Run.objects.filter(scheduled=True).count() == 2
    assert set(Run.objects.values_list("trigger", flat=True)) == {"schedule"}


def test_a_stopped_worker_ends_its_run_at_the_next_page(api) -> None:
    api.state.pages, api.state.page_delay = 100, 0.2
    run, _ = tasks.submit(paged(api), params={}, trigger=TRIGGER)
    with workers(1) as (worker,):
        wait_for(lambda: Run.objects.filter(pk=run.pk, pages__gte=2).exists(), what="two pages")
        assert worker.stop() == 0
    run.refresh_from_db()
    assert run.outcome == Outcome.FAILED
    assert "worker was shut down" in run.message
    assert run.pages < 100


def test_an_export_is_sent_once(api) -> None:
    export = Definition.objects.create(
        code="ORDERS",
        direction=Direction.EXPORT,
        http_method="POST",
        endpoint_url=f"{api.base_url}/orders",
        body_template='{"number": "{number}"}',
    )
    run, _ = tasks.submit(export, params={"number": "SO-1"}, trigger=TRIGGER)
    with workers(2):
        done = wait_for(lambda: finished(run.pk), what="the export")
    assert done.outcome == Outcome.SUCCESS and done.http_status == 201
    assert api.state.posts == [b'{"number": "SO-1"}']


def test_a_hanging_run_does_not_hold_up_the_others(api) -> None:
    api.state.hang = 4
    hanging = Definition.objects.create(code="HANGS", endpoint_url=f"{api.base_url}/hang", timeout=30)
    slow, _ = tasks.submit(hanging, params={}, trigger=TRIGGER)
    quick, _ = tasks.submit(paged(api), params={}, trigger=TRIGGER)
    with workers(1, CONNECTIT_WORKER_THREADS="2"):
        done = wait_for(lambda: finished(quick.pk), what="the quick run")
        assert Run.objects.get(pk=slow.pk).outcome == Outcome.RUNNING  # still waiting for its API
    assert done.outcome == Outcome.SUCCESS


def test_the_ticker_keeps_its_connection_and_runs_every_worker_jobs_itself(monkeypatch) -> None:
    from django.db import connection

    from connectit import worker

    seen: list[tuple[threading.Thread, object]] = []
    monkeypatch.setattr(worker, "_jobs", {})
    record = lambda: seen.append((threading.current_thread(), connection.connection))  # noqa: E731
    worker.periodic("test.schedules", every=lambda: 0.0, every_worker=True)(record)
    worker.periodic("test.claimed", every=lambda: 0.0)(lambda: None)
    connection.ensure_connection()
    kept = connection.connection
    ticker = worker.Ticker()
    for _ in range(3):
        ticker.tick()  # as the ticker's thread does, here in this one
        worker.jobs()["test.claimed"].thread.join(10)  # the claimed job: a thread of its own
    # Each tick ran the every-worker job here, and claimed a period, on the one connection.
    assert seen == [(threading.current_thread(), kept)] * 3
    assert connection.connection is kept


def _sessions_opened() -> int:
    """Connections ever opened to the test database, as PostgreSQL's statistics count them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


# PostgreSQL counts the sessions opened (an SQLite connection is a file handle): defined only
# there, rather than skipped on SQLite, where CI refuses skipped tests.
if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":

    def test_idle_workers_keep_their_connections_open(api) -> None:
        # Each worker's ticker checks due schedules every second and claims job periods every
        # few: on the connection it keeps, not on a new PostgreSQL process each time (17 a
        # worker in these 7 seconds when each opened its own). Only the jobs claimed once per
        # period across all workers connect for their run: alert deliveries every 2 s and the
        # sweep every 10 s.
        with workers(2):
            time.sleep(3)  # started: every thread has its connection, every job has run once
            before = _sessions_opened()
            time.sleep(7)  # every job's period has come again at least once
            opened = _sessions_opened() - before
        assert opened <= 4 + 2
