"""Schedules: next times (interval and cron, DST included), the form, and claiming due rows
(threads racing on one database; the worker-process race is in test_worker.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from definitions import schedules
from definitions.models import Definition, Outcome, Run
from tests.processes import race
from tests.queue import drain
from tests.test_definition_create import definition_data, errors, make_definition

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
PARAMS = '{"environment": "production"}'  # the form's endpoint has an {environment} placeholder


def scheduled(**fields) -> Definition:
    return make_definition(**{"schedule_enabled": True, "schedule_every": 15, **fields})


def test_every_n_minutes_counts_from_the_last_slot(db) -> None:
    definition = scheduled()
    after = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert schedules.next_after(definition, after) == after + timedelta(minutes=15)


def test_a_cron_expression_follows_the_configured_time_zone_across_dst(db, settings) -> None:
    settings.TIME_ZONE = "Europe/Amsterdam"
    definition = scheduled(schedule_every=None, schedule_cron="30 6 * * *")
    # The night clocks go forward (29 March 2026): 06:30 local is 04:30 UTC after it, 05:30 before.
    before = schedules.next_after(definition, datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    after = schedules.next_after(definition, datetime(2026, 3, 29, 12, 0, tzinfo=UTC))
    assert before.astimezone(UTC) == datetime(2026, 3, 29, 4, 30, tzinfo=UTC)
    assert after.astimezone(UTC) == datetime(2026, 3, 30, 4, 30, tzinfo=UTC)
    assert before.astimezone(AMSTERDAM).hour == after.astimezone(AMSTERDAM).hour == 6


def test_a_disabled_schedule_has_no_next_time(db) -> None:
    assert schedules.next_after(scheduled(schedule_enabled=False), timezone.now()) is None


def test_saving_a_schedule_in_the_form_sets_its_next_time(admin_client) -> None:
    data = definition_data(
        schedule_enabled="on", schedule_every="", schedule_cron="0 7 * * 1-5", schedule_parameters=PARAMS
    )
    response = admin_client.post("/definitions/new/", data)
    assert response.status_code == 302, errors(response)
    definition = Definition.objects.get()
    assert definition.next_run_at is not None and definition.next_run_at > timezone.now()
    assert definition.next_run_at.astimezone(ZoneInfo("UTC")).minute == 0


def test_switching_a_schedule_off_clears_its_next_time(admin_client) -> None:
    definition = scheduled(code="BC-CUSTOMERS")
    schedules.reschedule(definition)
    assert definition.next_run_at is not None
    data = definition_data(schedule_every="15", schedule_parameters=PARAMS)  # schedule_enabled unticked
    response = admin_client.post(f"/definitions/{definition.pk}/", data)
    assert response.status_code == 302, errors(response)
    definition.refresh_from_db()
    assert definition.next_run_at is None


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"schedule_cron": "61 * * * *"}, "schedule_cron", "Not a valid cron expression"),
        ({"schedule_every": "5", "schedule_cron": "* * * * *"}, "schedule_cron", "not both"),
        ({"schedule_every": "", "schedule_cron": ""}, "schedule_every", "Give 'every (minutes)'"),
        ({"schedule_every": "0"}, "schedule_every", "greater than or equal to 1"),
        ({"schedule_parameters": "[1, 2]"}, "schedule_parameters", "JSON object"),
    ],
)
def test_the_form_refuses_a_bad_schedule(admin_client, fields, field, message) -> None:
    data = definition_data(schedule_enabled="on", schedule_every="15", schedule_parameters=PARAMS)
    data.update(fields)
    found = errors(admin_client.post("/definitions/new/", data))
    assert any(message in text for text in found.get(field, [])), found


def test_a_scheduled_run_needs_a_value_for_every_placeholder(admin_client) -> None:
    data = definition_data(
        endpoint_url="https://api.example.com/{company}/customers",
        schedule_enabled="on",
        schedule_every="15",
        schedule_parameters='{"other": "x"}',
    )
    found = errors(admin_client.post("/definitions/new/", data))
    assert "missing: company" in found["schedule_parameters"][0]


def test_a_due_schedule_queues_one_run_with_its_parameters(db) -> None:
    definition = scheduled(
        endpoint_url="https://api.example.com/{company}", schedule_parameters={"company": "X"}
    )
    Definition.objects.filter(pk=definition.pk).update(next_run_at=timezone.now() - timedelta(minutes=1))
    assert schedules.fire_due() == 1
    run = Run.objects.get()
    assert run.scheduled and run.trigger == "schedule" and run.parameters == {"company": "X"}
    assert run.outcome == Outcome.QUEUED
    assert schedules.fire_due() == 0  # claimed: the next slot is in the future


def test_a_schedule_that_fell_behind_starts_one_run_and_keeps_its_rhythm(db) -> None:
    definition = scheduled(schedule_every=15)
    slot = timezone.now() - timedelta(minutes=100)  # six slots missed
    Definition.objects.filter(pk=definition.pk).update(next_run_at=slot)
    assert schedules.fire_due() == 1
    definition.refresh_from_db()
    assert definition.next_run_at == slot + timedelta(minutes=105)  # the first slot after now
    assert Run.objects.count() == 1


def test_a_slot_is_skipped_while_the_previous_run_is_still_going(db) -> None:
    definition = scheduled()
    Run.objects.create(definition=definition, trigger="schedule", outcome=Outcome.RUNNING)
    Definition.objects.filter(pk=definition.pk).update(next_run_at=timezone.now())
    assert schedules.fire_due() == 0
    definition.refresh_from_db()
    assert definition.next_run_at > timezone.now()
    assert Run.objects.count() == 1


def test_inactive_or_disabled_definitions_never_fire(db) -> None:
    for code, fields in (("OFF", {"schedule_enabled": False}), ("INACTIVE", {"active": False})):
        definition = scheduled(code=code, **fields)
        Definition.objects.filter(pk=definition.pk).update(next_run_at=timezone.now())
    assert schedules.fire_due() == 0


def test_a_scheduled_run_runs_in_the_worker(db, settings) -> None:
    definition = scheduled(endpoint_url="http://127.0.0.1:1/unreachable")
    Definition.objects.filter(pk=definition.pk).update(next_run_at=timezone.now())
    schedules.fire_due()
    assert drain() == 1
    run = Run.objects.get()
    assert run.outcome == Outcome.FAILED and "Could not connect" in run.message


@pytest.mark.django_db(transaction=True)
def test_threads_racing_for_due_schedules_queue_each_run_once() -> None:
    due = timezone.now() - timedelta(seconds=1)
    for number in range(10):
        definition = scheduled(code=f"S{number}")
        Definition.objects.filter(pk=definition.pk).update(next_run_at=due)
    counts = race(schedules.fire_due, 6)
    assert sum(counts) == 10
    assert Run.objects.count() == 10
    assert sorted(Run.objects.values_list("definition__code", flat=True)) == [f"S{n}" for n in range(10)]


def test_the_definition_page_shows_the_next_run(admin_client, settings) -> None:
    settings.TIME_ZONE = "Europe/Amsterdam"
    definition = scheduled()
    schedules.reschedule(definition)
    body = admin_client.get(f"/definitions/{definition.pk}/").content.decode()
    expected = timezone.localtime(definition.next_run_at).strftime("%Y-%m-%d %H:%M:%S")
    assert "Next run: <time" in body  # relative ("in 4 min"), the exact time on hover
    assert f'title="{expected} CET"' in body
