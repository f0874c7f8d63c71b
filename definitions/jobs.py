"""The periodic jobs of definitions, run by the workers (connectit.worker)."""

from __future__ import annotations

from django.conf import settings

from connectit import alerts, worker
from definitions import alert_sources, runlog, schedules, tasks


@worker.periodic("definitions.schedules", every=lambda: 1.0, every_worker=True)
def fire_schedules() -> None:
    schedules.fire_due()


@worker.periodic("definitions.sweep", every=lambda: min(10.0, settings.CONNECTIT_WORKER_LOST_AFTER / 3))
def sweep() -> None:
    tasks.sweep()
    schedules.start_new()


@worker.periodic("definitions.prune", every=lambda: 3600.0)
def prune() -> None:
    tasks.prune()


@worker.on_shutdown
def stop_runs() -> None:
    runlog.stop_all("Stopped: its worker was shut down. Run it again.")


# Scheduled runs that keep failing open an alert (connectit.alerts).
alerts.register_source("definitions", alert_sources.problems)
