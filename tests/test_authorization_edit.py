from __future__ import annotations

from oauth2_auth.models import Authorization
from tests.conftest import form_data, make_authorization
from tests.test_encrypted_field import raw_dump


def url(record: Authorization) -> str:
    return f"/oauth2/authorizations/{record.pk}/"


def test_it_redirects_anonymous_to_login(client, authorization) -> None:
    response = client.get(url(authorization))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_shows_a_record_without_its_secrets(admin_client, db) -> None:
    record = make_authorization(
        client_secret="never-show-me-1", access_token="never-show-me-2", refresh_token="never-show-me-3-xyz9"
    )
    response = admin_client.get(url(record))
    body = response.content.decode()
    assert response.status_code == 200
    assert "never-show-me" not in body
    assert "Stored (encrypted)." in body
    assert "••••••••" in body  # the masked refresh token


def test_it_saves_changes(admin_client, authorization) -> None:
    response = admin_client.post(url(authorization), form_data(code="endpoint", environment="Production"))
    assert response.status_code == 302
    authorization.refresh_from_db()
    assert authorization.environment == "Production"


def test_it_keeps_the_secret_on_blank_save(admin_client, authorization) -> None:
    admin_client.post(url(authorization), form_data(code="ENDPOINT", client_secret=""))
    authorization.refresh_from_db()
    assert authorization.client_secret == "s3cr3t-client-value"


def test_it_replaces_the_secret(admin_client, authorization) -> None:
    admin_client.post(url(authorization), form_data(code="ENDPOINT", client_secret="brand-new-secret"))
    authorization.refresh_from_db()
    assert authorization.client_secret == "brand-new-secret"
    assert "brand-new-secret" not in raw_dump()


def test_it_clears_the_secret_with_the_checkbox(admin_client, authorization) -> None:
    response = admin_client.post(
        url(authorization), form_data(code="ENDPOINT", client_secret="", client_secret_clear="on")
    )
    assert response.status_code == 302
    authorization.refresh_from_db()
    assert authorization.client_secret == ""
    assert "Not set." in admin_client.get(url(authorization)).content.decode()


def test_it_refuses_a_new_secret_and_clear_together(admin_client, authorization) -> None:
    response = admin_client.post(
        url(authorization), form_data(code="ENDPOINT", client_secret="x", client_secret_clear="on")
    )
    assert "Either enter a new value or clear it, not both." in response.content.decode()
    authorization.refresh_from_db()
    assert authorization.client_secret == "s3cr3t-client-value"


def test_it_rejects_renaming_to_an_existing_code(admin_client, authorization) -> None:
    make_authorization(code="OTHER")
    response = admin_client.post(url(authorization), form_data(code="other"))
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    authorization.refresh_from_db()
    assert authorization.code == "ENDPOINT"


def test_a_failed_save_loses_nothing(admin_client, authorization) -> None:
    response = admin_client.post(
        url(authorization), form_data(code="ENDPOINT", token_url="http://evil.example/t")
    )
    assert response.status_code == 200
    authorization.refresh_from_db()
    assert authorization.token_url.startswith("https://login.microsoftonline.com/")
    assert authorization.client_secret == "s3cr3t-client-value"


def test_a_reader_sees_but_cannot_change(reader_client, authorization) -> None:
    page = reader_client.get(url(authorization))
    assert page.status_code == 200
    assert b">Save</button>" not in page.content
    response = reader_client.post(url(authorization), form_data(code="ENDPOINT", environment="hacked"))
    assert response.status_code == 403
    authorization.refresh_from_db()
    assert authorization.environment != "hacked"


def test_an_outsider_cannot_see(outsider_client, authorization) -> None:
    assert outsider_client.get(url(authorization)).status_code == 403


def test_it_404s_for_a_missing_record(admin_client) -> None:
    assert admin_client.get("/oauth2/authorizations/999999/").status_code == 404
