"""Every URL, GET and POST, as anonymous, a user with no role, Viewer, Operator and Administrator.

Allowed means the view did its work (200, a redirect to a page of the app, or a form that shows
its errors); refused means 403 for a signed-in user and a redirect to the login page for an
anonymous one. The roles are the groups that connectit/migrations/0002_roles.py creates.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from connectit import roles
from definitions.models import Definition, Direction, Outcome, Run, RunPage
from oauth2_auth.models import Authorization, TokenState
from tests.conftest import PASSWORD, make_authorization

ANON, NOBODY, VIEWER, OPERATOR, ADMIN = (
    "anonymous",
    "no role",
    roles.VIEWER,
    roles.OPERATOR,
    roles.ADMINISTRATOR,
)
EVERYONE_SIGNED_IN = {NOBODY, VIEWER, OPERATOR, ADMIN}
READERS = {VIEWER, OPERATOR, ADMIN}
OPERATORS = {OPERATOR, ADMIN}
ADMINS = {ADMIN}
PUBLIC = {ANON, *EVERYONE_SIGNED_IN}
# An unreachable loopback port: token requests fail at once, and that failure is the view's work.
DEAD_TOKEN_URL = "http://127.0.0.1:9/token"

# (method, URL template, who may, POST data). {auth}, {definition}, {run}, {user} are primary keys.
MATRIX = [
    ("GET", "/", EVERYONE_SIGNED_IN, None),
    ("GET", "/healthz", PUBLIC, None),
    ("GET", "/favicon.ico", PUBLIC, None),
    ("GET", "/accounts/login/", PUBLIC, None),
    ("GET", "/oauth2/authorizations/", READERS, None),
    ("GET", "/oauth2/authorizations/new/", ADMINS, None),
    ("POST", "/oauth2/authorizations/new/", ADMINS, {"code": ""}),
    ("GET", "/oauth2/authorizations/{auth}/", READERS, None),
    ("POST", "/oauth2/authorizations/{auth}/", ADMINS, {"code": ""}),
    ("GET", "/oauth2/authorizations/{auth}/delete/", ADMINS, None),
    ("POST", "/oauth2/authorizations/{auth}/get-token/", OPERATORS, {}),
    ("POST", "/oauth2/authorizations/{auth}/refresh/", OPERATORS, {}),
    ("GET", "/oauth2/authorizations/{auth}/clear-token/", ADMINS, None),
    ("POST", "/oauth2/authorizations/{auth}/clear-token/", ADMINS, {}),
    ("POST", "/oauth2/authorizations/{auth}/check/", ADMINS, {}),
    ("GET", "/definitions/", READERS, None),
    ("GET", "/definitions/new/", ADMINS, None),
    ("POST", "/definitions/new/", ADMINS, {"code": ""}),
    ("GET", "/definitions/{definition}/", READERS, None),
    ("POST", "/definitions/{definition}/", ADMINS, {"code": ""}),
    ("GET", "/definitions/{definition}/delete/", ADMINS, None),
    ("POST", "/definitions/{definition}/operations/", ADMINS, {}),
    ("POST", "/definitions/new/operations/", ADMINS, {}),
    ("GET", "/definitions/{definition}/run/", OPERATORS, None),
    ("POST", "/definitions/{definition}/run/", OPERATORS, {"nosuchfield": "x"}),
    ("GET", "/definitions/runs/", READERS, None),
    ("GET", "/definitions/runs/{run}/", READERS, None),
    ("GET", "/definitions/runs/{run}/pages/1/", READERS, None),
    ("GET", "/definitions/runs/{run}/download/", READERS, None),
    ("GET", "/definitions/runs/{run}/progress/", READERS, None),
    ("POST", "/definitions/runs/{run}/cancel/", OPERATORS, {}),
    ("GET", "/users/", ADMINS, None),
    ("GET", "/users/new/", ADMINS, None),
    ("POST", "/users/new/", ADMINS, {"username": ""}),
    ("GET", "/users/{user}/", ADMINS, None),
    ("POST", "/users/{user}/", ADMINS, {"username": ""}),
    ("GET", "/audit/", ADMINS, None),
    ("GET", "/alerts/", ADMINS, None),
    ("POST", "/alerts/test/", ADMINS, {}),
]
# Reading a WSDL answers a form it cannot read (no WSDL URL here) with a JSON 400: the role passed.
READ_ERRORS_OK = {"/definitions/{definition}/operations/", "/definitions/new/operations/"}
# Deleting changes what the other rows see: these run on records of their own.
DELETES = [
    ("/oauth2/authorizations/{auth}/delete/", ADMINS),
    ("/definitions/{definition}/delete/", ADMINS),
]


def user_with(role: str) -> User:
    user = User.objects.create_user(role.replace(" ", "-").lower(), password=PASSWORD)
    if role in roles.ROLES:
        user.groups.add(Group.objects.get(name=role))
    return user


def records() -> dict[str, int]:
    now = timezone.now()
    auth = make_authorization(
        code="MATRIX",
        token_url=DEAD_TOKEN_URL,
        access_token="matrix-access-token-1",
        token_state=TokenState.CONNECTED,
        obtained_at=now,
        expires_at=now + timedelta(hours=1),
        api_hosts="api.example.com",
    )
    definition = Definition.objects.create(
        code="MATRIX-DEF", endpoint_url="https://api.example.com/items", direction=Direction.IMPORT
    )
    run = Run.objects.create(definition=definition, trigger="test", outcome=Outcome.SUCCESS)
    RunPage.objects.create(run=run, number=1, http_status=200, url="https://api.example.com/items", body="{}")
    target = User.objects.create_user("someone", password=PASSWORD)
    return {"auth": auth.pk, "definition": definition.pk, "run": run.pk, "user": target.pk}


def client_as(role: str) -> Client:
    client = Client()
    if role != ANON:
        client.force_login(user_with(role))
    return client


def assert_answer(role: str, allowed: set[str], method: str, url: str, response, ok=(200, 302)) -> None:
    where = f"{role} {method} {url}"
    if role in allowed:
        assert response.status_code in ok, f"{where}: {response.status_code}"
        if response.status_code == 302:
            assert not response["Location"].startswith("/accounts/login/"), where
    elif role == ANON:
        assert response.status_code == 302, f"{where}: {response.status_code}"
        assert response["Location"].startswith("/accounts/login/"), where
    else:
        assert response.status_code == 403, f"{where}: {response.status_code}"


@pytest.mark.parametrize("role", [ANON, NOBODY, VIEWER, OPERATOR, ADMIN])
def test_every_url_answers_each_role_as_its_permissions_say(db, role: str) -> None:
    keys = records()
    client = client_as(role)
    for method, template, allowed, data in MATRIX:
        url = template.format(**keys)
        response = client.get(url) if method == "GET" else client.post(url, data)
        ok = (200, 302, 400) if template in READ_ERRORS_OK else (200, 302)
        assert_answer(role, allowed, method, url, response, ok)


@pytest.mark.parametrize("role", [ANON, NOBODY, VIEWER, OPERATOR, ADMIN])
@pytest.mark.parametrize(("template", "allowed"), DELETES)
def test_deleting_is_for_administrators(db, role: str, template: str, allowed: set[str]) -> None:
    keys = records()
    Definition.objects.filter(pk=keys["definition"]).delete()  # an authorization in use stays
    keys["definition"] = Definition.objects.create(code="DOOMED", endpoint_url="https://api.example.com/x").pk
    url = template.format(**keys)
    response = client_as(role).post(url)
    assert_answer(role, allowed, "POST", url, response)
    gone = not (
        Authorization.objects.filter(pk=keys["auth"]).exists()
        and Definition.objects.filter(pk=keys["definition"]).exists()
    )
    assert gone == (role in allowed)


@pytest.mark.parametrize("role", [NOBODY, VIEWER, OPERATOR, ADMIN])
def test_the_django_admin_is_for_superusers_only(db, role: str) -> None:
    response = client_as(role).get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_a_superuser_reaches_the_django_admin(admin_client) -> None:
    assert admin_client.get("/admin/").status_code == 200


def test_the_callback_never_sends_anyone_to_the_login_page_with_the_code(client, db) -> None:
    response = client.get("/oauth2/callback/", {"code": "one-time-code-ABC", "state": "s"})
    assert response.status_code == 302 and "one-time-code-ABC" not in response["Location"]
    assert "callback" not in response["Location"]  # "next" leads to the list, not back here
