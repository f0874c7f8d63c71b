"""The authorizations list's overview (issue 12, item 14): a count per token status, a filter by
status and a sort by urgency, all worked out by the database.

``BearerToken.status`` decides a status in Python, row by row; ``urgency`` is the same decision
as one SQL expression, so the counts are one GROUP BY query and filtering or sorting costs no
query per row. Both must agree: tests/test_authorization_list_overview.py checks each status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce, Length
from django.utils import timezone

from oauth2_auth.models import Status, TokenState

# Most urgent first: what needs a person, then what has no token, then what renews by itself.
BY_URGENCY = (Status.CONSENT_REQUIRED, Status.FAILED, Status.NOT_CONNECTED, Status.EXPIRED, Status.VALID)
_RANK = {status: rank for rank, status in enumerate(BY_URGENCY)}

# What a chip says, for one and for several: it names what the administrator has to do.
_CHIP_TEXT = {
    Status.CONSENT_REQUIRED: ("{} needs consent", "{} need consent"),
    Status.FAILED: ("{} failed", "{} failed"),
    Status.NOT_CONNECTED: ("{} not connected", "{} not connected"),
    Status.EXPIRED: ("{} expired", "{} expired"),
    Status.VALID: ("{} valid", "{} valid"),
}


def urgency() -> Case:
    """The rank in BY_URGENCY of each authorization's status, as BearerToken.status decides it.
    A token counts as stored when its ciphertext is not empty (its length only: never decrypted)."""
    now = timezone.now()
    lifetime = timedelta(seconds=settings.CONNECTIT_DEFAULT_TOKEN_LIFETIME)
    no_token = Q(bearer__isnull=True) | Q(bearer__state=TokenState.NOT_CONNECTED) | Q(stored_token=0)
    return Case(
        When(bearer__state=TokenState.CONSENT_REQUIRED, then=Value(_RANK[Status.CONSENT_REQUIRED])),
        When(bearer__state=TokenState.FAILED, then=Value(_RANK[Status.FAILED])),
        When(no_token, then=Value(_RANK[Status.NOT_CONNECTED])),
        When(bearer__expires_at__gt=now, then=Value(_RANK[Status.VALID])),
        When(
            bearer__expires_at__isnull=True,
            bearer__obtained_at__gt=now - lifetime,
            then=Value(_RANK[Status.VALID]),
        ),
        default=Value(_RANK[Status.EXPIRED]),
        output_field=IntegerField(),
    )


def with_urgency(records: QuerySet) -> QuerySet:
    stored = Coalesce(Length("bearer__access_token"), Value(0))
    return records.alias(stored_token=stored).alias(urgency=urgency())


def parse_status(value: str) -> Status | None:
    return Status(value) if value in Status.values else None


def filter_status(records: QuerySet, status: Status | None) -> QuerySet:
    """``records`` (from with_urgency) with only ``status``; all of them for None."""
    return records if status is None else records.filter(urgency=_RANK[status])


def count_by_status(records: QuerySet) -> dict[Status, int]:
    """How many of ``records`` (from with_urgency) have each status: one query."""
    rows = records.order_by().values(rank=F("urgency")).annotate(n=Count("pk")).values_list("rank", "n")
    return {BY_URGENCY[rank]: n for rank, n in rows}


@dataclass(frozen=True)
class Chip:
    label: str
    status: str
    query: str
    active: bool


def chips(counts: dict[Status, int], current: Status | None, kept: dict[str, str]) -> list[Chip]:
    """The filter chips: "All", then one per status that has any, most urgent first. Each link
    keeps the other parameters in ``kept`` (the search text, the sort)."""
    total = sum(counts.values())
    result = [Chip(f"All {total}", "", urlencode(kept), current is None)]
    for status in BY_URGENCY:
        n = counts.get(status, 0)
        if n:
            one, many = _CHIP_TEXT[status]
            query = urlencode({**kept, "status": status.value})
            result.append(Chip((one if n == 1 else many).format(n), status.value, query, status == current))
    return result
