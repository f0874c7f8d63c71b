"""Times on the pages: relative text ("in 52 min", "3 h ago") with the exact time in the
configured zone beside it. static/connectit/local_time.js keeps the relative text current with
the same rules."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

# Under this many seconds either way a time is "just now": clocks and page loads differ by that.
JUST_NOW = 45
MINUTE, HOUR, DAY = 60, 3600, 86400
EXACT_FORMAT = "%Y-%m-%d %H:%M:%S %Z"


def relative(value: datetime, now: datetime | None = None) -> str:
    """``value`` seen from ``now``: "just now", "in 52 min", "3 h ago", "in 2 days"."""
    seconds = (value - (now or timezone.now())).total_seconds()
    if abs(seconds) < JUST_NOW:
        return "just now"
    span = _span(abs(seconds))
    return f"in {span}" if seconds > 0 else f"{span} ago"


def _span(seconds: float) -> str:
    # Each unit is rounded, and a count that rounds up to the next unit moves to it, so no
    # "60 min" or "24 h".
    minutes = max(1, round(seconds / MINUTE))
    if minutes < 60:
        return f"{minutes} min"
    hours = round(seconds / HOUR)
    if hours < 24:
        return f"{hours} h"
    days = round(seconds / DAY)
    if days < 60:
        return f"{days} day{'s' if days != 1 else ''}"
    months = round(seconds / (30 * DAY))
    if months < 12:
        return f"{months} months"
    years = round(seconds / (365 * DAY))
    return f"{years} year{'s' if years != 1 else ''}"


def exact(value: datetime) -> str:
    """The time in the configured zone (settings.TIME_ZONE), with the zone's abbreviation."""
    return timezone.localtime(value).strftime(EXACT_FORMAT)


def iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def time_element(value: datetime | None, now: datetime | None = None) -> SafeString:
    """``<time>`` with the relative text, the exact time on hover (title) and, for screen
    readers, the exact time as visually hidden text too (a title alone is not read reliably)."""
    if value is None:
        return format_html("{}", "—")
    shown = exact(value)
    return format_html(
        '<time datetime="{}" title="{}" data-relative><span data-relative-text>{}</span>'
        '<span class="visually-hidden"> ({})</span></time>',
        iso_utc(value),
        shown,
        relative(value, now),
        shown,
    )
