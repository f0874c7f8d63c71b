from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString

from oauth2_auth.models import Authorization, Status

register = template.Library()

_BADGE_CLASS = {
    Status.VALID: "text-bg-success",
    Status.EXPIRED: "text-bg-warning",
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
    return format_html(
        '<span class="badge {}" data-status="{}">{}</span>', _BADGE_CLASS[status], status.value, label
    )
