"""Styled 400/403/404/500 pages: they say what happened, name the missing role and link back."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client, override_settings
from django.urls import reverse

from connectit.roles import VIEWER
from oauth2_auth.models import GrantType
from tests.conftest import PASSWORD, make_authorization

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client(db) -> Client:
    user = User.objects.create_user("viewer", "viewer@example.com", PASSWORD)
    user.groups.add(Group.objects.get(name=VIEWER))
    client = Client()
    client.force_login(user)
    return client


def test_404_under_definitions_links_back_to_definitions(admin_client: Client) -> None:
    response = admin_client.get("/definitions/999999/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Page not found" in body
    assert f'href="{reverse("definitions:list")}"' in body
    assert "Back to definitions" in body
    assert f'href="{reverse("home")}"' in body


def test_404_for_unknown_path_links_home(admin_client: Client) -> None:
    response = admin_client.get("/no-such-page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Page not found" in body and "Home page" in body
    assert "Back to" not in body


def test_403_names_what_a_viewer_may_do(viewer_client: Client, authorization) -> None:
    url = reverse("oauth2_auth:delete", args=[authorization.pk])
    response = viewer_client.post(url, {})
    assert response.status_code == 403
    body = response.content.decode()
    assert "You can view authorizations but not change them." in body
    assert "Ask an administrator for the Administrator role." in body
    assert f'href="{reverse("oauth2_auth:list")}"' in body


def test_403_for_an_operator_action_asks_for_operator(viewer_client: Client, authorization) -> None:
    response = viewer_client.post(reverse("oauth2_auth:refresh", args=[authorization.pk]))
    assert response.status_code == 403
    assert "Ask an administrator for the Operator role." in response.content.decode()


def test_403_for_a_user_without_a_role(outsider_client: Client) -> None:
    response = outsider_client.get(reverse("oauth2_auth:list"))
    assert response.status_code == 403
    assert "Your account has no role yet; ask an administrator." in response.content.decode()


@override_settings(ROOT_URLCONF="tests.error_urls")
def test_500_shows_no_exception_text() -> None:
    client = Client(raise_request_exception=False)
    response = client.get("/boom/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong" in body
    assert "secret-exception-text-xyz" not in body
    assert "RuntimeError" not in body
    assert 'href="/"' in body


def test_the_callback_error_answer_leaves_no_code_in_the_address_bar(admin_client: Client) -> None:
    """A provider error (here access_denied) ends in a redirect to the record's page, whose URL
    carries no code or state, so nothing stays in the address bar or the history."""
    record = make_authorization(
        code="CB",
        grant_type=GrantType.AUTHORIZATION_CODE,
        client_id="client-1",
        client_secret="client-secret-1",
        auth_url="https://provider.example/authorize",
        token_url="https://provider.example/token",
        redirect_url="http://testserver/oauth2/callback/",
    )
    started = admin_client.post(reverse("oauth2_auth:get_token", args=[record.pk]))
    assert started.status_code == 302
    params = {key: values[0] for key, values in parse_qs(urlsplit(started["Location"]).query).items()}
    response = admin_client.get(
        "/oauth2/callback/", {"error": "access_denied", "code": "leak-me", "state": params["state"]}
    )
    assert response.status_code == 302
    assert "leak-me" not in response["Location"]
    assert params["state"] not in response["Location"]
    assert "?" not in response["Location"].split("#")[0]


def test_a_viewer_saving_a_record_gets_the_styled_403(viewer_client: Client, authorization) -> None:
    response = viewer_client.post(f"/oauth2/authorizations/{authorization.pk}/", {"code": "X"})
    assert response.status_code == 403
    body = response.content.decode()
    assert "You can view authorizations but not change them" in body and "<nav" in body
    authorization.refresh_from_db()
    assert authorization.code == "ENDPOINT"
