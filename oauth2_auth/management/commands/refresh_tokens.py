"""Refresh every token that expires soon; for cron. Exits 1 when any refresh failed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from oauth2_auth import tokens
from oauth2_auth.models import Authorization, TokenState


class Command(BaseCommand):
    help = "Refresh the tokens that expire within --within minutes (default 10)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--within", type=int, default=10, metavar="MINUTES")

    def handle(self, *args: Any, within: int, **options: Any) -> None:
        if within < 0:
            raise CommandError("--within must be 0 or more minutes.")
        trigger = tokens.Trigger("command refresh_tokens")
        margin = within * 60
        deadline = timezone.now() + timedelta(seconds=margin)
        failed = refreshed = 0
        for record in self._candidates():
            expiry = record.effective_expiry
            if expiry is None or expiry > deadline:
                continue
            error = self._renew(record, trigger, margin)
            if error:
                failed += 1
                self.stderr.write(f"FAILED {record.code}: {error}")
            else:
                refreshed += 1
                self.stdout.write(f"refreshed {record.code}")
        self.stdout.write(f"{refreshed} refreshed, {failed} failed.")
        if failed:
            raise CommandError(f"{failed} token refresh(es) failed.", returncode=1)

    def _renew(self, record: Authorization, trigger: tokens.Trigger, margin: int) -> str:
        """The error of a failed renewal, or "" when it worked."""
        started = timezone.now()
        try:
            # margin, not force: a second cron host running at the same time finds the token
            # already renewed and sends no request.
            tokens.renew(record.code, trigger=trigger, margin=margin)
        except tokens.TokenError as exc:
            return str(exc)
        # A failure while the old token still works hands callers the old token; cron must
        # still hear about it.
        after = Authorization.objects.only("token_state", "last_error", "updated_at").get(pk=record.pk)
        if (
            after.token_state in (TokenState.FAILED, TokenState.CONSENT_REQUIRED)
            and after.updated_at >= started
        ):
            return after.last_error
        return ""

    def _candidates(self):
        # Only records that hold a token; one waiting for consent needs a person, not cron.
        waiting = [TokenState.NOT_CONNECTED, TokenState.CONSENT_REQUIRED]
        records = Authorization.objects.exclude(token_state__in=waiting)
        return records.only("id", "code", "access_token", "expires_at", "obtained_at").order_by("code")
