"""Small database helpers shared by the apps."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from django.db import connection, transaction


def single_statement() -> AbstractContextManager:
    """Around one write that may fail (an IntegrityError that the caller handles): nothing in
    autocommit, where the statement is atomic by itself and a transaction would only add round
    trips; a savepoint inside a transaction, so the failure does not abort the whole of it."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()
