"""Running a definition and storing what happened.

``run(definition, params=..., payload=..., trigger=...)`` always returns a stored ``Run``: a
failure (HTTP error, SOAP fault, timeout, refused connection, missing parameter) is a failed run
with a clear message, never an exception for the caller. Every stored text passes through the
run's ``Redactor`` first.
"""

from __future__ import annotations

import json
import logging
import traceback
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from connectit import http
from connectit.fields import DecryptionError
from connectit.jsonpath import lookup
from connectit.validators import placeholders
from definitions import soap
from definitions.calls import Caller, Redactor, RunFailed, check_status
from definitions.display import shown_redactor
from definitions.models import Definition, Direction, Kind, Outcome, Paging, Run, RunPage, SoapMode
from definitions.templating import ESCAPE_FOR_CONTENT_TYPE, MissingParameters, fill, url_escape
from oauth2_auth import tokens

log = logging.getLogger(__name__)

EXPORT_KEEP_BYTES = 1024 * 1024
PAGE_PLACEHOLDER = "page"


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
        names += [name for name in placeholders(template) if name != PAGE_PLACEHOLDER and name not in names]
    return names


def run(
    definition: Definition, *, params: dict[str, str], payload: str | None = None, trigger: tokens.Trigger
) -> Run:
    record = _start_run(definition, trigger, params)
    recorder = Recorder(record)
    try:
        missing = [name for name in parameter_names(definition, payload) if name not in params]
        if missing:
            raise MissingParameters(missing)  # all of them at once, before anything is sent
        caller = Caller(definition, trigger)
        recorder.redact = caller.redact
        if definition.kind == Kind.SOAP:
            soap.execute(caller, recorder, params, payload)
        else:
            execute_rest(caller, recorder, params, payload)
    except (RunFailed, MissingParameters) as exc:
        recorder.fail(str(exc))
    except DecryptionError as exc:
        # Not a bug but a missing key: the message names the field and the record (never the
        # value or its ciphertext), and says how to fix it, so the run shows it as it is.
        log.warning("Run %s of %s: %s", record.pk, definition.code, exc)
        recorder.fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug must still leave a finished run, without secrets
        # The traceback goes to the log redacted: an exception's text may quote a secret, even
        # one the run had not sent yet (so every secret the definition holds is redacted).
        redact = shown_redactor(definition)
        redact.add(*recorder.redact.secrets)
        trace = "".join(traceback.format_exception(exc))
        log.error("Run %s of %s crashed:\n%s", record.pk, definition.code, redact(trace))
        recorder.fail(f"Internal error ({type(exc).__name__}); see the server log.")
    else:
        recorder.succeed()
    return record


def _start_run(definition: Definition, trigger: tokens.Trigger, params: dict[str, str]) -> Run:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The "running" row need not wait for its WAL flush: the run's final, durable update
            # flushes it too, and a crash before then loses only an unfinished run's row.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        return Run.objects.create(definition=definition, trigger=trigger.label[:200], parameters=params)


@dataclass
class Recorder:
    """Writes a run's request, answers and outcome, redacted."""

    run: Run
    redact: Redactor = field(default_factory=Redactor)
    kept_bytes: int = 0

    def request(self, method: str, url: str, caller: Caller, body: str) -> None:
        self.run.request_line = self.redact(f"{method} {url}")
        self.run.request_headers = self.redact.headers(caller.last_headers, caller.secret_header_names)
        self.run.request_body = self.redact.body(body)[:EXPORT_KEEP_BYTES]

    def response(self, response: http.Response) -> None:
        self.run.http_status = response.status
        self.run.response_content_type = response.headers.get("content-type", "")[:200]
        self.run.response_headers = self.redact("\n".join(f"{k}: {v}" for k, v in response.headers.items()))
        self.run.bytes_received += len(response.content)

    def export_body(self, response: http.Response) -> None:
        self.run.pages = 1
        self.run.response_body = self.redact.body(response.text(), response.content_type)[:EXPORT_KEEP_BYTES]
        self.run.response_truncated = response.truncated or len(response.content) > EXPORT_KEEP_BYTES

    def page(self, number: int, url: str, response: http.Response) -> None:
        """Store one import page now, so a long import never sits in memory."""
        # Once one page did not fit, none after it is kept either: the kept pages stay a prefix.
        fits = self.kept_bytes + len(response.content) <= settings.CONNECTIT_RUN_KEEP_BYTES
        keep = fits and not self.run.response_truncated
        if keep:
            self.kept_bytes += len(response.content)
        else:
            self.run.response_truncated = True
        RunPage.objects.create(
            run=self.run,
            number=number,
            http_status=response.status,
            url=self.redact(url),
            # body(), not just the redactor: the page pretty-prints it, decoding what a plain
            # search cannot see.
            body=self.redact.body(response.text(), response.content_type) if keep else "",
            size=len(response.content),
            kept=keep,
        )
        self.run.pages = number

    def fail(self, message: str) -> None:
        self._finish(Outcome.FAILED, message)

    def succeed(self, message: str = "") -> None:
        self._finish(Outcome.SUCCESS, message or self.run.message)

    def _finish(self, outcome: str, message: str) -> None:
        self.run.outcome = outcome
        self.run.message = self.redact(message)
        self.run.finished_at = timezone.now()
        self.run.save()


