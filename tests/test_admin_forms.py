"""The record forms: a secret typed into a form that fails validation is kept (sealed, never in
clear) for the corrected form; Code is focused only on new records; help that shows how (issue 12)."""

from __future__ import annotations

import json
import re
from unittest import mock

import pytest

from connectit import forms as shared_forms
from definitions.models import AuthType, Definition
from oauth2_auth.models import Authorization
from tests.conftest import form_data
from tests.test_definition_create import definition_data

SECRET = "typed-secret-that-must-survive-1234"


def kept_value(body: str, name: str) -> str:
    match = re.search(rf'name="{name}_kept" value="([^"]+)"', body)
    assert match, f"no kept value for {name}"
    return match.group(1)


def test_a_typed_secret_survives_another_fields_error(admin_client) -> None:
    bad = form_data(client_secret=SECRET, token_url="not a url")
    body = admin_client.post("/oauth2/authorizations/new/", bad).content.decode()
    assert SECRET not in body  # never echoed in clear
    assert "Kept from your last attempt (not shown)" in body
    kept = kept_value(body, "client_secret")
    fixed = form_data(client_secret="", client_secret_kept=kept)
    response = admin_client.post("/oauth2/authorizations/new/", fixed)
    assert response.status_code == 302
    assert Authorization.objects.get().client_secret == SECRET


def test_a_new_value_typed_the_second_time_wins(admin_client) -> None:
    body = admin_client.post(
        "/oauth2/authorizations/new/", form_data(client_secret=SECRET, token_url="x")
    ).content
    kept = kept_value(body.decode(), "client_secret")
    admin_client.post(
        "/oauth2/authorizations/new/", form_data(client_secret="second-value-5678", client_secret_kept=kept)
    )
    assert Authorization.objects.get().client_secret == "second-value-5678"


def test_a_kept_value_for_another_field_is_refused(admin_client) -> None:
    sealed = shared_forms._seal("bearer_token", SECRET)
    response = admin_client.post(
        "/oauth2/authorizations/new/", form_data(client_secret="", client_secret_kept=sealed)
    )
    assert response.status_code == 200
    assert "type it again" in response.content.decode()
    assert not Authorization.objects.exists()


def test_a_kept_value_and_a_stored_secret_never_open_each_others_ciphertext(admin_client) -> None:
    # The page's sealed value is under a key derived for that purpose: a stored ciphertext
    # pasted into the form is refused, and a sealed value is no ciphertext of a stored secret.
    from cryptography.fernet import InvalidToken

    from connectit.fields import decrypt, encrypt

    sealed = shared_forms._seal("client_secret", SECRET)
    with pytest.raises(InvalidToken):
        decrypt(sealed)
    stored = encrypt(
        json.dumps({"purpose": shared_forms.KEPT_PURPOSE, "field": "client_secret", "value": SECRET})
    )
    body = admin_client.post(
        "/oauth2/authorizations/new/", form_data(client_secret="", client_secret_kept=stored)
    )
    assert "type it again" in body.content.decode()
    assert not Authorization.objects.exists()


def test_a_tampered_or_expired_kept_value_asks_to_type_it_again(admin_client) -> None:
    sealed = shared_forms._seal("client_secret", SECRET)
    tampered = sealed[:-6] + ("AAAAAA" if not sealed.endswith("AAAAAA") else "BBBBBB")
    for value in (tampered, "not-a-token"):
        body = admin_client.post(
            "/oauth2/authorizations/new/", form_data(client_secret="", client_secret_kept=value)
        )
        assert "type it again" in body.content.decode()
    with mock.patch.object(shared_forms, "KEPT_SECRET_TTL", -1):  # every token is too old
        body = admin_client.post(
            "/oauth2/authorizations/new/", form_data(client_secret="", client_secret_kept=sealed)
        )
    assert "type it again" in body.content.decode()
    assert not Authorization.objects.exists()


def test_a_definition_keeps_its_typed_bearer_token_too(admin_client) -> None:
    data = definition_data(auth_type=AuthType.BEARER, bearer_token=SECRET, timeout="0")
    body = admin_client.post("/definitions/new/", data).content.decode()
    assert SECRET not in body
    fixed = definition_data(
        auth_type=AuthType.BEARER, bearer_token="", bearer_token_kept=kept_value(body, "bearer_token")
    )
    assert admin_client.post("/definitions/new/", fixed).status_code == 302
    assert Definition.objects.get().bearer_token == SECRET


def test_a_new_record_offers_no_clear_box_and_no_stored_value_wording(admin_client) -> None:
    body = admin_client.get("/oauth2/authorizations/new/").content.decode()
    assert "Leave blank to keep the stored value" not in body
    assert 'type="checkbox" name="client_secret_clear"' not in body


def test_only_a_new_record_starts_in_the_code_field(admin_client, authorization) -> None:
    assert "autofocus" in admin_client.get("/oauth2/authorizations/new/").content.decode()
    assert "autofocus" not in admin_client.get(f"/oauth2/authorizations/{authorization.pk}/").content.decode()
    definition = Definition.objects.create(code="EXISTING", endpoint_url="https://api.example.com/x")
    assert "autofocus" in admin_client.get("/definitions/new/").content.decode()
    assert "autofocus" not in admin_client.get(f"/definitions/{definition.pk}/").content.decode()


