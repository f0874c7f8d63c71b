"""Small database helpers shared by the apps."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import cache
from typing import Any, TypeVar

from django.db import connection, models, transaction

M = TypeVar("M", bound=models.Model)


def single_statement() -> AbstractContextManager:
    """Around one write that may fail (an IntegrityError that the caller handles): nothing in
    autocommit, where the statement is atomic by itself and a transaction would only add round
    trips; a savepoint inside a transaction, so the failure does not abort the whole of it."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


def update_returning(model: type[M], values: dict[str, Any], where: str, params: Sequence[Any]) -> M | None:
    """``UPDATE <model's table> SET <values> WHERE <where> RETURNING *``, as one instance of
    ``model`` (the first row), or None when no row matched: one statement where a SELECT and an
    UPDATE would be two. ``where`` is SQL with ``%s`` placeholders for ``params``, which the
    caller adapts (``connection.ops.adapt_datetimefield_value`` for times).

    raw() converts the returned columns as a query would (UUIDs, JSON, times on SQLite), and
    reading every row ends the statement, so that SQLite commits it and lets its lock go here."""
    quote = connection.ops.quote_name
    assignments, prepared = [], []
    for name, value in values.items():
        field = model._meta.get_field(name)
        assignments.append(f"{quote(field.column)} = %s")
        prepared.append(field.get_db_prep_save(value, connection))
    columns = ", ".join(quote(field.column) for field in model._meta.concrete_fields)
    table = quote(model._meta.db_table)
    sql = f"UPDATE {table} SET {', '.join(assignments)} WHERE {where} RETURNING {columns}"  # noqa: S608 - quoted names
    rows = list(model._default_manager.raw(sql, [*prepared, *params]))
    return rows[0] if rows else None


def get_by_pk(model: type[M], pk: Any) -> M:
    """``model.objects.get(pk=pk)`` without compiling a query: a worker loads a definition for
    every run, and compiling the SELECT of its forty columns cost more CPU than running it.
    Raises ``model.DoesNotExist`` as get() does."""
    rows = list(model._default_manager.raw(_select_by_pk(model, connection.vendor), [pk]))
    if not rows:
        raise model.DoesNotExist(f"{model._meta.object_name} matching query does not exist.")
    return rows[0]


@cache
def _select_by_pk(model: type[models.Model], vendor: str) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in model._meta.concrete_fields)
    table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
    return f"SELECT {columns} FROM {table} WHERE {pk} = %s"  # noqa: S608 - quoted names
