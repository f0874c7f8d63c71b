"""The audit trail: who did what, from where; field names only, never values."""

from __future__ import annotations

from datetime import timedelta

import pytest
import responses
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from connectit import audit, roles
from connectit.models import AuditAction, AuditEntry
from tests.conftest import PASSWORD, form_data, make_authorization


def entries(**filters) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(**filters).order_by("id"))


def test_an_edit_records_the_changed_field_names_only(admin_client, authorization) -> None:
    data = form_data(code="ENDPOINT", environment="Production", client_secret="typed-new-secret-77")
    response = admin_client.post(f"/oauth2/authorizations/{authorization.pk}/", data, REMOTE_ADDR="192.0.2.7")
    assert response.status_code == 302
    (entry,) = entries(action=AuditAction.CHANGED)
    assert (entry.actor, entry.address, entry.target_type, entry.target) == (
        "admin",
        "192.0.2.7",
        "authorization",
        "ENDPOINT",
    )
    assert {"environment", "client_secret"} <= set(entry.fields)
    dumped = repr(list(AuditEntry.objects.values()))
    assert "typed-new-secret-77" not in dumped and "Production" not in dumped


def test_creating_and_deleting_are_recorded(admin_client, db) -> None:
    admin_client.post("/oauth2/authorizations/new/", form_data(code="NEWONE"))
    record_pk = AuditEntry.objects.get(action=AuditAction.CREATED).target
    assert record_pk == "NEWONE"
    pk = make_authorization(code="GONE").pk
    admin_client.post(f"/oauth2/authorizations/{pk}/delete/")
    assert entries(action=AuditAction.DELETED)[0].target == "GONE"


@responses.activate
def test_token_actions_are_recorded(admin_client, db) -> None:
    record = make_authorization(code="TOK")
    responses.post(record.token_url, json={"access_token": "t-1", "expires_in": 3600})
    for path in ("get-token", "refresh", "clear-token"):
        admin_client.post(f"/oauth2/authorizations/{record.pk}/{path}/")
    actions = [entry.action for entry in entries(target="TOK")]
    assert actions == [AuditAction.GET_TOKEN, AuditAction.REFRESH, AuditAction.CLEAR]


def test_sign_ins_are_recorded_without_the_password(db) -> None:
    User.objects.create_user("erin", password=PASSWORD)
    client = Client(REMOTE_ADDR="198.51.100.4")
    client.post("/accounts/login/", {"username": "erin", "password": "wrong-password-123"})
    client.post("/accounts/login/", {"username": "erin", "password": PASSWORD})
    failed, ok = entries(action=AuditAction.LOGIN_FAILED), entries(action=AuditAction.LOGIN)
    assert (failed[0].actor, failed[0].success, failed[0].address) == ("erin", False, "198.51.100.4")
    assert ok[0].actor == "erin"
    assert "wrong-password-123" not in repr(list(AuditEntry.objects.values()))


def test_the_audit_page_is_for_administrators_and_filters(client, db) -> None:
    admin = User.objects.create_user("boss", password=PASSWORD)
    admin.groups.add(Group.objects.get(name=roles.ADMINISTRATOR))
    audit.record(AuditAction.RUN, actor="erin", target_type="definition", target="ITEMS")
    audit.record(AuditAction.CLEAR, actor="frank", target_type="authorization", target="BC")
    client.force_login(admin)
    body = client.get("/audit/", {"actor": "erin"}).content.decode()
    assert "ITEMS" in body and ">BC<" not in body and "authorization BC" not in body
    body = client.get("/audit/", {"action": "clear"}).content.decode()
    assert "authorization BC" in body and "ITEMS" not in body
    assert client.get("/audit/", {"since": "2026-13-40"}).status_code == 200  # a bad date is ignored


@override_settings(CONNECTIT_AUDIT_DAYS=30)
def test_old_entries_are_pruned(db) -> None:
    audit.record(AuditAction.LOGIN, actor="old")
    audit.record(AuditAction.LOGIN, actor="new")
    AuditEntry.objects.filter(actor="old").update(at=timezone.now() - timedelta(days=31))
    call_command("prune_audit", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert [entry.actor for entry in AuditEntry.objects.all()] == ["new"]


@pytest.mark.parametrize("behind_proxy", [False, True])
def test_the_address_comes_from_the_proxy_only_behind_one(rf, behind_proxy: bool) -> None:
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    with override_settings(CONNECTIT_BEHIND_PROXY=behind_proxy):
        assert audit.client_address(request) == ("203.0.113.9" if behind_proxy else "10.0.0.2")
