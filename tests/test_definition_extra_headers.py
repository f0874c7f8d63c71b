"""Extra headers may not carry credentials: those belong in the authorization fields.

A credential in the extra headers is stored in clear (the field is not encrypted), shown on the
edit page and outside the authorization's rules; the form refuses it and says where it goes.
"""

from __future__ import annotations

import pytest

from definitions.calls import CREDENTIAL_HEADERS
from definitions.models import AuthType, Definition
from tests.test_definition_create import URL, definition_data, errors, make_definition

WHERE = "put the credential in the Authorization tab (Basic, bearer token or API key header and value)"


@pytest.mark.parametrize("name", sorted(CREDENTIAL_HEADERS))
def test_it_refuses_each_credential_header(admin_client, name: str) -> None:
    response = admin_client.post(URL, definition_data(extra_headers=f"X-Tenant: contoso\n{name}: value-123"))
    [message] = errors(response)["extra_headers"]
    assert message.startswith(f"Line 2: {name} carries a credential; ")
    assert WHERE in message
    assert not Definition.objects.exists()


@pytest.mark.parametrize("name", ["AUTHORIZATION", "X-Api-Key", "Ocp-Apim-Subscription-Key", "Cookie"])
def test_the_name_is_matched_in_any_case(admin_client, name: str) -> None:
    response = admin_client.post(URL, definition_data(extra_headers=f"{name}: Bearer abc"))
    assert WHERE in errors(response)["extra_headers"][0]


def test_the_api_key_header_may_not_be_repeated(admin_client) -> None:
    data = definition_data(
        auth_type=AuthType.API_KEY,
        api_key_header="X-Custom-Key",
        api_key_value="key-value-1234",
        extra_headers="x-custom-key: other",
    )
    assert errors(admin_client.post(URL, data))["extra_headers"] == [
        "Line 1: x-custom-key is the API key header; its value is set in the Authorization tab."
    ]


def test_other_headers_are_still_accepted(admin_client) -> None:
    response = admin_client.post(
        URL, definition_data(extra_headers="If-Match: *\nX-Tenant: contoso\nX-Keyed: 1")
    )
    assert response.status_code == 302
    assert Definition.objects.get().extra_headers.endswith("X-Keyed: 1")


def test_an_old_definition_with_one_must_move_it_when_edited(admin_client, db) -> None:
    record = make_definition(code="OLD", extra_headers="Authorization: Bearer kept-from-before")
    data = definition_data(code="OLD", extra_headers=record.extra_headers)
    assert WHERE in errors(admin_client.post(f"/definitions/{record.pk}/", data))["extra_headers"][0]
    record.refresh_from_db()
    assert record.extra_headers == "Authorization: Bearer kept-from-before"


def test_a_credential_saved_before_the_rule_is_not_shown(db) -> None:
    from django.contrib.auth.models import Group, User

    from connectit import roles
    from tests.conftest import PASSWORD
    from tests.test_definition_create import client_for, make_definition

    definition = make_definition(
        extra_headers="X-Tenant: contoso\nAuthorization: Bearer old-stored-credential-9"
    )
    viewer = User.objects.create_user("viewer", password=PASSWORD)
    viewer.groups.add(Group.objects.get(name=roles.VIEWER))
    page = client_for(viewer).get(f"/definitions/{definition.pk}/").content.decode()
    assert "old-stored-credential-9" not in page
    assert "X-Tenant: contoso" in page and "move this credential to the Authorization tab" in page
