"""Once per form page: a POST that acts (Get Token, Refresh now, Clear token) carries the random
key its page was rendered with, and only the first POST with that key acts.

The key is recorded in one short INSERT of its own, committed before the action calls anyone
(no transaction is held across network I/O); the database's UNIQUE constraint decides which of
two simultaneous POSTs is first. A POST without a key (an old page, a script) acts every time,
as before. This module writes every column of ``FormSubmission``.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.db import IntegrityError
from django.http import HttpRequest
from django.utils import timezone

from connectit import worker
from connectit.db import single_statement
from connectit.models import FormSubmission

FIELD = "submission"  # the hidden input's name
KEEP = timedelta(days=1)  # a page older than this that is sent again acts again
MAX_LENGTH = 64


def new_key() -> str:
    """A fresh key for one rendered form."""
    return secrets.token_urlsafe(24)


def first(request: HttpRequest, action: str) -> bool:
    """True when this POST may act: it carries no key, or the first one with its key."""
    key = request.POST.get(FIELD, "").strip()[:MAX_LENGTH]
    if not key:
        return True
    user = request.user if request.user.is_authenticated else None
    try:
        # One statement; a savepoint only inside a transaction, so a refused INSERT leaves it usable.
        with single_statement():
            FormSubmission.objects.create(key=key, user=user, action=action[:60])
    except IntegrityError:
        return False
    return True


def prune(now=None) -> int:
    """Forget keys older than a day; returns how many."""
    cutoff = (now or timezone.now()) - KEEP
    deleted, _ = FormSubmission.objects.filter(created_at__lt=cutoff).delete()
    return deleted


@worker.periodic("connectit.submissions.prune", every=lambda: 3600.0)
def prune_job() -> None:
    prune()
