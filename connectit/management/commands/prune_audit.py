"""Delete audit entries older than CONNECTIT_AUDIT_DAYS; for cron (the app also prunes hourly)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from connectit import audit


class Command(BaseCommand):
    help = "Delete audit entries older than CONNECTIT_AUDIT_DAYS."

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = audit.prune()
        self.stdout.write(
            f"Deleted {deleted} audit entr{'y' if deleted == 1 else 'ies'} older than "
            f"{settings.CONNECTIT_AUDIT_DAYS} days."
        )
