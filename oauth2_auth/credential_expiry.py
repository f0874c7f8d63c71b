"""The client secret's (or certificate's) expiry date, as the list, the record and the alerts
report it: a warning WARN_DAYS ahead, an error once the date has passed.

The date is typed by an administrator (Entra secrets last at most 24 months); nothing here asks
the provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.utils import timezone

WARN_DAYS = 30
TODO = "create a new one at the provider, paste it here and update this date"


@dataclass(frozen=True)
class Expiry:
    expired: bool
    text: str

    @property
    def level(self) -> str:
        """The Bootstrap colour: an expired credential already breaks token requests."""
        return "danger" if self.expired else "warning"


def check(expires_on: date | None, today: date | None = None) -> Expiry | None:
    """What to say about ``expires_on`` (None: nothing, it is far enough away or not set)."""
    if expires_on is None:
        return None
    days = (expires_on - (today or timezone.localdate())).days
    if days > WARN_DAYS:
        return None
    when = expires_on.isoformat()
    if days < 0:
        return Expiry(
            True,
            f"The client secret or certificate expired {_days(-days)} ago ({when}): token requests fail "
            f"until you {TODO}.",
        )
    soon = "today" if days == 0 else f"in {_days(days)}"
    return Expiry(False, f"The client secret or certificate expires {soon} ({when}): {TODO}.")


def _days(count: int) -> str:
    return f"{count} day{'s' if count != 1 else ''}"
