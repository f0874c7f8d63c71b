"""Times on the pages are relative ("in 52 min", "3 h ago") with the exact time in the configured
zone on hover and for screen readers (issue 12, item 7)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from connectit import audit
from connectit.models import AuditAction
from connectit.times import exact, iso_utc, relative, time_element
from definitions.models import Definition, Run
from tests.conftest import make_authorization

NOW = datetime(2026, 11, 30, 13, 0, 0, tzinfo=UTC)
TIME = re.compile(r'<time datetime="([^"]+)" title="([^"]+)" data-relative>')


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "just now"),
        (44, "just now"),
        (-44, "just now"),
        (45, "in 1 min"),
        (-45, "1 min ago"),
        (52 * 60, "in 52 min"),
        (59 * 60 + 29, "in 59 min"),
        (59 * 60 + 31, "in 1 h"),  # never "in 60 min"
        (-3 * 3600, "3 h ago"),
        (23 * 3600 + 29 * 60, "in 23 h"),
        (23 * 3600 + 31 * 60, "in 1 day"),  # never "in 24 h"
        (2 * 86400, "in 2 days"),
        (-2 * 86400, "2 days ago"),
        (59 * 86400, "in 59 days"),
        (90 * 86400, "in 3 months"),
        (-400 * 86400, "1 year ago"),
        (800 * 86400, "in 2 years"),
    ],
)
def test_it_says_how_far_a_time_is(seconds: int, text: str) -> None:
    assert relative(NOW + timedelta(seconds=seconds), NOW) == text


def test_it_shows_the_exact_time_in_the_configured_zone(settings) -> None:
    settings.TIME_ZONE = "Europe/Berlin"
    assert exact(datetime(2026, 11, 30, 13, 5, 9, tzinfo=UTC)) == "2026-11-30 14:05:09 CET"
    assert exact(datetime(2026, 7, 1, 13, 5, 9, tzinfo=UTC)) == "2026-07-01 15:05:09 CEST"


def test_it_counts_real_time_across_a_dst_change(settings) -> None:
    # Berlin goes back from 03:00 CEST to 02:00 CET at 01:00 UTC on 25 October 2026: the same wall
    # clock time twice, an hour apart, told apart by the zone; and the distance is the real hour.
    settings.TIME_ZONE = "Europe/Berlin"
    before = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    after = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert exact(before) == "2026-10-25 02:30:00 CEST"
    assert exact(after) == "2026-10-25 02:30:00 CET"
    assert relative(after, before) == "in 1 h"
    assert relative(before, after) == "1 h ago"


def test_the_element_carries_utc_the_relative_text_and_the_exact_time(settings) -> None:
    settings.TIME_ZONE = "Europe/Berlin"
    value = datetime(2026, 11, 30, 13, 52, 0, tzinfo=UTC)
    html = str(time_element(value, NOW))
    assert TIME.search(html).groups() == ("2026-11-30T13:52:00Z", "2026-11-30 14:52:00 CET")
    assert "<span data-relative-text>in 52 min</span>" in html
    # Screen readers get the exact time too, not only sighted users hovering the title.
    assert '<span class="visually-hidden"> (2026-11-30 14:52:00 CET)</span>' in html


def test_the_datetime_attribute_is_utc_whatever_the_value_zone(settings) -> None:
    settings.TIME_ZONE = "America/New_York"
    assert iso_utc(timezone.localtime(NOW)) == "2026-11-30T13:00:00Z"


def test_no_time_is_a_dash() -> None:
    assert str(time_element(None)) == "—"


@pytest.mark.django_db
def test_the_record_page_shows_token_times_relative(admin_client: Client, settings) -> None:
    settings.TIME_ZONE = "Europe/Berlin"
    now = timezone.now()
    record = make_authorization(
        access_token="at-value",
        token_state="connected",
        expires_at=now + timedelta(minutes=52, seconds=10),
        obtained_at=now - timedelta(hours=3),
    )
    body = admin_client.get(f"/oauth2/authorizations/{record.pk}/").content.decode()
    assert "in 52 min" in body  # valid until: the header's badge and the Bearer Token tab
    assert "3 h ago" in body  # obtained
    zones = {title.rsplit(" ", 1)[1] for _iso, title in TIME.findall(body)}
    assert zones <= {"CET", "CEST"} and zones
    assert "at-value" not in body


@pytest.mark.django_db
def test_the_runs_and_the_audit_trail_show_times_relative(admin_client: Client) -> None:
    definition = Definition.objects.create(code="ITEMS", endpoint_url="https://api.example.com/x")
    run = Run.objects.create(
        definition=definition,
        trigger="admin",
        started_at=timezone.now() - timedelta(hours=2),
        finished_at=timezone.now() - timedelta(minutes=100),
    )
    audit.record(AuditAction.CREATED, actor="admin", target_type="definition", target="ITEMS")
    for url in ("/definitions/runs/", f"/definitions/runs/{run.pk}/", f"/definitions/{definition.pk}/"):
        body = admin_client.get(url).content.decode()
        assert "2 h ago" in body and TIME.search(body), url
    assert "; finished <time" in admin_client.get(f"/definitions/runs/{run.pk}/").content.decode()
    body = admin_client.get("/audit/").content.decode()
    assert "just now" in body and TIME.search(body)


@pytest.mark.django_db
def test_the_schedule_shows_the_next_run_relative(admin_client: Client) -> None:
    definition = Definition.objects.create(
        code="ITEMS",
        endpoint_url="https://api.example.com/x",
        schedule_enabled=True,
        schedule_every=60,
        next_run_at=timezone.now() + timedelta(minutes=30),
    )
    body = admin_client.get(f"/definitions/{definition.pk}/").content.decode()
    assert re.search(r"Next run: <time [^>]+><span data-relative-text>in 30 min</span>", body)
