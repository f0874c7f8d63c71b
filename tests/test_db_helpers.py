"""connectit.db's helpers give what the ORM would: the same instance, every field converted."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from connectit.db import get_by_pk, insert_row, update_returning_with, update_where, where_equal
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
