"""Writing the audit trail (connectit.models.AuditEntry): who did what, when, from where.

Entries name the fields that changed, never their values, so the trail itself holds no secret.
Entries older than CONNECTIT_AUDIT_DAYS are pruned as new ones are written (at most once an hour
per process) and by ``manage.py prune_audit``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from connectit import login_protection
from connectit.models import AuditAction, AuditEntry

log = logging.getLogger(__name__)
PRUNE_EVERY = 3600  # seconds
_last_prune = 0.0


def client_address(request: HttpRequest | None) -> str | None:
    # The same address the login throttle counts against (it trusts a proxy only when told to).
    return login_protection.client_address(request) if request is not None else None


def actor_of(request: HttpRequest | None) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user.get_username()
    return "anonymous"


def record(
    action: str,
    *,
    request: HttpRequest | None = None,
    actor: str | None = None,
    target_type: str = "",
    target: str = "",
    fields: Iterable[str] = (),
    success: bool = True,
    message: str = "",
) -> None:
    AuditEntry.objects.create(
        actor=(actor or actor_of(request))[:150],
        address=client_address(request),
        action=action,
        target_type=target_type,
        target=str(target)[:200],
        fields=sorted(set(fields)),
        success=success,
        message=message,
    )
    _prune_if_due()


def prune() -> int:
    cutoff = timezone.now() - timedelta(days=settings.CONNECTIT_AUDIT_DAYS)
    deleted, _ = AuditEntry.objects.filter(at__lt=cutoff).delete()
    return deleted


def _prune_if_due() -> None:
    global _last_prune
    if time.monotonic() - _last_prune >= PRUNE_EVERY:
        _last_prune = time.monotonic()
        prune()


# --- Sign-ins ------------------------------------------------------------------------------------


@receiver(user_logged_in)
def _logged_in(sender, request: HttpRequest, user, **kwargs) -> None:
    record(AuditAction.LOGIN, request=request, actor=user.get_username(), target_type="user")


@receiver(user_logged_out)
def _logged_out(sender, request: HttpRequest, user, **kwargs) -> None:
    if user is not None:
        record(AuditAction.LOGOUT, request=request, actor=user.get_username(), target_type="user")


@receiver(user_login_failed)
def _login_failed(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    # Only the name that was tried: the credentials also hold the password.
    username = str(credentials.get("username", ""))[:150]
    record(
        AuditAction.LOGIN_FAILED,
        request=request,
        actor=username or "anonymous",
        target_type="user",
        target=username,
        success=False,
    )
