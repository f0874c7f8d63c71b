"""The Alerts page for administrators: where alerts go, open and recent incidents, how each
delivery went, and a button that sends a test alert (the workers send it, like any other)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from connectit import alerts, audit
from connectit.models import AlertChannel, AlertDelivery, AuditAction, Incident

RECENT = 25  # incidents and deliveries the page lists

_manage = permission_required("connectit.manage_alerts", raise_exception=True)


@never_cache
@_manage
@require_GET
def alerts_page(request: HttpRequest) -> HttpResponse:
    context = {
        # Recipients and the webhook's host only: the URL's path may hold a token, and the signing
        # secret is never shown (the page says whether one is set).
        "emails": settings.CONNECTIT_ALERT_EMAILS,
        "email_from": settings.DEFAULT_FROM_EMAIL,
        "email_server": f"{settings.EMAIL_HOST}:{settings.EMAIL_PORT}",
        "webhook_host": alerts.webhook_host(),
        "webhook_refusal": alerts.webhook_refusal(),
        "channels": alerts.channels(),
        "token_failures": settings.CONNECTIT_ALERT_AFTER_FAILURES,
        "run_failures": settings.CONNECTIT_ALERT_RUN_FAILURES,
        "check_seconds": settings.CONNECTIT_ALERT_CHECK_SECONDS,
        "open_incidents": list(Incident.objects.filter(resolved_at=None).order_by("-opened_at", "-id")),
        "recent_incidents": list(
            Incident.objects.exclude(resolved_at=None).order_by("-opened_at", "-id")[:RECENT]
        ),
        "deliveries": list(
            AlertDelivery.objects.select_related("incident").order_by("-created_at", "-id")[:RECENT]
        ),
        "max_attempts": alerts.MAX_ATTEMPTS,
    }
    return render(request, "connectit/alerts.html", context)


@_manage
@require_POST
def send_test_alert(request: HttpRequest) -> HttpResponse:
    queued = alerts.queue_test(request.user.get_username())
    if not queued:
        messages.error(
            request,
            "No alert channel is configured: set CONNECTIT_ALERT_EMAILS or CONNECTIT_ALERT_WEBHOOK_URL.",
        )
        return redirect("alerts")
    names = [AlertChannel(delivery.channel).label.lower() for delivery in queued]
    audit.record(AuditAction.ALERT_TEST, request=request, target_type="alerts", target=", ".join(names))
    messages.success(
        request,
        f"Test alert queued for {' and '.join(names)}; the worker sends it within seconds. "
        "Reload this page to see the result.",
    )
    return redirect("alerts")
