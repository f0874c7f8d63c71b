"""Run a definition from cron or a script.

By default the run is queued for the workers and the command prints its number. ``--wait`` waits
for it to end and exits non-zero when it did not succeed; ``--here`` runs it in this process
(no worker needed), and waits too.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from definitions import runs, tasks
from definitions.models import UNFINISHED, Definition, Outcome, Run
from definitions.runner import deadline_minutes, execute
from oauth2_auth.tokens import Trigger

POLL = 0.25
# How long --wait lets a run sit in the queue before it says that no worker seems to be running.
NO_WORKER_HINT_AFTER = 30


class Command(BaseCommand):
    help = "Run the definition CODE; --param name=value fills placeholders."

    def add_arguments(self, parser) -> None:
        parser.add_argument("code")
        parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
        parser.add_argument(
            "--payload", metavar="FILE", help="Body to send instead of the template (export)."
        )
        parser.add_argument(
            "--wait", action="store_true", help="Wait for the run to end; exit 1 unless it succeeded."
        )
        parser.add_argument(
            "--here", action="store_true", help="Run in this process instead of a worker (waits)."
        )

    def handle(
        self,
        *args: Any,
        code: str,
        param: list[str],
        payload: str | None,
        wait: bool,
        here: bool,
        **options: Any,
    ) -> None:
        definition = Definition.objects.select_related("authorization").filter(code=code.upper()).first()
        if definition is None:
            raise CommandError(f"There is no definition with code {code.upper()!r}.")
        if not definition.active:
            raise CommandError(f"Definition {definition.code} is not active.")
        trigger = Trigger("command run_definition")
        params, body = _params(param), _read(payload)
        if here:
            record = self._here(definition, params, body, trigger)
        else:
            record, _ = tasks.submit(definition, params=params, payload=body, trigger=trigger)
            if not wait:
                self.stdout.write(f"Run {record.pk} of {definition.code} queued.")
                return
            record = self._wait(record, definition)
        self._report(record, definition)

    def _here(
        self, definition: Definition, params: dict[str, str], body: str | None, trigger: Trigger
    ) -> Run:
        queued, _ = runs.create(definition, params=params, payload=body, trigger=trigger)
        record = runs.claim(queued.pk, worker="command run_definition")
        if record is None:
            runs.cancel(queued.pk, by="run_definition --here")
            raise CommandError(
                f"Another run of {definition.code} is running; it does not allow overlapping runs."
            )
        execute(record)
        return record

    def _wait(self, record: Run, definition: Definition) -> Run:
        limit = (
            time.monotonic() + deadline_minutes(definition) * 60 + settings.CONNECTIT_WORKER_LOST_AFTER * 2
        )
        hinted = False
        started = time.monotonic()
        while True:
            record.refresh_from_db()
            if record.outcome not in UNFINISHED:
                return record
            if (
                record.outcome == Outcome.QUEUED
                and not hinted
                and time.monotonic() - started > NO_WORKER_HINT_AFTER
            ):
                self.stderr.write(
                    f"Run {record.pk} is still queued: is a worker running (manage.py worker)? Still waiting."
                )
                hinted = True
            if time.monotonic() > limit:
                raise CommandError(
                    f"Run {record.pk} of {definition.code} did not end in time; it is {record.outcome}."
                )
            time.sleep(POLL)

    def _report(self, record: Run, definition: Definition) -> None:
        if record.http_status:
            status = f"HTTP {record.http_status}"
        else:
            status = "request not sent" if record.never_sent else "no HTTP answer"
        summary = f"Run {record.pk} of {definition.code}: {record.outcome} ({status}, {record.pages} page(s))"
        if record.outcome != Outcome.SUCCESS:
            raise CommandError(f"{summary}: {record.message}")
        self.stdout.write(summary + (f": {record.message}" if record.message else ""))


def _params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CommandError(f"--param takes NAME=VALUE (got {pair!r}).")
        params[name] = value
    return params


def _read(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise CommandError(f"Cannot read the payload file {path}: {exc.strerror}") from None
