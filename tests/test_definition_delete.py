from __future__ import annotations

import pytest
from django.test import Client

from definitions.models import Definition, Run, RunPage
from tests.test_definition_create import client_for, definitions_user, make_definition, text


def url(record: Definition) -> str:
    return f"/definitions/{record.pk}/delete/"


@pytest.fixture
def record(db) -> Definition:
    return make_definition(bearer_token="static-bearer-for-delete")


@pytest.fixture
def definitions_reader_client(db) -> Client:
    return client_for(definitions_user("defreader", "view_definition", "change_definition"))


def test_it_asks_for_confirmation(admin_client, record) -> None:
    response = admin_client.get(url(record))
    assert response.status_code == 200
    body = text(response)
    assert "Delete definition CUSTOMERS?" in body
    assert "its run log" in body
    assert ">Delete</button>" in body
    assert f'href="/definitions/{record.pk}/"' in body  # Cancel
    assert Definition.objects.filter(pk=record.pk).exists()


def test_it_deletes_the_definition_and_its_runs(admin_client, record) -> None:
    other = make_definition(code="OTHER")
    run = Run.objects.create(definition=record, trigger="user admin", outcome="success")
    RunPage.objects.create(run=run, number=1, http_status=200, url="https://api.example.com/c", body="[]")
    kept = Run.objects.create(definition=other, trigger="user admin", outcome="success")

    response = admin_client.post(url(record))

    assert response.status_code == 302
    assert response["Location"] == "/definitions/"
    assert not Definition.objects.filter(pk=record.pk).exists()
    assert not Run.objects.filter(definition_id=record.pk).exists()
    assert not RunPage.objects.exists()
    assert list(Run.objects.all()) == [kept]
    assert "Definition CUSTOMERS and its runs were deleted." in text(admin_client.get("/definitions/"))


def test_it_denies_a_user_without_delete_permission(definitions_reader_client, record) -> None:
    assert definitions_reader_client.get(url(record)).status_code == 403
    assert definitions_reader_client.post(url(record)).status_code == 403
    assert Definition.objects.filter(pk=record.pk).exists()


def test_it_denies_an_authorizations_reader(reader_client, record) -> None:
    assert reader_client.post(url(record)).status_code == 403
    assert Definition.objects.filter(pk=record.pk).exists()


def test_it_redirects_anonymous_to_login(client, admin_user, record) -> None:
    response = client.post(url(record))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert Definition.objects.filter(pk=record.pk).exists()


def test_it_404s_for_a_missing_record(admin_client) -> None:
    assert admin_client.post("/definitions/999999/delete/").status_code == 404


def test_it_refuses_other_methods(admin_client, record) -> None:
    assert admin_client.put(url(record)).status_code == 405
    assert Definition.objects.filter(pk=record.pk).exists()
