"""Users and roles on the app's own pages: invite, choose a password, change role, deactivate."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from connectit import roles
from connectit.models import AuditAction, AuditEntry
from tests.conftest import PASSWORD


@pytest.fixture
def boss_client(db) -> Client:
    boss = User.objects.create_user("boss", password=PASSWORD)
    boss.groups.add(Group.objects.get(name=roles.ADMINISTRATOR))
    client = Client()
    client.force_login(boss)
    return client


def signs_in(username: str, password: str) -> bool:
    """Through the login page, as a person would (and as the login throttle sees it)."""
    client = Client()
    client.post("/accounts/login/", {"username": username, "password": password})
    return "_auth_user_id" in client.session


def invite(client: Client, username: str = "newbie", role: str = roles.OPERATOR) -> str:
    response = client.post(
        "/users/new/", {"username": username, "email": "n@example.com", "role": role}, follow=True
    )
    assert response.status_code == 200
    link = re.search(r"http://testserver(/invitation/[^\s<]+)", response.content.decode())
    assert link, response.content.decode()[:3000]
    return link.group(1)


def test_an_invited_user_chooses_a_password_once_and_signs_in(boss_client) -> None:
    link = invite(boss_client)
    newbie = User.objects.get(username="newbie")
    assert not newbie.has_usable_password()
    assert [group.name for group in newbie.groups.all()] == [roles.OPERATOR]
    stranger = Client()
    new_password = "a-long-new-password-42"
    response = stranger.post(link, {"new_password1": new_password, "new_password2": new_password})
    assert response.status_code == 302
    assert signs_in("newbie", new_password)
    assert stranger.get(link).status_code == 403  # used: the token no longer matches
    assert AuditEntry.objects.filter(action=AuditAction.CREATED, target="newbie").exists()


def test_a_role_change_replaces_the_old_role(boss_client) -> None:
    invite(boss_client, role=roles.VIEWER)
    newbie = User.objects.get(username="newbie")
    data = {"username": "newbie", "email": "", "role": roles.ADMINISTRATOR, "is_active": "on"}
    assert boss_client.post(f"/users/{newbie.pk}/", data).status_code == 302
    assert [group.name for group in newbie.groups.all()] == [roles.ADMINISTRATOR]
    entry = AuditEntry.objects.get(action=AuditAction.CHANGED, target="newbie")
    assert "role" in entry.fields


def test_a_deactivated_user_cannot_sign_in(boss_client) -> None:
    User.objects.create_user("leaver", password=PASSWORD)
    leaver = User.objects.get(username="leaver")
    data = {"username": "leaver", "role": roles.VIEWER}  # is_active unticked
    assert boss_client.post(f"/users/{leaver.pk}/", data).status_code == 302
    assert not signs_in("leaver", PASSWORD)


def test_an_administrator_cannot_deactivate_themselves(boss_client) -> None:
    boss = User.objects.get(username="boss")
    response = boss_client.post(f"/users/{boss.pk}/", {"username": "boss", "role": roles.ADMINISTRATOR})
    assert response.status_code == 200
    assert "You cannot deactivate yourself." in response.content.decode()
    assert User.objects.get(username="boss").is_active


def test_superusers_are_left_to_the_django_admin(boss_client, admin_user) -> None:
    assert boss_client.get(f"/users/{admin_user.pk}/").status_code == 404


def test_a_forged_invitation_link_is_refused(db) -> None:
    user = User.objects.create_user("target")
    assert Client().get(f"/invitation/{user.pk}/not-a-token/").status_code == 403
