"""Refresh every token that expires soon; for cron. Exits 1 when any refresh failed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from oauth2_auth import tokens
from oauth2_auth.models import BearerToken, TokenState


class Command(BaseCommand):
    help = "Refresh the tokens that expire within --within minutes (default 10)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--within", type=int, default=10, metavar="MINUTES")

    def handle(self, *args: Any, within: int, **options: Any) -> None:
        if within < 0:
            raise CommandError("--within must be 0 or more minutes.")
        trigger = tokens.Trigger("command refresh_tokens")
        margin = within * 60
        failed = refreshed = 0
        for token in self._candidates():
            # The same rule as every caller's: the margin is at most half the token's lifetime.
            if token.effective_expiry is None or token.is_fresh(margin):
                continue
            code = token.authorization.code
            error = self._renew(code, token.pk, trigger, margin)
            if error:
                failed += 1
                self.stderr.write(f"FAILED {code}: {error}")
            else:
                refreshed += 1
                self.stdout.write(f"refreshed {code}")
        self.stdout.write(f"{refreshed} refreshed, {failed} failed.")
        if failed:
            raise CommandError(f"{failed} token refresh(es) failed.", returncode=1)

    def _renew(self, code: str, pk: int, trigger: tokens.Trigger, margin: int) -> str:
        """The error of a failed renewal, or "" when it worked."""
        started = timezone.now()
        try:
            # margin, not force: a second cron host running at the same time finds the token
            # already renewed and sends no request.
            tokens.renew(code, trigger=trigger, margin=margin)
        except tokens.TokenError as exc:
            return str(exc)
        # A failure while the old token still works hands callers the old token; cron must
        # still hear about it.
        after = BearerToken.objects.only("state", "last_error", "updated_at").get(pk=pk)
        if after.state in (TokenState.FAILED, TokenState.CONSENT_REQUIRED) and after.updated_at >= started:
            return after.last_error
        return ""

    def _candidates(self):
        # Only records that hold a token; one waiting for consent needs a person, not cron.
        waiting = [TokenState.NOT_CONNECTED, TokenState.CONSENT_REQUIRED]
        held = BearerToken.objects.exclude(state__in=waiting).select_related("authorization")
        fields = ("authorization__code", "access_token", "expires_at", "obtained_at")
        return held.only(*fields).order_by("authorization__code")
