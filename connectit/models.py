"""The audit trail: who did what, when and from where. Never a value, only field names."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class AuditAction(models.TextChoices):
    CREATED = "created", "Created"
    CHANGED = "changed", "Changed"
    DELETED = "deleted", "Deleted"
    GET_TOKEN = "get_token", "Get Token"
    REFRESH = "refresh", "Refresh now"
    CLEAR = "clear", "Clear token"
    CONSENT_GIVEN = "consent_given", "Consent given"
    CONSENT_DENIED = "consent_denied", "Consent denied"
    RUN = "run", "Run"
    CANCEL = "cancel", "Cancel run"
    LOGIN = "login", "Login"
    LOGIN_FAILED = "login_failed", "Failed login"
    LOGOUT = "logout", "Logout"
    ALERT_TEST = "alert_test", "Test alert"


class AuditEntry(models.Model):
    at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=150, help_text="The user, or the command, that acted.")
    address = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=20, choices=AuditAction.choices)
    target_type = models.CharField(max_length=40, blank=True)
    target = models.CharField(max_length=200, blank=True)
    fields = models.JSONField(default=list, blank=True, help_text="Names of the fields changed.")
    success = models.BooleanField(default=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["-at", "-id"]),
            models.Index(fields=["actor", "-at"]),
            models.Index(fields=["target_type", "target", "-at"]),
        ]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.target_type} {self.target}"


class PeriodicJob(models.Model):
    """When a periodic job (connectit.worker) may next run: claimed by one worker per period."""

    name = models.CharField(max_length=60, primary_key=True)
    next_at = models.DateTimeField()
    last_started_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


# --- Alerts (connectit/alerts.py writes every column of these two) --------------------------------


class Incident(models.Model):
    """A problem that someone must act on, from when it was first seen until it cleared.

    At most one incident per key is open: the database refuses a second, so two workers that
    evaluate at once still announce a problem once.
    """

    kind = models.CharField(max_length=40)
    key = models.CharField(max_length=200, help_text="What the problem is about, e.g. consent:ENDPOINT.")
    source = models.CharField(max_length=60, help_text="The alert source that reported it.")
    subject = models.CharField(max_length=300)
    message = models.TextField()
    action = models.TextField(help_text="What to do about it.")
    path = models.CharField(max_length=300, blank=True, help_text="The page of the record, in this app.")
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        permissions = [("manage_alerts", "Can see alerts and send a test alert")]
        indexes = [models.Index(fields=["-opened_at", "-id"])]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=Q(resolved_at__isnull=True), name="one_open_incident_per_key"
            )
        ]

    def __str__(self) -> str:
        return self.subject

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class AlertEvent(models.TextChoices):
    OPENED = "opened", "Opened"
    RECOVERED = "recovered", "Recovered"
    TEST = "test", "Test"


class AlertChannel(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook"


class AlertDelivery(models.Model):
    """One message on one channel: an incident opened or recovered, or a test alert.

    Pending while ``next_attempt_at`` is set; a worker claims it by moving that time past a lease.
    Delivered when ``delivered_at`` is set; given up when neither is.
    """

    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=10, choices=AlertEvent.choices)
    channel = models.CharField(max_length=10, choices=AlertChannel.choices)
    requested_by = models.CharField(max_length=150, blank=True, help_text="Who asked for a test alert.")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "alert deliveries"
        indexes = [models.Index(fields=["next_attempt_at"]), models.Index(fields=["-created_at", "-id"])]
        constraints = [
            # Each incident is announced once per channel, and recovered once. (Test alerts have
            # no incident; NULLs never collide, so any number of them may be sent.)
            models.UniqueConstraint(fields=["incident", "event", "channel"], name="one_delivery_per_event")
        ]

    def __str__(self) -> str:
        return f"{self.event} by {self.channel}"

    @property
    def status(self) -> str:
        if self.delivered_at is not None:
            return "delivered"
        if self.next_attempt_at is None:
            return "failed"
        if not self.attempts:
            return "queued"
        # Claimed and not yet answered, or waiting for its next attempt after a failure.
        return "retrying" if self.last_error else "sending"


class FormSubmission(models.Model):
    """A form page's random key, recorded by the first POST that carried it (connectit/submissions.py
    writes every column). The unique key makes a repeated POST of the same page, even at the same
    moment, find it taken: the action it asked for runs once."""

    key = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    action = models.CharField(max_length=60, help_text="What the form asked for, e.g. get_token:12.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return self.action
