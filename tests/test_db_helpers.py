"""connectit.db's helpers give what the ORM would: the same instance, every field converted."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from connectit.db import (
    get_by_pk,
    insert_row,
    prepared_cursor,
    update_returning_with,
    update_where,
    where_equal,
)
from definitions.models import AuthType, Definition, Outcome, Run, RunPage
from tests.conftest import make_authorization

pytestmark = pytest.mark.django_db


def full_definition() -> Definition:
    """A definition with an encrypted field, a JSON field and a relation set."""
    return Definition.objects.create(
        code="LOADED",
        endpoint_url="https://api.example.com/items",
        auth_type=AuthType.OAUTH2,
        authorization=make_authorization(code="AUTH"),
        bearer_token="kept-encrypted-token",
        wsdl_operations=[{"name": "Read", "parameters": ["No"]}],
    )


def assert_loaded_as_the_orm_loads(loaded: Definition) -> None:
    expected = Definition.objects.get(pk=loaded.pk)
    for field in Definition._meta.concrete_fields:
        assert getattr(loaded, field.attname) == getattr(expected, field.attname), field.name
    assert loaded.bearer_token == "kept-encrypted-token"  # decrypts as the ORM's does
    assert loaded.authorization.code == "AUTH"  # the relation loads when first read


def test_get_by_pk_loads_what_the_orm_loads() -> None:
    assert_loaded_as_the_orm_loads(get_by_pk(Definition, full_definition().pk))


def test_update_returning_with_loads_the_changed_row_and_its_relation() -> None:
    run = Run.objects.create(definition=full_definition(), trigger="test", parameters={"no": "10000"})
    where = where_equal(Run, "id", "outcome")
    with CaptureQueriesContext(connection) as captured:
        record = update_returning_with(
            Run, {"outcome": Outcome.RUNNING}, where, [run.pk, Outcome.QUEUED], "definition"
        )
        definition = record.definition  # loaded already: no query
    # One statement where the database can read the relation in the same one.
    assert len(captured) == (1 if connection.vendor == "postgresql" else 2)
    assert_loaded_as_the_orm_loads(definition)
    assert (record.pk, record.outcome, record.parameters) == (run.pk, Outcome.RUNNING, {"no": "10000"})
    assert Run.objects.get(pk=run.pk).outcome == Outcome.RUNNING
    # The compare-and-set: a row that does not match is neither changed nor returned.
    assert (
        update_returning_with(Run, {"outcome": Outcome.FAILED}, where, [run.pk, Outcome.QUEUED], "definition")
        is None
    )
    assert Run.objects.get(pk=run.pk).outcome == Outcome.RUNNING


def prepared_statements() -> list[str]:
    """What this connection holds prepared (PostgreSQL); SQLite has none to list."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_a_prepared_claim_loads_what_an_ordinary_one_loads_and_is_planned_once() -> None:
    definition = full_definition()
    runs = [
        Run.objects.create(definition=definition, trigger="test", parameters={"n": n}, exclusive=False)
        for n in range(3)
    ]
    where = where_equal(Run, "id", "outcome")
    with CaptureQueriesContext(connection) as captured:
        claimed = [
            update_returning_with(
                Run,
                {"outcome": Outcome.RUNNING},
                where,
                [run.pk, Outcome.QUEUED],
                "definition",
                prepared=True,
            )
            for run in runs
        ]
    for run, record in zip(runs, claimed, strict=True):
        assert (record.pk, record.outcome, record.parameters) == (run.pk, Outcome.RUNNING, run.parameters)
        assert_loaded_as_the_orm_loads(record.definition)
    # Logged as other queries are (DEBUG, tests counting queries).
    assert len([query for query in captured if "UPDATE" in query["sql"]]) == 3
    if connection.vendor == "postgresql":  # one statement, prepared once for the three
        assert all(query["sql"].startswith("WITH changed AS (UPDATE") for query in captured)
        assert len(captured) == 3
        assert len([sql for sql in prepared_statements() if sql.startswith("WITH changed AS")]) == 1
    # The compare-and-set holds as well: a run already claimed is neither changed nor returned.
    params = [runs[0].pk, Outcome.QUEUED]
    assert (
        update_returning_with(Run, {"outcome": Outcome.FAILED}, where, params, "definition", prepared=True)
        is None
    )


def test_a_prepared_statement_fails_as_django_says_and_the_connection_goes_on() -> None:
    # A database error reaches the caller as Django's own (runs.claim catches IntegrityError).
    definition = Definition.objects.create(code="ONE", endpoint_url="https://api.example.com/items")
    run = Run.objects.create(definition=definition, trigger="test")
    insert = "INSERT INTO definitions_runpage (run_id, number, http_status, url, body, size, kept) "
    insert += "VALUES (%s, 1, 200, 'u', '', 0, true)"
    with prepared_cursor() as cursor:
        cursor.execute(insert, [run.pk])
    with pytest.raises(IntegrityError), transaction.atomic(), prepared_cursor() as cursor:
        cursor.execute(insert, [run.pk])
    with prepared_cursor() as cursor:
        cursor.execute("SELECT count(*) FROM definitions_runpage WHERE run_id = %s", [run.pk])
        assert cursor.fetchone() == (1,)


def test_with_prepared_statements_off_nothing_is_prepared(monkeypatch) -> None:
    # DATABASE_PREPARED_STATEMENTS=false (for a pooler that cannot keep them) leaves the
    # threshold out of the options (tests/test_settings.py): prepared_cursor is then ordinary.
    monkeypatch.delitem(connection.settings_dict["OPTIONS"], "prepare_threshold", raising=False)
    with prepared_cursor() as cursor:
        cursor.execute("SELECT %s + 1 AS not_prepared", [41])
        assert cursor.fetchone() == (42,)
    assert not [sql for sql in prepared_statements() if "not_prepared" in sql]


def test_get_by_pk_raises_does_not_exist() -> None:
    with pytest.raises(Definition.DoesNotExist):
        get_by_pk(Definition, 987654)


def test_insert_row_stores_what_create_stores_defaults_included() -> None:
    definition = Definition.objects.create(code="PAGED", endpoint_url="https://api.example.com/items")
    run = Run.objects.create(definition=definition, trigger="test")
    insert_row(RunPage, run=run, number=1, http_status=200, url="https://api.example.com/items", body="{}")
    page = RunPage.objects.get(run=run)
    assert (page.number, page.http_status, page.body, page.size, page.kept) == (1, 200, "{}", 0, True)
    with pytest.raises(IntegrityError):  # the table's constraints hold as for create()
        insert_row(RunPage, run=run, number=1, http_status=200, url="u")


def test_update_where_writes_prepared_values_and_counts_rows() -> None:
    definition = Definition.objects.create(code="SECRET", endpoint_url="https://api.example.com/items")
    where = where_equal(Definition, "id", "code")
    assert update_where(Definition, {"bearer_token": "new-token"}, where, [definition.pk, "SECRET"]) == 1
    assert update_where(Definition, {"bearer_token": "other"}, where, [definition.pk, "NOT-IT"]) == 0
    with connection.cursor() as cursor:  # encrypted at rest, as save() would store it
        cursor.execute("SELECT bearer_token FROM definitions_definition WHERE id = %s", [definition.pk])
        assert "new-token" not in cursor.fetchone()[0]
    assert Definition.objects.get(pk=definition.pk).bearer_token == "new-token"
