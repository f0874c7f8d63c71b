from __future__ import annotations

from unittest import mock


def test_it_answers_without_login(client, db) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_it_reports_a_dead_database(client, db) -> None:
    with mock.patch("connectit.views.connection.cursor", side_effect=RuntimeError("down")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "error"
