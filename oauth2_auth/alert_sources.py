"""Alerts about authorizations (connectit.alerts): consent needed again, renewals that keep failing,
a client secret or certificate that expires within credential_expiry.WARN_DAYS (or has expired).

Read-only: the token state and events are written by oauth2_auth.tokens alone; this only looks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from connectit.alerts import Problem, cap
from oauth2_auth import credential_expiry
from oauth2_auth.models import Authorization, BearerToken, EventKind, TokenEvent, TokenState

# Token requests: each asked the provider for a token (Get Token, a refresh, a renewal ahead of
# time). Consents started or denied, clears and endpoint changes asked nothing.
TOKEN_REQUESTS = (
    EventKind.OBTAINED,
    EventKind.REFRESHED,
    EventKind.CONSENT_GIVEN,
    EventKind.REQUEST_FAILED,
    EventKind.REFRESH_FAILED,
)


def problems() -> Iterator[Problem]:
    """One problem per authorization that needs consent again, or whose last
    CONNECTIT_ALERT_AFTER_FAILURES token requests all failed and that is still failing; and one
    per authorization whose client secret or certificate expires soon."""
    yield from _token_problems()
    yield from _expiring_credentials()


def _token_problems() -> Iterator[Problem]:
    failures = settings.CONNECTIT_ALERT_AFTER_FAILURES
    troubled = BearerToken.objects.filter(state__in=[TokenState.CONSENT_REQUIRED, TokenState.FAILED])
    fields = ("pk", "state", "last_error", "authorization__code", "authorization__environment")
    for pk, state, last_error, code, environment in troubled.values_list(*fields).order_by("pk"):
        path = reverse("oauth2_auth:detail", args=[pk])
        about = f"{code} ({environment})" if environment else code
        # Provider texts are redacted before tokens.py stores them; an alert quotes only the start.
        error = f"\n\nLast error: {cap(last_error)}" if last_error else ""
        if state == TokenState.CONSENT_REQUIRED:
            yield Problem(
                kind="consent_required",
                key=f"consent:{code}",
                subject=f"{code} needs consent again",
                message=(
                    f"The provider no longer accepts the refresh token of authorization {about}, so no "
                    f"new token can be had until a person gives consent again. Definitions that use "
                    f"{code} fail until then.{error}"
                ),
                action=f"Open {code} and click Get Token to give consent again.",
                path=path,
            )
        elif _all_failed(pk, failures):
            yield Problem(
                kind="renewal_failing",
                key=f"renewal:{code}",
                subject=f"Token renewal of {code} keeps failing",
                message=(
                    f"The last {failures} token requests of authorization {about} failed. Definitions "
                    f"that use {code} fail once its current token expires.{error}"
                ),
                action=(
                    f"Open {code}, read the last error on its Bearer Token tab, correct the cause (the "
                    f"client secret, the token URL or the provider's side) and click Get Token."
                ),
                path=path,
            )


def _all_failed(pk: int, count: int) -> bool:
    recent = TokenEvent.objects.filter(authorization_id=pk, kind__in=TOKEN_REQUESTS).order_by("-at", "-id")
    outcomes = list(recent.values_list("success", flat=True)[:count])
    return len(outcomes) == count and not any(outcomes)


def _expiring_credentials() -> Iterator[Problem]:
    """An incident opens WARN_DAYS before the typed expiry date and stays open past it; it
    recovers when the date moves further out (a new secret was pasted) or is cleared. The key
    holds no date, so correcting the date within the window keeps the one incident."""
    today = timezone.localdate()
    horizon = today + timedelta(days=credential_expiry.WARN_DAYS)
    soon = Authorization.objects.filter(credential_expires_on__lte=horizon)
    fields = ("pk", "code", "environment", "credential_expires_on")
    for pk, code, environment, expires_on in soon.values_list(*fields).order_by("pk"):
        expiry = credential_expiry.check(expires_on, today)
        if expiry is None:  # cannot happen with the filter above; the check is the one rule
            continue
        about = f"{code} ({environment})" if environment else code
        verb = "has expired" if expiry.expired else "expires soon"
        yield Problem(
            kind="credential_expiring",
            key=f"credential:{code}",
            subject=f"The secret or certificate of {code} {verb}",
            message=(
                f"Authorization {about}: {expiry.text} Definitions that use {code} fail once no new "
                "token can be had."
            ),
            action=(
                f"Create a new client secret or certificate at the provider, open {code}, paste it on "
                "the Credentials tab and update its expiry date."
            ),
            path=reverse("oauth2_auth:detail", args=[pk]),
        )
