"""connectit.db's helpers give what the ORM would: the same instance, every field converted."""

from __future__ import annotations

import pytest

from connectit.db import get_by_pk
from definitions.models import AuthType, Definition
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
