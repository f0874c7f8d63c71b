"""REST definitions: one request, or an import's pages, through the definition's ``Caller``.

``execute(caller, run_log, params, payload)`` has the same signature as ``soap.execute``. An
import's GET that answers 429 or 503 waits for Retry-After (capped by CONNECTIT_RETRY_AFTER_MAX and
the run's deadline) and is sent again, at most CONNECTIT_RETRY_ATTEMPTS times; any other request
(an export above all) is never sent twice automatically.
"""

from __future__ import annotations

import json
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.utils import timezone

from connectit import http
from connectit.jsonpath import lookup
from definitions.calls import Caller, Exchange, RunFailed, check_status
from definitions.models import Definition, Direction, Paging
from definitions.runlog import EXPORT_KEEP_BYTES, RunLog
from definitions.templating import ESCAPE_FOR_CONTENT_TYPE, fill, url_escape

PAGE_PLACEHOLDER = "page"
RETRY_STATUSES = (429, 503)
NOT_JSON = object()  # a page that is not JSON (or an error): told apart from a JSON null


def execute(caller: Caller, run_log: RunLog, params: dict[str, str], payload: str | None) -> None:
    definition = caller.definition
    if definition.direction == Direction.IMPORT and definition.paging != Paging.NONE:
        import_pages(caller, run_log, params)
        return
    url = fill(definition.endpoint_url, params, url_escape)
    body = payload if payload is not None else fill_body(definition, params)
    response = request(caller, run_log, url, body)
    if definition.direction == Direction.IMPORT:
        data = page_json(response) if definition.items_property else NOT_JSON
        run_log.page(1, url, response, count_items(data, definition))
    else:
        run_log.export_body(response)
    check_status(response)


def fill_body(definition: Definition, params: dict[str, str]) -> str:
    escape = ESCAPE_FOR_CONTENT_TYPE.get(definition.content_type, ESCAPE_FOR_CONTENT_TYPE["text/plain"])
    return fill(definition.body_template, params, escape)


def request(caller: Caller, run_log: RunLog, url: str, body: str) -> http.Response:
    """Send one request (again after a Retry-After, for an import's GET) and log it."""
    attempt = 0
    while True:
        exchange = _send(caller, run_log, url, body)
        response = exchange.response
        assert response is not None  # send() returns only exchanges with an answer
        if not _retry(caller.definition, response, attempt):
            return response
        attempt += 1
        run_log.run.retries += 1
        wait = retry_after(response, attempt)
        run_log.wait(
            wait,
            f"HTTP {response.status} from {http.host_of(url)} (Retry-After); "
            f"retry {attempt} of {settings.CONNECTIT_RETRY_ATTEMPTS}",
        )


def _send(caller: Caller, run_log: RunLog, url: str, body: str) -> Exchange:
    definition = caller.definition
    headers = {}
    if definition.accept:
        headers["Accept"] = definition.accept
    data = None
    if body and definition.http_method != "GET":
        headers["Content-Type"] = f"{definition.content_type}; charset=utf-8"
        data = body.encode()
    importing = definition.direction == Direction.IMPORT
    exchange = caller.send(
        definition.http_method,
        url,
        headers=headers,
        body=data,
        max_bytes=settings.CONNECTIT_RESPONSE_MAX_BYTES if importing else EXPORT_KEEP_BYTES,
        truncate=not importing,
    )
    run_log.exchange(exchange)
    return exchange


def _retry(definition: Definition, response: http.Response, attempt: int) -> bool:
    """Only an import's GET is sent again: it changes nothing at the server."""
    return (
        response.status in RETRY_STATUSES
        and definition.direction == Direction.IMPORT
        and definition.http_method == "GET"
        and attempt < settings.CONNECTIT_RETRY_ATTEMPTS
    )


def retry_after(response: http.Response, attempt: int, now: datetime | None = None) -> float:
    """Seconds to wait: the Retry-After header (seconds or an HTTP date), else 2, 4, 8, ...;
    at most CONNECTIT_RETRY_AFTER_MAX."""
    cap = float(settings.CONNECTIT_RETRY_AFTER_MAX)
    raw = (response.headers.get("retry-after") or "").strip()
    wait: float | None = None
    if raw.isdigit():
        wait = float(raw)
    elif raw:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            when = None
        if when is not None and when.tzinfo is not None:
            wait = (when - (now or timezone.now())).total_seconds()
    if wait is None:
        wait = 2.0**attempt
    return min(max(wait, 1.0), cap)


def import_pages(caller: Caller, run_log: RunLog, params: dict[str, str]) -> None:
    definition = caller.definition
    number = 0
    page_value = definition.page_start
    url = fill(definition.endpoint_url, {**params, PAGE_PLACEHOLDER: str(page_value)}, url_escape)
    body = fill_body(definition, {**params, PAGE_PLACEHOLDER: str(page_value)})
    while True:
        number += 1
        response = request(caller, run_log, url, body)
        data = page_json(response)  # parsed once, for the count and for paging
        run_log.page(number, url, response, count_items(data, definition))
        check_status(response)
        if data is NOT_JSON:
            raise RunFailed(
                f"Page answered {response.headers.get('content-type') or 'no content type'}, not JSON, "
                "so paging cannot continue."
            )
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
            run_log.run.message = f"Stopped after the maximum of {definition.max_pages} pages."
            return
        run_log.checkpoint()


def page_json(response: http.Response) -> Any:
    """A successful page's JSON; ``NOT_JSON`` for an error status or a body that is not JSON."""
    if response.status >= 300:
        return NOT_JSON
    try:
        return json.loads(response.content)
    except ValueError:
        return NOT_JSON


def count_items(data: Any, definition: Definition) -> int | None:
    """Records in a page's JSON, when the definition names its items property."""
    if data is NOT_JSON or not definition.items_property:
        return None
    items = lookup(data, definition.items_property)
    return len(items) if isinstance(items, list) else None


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
