"""Alerts about definitions (connectit.alerts): a schedule whose runs keep failing."""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.urls import reverse

from connectit.alerts import Problem, cap
from definitions.models import Definition, Outcome, Run


def problems() -> Iterator[Problem]:
    """One problem per scheduled definition whose last CONNECTIT_ALERT_RUN_FAILURES scheduled runs
    all failed. Runs started by hand do not count (someone is watching those), nor do cancelled
    ones; a definition whose schedule is switched off, or that is inactive, is no longer a problem."""
    failures = settings.CONNECTIT_ALERT_RUN_FAILURES
    scheduled = Definition.objects.filter(schedule_enabled=True, active=True).order_by("pk")
    for pk, code in scheduled.values_list("pk", "code"):
        # Newest first along the (definition, -started_at, -id) index: reads ``failures`` rows.
        finished = Run.objects.filter(
            definition_id=pk, scheduled=True, outcome__in=[Outcome.SUCCESS, Outcome.FAILED]
        ).order_by("-started_at", "-id")
        runs = list(finished.values_list("pk", "outcome", "message")[:failures])
        if len(runs) < failures or any(outcome != Outcome.FAILED for _, outcome, _ in runs):
            continue
        latest, _, message = runs[0]
        # Run messages are redacted before they are stored; an alert quotes only the start.
        said = f"\n\nThe latest, run {latest}, said: {cap(message)}" if message else ""
        yield Problem(
            kind="runs_failing",
            key=f"runs:{code}",
            subject=f"Scheduled runs of {code} keep failing",
            message=f"The last {failures} scheduled runs of definition {code} failed.{said}",
            action=(
                f"Open run {latest} of {code} to see why; correct the definition, its authorization "
                f"or the API, then run it once by hand to check."
            ),
            path=reverse("definitions:run", args=[latest]),
        )