def test_the_soap_parameters_help_shows_quoted_placeholders(admin_client) -> None:
    body = admin_client.get("/definitions/new/").content.decode()
    assert 'put it in quotes, e.g. {"customer_no": "{customer}"}' in body


def test_token_status_keeps_amber_and_red_for_what_needs_a_person(admin_client) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from oauth2_auth.models import TokenState
    from tests.conftest import make_authorization

    now = timezone.now()
    make_authorization(
        code="EXPIRED",
        access_token="a1",
        token_state=TokenState.CONNECTED,
        expires_at=now - timedelta(minutes=1),
    )
    make_authorization(
        code="STILL-WORKS",
        access_token="a2",
        token_state=TokenState.FAILED,
        obtained_at=now - timedelta(minutes=30),
        expires_at=now + timedelta(minutes=12, seconds=20),
    )
    make_authorization(code="CONSENT", access_token="a3", token_state=TokenState.CONSENT_REQUIRED)
    body = admin_client.get("/oauth2/authorizations/").content.decode()
    assert 'class="badge text-bg-info" data-status="expired">Expired (renews when next used)' in body
    assert "Last renewal failed; the current token still works for 12 min" in body
    assert 'class="badge text-bg-warning" data-status="consent_required"' in body


def test_the_token_content_type_shows_only_for_post_and_the_credential_type_says_where(admin_client) -> None:
    body = admin_client.get("/oauth2/authorizations/new/").content.decode()
    import re

    assert re.search(r'data-show-when="token_method=POST">\s*<div id="div_id_content_type"', body)
    assert "the body for POST, the query for GET" in body


def test_the_definition_form_hides_the_body_for_get_and_shows_each_authorizations_status(
    admin_client,
) -> None:
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from oauth2_auth.models import TokenState
    from tests.conftest import make_authorization

    make_authorization(code="NEEDS", token_state=TokenState.CONSENT_REQUIRED, access_token="x1")
    make_authorization(
        code="GOOD",
        access_token="x2",
        token_state=TokenState.CONNECTED,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    with CaptureQueriesContext(connection) as queries:
        body = admin_client.get("/definitions/new/").content.decode()
    assert "NEEDS — Business Central sandbox (consent required)" in body
    assert "GOOD — Business Central sandbox (valid)" in body
    assert not any(
        "oauth2_auth_bearertoken" in q["sql"] and "WHERE" in q["sql"] and "IN" not in q["sql"]
        for q in queries.captured_queries[-3:]
    )  # no query per authorization
    assert 'data-show-when="http_method=POST,PUT,PATCH,DELETE"' in body


def test_a_redirect_url_that_is_not_this_servers_callback_is_flagged(admin_client) -> None:
    from oauth2_auth.models import GrantType
    from tests.conftest import make_authorization

    ours = make_authorization(
        code="OURS",
        grant_type=GrantType.AUTHORIZATION_CODE,
        redirect_url="http://testserver/oauth2/callback/",
    )
    other = make_authorization(
        code="OTHER", grant_type=GrantType.AUTHORIZATION_CODE, redirect_url="https://old.example.com/cb/"
    )
    body = admin_client.get(f"/oauth2/authorizations/{ours.pk}/").content.decode()
    assert (
        'value="http://testserver/oauth2/callback/" readonly' in body and 'id="redirect-differs"' not in body
    )
    body = admin_client.get(f"/oauth2/authorizations/{other.pk}/").content.decode()
    assert 'id="redirect-differs"' in body and "https://old.example.com/cb/" in body


def test_clear_token_asks_first_and_names_the_definitions_that_will_fail(admin_client) -> None:
    from oauth2_auth.models import BearerToken, GrantType
    from tests.conftest import make_authorization

    record = make_authorization(
        code="BC-AC", grant_type=GrantType.AUTHORIZATION_CODE, access_token="a", refresh_token="r"
    )
    Definition.objects.create(
        code="CUSTOMERS", endpoint_url="https://api.example.com/c", authorization=record
    )
    page = admin_client.get(f"/oauth2/authorizations/{record.pk}/").content.decode()
    assert f'href="/oauth2/authorizations/{record.pk}/clear-token/">Clear token</a>' in page
    confirm = admin_client.get(f"/oauth2/authorizations/{record.pk}/clear-token/").content.decode()
    assert "These definitions will fail until then" in confirm and "CUSTOMERS" in confirm
    assert BearerToken.objects.get(pk=record.pk).has_refresh_token  # asking changed nothing
    admin_client.post(f"/oauth2/authorizations/{record.pk}/clear-token/")
    assert not BearerToken.objects.get(pk=record.pk).has_refresh_token


def test_the_definition_form_links_its_authorization(admin_client, db) -> None:
    from definitions.models import AuthType
    from tests.conftest import make_authorization

    record = make_authorization(code="BC-PROD")
    definition = Definition.objects.create(
        code="ITEMS",
        endpoint_url="https://api.example.com/items",
        auth_type=AuthType.OAUTH2,
        authorization=record,
    )
    body = admin_client.get(f"/definitions/{definition.pk}/").content.decode()
    assert f'<a href="/oauth2/authorizations/{record.pk}/" id="authorization-link">Open BC-PROD</a>' in body
    assert 'id="authorization-link"' not in admin_client.get("/definitions/new/").content.decode()