# --- REST ----------------------------------------------------------------------------------------


def execute_rest(caller: Caller, recorder: Recorder, params: dict[str, str], payload: str | None) -> None:
    definition = caller.definition
    if definition.direction == Direction.IMPORT and definition.paging != Paging.NONE:
        import_pages(caller, recorder, params)
        return
    url = fill(definition.endpoint_url, params, url_escape)
    body = payload if payload is not None else fill_body(definition, params)
    response = rest_request(caller, recorder, url, body)
    if definition.direction == Direction.IMPORT:
        recorder.page(1, url, response)
    else:
        recorder.export_body(response)
    check_status(response)


def fill_body(definition: Definition, params: dict[str, str]) -> str:
    escape = ESCAPE_FOR_CONTENT_TYPE.get(definition.content_type, ESCAPE_FOR_CONTENT_TYPE["text/plain"])
    return fill(definition.body_template, params, escape)


def rest_request(caller: Caller, recorder: Recorder, url: str, body: str) -> http.Response:
    definition = caller.definition
    headers = {}
    if definition.accept:
        headers["Accept"] = definition.accept
    data = None
    if body and definition.http_method != "GET":
        headers["Content-Type"] = f"{definition.content_type}; charset=utf-8"
        data = body.encode()
    importing = definition.direction == Direction.IMPORT
    try:
        response = caller.send(
            definition.http_method,
            url,
            headers=headers,
            body=data,
            max_bytes=settings.CONNECTIT_RESPONSE_MAX_BYTES if importing else EXPORT_KEEP_BYTES,
            truncate=not importing,
        )
    finally:
        # Logged even when the request fails, so the run shows what was attempted.
        recorder.request(definition.http_method, url, caller, body)
    recorder.response(response)
    return response


def import_pages(caller: Caller, recorder: Recorder, params: dict[str, str]) -> None:
    definition = caller.definition
    number = 0
    page_value = definition.page_start
    url = fill(definition.endpoint_url, {**params, PAGE_PLACEHOLDER: str(page_value)}, url_escape)
    body = fill_body(definition, {**params, PAGE_PLACEHOLDER: str(page_value)})
    while True:
        number += 1
        response = rest_request(caller, recorder, url, body)
        recorder.page(number, url, response)
        check_status(response)
        data = parse_json(response)
        if definition.paging == Paging.PAGE_NUMBER:
            if page_is_empty(data, definition) or last_page(data, definition, page_value):
                return
            page_value += 1
            url = fill(definition.endpoint_url, {**params, PAGE_PLACEHOLDER: str(page_value)}, url_escape)
            body = fill_body(definition, {**params, PAGE_PLACEHOLDER: str(page_value)})
        else:
            next_url = lookup(data, definition.next_link_property) if isinstance(data, dict) else None
            if not next_url:
                return
            url = same_origin(url, str(next_url))
        if number >= definition.max_pages:
            recorder.run.message = f"Stopped after the maximum of {definition.max_pages} pages."
            return


def parse_json(response: http.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        raise RunFailed(
            f"Page answered {response.headers.get('content-type') or 'no content type'}, not JSON, "
            "so paging cannot continue."
        ) from None


def page_is_empty(data: Any, definition: Definition) -> bool:
    """No records: the items list (or the whole page) is empty or missing."""
    items = lookup(data, definition.items_property) if definition.items_property else data
    return items is None or (isinstance(items, list | dict) and len(items) == 0)


def last_page(data: Any, definition: Definition, page_value: int) -> bool:
    if not definition.total_pages_property or not isinstance(data, dict):
        return False
    total = lookup(data, definition.total_pages_property)
    try:
        return page_value >= int(total)
    except (TypeError, ValueError):
        return False


def same_origin(current: str, next_url: str) -> str:
    """Follow a next link only on the same scheme and host: the token must not go elsewhere."""
    absolute = urljoin(current, next_url)
    a, b = urlsplit(current), urlsplit(absolute)
    if (a.scheme, a.netloc.lower()) != (b.scheme, b.netloc.lower()):
        raise RunFailed(f"The next link points to another host ({b.netloc}); paging stopped.")
    return absolute
