from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from connectit.times import time_element
from oauth2_auth.advice import split as split_advice
from oauth2_auth.credential_expiry import check as expiry_check
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
def local_time(value: datetime | None) -> SafeString:
    """The one time format (connectit/times.py), here too for the templates that load only this."""
    return time_element(value)


@register.simple_tag
def status_badge(record: Authorization) -> SafeString:
    status = record.status
    label = status.label
    if status == Status.VALID:
        return format_html(
            '<span class="badge {}" data-status="{}">Valid, expires {}</span>',
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


LAST_ERROR_SHOWN = 120


@register.simple_tag
def last_error(record: Authorization) -> str:
    """The last failed token request's error, one short line; the whole text in its title. The
    error was redacted when stored (tokens.py), as the record's Bearer Token tab shows it."""
    error = record.token.last_error
    if not error:
        return ""
    short = error if len(error) <= LAST_ERROR_SHOWN else error[: LAST_ERROR_SHOWN - 1] + "…"
    return format_html(
        '<small class="last-error text-danger-emphasis mt-1" title="{}" data-last-error>{}</small>',
        error,
        short,
    )


@register.simple_tag
def credential_expiry(record: Authorization, compact: bool = False) -> SafeString | str:
    """A warning 30 days before the client secret's typed expiry date, an error after it."""
    expiry = expiry_check(record.credential_expires_on)
    if expiry is None:
        return ""
    if compact:  # one line in a list cell
        return format_html(
            '<small class="d-block text-{}-emphasis mt-1" data-credential-expiry="{}">{}</small>',
            expiry.level,
            expiry.level,
            expiry.text,
        )
    return format_html(
        '<div class="alert alert-{} mb-3" role="status" data-credential-expiry="{}">{}</div>',
        expiry.level,
        expiry.level,
        expiry.text,
    )


LINK_TEXT = "The provider's page about this error"


@register.simple_tag
def error_with_advice(message: str) -> SafeString:
    """A stored error, with the advice from our table (oauth2_auth/advice.py) on its own line and
    its link to the provider's error page clickable; the provider's text stays plain text."""
    said, found = split_advice(message)
    if found is None:
        return format_html('<span class="text-danger">{}</span>', message)
    link = ""
    if found.link:
        link = format_html(' <a href="{}" rel="noreferrer">{}</a>', found.link, LINK_TEXT)
    return format_html(
        '<span class="text-danger">{}</span><span class="d-block mt-1" data-advice>'
        "<strong>Advice:</strong> {}{}</span>",
        said,
        found.text,
        link,
    )
