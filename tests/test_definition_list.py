from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from definitions.models import AuthType, Definition, Kind
from oauth2_auth.models import Authorization
from tests.conftest import make_authorization
from tests.test_definition_create import client_for, definitions_user, make_definition, text

URL = "/definitions/"


def codes(response) -> list[str]:
    """The definition codes listed, in page order."""
    return re.findall(
        r'<td class="code-cell"[^>]*><a href="/definitions/\d+/">([^<]+)</a></td>', text(response)
    )


def make_many(count: int, authorization: Authorization | None = None, start: int = 0) -> None:
    Definition.objects.bulk_create(
        Definition(
            code=f"DEF-{number:03}",
            description=f"Definition {number}",
            endpoint_url=f"https://api.example.com/items/{number}",
            auth_type=AuthType.OAUTH2 if authorization else AuthType.ANONYMOUS,
            authorization=authorization,
        )
        for number in range(start, start + count)
    )


def test_it_redirects_anonymous_to_login(client, admin_user) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_says_when_there_are_none(admin_client) -> None:
    body = text(admin_client.get(URL))
    assert "No definitions yet." in body
    assert 'href="/definitions/new/"' in body


def test_it_sorts_by_code(admin_client) -> None:
    for code in ("ZULU", "ALPHA", "MIKE", "BRAVO"):
        make_definition(code=code)
    assert codes(admin_client.get(URL)) == ["ALPHA", "BRAVO", "MIKE", "ZULU"]


def test_it_shows_kind_direction_and_state(admin_client, db) -> None:
    make_definition(code="SOAPEXP", kind=Kind.SOAP, direction="export", active=False)
    body = text(admin_client.get(URL))
    assert '<td data-label="Kind">SOAP</td>' in body
    assert '<td data-label="Direction">Export</td>' in body
    assert "Inactive" in body


def test_it_shows_the_authorization_code_for_oauth2(admin_client, db) -> None:
    authorization = make_authorization(code="BC-PROD")
    make_definition(code="CUSTOMERS", auth_type=AuthType.OAUTH2, authorization=authorization)
    make_definition(code="VENDORS", auth_type=AuthType.API_KEY, api_key_header="X-Key", api_key_value="k-123")
    body = text(admin_client.get(URL))
    assert '<span class="code-cell">BC-PROD</span>' in body
    assert "API key / custom header" in body
    assert "k-123" not in body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("cust", ["CUSTOMERS"]),  # code, case-insensitive
        ("VENDOR MASTER", ["VENDORS"]),  # description
        ("erp.contoso.com", ["ITEMS"]),  # endpoint URL
        ("api", ["CUSTOMERS", "VENDORS"]),
        ("", ["CUSTOMERS", "ITEMS", "VENDORS"]),
    ],
)
def test_it_searches_code_description_and_url(admin_client, query: str, expected: list[str]) -> None:
    make_definition(code="CUSTOMERS", description="Customers", endpoint_url="https://api.example.com/c")
    make_definition(
        code="VENDORS", description="Vendor master data", endpoint_url="https://api.example.com/v"
    )
    make_definition(code="ITEMS", description="Items", endpoint_url="https://erp.contoso.com/items")
    response = admin_client.get(URL, {"q": query})
    assert codes(response) == expected
    if query:
        assert f'value="{query}"' in text(response)


def test_it_says_when_a_search_finds_nothing(admin_client) -> None:
    make_definition()
    assert "No definition matches “nothing-here”." in text(admin_client.get(URL, {"q": "nothing-here"}))


def test_it_paginates(admin_client, db) -> None:
    make_many(30)
    first = admin_client.get(URL)
    assert len(codes(first)) == 25
    assert codes(first)[0] == "DEF-000"
    assert "Page 1 of 2" in text(first)
    second = admin_client.get(URL, {"page": 2})
    assert codes(second) == [f"DEF-{number:03}" for number in range(25, 30)]
    for junk in ("abc", "0", "-3", "9999"):
        assert admin_client.get(URL, {"page": junk}).status_code == 200


def test_the_page_links_keep_the_search(admin_client, db) -> None:
    make_many(30)
    body = admin_client.get(URL, {"q": "def-"}).content.decode()
    assert 'href="?q=def-&amp;page=2"' in body


def test_its_query_count_does_not_grow_with_rows(admin_client, django_assert_max_num_queries) -> None:
    authorization = make_authorization()
    make_many(5, authorization)
    with CaptureQueriesContext(connection) as few:
        response = admin_client.get(URL)
    assert len(codes(response)) == 5
    # Each definition with its own authorization: a missing select_related would show here.
    for number in range(5, 60):
        make_many(1, make_authorization(code=f"AUTH-{number}"), start=number)
    assert Definition.objects.count() == 60
    with django_assert_max_num_queries(len(few)):
        response = admin_client.get(URL)
    assert len(codes(response)) == 25
    assert '<span class="code-cell">AUTH-24</span>' in text(response)


def test_it_denies_an_authorizations_reader(reader_client) -> None:
    assert reader_client.get(URL).status_code == 403


def test_a_definitions_reader_sees_the_list_without_new(db) -> None:
    make_definition()
    response = client_for(definitions_user("defreader", "view_definition")).get(URL)
    assert response.status_code == 200
    assert codes(response) == ["CUSTOMERS"]
    assert 'href="/definitions/new/"' not in response.content.decode()
