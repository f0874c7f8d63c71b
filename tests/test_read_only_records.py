"""A user who may look but not change sees values as text, never inputs (issue 12, item 13); the
credentials form marks what the chosen grant requires and folds the token response property
names away (item 9)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from connectit.forms import tab_layout
from definitions.models import AuthType, Definition
from oauth2_auth.forms import AuthorizationForm
from oauth2_auth.models import Authorization, GrantType
from tests.conftest import form_data, make_authorization

pytestmark = pytest.mark.django_db

CONTROL = re.compile(r"<(input|select|textarea)\b(?![^>]*type=\"hidden\")[^>]*>")
SECRET = "s3cr3t-client-value"


def _tab_content(body: str) -> str:
    """The form's tabs (the Bearer Token pane and the page chrome have their own controls)."""
    start = body.index('<div class="tab-content')
    return body[start : body.index('id="pane-token"', start) if 'id="pane-token"' in body else None]


@pytest.fixture
def auth_code_record() -> Authorization:
    return make_authorization(
        grant_type=GrantType.AUTHORIZATION_CODE,
        auth_url="https://login.example.com/authorize",
        redirect_url="https://connectit.example.com/oauth2/callback/",
    )


def test_a_reader_sees_an_authorization_as_text(reader_client: Client, auth_code_record) -> None:
    body = reader_client.get(f"/oauth2/authorizations/{auth_code_record.pk}/").content.decode()
    tabs = _tab_content(body)
    assert not CONTROL.search(tabs)
    assert 'id="read-only-note"' in body
    assert '<dd class="col-sm-8 text-break" id="value-code">ENDPOINT</dd>' in tabs
    assert 'id="value-grant_type">Authorization Code</dd>' in tabs  # the label, not the value
    assert 'id="value-auth_url">https://login.example.com/authorize</dd>' in tabs
    assert 'id="value-client_secret">stored</dd>' in tabs
    assert 'id="value-client_secret_clear"' not in tabs
    assert SECRET not in body
    assert ">Save</button>" not in body
    assert "required-legend" not in body
    assert 'id="callback-url"' not in body  # the copy box is for whoever registers the app


def test_a_reader_sees_not_set_for_a_missing_secret(reader_client: Client) -> None:
    record = make_authorization(client_secret="")
    tabs = _tab_content(reader_client.get(f"/oauth2/authorizations/{record.pk}/").content.decode())
    assert 'id="value-client_secret">not set</dd>' in tabs


def test_a_reader_sees_only_the_fields_of_the_records_grant(reader_client: Client) -> None:
    record = make_authorization()  # client credentials
    body = reader_client.get(f"/oauth2/authorizations/{record.pk}/").content.decode()
    assert 'id="tab-authcode"' not in body and 'id="value-auth_url"' not in body
    assert 'id="tab-token"' in body  # the Bearer Token tab stays


def test_a_reader_sees_a_definition_as_text(reader: User) -> None:
    reader.user_permissions.add(Permission.objects.get(codename="view_definition"))
    definition = Definition.objects.create(
        code="ITEMS",
        endpoint_url="https://api.example.com/items",
        auth_type=AuthType.BEARER,
        bearer_token="static-bearer-value",
        extra_headers="X-Tenant: contoso",
    )
    client = Client()
    client.force_login(reader)
    body = client.get(f"/definitions/{definition.pk}/").content.decode()
    tabs = _tab_content(body)
    assert not CONTROL.search(tabs)
    assert 'id="value-endpoint_url">https://api.example.com/items</dd>' in tabs
    assert 'id="value-bearer_token">stored</dd>' in tabs
    assert 'id="value-api_key_value"' not in tabs  # not this definition's kind of credentials
    assert "X-Tenant: contoso" in tabs
    assert "static-bearer-value" not in body
    assert ">Save</button>" not in body


def test_an_administrator_still_gets_the_form(admin_client: Client, authorization) -> None:
    body = admin_client.get(f"/oauth2/authorizations/{authorization.pk}/").content.decode()
    assert CONTROL.search(_tab_content(body))
    assert 'id="read-only-note"' not in body


def test_a_reader_cannot_post(reader_client: Client, authorization) -> None:
    response = reader_client.post(f"/oauth2/authorizations/{authorization.pk}/", form_data())
    assert response.status_code == 403


def test_the_auth_code_fields_are_marked_required_for_that_grant_only(admin_client: Client) -> None:
    body = admin_client.get("/oauth2/authorizations/new/").content.decode()
    for name in ("auth_url", "redirect_url"):
        assert re.search(
            rf'data-required-when="grant_type=authorization_code">\s*<div id="div_id_{name}"', body
        ), name
    assert body.count('id="required-legend"') == 1
    assert "required for the chosen grant" in body


def _credentials(form: AuthorizationForm):
    return next(tab for tab in tab_layout(form) if tab.id == "credentials")


def test_the_property_names_are_folded_away_by_default() -> None:
    tab = _credentials(AuthorizationForm())
    assert [row.field.name for row in tab.advanced_rows] == [
        "access_token_property",
        "expires_in_property",
        "refresh_token_property",
    ]
    assert "access_token_property" not in [row.field.name for row in tab.rows]
    assert not tab.advanced_open


def test_the_advanced_section_opens_when_a_name_differs_from_its_default() -> None:
    record = make_authorization(access_token_property="data.access_token")
    assert _credentials(AuthorizationForm(instance=record)).advanced_open


def test_the_advanced_section_opens_on_an_error() -> None:
    form = AuthorizationForm(form_data(expires_in_property=""))
    assert not form.is_valid()
    tab = _credentials(form)
    assert tab.advanced_open and tab.has_errors


def test_the_page_folds_them_into_a_closed_details(admin_client: Client, authorization) -> None:
    body = admin_client.get(f"/oauth2/authorizations/{authorization.pk}/").content.decode()
    assert re.search(r'<details [^>]*id="advanced-credentials">\s*<summary>Advanced: token response', body)
    assert '<details class="border rounded px-3 py-2" id="advanced-credentials" open>' not in body
    assert "Name in the token response; a dotted path reaches nested values." in body
