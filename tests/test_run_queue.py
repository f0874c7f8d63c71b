"""Queued runs from the web: one run per form submission, the live page, progress and cancel."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django_tasks import TaskContext
from django_tasks_db.models import DBTaskResult

from connectit.models import AuditAction, AuditEntry
from definitions.models import AuthType, Definition, Direction, Outcome, Run
from tests.processes import race
from tests.queue import drain
from tests.test_definition_create import client_for, definitions_user, make_definition

SECRET = "static-bearer-secret-for-queue-tests"


@pytest.fixture
def export(db) -> Definition:
    return make_definition(
        code="ORDERS",
        direction=Direction.EXPORT,
        http_method="POST",
        endpoint_url="http://127.0.0.1:1/orders",
        body_template='{"number": "{number}"}',
        auth_type=AuthType.BEARER,
        bearer_token=SECRET,
    )


def submission(client: Client, definition: Definition) -> str:
    page = client.get(f"/definitions/{definition.pk}/run/").content.decode()
    return re.search(r'name="submission" value="([^"]+)"', page).group(1)


def test_each_form_page_carries_its_own_submission_key(admin_client, export) -> None:
    assert submission(admin_client, export) != submission(admin_client, export)


def test_clicking_run_queues_the_run_and_shows_its_page_at_once(admin_client, export) -> None:
    key = submission(admin_client, export)
    response = admin_client.post(
        f"/definitions/{export.pk}/run/", {"param_number": "SO-1", "submission": key}
    )
    run = Run.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/definitions/runs/{run.pk}/"
    assert run.outcome == Outcome.QUEUED and run.submission == key
    assert DBTaskResult.objects.get().args_kwargs == {"args": [run.pk], "kwargs": {}}
    page = admin_client.get(response["Location"]).content.decode()
    assert 'id="run-live"' in page and "run_progress.js" in page
    assert 'id="cancel-run"' in page
    assert AuditEntry.objects.get(action=AuditAction.RUN).message == f"run {run.pk}"


def test_a_form_sent_twice_gives_one_run(admin_client, export) -> None:
    data = {"param_number": "SO-1", "submission": submission(admin_client, export)}
    first = admin_client.post(f"/definitions/{export.pk}/run/", data)
    second = admin_client.post(f"/definitions/{export.pk}/run/", data, follow=True)
    assert Run.objects.count() == 1 and DBTaskResult.objects.count() == 1
    assert second.redirect_chain[-1][0] == first["Location"]
    assert "already sent" in second.content.decode()
    assert AuditEntry.objects.filter(action=AuditAction.RUN).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_requests_with_one_submission_racing_give_one_run(admin_user) -> None:
    export = make_definition(
        code="ORDERS", direction=Direction.EXPORT, http_method="POST", body_template="{}"
    )
    client = Client()
    client.force_login(admin_user)
    data = {"submission": submission(client, export)}

    def post() -> int:
        own = Client()
        own.force_login(admin_user)
        return own.post(f"/definitions/{export.pk}/run/", data).status_code

    codes = race(post, 4)
    assert codes == [302] * 4
    assert Run.objects.count() == 1 and DBTaskResult.objects.count() == 1


def test_the_progress_of_a_running_run_is_readable_and_redacted(admin_client, export) -> None:
    run = Run.objects.create(
        definition=export,
        trigger="test",
        outcome=Outcome.RUNNING,
        pages=3,
        bytes_received=4096,
        items=60,
        step=f"Calling api.example.com with {SECRET}",
    )
    body = admin_client.get(f"/definitions/runs/{run.pk}/progress/").json()
    assert body["outcome"] == "running" and body["finished"] is False
    assert (body["pages"], body["bytes"], body["items"]) == (3, 4096, 60)
    assert SECRET not in body["step"] and "Calling api.example.com" in body["step"]


def test_a_finished_run_says_so_and_the_page_stops_polling(admin_client, export) -> None:
    run = Run.objects.create(definition=export, trigger="test", outcome=Outcome.SUCCESS)
    assert admin_client.get(f"/definitions/runs/{run.pk}/progress/").json()["finished"] is True
    page = admin_client.get(f"/definitions/runs/{run.pk}/").content.decode()
    assert "run_progress.js" not in page and 'id="cancel-run"' not in page


def test_cancel_of_a_queued_run_is_immediate_and_nothing_is_sent(admin_client, export) -> None:
    admin_client.post(f"/definitions/{export.pk}/run/", {"param_number": "1", "submission": "k1"})
    run = Run.objects.get()
    response = admin_client.post(f"/definitions/runs/{run.pk}/cancel/", follow=True)
    assert "cancelled before it started" in response.content.decode()
    drain()  # the worker finds nothing to do
    run.refresh_from_db()
    assert run.outcome == Outcome.CANCELLED and run.payload is None
    assert run.message == "Cancelled by admin before it started."
    assert AuditEntry.objects.filter(action=AuditAction.CANCEL, target="ORDERS").exists()


def test_cancel_of_a_running_run_is_a_request(admin_client, export) -> None:
    run = Run.objects.create(definition=export, trigger="test", outcome=Outcome.RUNNING)
    response = admin_client.post(f"/definitions/runs/{run.pk}/cancel/", follow=True)
    assert "stops after the page" in response.content.decode()
    run.refresh_from_db()
    assert run.cancel_requested and run.outcome == Outcome.RUNNING


def test_cancel_of_a_finished_run_changes_nothing(admin_client, export) -> None:
    run = Run.objects.create(definition=export, trigger="test", outcome=Outcome.SUCCESS)
    response = admin_client.post(f"/definitions/runs/{run.pk}/cancel/", follow=True)
    assert "already ended" in response.content.decode()
    run.refresh_from_db()
    assert run.outcome == Outcome.SUCCESS and not run.cancel_requested


def test_only_users_who_may_run_may_cancel(export) -> None:
    run = Run.objects.create(definition=export, trigger="test", outcome=Outcome.QUEUED)
    viewer = client_for(definitions_user("viewer", "view_definition"))
    assert viewer.post(f"/definitions/runs/{run.pk}/cancel/").status_code == 403
    assert viewer.get(f"/definitions/runs/{run.pk}/cancel/").status_code in (403, 405)
    run.refresh_from_db()
    assert run.outcome == Outcome.QUEUED
    assert 'id="cancel-run"' not in viewer.get(f"/definitions/runs/{run.pk}/").content.decode()


def test_the_queued_run_runs_with_its_payload_and_forgets_it(admin_client, export) -> None:
    admin_client.post(
        f"/definitions/{export.pk}/run/",
        {"param_number": "1", "payload": '{"custom": 1}', "submission": "k2"},
    )
    assert Run.objects.get().payload == '{"custom": 1}'
    drain()
    run = Run.objects.get()
    assert run.outcome == Outcome.FAILED  # nothing listens on port 1
    assert run.request_body == '{"custom": 1}' and run.payload is None


def test_a_run_whose_task_was_taken_by_a_worker_that_died_is_failed(export, settings) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from definitions import tasks

    run, _ = tasks.submit(export, params={"number": "1"}, trigger=tasks.Trigger("test"))
    DBTaskResult.objects.update(status="RUNNING")  # claimed by a worker that then died
    Run.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(minutes=5))
    tasks.sweep()
    run.refresh_from_db()
    assert run.outcome == Outcome.FAILED and run.message.startswith("Worker lost before the run began")


def test_a_queued_run_still_in_the_queue_is_not_lost(export) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from definitions import tasks

    run, _ = tasks.submit(export, params={"number": "1"}, trigger=tasks.Trigger("test"))
    Run.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(hours=5))  # no worker yet
    tasks.sweep()
    run.refresh_from_db()
    assert run.outcome == Outcome.QUEUED


def test_a_run_nobody_takes_asks_whether_a_worker_is_running(admin_client, export) -> None:
    from datetime import timedelta

    from django.utils import timezone

    run = Run.objects.create(definition=export, trigger="test", step="Queued")
    assert admin_client.get(f"/definitions/runs/{run.pk}/progress/").json()["step"] == "Queued"
    Run.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(seconds=45))
    step = admin_client.get(f"/definitions/runs/{run.pk}/progress/").json()["step"]
    assert step.startswith("Queued for 45 s: no worker has taken it yet") and "manage.py worker" in step


def test_a_task_that_fails_outside_its_run_logs_where_but_never_the_text(export, monkeypatch, caplog) -> None:
    from definitions import runs, tasks

    def broken(run_id: int, *, worker: str):
        raise ValueError(f"a parameter quoted in an error: {SECRET}")

    monkeypatch.setattr(runs, "claim", broken)
    context = TaskContext(task_result=tasks.execute_run.enqueue(12345))
    tasks.execute_run.call(context, 12345)  # never raises: the task framework would keep the traceback
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Run 12345: the task failed with ValueError at:" in logged
    assert "definitions/tasks.py" in logged and "_execute" in logged  # where it failed
    assert SECRET not in logged
