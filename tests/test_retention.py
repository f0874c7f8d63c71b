"""Retention: the workers delete old runs and their pages in small batches; recent runs stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from definitions import runs
from definitions.models import Definition, Outcome, Run, RunPage
from tests.test_definition_create import make_definition
from tests.workers import wait_for, workers


def old_run(definition: Definition, days: float, pages: int = 3, outcome: str = Outcome.SUCCESS) -> Run:
    run = Run.objects.create(
        definition=definition,
        trigger="test",
        outcome=outcome,
        started_at=timezone.now() - timedelta(days=days),
    )
    RunPage.objects.bulk_create(
        RunPage(run=run, number=n, http_status=200, url="https://api.example.com/", body="{}")
        for n in range(1, pages + 1)
    )
    return run


def test_it_deletes_runs_older_than_the_retention_with_their_pages(db, settings) -> None:
    settings.CONNECTIT_RUN_RETENTION_DAYS = 30
    definition = make_definition()
    gone = [old_run(definition, 31), old_run(definition, 400, outcome=Outcome.FAILED)]
    kept = [old_run(definition, 29), old_run(definition, 0)]
    assert runs.prune() == 2
    assert set(Run.objects.values_list("pk", flat=True)) == {run.pk for run in kept}
    assert not RunPage.objects.filter(run_id__in=[run.pk for run in gone]).exists()
    assert RunPage.objects.count() == 6


def test_a_definition_may_keep_its_runs_longer_or_shorter(db, settings) -> None:
    settings.CONNECTIT_RUN_RETENTION_DAYS = 30
    longer = make_definition(code="AUDITED", keep_runs_days=365)
    shorter = make_definition(code="CHATTY", keep_runs_days=1)
    default = make_definition(code="PLAIN")
    kept = {old_run(longer, 100).pk, old_run(shorter, 0.5).pk, old_run(default, 10).pk}
    old_run(longer, 366), old_run(shorter, 2), old_run(default, 31)
    assert runs.prune() == 3
    assert set(Run.objects.values_list("pk", flat=True)) == kept


def test_an_unfinished_run_is_never_pruned(db) -> None:
    definition = make_definition(allow_overlap=True)
    queued = old_run(definition, 90, outcome=Outcome.QUEUED)
    running = old_run(definition, 90, outcome=Outcome.RUNNING)
    assert runs.prune() == 0
    assert set(Run.objects.values_list("pk", flat=True)) == {queued.pk, running.pk}


def test_it_works_in_small_batches(db, monkeypatch) -> None:
    monkeypatch.setattr(runs, "RUN_BATCH", 2)
    monkeypatch.setattr(runs, "PAGE_BATCH", 4)
    definition = make_definition()
    for _ in range(5):
        old_run(definition, 60, pages=7)
    with CaptureQueriesContext(connection) as queries:
        assert runs.prune() == 5
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    page_deletes = [sql for sql in deletes if "runpage" in sql.lower()]
    # No statement deletes more than a batch: 35 pages in batches of at most 4 rows.
    assert len(page_deletes) >= 35 // 4
    assert Run.objects.count() == 0 and RunPage.objects.count() == 0


def test_the_runs_list_says_how_long_runs_are_kept(admin_client, settings) -> None:
    settings.CONNECTIT_RUN_RETENTION_DAYS = 14
    body = admin_client.get("/definitions/runs/").content.decode()
    assert "kept for 14 days" in body


@pytest.mark.django_db(transaction=True)
def test_a_worker_prunes_by_itself(settings) -> None:
    definition = make_definition()
    gone, kept = old_run(definition, 45), old_run(definition, 1)
    with workers(1):
        wait_for(lambda: not Run.objects.filter(pk=gone.pk).exists(), what="the old run to be pruned")
    assert Run.objects.filter(pk=kept.pk).exists()
    assert not RunPage.objects.filter(run_id=gone.pk).exists()


def test_the_queues_records_of_old_finished_tasks_go_too(db, settings) -> None:
    from django_tasks_db.models import DBTaskResult

    from definitions import tasks
    from tests.queue import drain

    settings.CONNECTIT_RUN_RETENTION_DAYS = 30
    definition = make_definition(endpoint_url="http://127.0.0.1:1/x", allow_overlap=True)
    for _ in range(3):
        tasks.submit(definition, params={}, trigger=tasks.Trigger("test"))
    drain()
    DBTaskResult.objects.filter(pk__in=list(DBTaskResult.objects.values_list("pk", flat=True)[:2])).update(
        finished_at=timezone.now() - timedelta(days=31)
    )
    tasks.submit(definition, params={}, trigger=tasks.Trigger("test"))  # still queued: kept
    tasks.prune()
    assert DBTaskResult.objects.count() == 2
    assert DBTaskResult.objects.filter(status="READY").count() == 1
