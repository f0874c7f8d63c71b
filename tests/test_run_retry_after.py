"""An import's GET that answers 429/503 waits for Retry-After and is sent again; nothing else is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import responses

from connectit import http
from definitions import rest, runner
from definitions.models import Definition, Direction, Outcome, Paging
from definitions.runlog import RunLog
from oauth2_auth.tokens import Trigger
from tests.api_server import ApiServer

API = "https://api.example.com"
TRIGGER = Trigger("test")


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked


@pytest.fixture
def waits(monkeypatch) -> list[tuple[float, str]]:
    """Every wait a run makes (and the step it shows meanwhile), without sleeping."""
    seen: list[tuple[float, str]] = []
    original = RunLog.wait

    def wait(self: RunLog, seconds: float, why: str) -> None:
        seen.append((seconds, why))
        self.wake.set()  # no real sleep: the wait returns at once
        original(self, seconds, why)
        self.wake.clear()

    monkeypatch.setattr(RunLog, "wait", wait)
    return seen


def importer(**fields) -> Definition:
    return Definition.objects.create(**{"code": "ITEMS", "endpoint_url": f"{API}/items", **fields})


def throttled(api, times: int, retry_after: str = "7", status: int = 429, method=responses.GET) -> None:
    for _ in range(times):
        api.add(
            method,
            f"{API}/items",
            status=status,
            json={"error": "slow down"},
            headers={"Retry-After": retry_after},
        )
    api.add(method, f"{API}/items", json={"value": [1, 2]})


def test_an_import_waits_for_retry_after_and_succeeds(db, api, waits) -> None:
    throttled(api, 2)
    run = runner.run(importer(items_property="value"), params={}, trigger=TRIGGER)
    assert run.outcome == Outcome.SUCCESS, run.message
    assert len(api.calls) == 3
    assert run.retries == 2 and run.items == 2
    assert [seconds for seconds, _ in waits] == [7.0, 7.0]
    assert waits[0][1] == "HTTP 429 from api.example.com (Retry-After); retry 1 of 5"
    assert "Sent again 2 time(s) after HTTP 429/503" in run.message


def test_503_is_waited_for_too(db, api, waits) -> None:
    throttled(api, 1, status=503, retry_after="2")
    run = runner.run(importer(), params={}, trigger=TRIGGER)
    assert run.outcome == Outcome.SUCCESS and run.retries == 1


def test_a_paged_import_retries_the_page_that_was_throttled(db, api, waits) -> None:
    api.add(responses.GET, f"{API}/items?page=1", json={"value": [1], "total": 2})
    api.add(responses.GET, f"{API}/items?page=2", status=429, headers={"Retry-After": "1"})
    api.add(responses.GET, f"{API}/items?page=2", json={"value": [2], "total": 2})
    definition = importer(
        endpoint_url=f"{API}/items?page={{page}}",
        paging=Paging.PAGE_NUMBER,
        items_property="value",
        total_pages_property="total",
    )
    run = runner.run(definition, params={}, trigger=TRIGGER)
    assert run.outcome == Outcome.SUCCESS, run.message
    assert run.pages == 2 and run.items == 2 and run.retries == 1
    assert list(run.page_set.values_list("number", "http_status")) == [(1, 200), (2, 200)]


def test_it_gives_up_after_the_configured_attempts(db, api, waits, settings) -> None:
    settings.CONNECTIT_RETRY_ATTEMPTS = 2
    throttled(api, 5)
    run = runner.run(importer(), params={}, trigger=TRIGGER)
    assert run.outcome == Outcome.FAILED
    assert run.message.startswith("The endpoint answered HTTP 429.")
    assert len(api.calls) == 3 and run.retries == 2


def test_an_export_is_never_sent_twice(db, api, waits) -> None:
    throttled(api, 1, method=responses.POST)
    export = importer(direction=Direction.EXPORT, http_method="POST", body_template="{}")
    run = runner.run(export, params={}, trigger=TRIGGER)
    assert run.outcome == Outcome.FAILED and run.http_status == 429
    assert len(api.calls) == 1 and waits == []


def test_an_import_by_post_is_not_retried_either(db, api, waits) -> None:
    throttled(api, 1, method=responses.POST)
    run = runner.run(importer(http_method="POST"), params={}, trigger=TRIGGER)
    assert run.outcome == Outcome.FAILED and len(api.calls) == 1


def test_a_wait_past_the_deadline_stops_the_run(db, api, settings) -> None:
    settings.CONNECTIT_RETRY_AFTER_MAX = 600
    throttled(api, 1, retry_after="300")
    run = runner.run(importer(run_deadline=2), params={}, trigger=TRIGGER)
    assert run.outcome == Outcome.FAILED
    assert "would pass the run's deadline of 2 min" in run.message
    assert len(api.calls) == 1


def response(retry_after: str | None) -> http.Response:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return http.Response(status=429, headers=headers, content=b"", truncated=False)


@pytest.mark.parametrize(
    ("header", "attempt", "expected"),
    [
        ("30", 1, 30.0),
        ("0", 1, 1.0),  # at least a second
        ("100000", 1, 120.0),  # capped by CONNECTIT_RETRY_AFTER_MAX
        (None, 1, 2.0),  # no header: 2, 4, 8 ...
        (None, 3, 8.0),
        ("soon", 2, 4.0),  # unreadable: as if missing
    ],
)
def test_retry_after_reads_seconds_and_caps_them(header, attempt, expected) -> None:
    assert rest.retry_after(response(header), attempt) == expected


def test_retry_after_reads_an_http_date() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=45), usegmt=True)
    assert rest.retry_after(response(header), 1, now=now) == 45.0


@pytest.mark.django_db(transaction=True)
def test_it_waits_for_a_real_servers_retry_after() -> None:
    with ApiServer() as server:
        server.state.throttle, server.state.retry_after = 1, "1"
        definition = Definition.objects.create(code="REAL", endpoint_url=f"{server.base_url}/throttled")
        run = runner.run(definition, params={}, trigger=TRIGGER)
    assert run.outcome == Outcome.SUCCESS, run.message
    assert server.state.calls["/throttled"] == 2 and run.retries == 1
    assert run.duration_ms >= 1000  # it really waited
