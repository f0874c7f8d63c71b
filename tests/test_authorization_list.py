from __future__ import annotations

from tests.conftest import make_authorization

URL = "/oauth2/authorizations/"


def test_it_redirects_anonymous_to_login(client, authorization) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/oauth2/authorizations/"


def test_it_lists_sorted_by_code_with_status(admin_client, db) -> None:
    make_authorization(code="ZULU", environment="last")
    make_authorization(code="ALPHA", environment="first", client_secret="hidden-secret-1")
    body = admin_client.get(URL).content.decode()
    assert body.index("ALPHA") < body.index("ZULU")
    assert "Client Credentials" in body
    assert 'data-status="not_connected"' in body
    assert "hidden-secret-1" not in body
    assert ">New</a>" in body


def test_it_searches_code_and_environment(admin_client, db) -> None:
    make_authorization(code="ALPHA", environment="Business Central")
    make_authorization(code="BETA", environment="Shopify")
    body = admin_client.get(URL, {"q": "shop"}).content.decode()
    assert "BETA" in body and "ALPHA" not in body
    body = admin_client.get(URL, {"q": "alp"}).content.decode()
    assert "ALPHA" in body and "BETA" not in body
    assert "No authorization matches" in admin_client.get(URL, {"q": "nothing"}).content.decode()


def test_it_paginates(admin_client, db) -> None:
    for number in range(30):
        make_authorization(code=f"A{number:02d}")
    first = admin_client.get(URL).content.decode()
    second = admin_client.get(URL, {"page": 2}).content.decode()
    assert "A24" in first and "A25" not in first
    assert "A25" in second and "A29" in second
    assert "Page 2 of 2" in second
    assert admin_client.get(URL, {"page": "junk"}).status_code == 200


def test_a_reader_sees_no_new_button(reader_client, authorization) -> None:
    body = reader_client.get(URL).content.decode()
    assert "ENDPOINT" in body
    assert ">New</a>" not in body


def test_an_outsider_is_refused(outsider_client, authorization) -> None:
    assert outsider_client.get(URL).status_code == 403


def test_it_shows_token_status_without_decrypting(admin_client, db) -> None:
    from datetime import timedelta
    from unittest import mock

    from django.utils import timezone

    now = timezone.now()
    make_authorization(
        code="LIVE", access_token="tok-1", obtained_at=now, expires_at=now + timedelta(hours=1)
    )
    make_authorization(code="OLD", access_token="tok-2", obtained_at=now, expires_at=now - timedelta(hours=1))
    from oauth2_auth.models import BearerToken, TokenState

    BearerToken.objects.update(state=TokenState.CONNECTED)
    with mock.patch("connectit.fields.decrypt", side_effect=AssertionError("decrypted")):
        body = admin_client.get(URL).content.decode()
    assert 'data-status="valid"' in body and "Valid, expires <time" in body
    assert 'data-status="expired"' in body
