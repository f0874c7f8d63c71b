from __future__ import annotations

from django.contrib.auth.models import User

DATA = {
    "username": "firstadmin",
    "email": "it@example.com",
    "password1": "a-long-unusual-passphrase-42",
    "password2": "a-long-unusual-passphrase-42",
}


def test_login_sends_an_empty_database_to_setup(client, db) -> None:
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/setup/"
    assert "Create the first administrator" in response.content.decode()


def test_it_creates_the_first_administrator_once(client, db) -> None:
    response = client.post("/setup/", DATA)
    assert response.status_code == 302
    user = User.objects.get()
    assert user.username == "firstadmin"
    assert user.is_superuser and user.is_staff
    # Logged in straight away.
    assert client.get("/oauth2/authorizations/").status_code == 200
    # The page is gone for good, for everyone.
    assert client.get("/setup/").status_code == 404
    assert client.post("/setup/", {**DATA, "username": "second"}).status_code == 404
    assert User.objects.count() == 1


def test_it_404s_once_any_user_exists(client, reader) -> None:
    assert client.get("/setup/").status_code == 404


def test_it_rejects_mismatched_passwords(client, db) -> None:
    response = client.post("/setup/", {**DATA, "password2": "something-else-99"})
    assert response.status_code == 200
    assert not User.objects.exists()


def test_the_login_page_works_once_a_user_exists(client, admin_user) -> None:
    from tests.conftest import PASSWORD

    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "admin", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/oauth2/authorizations/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/oauth2/authorizations/").status_code == 302
