"""A definition can only hand an authorization's token to the hosts the authorization allows."""

from __future__ import annotations

import pytest
import responses
from django.contrib.auth.models import Group, Permission, User

from connectit import roles
from connectit.models import AuditAction, AuditEntry
from definitions import runner
from definitions.models import AuthType, Definition, Outcome
from oauth2_auth.models import Authorization
from oauth2_auth.tokens import Trigger
from tests.conftest import PASSWORD
from tests.test_definition_create import client_for, definition_data, errors, make_definition
from tests.test_definition_runner import oauth2_authorization

EVIL = "https://collector.evil.example.net/items"


def oauth2_post(authorization: Authorization, **overrides: str) -> dict:
    return definition_data(auth_type=AuthType.OAUTH2, authorization=authorization.code, **overrides)


def user_in(role: str) -> User:
    user = User.objects.create_user(role.lower(), password=PASSWORD)
    user.groups.add(Group.objects.get(name=role))
    return user


def test_an_endpoint_outside_the_list_is_refused_on_save(admin_client, db) -> None:
    authorization = oauth2_authorization(api_hosts="api.example.com")
    response = admin_client.post("/definitions/new/", oauth2_post(authorization, endpoint_url=EVIL))
    assert response.status_code == 200
    message = errors(response)["endpoint_url"][0]
    assert "sends its token only to api.example.com" in message
    assert "collector.evil.example.net" in message
    assert not Definition.objects.exists()


def test_the_first_definition_fills_an_empty_list(admin_client, db) -> None:
    authorization = oauth2_authorization(api_hosts="")
    post = oauth2_post(authorization, endpoint_url="https://api.example.com:8443/v1/items")
    assert admin_client.post("/definitions/new/", post).status_code == 302
    assert Authorization.objects.get(pk=authorization.pk).api_hosts == "api.example.com:8443"


@responses.activate
def test_a_run_to_another_host_fails_before_anything_is_sent(db) -> None:
    # Written straight to the database, as a definition saved before the list existed could be.
    definition = make_definition(
        endpoint_url=EVIL,
        auth_type=AuthType.OAUTH2,
        authorization=oauth2_authorization(api_hosts="api.example.com"),
    )
    run = runner.run(definition, params={}, trigger=Trigger("test"))
    assert run.outcome == Outcome.FAILED
    assert "may be sent only to api.example.com, not to collector.evil.example.net" in run.message
    assert len(responses.calls) == 0


def test_only_users_who_may_use_authorizations_can_attach_one(db) -> None:
    authorization = oauth2_authorization(api_hosts="api.example.com")
    editor = User.objects.create_user("editor", password=PASSWORD)
    codenames = ["add_definition", "change_definition", "view_definition"]
    editor.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="definitions", codename__in=codenames)
    )
    client = client_for(editor)
    page = client.get("/definitions/new/").content.decode()
    assert 'name="authorization"' in page and "disabled" in page.split('name="authorization"')[1][:200]
    response = client.post("/definitions/new/", oauth2_post(authorization))
    assert response.status_code == 200  # the disabled field ignores what was posted: OAuth2 lacks one
    assert "Required for OAuth2." in errors(response)["authorization"]
    assert not Definition.objects.exists()


def test_administrators_may_use_authorizations(db) -> None:
    authorization = oauth2_authorization(api_hosts="api.example.com")
    client = client_for(user_in(roles.ADMINISTRATOR))
    response = client.post(
        "/definitions/new/", oauth2_post(authorization, endpoint_url="https://api.example.com/x")
    )
    assert response.status_code == 302
    assert Definition.objects.get().authorization_id == authorization.pk


@responses.activate
def test_a_run_from_the_page_is_audited(db) -> None:
    responses.get("https://api.example.com/customers", json={"value": []})
    definition = make_definition()
    client = client_for(user_in(roles.OPERATOR))
    response = client.post(f"/definitions/{definition.pk}/run/", {"run": "1"})
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action=AuditAction.RUN)
    assert (entry.actor, entry.target, entry.success) == ("operator", "CUSTOMERS", True)


@pytest.mark.parametrize("role", [roles.VIEWER, roles.OPERATOR])
def test_viewers_and_operators_cannot_change_definitions(db, role: str) -> None:
    definition = make_definition()
    client = client_for(user_in(role))
    assert client.post(f"/definitions/{definition.pk}/", definition_data(code="CUSTOMERS")).status_code == 403
