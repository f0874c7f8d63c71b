from __future__ import annotations

from oauth2_auth.models import Authorization


def url(record: Authorization) -> str:
    return f"/oauth2/authorizations/{record.pk}/delete/"


def test_it_asks_for_confirmation(admin_client, authorization) -> None:
    response = admin_client.get(url(authorization))
    assert response.status_code == 200
    assert "Delete authorization ENDPOINT?" in response.content.decode()
    assert Authorization.objects.filter(pk=authorization.pk).exists()


def test_it_deletes_on_post(admin_client, authorization) -> None:
    response = admin_client.post(url(authorization))
    assert response.status_code == 302
    assert response["Location"] == "/oauth2/authorizations/"
    assert not Authorization.objects.exists()


def test_it_denies_a_reader(reader_client, authorization) -> None:
    assert reader_client.post(url(authorization)).status_code == 403
    assert Authorization.objects.filter(pk=authorization.pk).exists()


def test_it_redirects_anonymous_to_login(client, authorization) -> None:
    response = client.post(url(authorization))
    assert response.status_code == 302
    assert Authorization.objects.filter(pk=authorization.pk).exists()
