"""The audit trail: who did what, when and from where. Never a value, only field names."""

from __future__ import annotations

from django.db import models
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
