"""Tokens kept warm: renewed before they expire, and refreshed before an idle refresh token dies.

The workers run ``keep_warm`` once a minute (across all workers: one claims the period), and
``manage.py refresh_tokens`` does the same pass for those who prefer cron. A token expiring
within CONNECTIT_RENEW_AHEAD seconds is renewed; an authorization-code token whose refresh token
has not been used for CONNECTIT_KEEPALIVE_DAYS is refreshed, so it never reaches a provider's
inactivity limit (Entra ID revokes refresh tokens unused for 90 days: AADSTS700082). Every
renewal goes through ``tokens.renew``: single flight, so a run that needs the token at the same
moment causes no second request.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from oauth2_auth import tokens
from oauth2_auth.models import BearerToken, GrantType, TokenState

TRIGGER = tokens.Trigger("keep-alive")
# A failed renewal is tried again after this long, not every minute.
FAILED_RETRY = timedelta(minutes=5)


@dataclass(frozen=True)
class Due:
    code: str
    pk: int
    why: str  # "expiring" or "idle"


def due(ahead: int, idle_days: int | None, *, failed_retry: timedelta = FAILED_RETRY) -> Iterator[Due]:
    """Tokens to renew now: expiring within ``ahead`` seconds, or idle for ``idle_days``. One
    whose renewal failed less than ``failed_retry`` ago waits."""
    now = timezone.now()
    for token in _held():
        if token.state == TokenState.FAILED and token.updated_at > now - failed_retry:
            continue
        if token.effective_expiry is not None and not token.is_fresh(ahead):
            yield Due(token.authorization.code, token.pk, "expiring")
        elif idle_days is not None and _idle(token, now - timedelta(days=idle_days)):
            yield Due(token.authorization.code, token.pk, "idle")


def _idle(token: BearerToken, since) -> bool:
    authorization_code = token.authorization.grant_type == GrantType.AUTHORIZATION_CODE
    return authorization_code and token.has_refresh_token and (token.obtained_at or since) < since


def _held():
    # Only records that hold a token; one waiting for consent needs a person, not a worker.
    waiting = [TokenState.NOT_CONNECTED, TokenState.CONSENT_REQUIRED]
    held = BearerToken.objects.exclude(state__in=waiting).select_related("authorization")
    fields = (
        "authorization__code",
        "authorization__grant_type",
        "access_token",
        "refresh_token",
        "expires_at",
        "obtained_at",
        "state",
        "updated_at",
    )
    return held.only(*fields).order_by("authorization__code")


def renew(item: Due, *, ahead: int, trigger: tokens.Trigger = TRIGGER) -> str:
    """Renew one token; the error of a failed renewal, or "" when it worked."""
    started = timezone.now()
    try:
        # margin, not force, for an expiring token: a second worker or cron host running at the
        # same time finds it renewed already and sends no request.
        tokens.renew(item.code, trigger=trigger, margin=ahead, force=item.why == "idle")
    except tokens.TokenError as exc:
        return str(exc)
    # A failure while the old token still works hands callers the old token; say so anyway.
    after = BearerToken.objects.only("state", "last_error", "updated_at").get(pk=item.pk)
    if after.state in (TokenState.FAILED, TokenState.CONSENT_REQUIRED) and after.updated_at >= started:
        return after.last_error
    return ""


def keep_warm() -> dict[str, str]:
    """One pass; {code: error or ""} of what was renewed."""
    ahead = settings.CONNECTIT_RENEW_AHEAD
    return {item.code: renew(item, ahead=ahead) for item in due(ahead, settings.CONNECTIT_KEEPALIVE_DAYS)}
