"""Small database helpers shared by the apps."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from django.db import connection, models, transaction
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

M = TypeVar("M", bound=models.Model)


def single_statement() -> AbstractContextManager:
    """Around one write that may fail (an IntegrityError that the caller handles): nothing in
    autocommit, where the statement is atomic by itself and a transaction would only add round
    trips; a savepoint inside a transaction, so the failure does not abort the whole of it."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


@contextmanager
def prepared_cursor() -> Iterator[CursorWrapper]:
    """A cursor for a statement that a process sends over and over, as a worker sends its
    claims: on PostgreSQL the server parses and plans it once per connection (a prepared
    statement) instead of for every call, which halves what a claim costs it. Elsewhere, or
    with DATABASE_PREPARED_STATEMENTS=false (settings), an ordinary cursor.

    Django's own cursors bind parameters on the client and never prepare, so nothing else is
    prepared: a connection holds one prepared statement per distinct query text sent here."""
    options = connection.settings_dict["OPTIONS"]
    if connection.vendor != "postgresql" or options.get("prepare_threshold") is None:
        with connection.cursor() as cursor:
            yield cursor
        return
    # What connection.cursor() does, with a cursor that prepares (Django offers no hook for it).
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = _preparing_cursor_class()(connection.connection)
    connection.validate_thread_sharing()
    wrap = _LoggedAsWritten if connection.queries_logged else CursorWrapper
    with wrap(raw, connection) as cursor:
        yield cursor


@cache
def _preparing_cursor_class() -> type:
    from django.db.backends.postgresql.base import ServerBindingCursor  # needs psycopg

    class PreparingCursor(ServerBindingCursor):
        """Binds on the server and prepares every statement it executes."""

        def execute(self, query: Any, params: Any = None, *, prepare: Any = None, binary: Any = None) -> Any:
            return super().execute(query, params, prepare=True, binary=binary)

    return PreparingCursor


def _cursor(prepared: bool) -> AbstractContextManager[CursorWrapper]:
    return prepared_cursor() if prepared else connection.cursor()


class _LoggedAsWritten(CursorDebugWrapper):
    """Django's query log (DEBUG, tests counting queries) for a prepared statement: the SQL as
    written, with its placeholders. Django would read the query text back from the cursor,
    which a prepared statement's cursor does not keep."""

    def execute(self, sql: str, params: Any = None) -> Any:
        with self.debug_sql(sql, params):
            return CursorWrapper.execute(self, sql, params)


def update_returning(model: type[M], values: dict[str, Any], where: str, params: Sequence[Any]) -> M | None:
    """``UPDATE <model's table> SET <values> WHERE <where> RETURNING *``, as one instance of
    ``model`` (the first row), or None when no row matched: one statement where a SELECT and an
    UPDATE would be two. ``where`` is SQL with ``%s`` placeholders for ``params``, which the
    caller adapts (``connection.ops.adapt_datetimefield_value`` for times).

    Reading every row ends the statement, so that SQLite commits it and lets its lock go here."""
    assignments, prepared = _assignments(model, values)
    table = connection.ops.quote_name(model._meta.db_table)
    columns = _shape(model, connection.vendor).columns
    sql = f"UPDATE {table} SET {assignments} WHERE {where} RETURNING {columns}"  # noqa: S608 - quoted names
    instances = _load(model, sql, [*prepared, *params])
    return instances[0] if instances else None


def update_returning_with(
    model: type[M],
    values: dict[str, Any],
    where: str,
    params: Sequence[Any],
    relation: str,
    *,
    prepared: bool = False,
) -> M | None:
    """update_returning, with the row that the foreign key ``relation`` points at loaded onto
    the instance: on PostgreSQL in the same statement (a data-modifying WITH joined to the
    related table), elsewhere by a second one. ``prepared``: see prepared_cursor."""
    field = model._meta.get_field(relation)
    related = field.related_model
    if connection.vendor != "postgresql":
        instance = update_returning(model, values, where, params)
        if instance is not None:
            setattr(instance, relation, get_by_pk(related, getattr(instance, field.attname)))
        return instance
    assignments, values_prepared = _assignments(model, values)
    quote = connection.ops.quote_name
    key = quote(related._meta.pk.column)
    sql = (
        f"WITH changed AS (UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {where} "  # noqa: S608
        f"RETURNING {_shape(model, connection.vendor).columns}) SELECT changed.*, {columns_of(related, 'r')} "
        f"FROM changed JOIN {quote(related._meta.db_table)} r ON r.{key} = changed.{quote(field.column)}"
    )
    found = select_joined((model, related), sql, [*values_prepared, *params], prepared=prepared)
    if not found:
        return None
    instance, loaded = found[0]
    setattr(instance, relation, loaded)
    return instance


def update_where(model: type[models.Model], values: dict[str, Any], where: str, params: Sequence[Any]) -> int:
    """``QuerySet.update()`` for a WHERE written in SQL (as for update_returning): the number of
    rows changed. For the writes every run makes, where compiling the UPDATE cost more CPU than
    running it."""
    assignments, prepared = _assignments(model, values)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {assignments} WHERE {where}", [*prepared, *params])  # noqa: S608
        return cursor.rowcount


