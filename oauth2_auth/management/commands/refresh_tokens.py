"""Refresh every token that expires soon or sits idle; for cron (the workers do the same by
themselves). Exits 1 when any refresh failed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from oauth2_auth import keepalive, tokens


class Command(BaseCommand):
    help = (
        "Refresh the tokens that expire within --within minutes (default 10), and the "
        "authorization-code tokens not refreshed for --idle-days (default CONNECTIT_KEEPALIVE_DAYS)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--within", type=int, default=10, metavar="MINUTES")
        parser.add_argument("--idle-days", type=int, default=None, metavar="DAYS")

    def handle(self, *args: Any, within: int, idle_days: int | None, **options: Any) -> None:
        if within < 0:
            raise CommandError("--within must be 0 or more minutes.")
        if idle_days is not None and idle_days < 1:
            raise CommandError("--idle-days must be 1 or more.")
        trigger = tokens.Trigger("command refresh_tokens")
        margin = within * 60
        idle = settings.CONNECTIT_KEEPALIVE_DAYS if idle_days is None else idle_days
        failed = refreshed = 0
        for item in keepalive.due(margin, idle, failed_retry=timedelta(0)):
            error = keepalive.renew(item, ahead=margin, trigger=trigger)
            if error:
                failed += 1
                # A token error already starts with the code (a stored last error does not).
                self.stderr.write(f"FAILED {item.code}: {error.removeprefix(f'{item.code}: ')}")
            else:
                refreshed += 1
                self.stdout.write(f"refreshed {item.code}" + (" (idle)" if item.why == "idle" else ""))
        self.stdout.write(f"{refreshed} refreshed, {failed} failed.")
        if failed:
            raise CommandError(f"{failed} token refresh(es) failed.", returncode=1)
