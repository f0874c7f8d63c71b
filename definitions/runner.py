"""Running a definition: task -> run -> protocol (REST or SOAP) -> caller -> HTTP.

``execute(run)`` is what a worker does with a run it claimed (``definitions.runs``): send its
requests through the protocol and store how it ended. ``run(definition, ...)``
does the same at once in this process (tests, benchmarks). Either way a failure (HTTP error, SOAP
fault, timeout, refused connection, missing parameter, cancel, deadline) is a finished run with a
clear message, never an exception for the caller, and every stored text is redacted first.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from connectit.db import single_statement
from connectit.fields import DecryptionError
from connectit.validators import placeholders
from definitions import rest, soap
from definitions.calls import Caller, Exchange, RunFailed
from definitions.display import shown_redactor
from definitions.models import Definition, Direction, Kind, Outcome, Run, SoapMode
from definitions.runlog import RunLog, RunStopped, follow
from definitions.templating import MissingParameters
from oauth2_auth import tokens

log = logging.getLogger(__name__)

PROTOCOLS: dict[str, Callable[[Caller, RunLog, dict[str, str], str | None], None]] = {
    Kind.REST: rest.execute,
    Kind.SOAP: soap.execute,
}


def parameter_names(definition: Definition, payload: str | None = None) -> list[str]:
    """The placeholders a run must fill, in order; {page} belongs to paging. A payload
    replaces the body (or SOAP parameters/envelope), so their placeholders are then not needed."""
    templates = [definition.endpoint_url]
    if definition.kind == Kind.REST:
        body = definition.body_template
    elif definition.soap_mode == SoapMode.WSDL:
        templates.append(definition.wsdl_url)
        body = definition.parameters_json
    else:
        body = definition.envelope_template
    if payload is None:
        templates.append(body)
    names = []
    for template in templates:
        names += [
            name for name in placeholders(template) if name != rest.PAGE_PLACEHOLDER and name not in names
        ]
    return names


def deadline_minutes(definition: Definition) -> int:
    return definition.run_deadline or max(1, settings.CONNECTIT_RUN_DEADLINE // 60)


class Busy(Exception):
    """Another run of the definition is running, and the definition does not allow overlap."""


def run(
    definition: Definition, *, params: dict[str, str], payload: str | None = None, trigger: tokens.Trigger
) -> Run:
    """Run ``definition`` now, in this process. Raises ``Busy`` when it may not overlap a run
    that is going on."""
    now = timezone.now()
    try:
        # One INSERT in autocommit: on PostgreSQL a transaction around it (to skip its WAL flush)
        # cost more round trips than the flush.
        with single_statement():
            record = Run.objects.create(
                definition=definition,
                trigger=trigger.label[:200],
                parameters=params,
                outcome=Outcome.RUNNING,
                started_at=now,
                running_since=now,
                heartbeat_at=now,
                exclusive=not definition.allow_overlap,
            )
    except IntegrityError:
        raise Busy(f"A run of {definition.code} is already running.") from None
    _execute(record, definition, params, payload, trigger)
    return record


def execute(record: Run) -> None:
    """Run ``record``, a run a worker has claimed (``runs.claim``)."""
    trigger = tokens.Trigger(record.trigger)
    _execute(record, record.definition, record.parameters, record.payload, trigger)


def _execute(
    record: Run, definition: Definition, params: dict[str, str], payload: str | None, trigger: tokens.Trigger
) -> None:
    # A token the run asks for is recorded against the run, not just against who started it.
    trigger = tokens.Trigger(f"run {record.pk} of {definition.code}, started by {trigger.label}")
    minutes = deadline_minutes(definition)
    run_log = RunLog(record, deadline=time.monotonic() + minutes * 60, deadline_minutes=minutes)
    follow(run_log)
    caller: Caller | None = None
    try:
        missing = [name for name in parameter_names(definition, payload) if name not in params]
        if missing:
            raise MissingParameters(missing)  # all of them at once, before anything is sent
        caller = Caller(definition, trigger, deadline=run_log.deadline, on_step=run_log.step)
        run_log.redact = caller.redact
        PROTOCOLS[definition.kind](caller, run_log, params, payload)
    except RunStopped as stop:
        run_log.stopped(stop)
    except RunFailed as exc:
        if exc.exchange is not None:
            run_log.exchange(exc.exchange)  # shown on the run: what was being sent
            _keep_answer(run_log, definition, exc.exchange)
        run_log.fail(str(exc))
    except MissingParameters as exc:
        run_log.fail(str(exc))
    except DecryptionError as exc:
        # Not a bug but a missing key: the message names the field and the record (never the
        # value or its ciphertext), and says how to fix it, so the run shows it as it is.
        log.warning("Run %s of %s: %s", record.pk, definition.code, exc)
        run_log.fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug must still leave a finished run, without secrets
        _crashed(run_log, definition, exc)
    else:
        if record.retries:
            note = f"Sent again {record.retries} time(s) after HTTP 429/503 (Retry-After)."
            record.message = f"{record.message} {note}".strip()
        if caller is not None and caller.renewed_after_401:
            record.message = f"{record.message} {_renewal_note(caller.renewed_after_401)}".strip()
        run_log.succeed()


def _renewal_note(count: int) -> str:
    if count == 1:
        return "The token was refused once (HTTP 401) and renewed; the retry succeeded."
    return f"The token was refused {count} times (HTTP 401) and renewed; each retry succeeded."


def _keep_answer(run_log: RunLog, definition: Definition, exchange: Exchange) -> None:
    """A failure that still got an answer (a 401 that survived the token renewal) keeps its body
    as any answer is kept, so the run shows what the server said and not just that it failed."""
    response = exchange.response
    if response is None:
        return
    if definition.kind == Kind.REST and definition.direction == Direction.IMPORT:
        run_log.page(run_log.run.pages + 1, exchange.url, response)
    else:
        run_log.export_body(response)


def _crashed(run_log: RunLog, definition: Definition, exc: Exception) -> None:
    # The traceback goes to the log redacted: an exception's text may quote a secret, even one
    # the run had not sent yet (so every secret the definition holds is redacted).
    redact = shown_redactor(definition)
    redact.add(*run_log.redact.secrets)
    trace = "".join(traceback.format_exception(exc))
    log.error("Run %s of %s crashed:\n%s", run_log.run.pk, definition.code, redact(trace))
    run_log.fail(f"Internal error ({type(exc).__name__}); see the server log.")
