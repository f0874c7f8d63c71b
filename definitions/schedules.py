"""Schedules: a definition runs every N minutes or on a cron expression.

Every worker looks for due schedules about once a second. The due rows are claimed the way the
task backend claims jobs: in one transaction, with SKIP LOCKED on PostgreSQL (on SQLite the
transaction itself is exclusive: BEGIN IMMEDIATE), and the claim moves ``next_run_at`` past now
in the same transaction that queues the run. So two servers never start the same scheduled run,
and a schedule that fell behind (workers were down) starts one run, not one per missed slot.
A slot whose previous run is still queued or running is skipped (unless the definition allows
overlapping runs). This module is the only writer of ``next_run_at``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from definitions import runs, tasks
from definitions.models import Definition
from oauth2_auth.tokens import Trigger

log = logging.getLogger(__name__)

CLAIM_BATCH = 20
TRIGGER = Trigger("schedule")


def validate_cron(expression: str) -> None:
    try:
        CronSim(expression, timezone.now())
    except CronSimError as exc:
        raise ValidationError(f"Not a valid cron expression: {exc}") from None


def next_after(definition: Definition, after: datetime) -> datetime | None:
    """The schedule's first slot strictly after ``after``, or None without a schedule."""
    if not definition.schedule_enabled:
        return None
    if definition.schedule_cron:
        local = after.astimezone(ZoneInfo(settings.TIME_ZONE)).replace(microsecond=0)
        try:
            return next(iter(CronSim(definition.schedule_cron, local)))
        except (CronSimError, StopIteration):
            return None
    if definition.schedule_every:
        return after + timedelta(minutes=definition.schedule_every)
    return None


def _following(definition: Definition, due: datetime, now: datetime) -> datetime | None:
    """The slot after a due one, skipping every slot already missed."""
    if definition.schedule_cron or not definition.schedule_every:
        return next_after(definition, now)
    period = timedelta(minutes=definition.schedule_every)
    missed = max(0, int((now - due) / period))
    return due + period * (missed + 1)


def reschedule(definition: Definition) -> None:
    """After the schedule was edited: when it next fires, from now."""
    next_run = next_after(definition, timezone.now()) if definition.active else None
    Definition.objects.filter(pk=definition.pk).update(next_run_at=next_run)
    definition.next_run_at = next_run


def fire_due(now: datetime | None = None) -> int:
    """Queue a run for each due schedule; returns how many were queued."""
    now = now or timezone.now()
    due = Definition.objects.filter(schedule_enabled=True, active=True, next_run_at__lte=now)
    if not due.exists():  # the common case: no transaction, no lock
        return 0
    started = 0
    with transaction.atomic():
        for definition in due.select_for_update(skip_locked=True).order_by("next_run_at")[:CLAIM_BATCH]:
            started += _fire(definition, now)
    return started


def _fire(definition: Definition, now: datetime) -> int:
    slot = definition.next_run_at
    following = _following(definition, slot, now)
    Definition.objects.filter(pk=definition.pk).update(next_run_at=following)
    if not definition.allow_overlap and runs.has_unfinished(definition):
        log.info("Schedule of %s: the previous run is still going; this slot is skipped.", definition.code)
        return 0
    tasks.submit(
        definition, params=dict(definition.schedule_parameters or {}), trigger=TRIGGER, scheduled=True
    )
    return 1


def start_new() -> None:
    """Schedules switched on without a next time (e.g. edited in the admin) get one."""
    for definition in Definition.objects.filter(schedule_enabled=True, active=True, next_run_at=None):
        next_run = next_after(definition, timezone.now())
        Definition.objects.filter(pk=definition.pk, next_run_at=None).update(next_run_at=next_run)
