from __future__ import annotations

from django import template
from django.utils.html import format_html

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
def status_badge(record: Authorization) -> str:
    status = record.status
    return format_html(
        '<span class="badge {}" data-status="{}">{}</span>', _BADGE_CLASS[status], status.value, status.label
    )
