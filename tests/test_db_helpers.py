"""connectit.db's helpers give what the ORM would: the same instance, every field converted."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection

from connectit.db import get_by_pk, insert_row, update_where, where_equal
from definitions.models import AuthType, Definition, Run, RunPage
from tests.conftest import make_authorization

pytestmark = pytest.mark.django_db


def test_get_by_pk_loads_what_the_orm_loads() -> None:
    authorization = make_authorization(code="AUTH")
    created = Definition.objects.create(
        code="LOADED",
        endpoint_url="https://api.example.com/items",
        auth_type=AuthType.OAUTH2,
        authorization=authorization,
        bearer_token="kept-encrypted-token",
        wsdl_operations=[{"name": "Read", "parameters": ["No"]}],
    )
    expected = Definition.objects.get(pk=created.pk)
    loaded = get_by_pk(Definition, created.pk)
    for field in Definition._meta.concrete_fields:
        assert getattr(loaded, field.attname) == getattr(expected, field.attname), field.name
    assert loaded.bearer_token == "kept-encrypted-token"  # decrypts as the ORM's does
    assert loaded.authorization.code == "AUTH"  # the relation loads when first read


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