def insert_row(model: type[models.Model], **values: Any) -> None:
    """``model.objects.create(**values)`` without compiling the INSERT and without reading the
    new primary key back: every field not given gets its default, as create() would give it."""
    instance = model(**values)
    # Not the auto-incremented key (nor any other column the database fills in).
    fields = [field for field in model._meta.concrete_fields if not getattr(field, "db_returning", False)]
    prepared = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    marks = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({marks})", prepared)  # noqa: S608


def _assignments(model: type[models.Model], values: dict[str, Any]) -> tuple[str, list[Any]]:
    """``"col" = %s, ...`` and the values prepared for the database (encrypted, adapted)."""
    quote = connection.ops.quote_name
    assignments, prepared = [], []
    for name, value in values.items():
        field = model._meta.get_field(name)
        assignments.append(f"{quote(field.column)} = %s")
        prepared.append(field.get_db_prep_save(value, connection))
    return ", ".join(assignments), prepared


def get_by_pk(model: type[M], pk: Any) -> M:
    """``model.objects.get(pk=pk)`` without compiling a query: a worker loads a definition for
    every run, and compiling the SELECT of its forty columns cost more CPU than running it.
    Raises ``model.DoesNotExist`` as get() does."""
    shape = _shape(model, connection.vendor)
    instances = _load(model, shape.select_by_pk, [pk])
    if not instances:
        raise model.DoesNotExist(f"{model._meta.object_name} matching query does not exist.")
    return instances[0]


def select_from(model: type[M], source: str, params: Sequence[Any], *, prepared: bool = False) -> list[M]:
    """``SELECT <every column of model> FROM <source>`` as instances of ``model``: for a set
    returning function of the database that returns the model's rows. ``prepared``: see
    prepared_cursor."""
    columns = _shape(model, connection.vendor).columns
    return _load(model, f"SELECT {columns} FROM {source}", params, prepared=prepared)  # noqa: S608 - quoted names


def columns_of(model: type[models.Model], alias: str) -> str:
    """Every column of ``model`` as ``alias."column", ...``, in field order: one model's part of
    a SELECT list for select_joined."""
    return ", ".join(f"{alias}.{column}" for column in _shape(model, connection.vendor).quoted)


def select_joined(
    parts: Sequence[type[models.Model]], sql: str, params: Sequence[Any], *, prepared: bool = False
) -> list[tuple[Any, ...]]:
    """The rows of ``sql``, whose columns are every column of each model of ``parts`` in turn
    (columns_of), as a tuple of one instance per model; None for a model whose part of the row
    is empty (an outer join that found nothing). ``prepared``: see prepared_cursor."""
    with _cursor(prepared) as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [_split(parts, row) for row in rows]


def _split(parts: Sequence[type[models.Model]], row: Sequence[Any]) -> tuple[Any, ...]:
    instances, start = [], 0
    for model in parts:
        shape = _shape(model, connection.vendor)
        values = list(row[start : start + len(shape.attnames)])
        start += len(shape.attnames)
        instances.append(None if values[shape.pk_position] is None else _instance(model, shape, values))
    return tuple(instances)


@dataclass(frozen=True)
class _Shape:
    """What reading whole rows of a model takes, worked out once per process."""

    quoted: tuple[str, ...]  # every concrete column, quoted, in the model's field order
    columns: str  # the same, joined
    select_by_pk: str
    attnames: tuple[str, ...]
    pk_position: int
    # (position, converters, column) for the values the database returns in another form
    # (JSON text, SQLite's times and decimals, the encrypted fields' ciphertext).
    converters: tuple[tuple[int, tuple[Callable[..., Any], ...], Any], ...]


@cache
def _shape(model: type[models.Model], vendor: str) -> _Shape:
    quote = connection.ops.quote_name
    fields = model._meta.concrete_fields
    quoted = tuple(quote(field.column) for field in fields)
    columns = ", ".join(quoted)
    table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
    converters = []
    for position, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if found:
            converters.append((position, tuple(found), column))
    return _Shape(
        quoted=quoted,
        columns=columns,
        select_by_pk=f"SELECT {columns} FROM {table} WHERE {pk} = %s",  # noqa: S608 - quoted names
        attnames=tuple(field.attname for field in fields),
        pk_position=fields.index(model._meta.pk),
        converters=tuple(converters),
    )


def _load(model: type[M], sql: str, params: Sequence[Any], *, prepared: bool = False) -> list[M]:
    """The rows of ``sql`` (every concrete column, in field order) as instances, converted as
    a query would convert them. RawQuerySet does the same, but works out the columns' fields
    and converters again for every query."""
    shape = _shape(model, connection.vendor)
    with _cursor(prepared) as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [_instance(model, shape, list(row)) for row in rows]


def _instance(model: type[M], shape: _Shape, values: list[Any]) -> M:
    """One row's values (every concrete column, in field order) as an instance of ``model``."""
    for position, converters, column in shape.converters:
        value = values[position]
        for convert in converters:
            value = convert(value, column, connection)
        values[position] = value
    return model.from_db(connection.alias, shape.attnames, values)


def where_equal(model: type[models.Model], *names: str) -> str:
    """``"col1" = %s AND "col2" = %s`` for the named fields, for update_where's WHERE."""
    quote = connection.ops.quote_name
    return " AND ".join(f"{quote(model._meta.get_field(name).column)} = %s" for name in names)
