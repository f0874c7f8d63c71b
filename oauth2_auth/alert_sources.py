"""Alerts about authorizations (connectit.alerts): consent needed again, renewals that keep failing.

Read-only: the token state and events are written by oauth2_auth.tokens alone; this only looks.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.urls import reverse

from connectit.alerts import Problem, cap
from oauth2_auth.models import BearerToken, EventKind, TokenEvent, TokenState

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
    CONNECTIT_ALERT_AFTER_FAILURES token requests all failed and that is still failing."""
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
