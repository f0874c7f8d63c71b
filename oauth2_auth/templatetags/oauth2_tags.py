from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString

from oauth2_auth.models import Authorization, Status

register = template.Library()

# Amber and red are for what needs a person: an expired token renews by itself when next asked.
_BADGE_CLASS = {
    Status.VALID: "text-bg-success",
    Status.EXPIRED: "text-bg-info",
    Status.CONSENT_REQUIRED: "text-bg-warning",
    Status.FAILED: "text-bg-danger",
    Status.NOT_CONNECTED: "text-bg-secondary",
}


@register.simple_tag
def local_time(value: datetime) -> SafeString:
    """A time in the server's zone, turned into the browser's own zone by local_time.js."""
    shown = date_format(timezone.localtime(value), "Y-m-d H:i:s T")
    return format_html('<time datetime="{}" data-local>{}</time>', value.isoformat(), shown)


@register.simple_tag
def status_badge(record: Authorization) -> SafeString:
    status = record.status
    label = status.label
    if status == Status.VALID:
        return format_html(
            '<span class="badge {}" data-status="{}">Valid until {}</span>',
            _BADGE_CLASS[status],
            status.value,
            local_time(record.token.effective_expiry),
        )
    if status == Status.EXPIRED:
        label = "Expired (renews when next used)"
    if status == Status.FAILED and record.token.is_fresh():
        # Not "Failed" beside a future "Valid until": say which of the two a caller gets.
        left = record.token.effective_expiry - timezone.now()
        label = f"Last renewal failed; the current token still works for {_minutes(left.total_seconds())}"
    return format_html(
        '<span class="badge {}" data-status="{}">{}</span>', _BADGE_CLASS[status], status.value, label
    )


def _minutes(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} min" if minutes < 120 else f"{round(minutes / 60)} h"
