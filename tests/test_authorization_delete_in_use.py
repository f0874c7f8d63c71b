"""Deleting an OAuth2 authorization that definitions reference is refused, naming them."""

from __future__ import annotations

import re

import pytest

from definitions.models import AuthType, Definition
from oauth2_auth.models import Authorization
from tests.test_definition_create import make_definition, text


def url(record: Authorization) -> str:
    return f"/oauth2/authorizations/{record.pk}/delete/"


@pytest.fixture
def users(authorization) -> list[Definition]:
    return [
        make_definition(code=code, auth_type=AuthType.OAUTH2, authorization=authorization)
        for code in ("VENDORS", "CUSTOMERS", "ITEMS")
    ]


def test_it_lists_the_definitions_and_offers_no_delete(admin_client, authorization, users) -> None:
    make_definition(code="UNRELATED")  # anonymous, not listed
    response = admin_client.get(url(authorization))
    assert response.status_code == 200
    body = text(response)
    assert "Authorization ENDPOINT is in use" in body
    listed = body.split('<ul id="used-by">', 1)[1].split("</ul>", 1)[0]
    assert re.findall(r'<li class="code-cell">([^<]+)</li>', listed) == ["CUSTOMERS", "ITEMS", "VENDORS"]
    assert "UNRELATED" not in body
    assert ">Delete</button>" not in body
    assert "<form" not in body.split("<main", 1)[1]  # nothing to submit on the page


def test_a_post_does_not_delete_it(admin_client, authorization, users) -> None:
    response = admin_client.post(url(authorization))
    assert response.status_code == 200
    body = text(response)
    assert "Authorization ENDPOINT is used by definitions and was not deleted." in body
    assert "CUSTOMERS" in body
    assert Authorization.objects.filter(pk=authorization.pk).exists()
    assert Definition.objects.count() == 3


def test_it_deletes_once_the_definitions_are_gone(admin_client, authorization, users) -> None:
    for definition in users:
        assert admin_client.post(f"/definitions/{definition.pk}/delete/").status_code == 302
    page = admin_client.get(url(authorization))
    assert "Delete authorization ENDPOINT?" in text(page)
    assert ">Delete</button>" in page.content.decode()
    response = admin_client.post(url(authorization))
    assert response.status_code == 302
    assert response["Location"] == "/oauth2/authorizations/"
    assert not Authorization.objects.exists()


def test_it_deletes_once_the_definitions_point_elsewhere(admin_client, authorization, users) -> None:
    Definition.objects.update(auth_type=AuthType.ANONYMOUS, authorization=None)
    assert admin_client.post(url(authorization)).status_code == 302
    assert not Authorization.objects.exists()
