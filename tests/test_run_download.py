"""The payload download: only harmless content types, never sniffed, always an attachment.

The stored content type is whatever the API answered: served as it came, "text/html" or
"image/svg+xml" would let an API's answer run script on this app's origin if a browser showed it.
"""

from __future__ import annotations

import pytest

from definitions.models import Outcome, Run
from tests.test_definition_create import make_definition


def download(client, content_type: str, body: str = "payload"):
    record = make_definition()
    run = Run.objects.create(
        definition=record,
        trigger="system",
        outcome=Outcome.SUCCESS,
        response_content_type=content_type,
        response_body=body,
    )
    response = client.get(f"/definitions/runs/{run.pk}/download/")
    assert response.status_code == 200
    return run, response


@pytest.mark.parametrize(
    ("stored", "served"),
    [
        ("application/json", "application/json"),
        ("application/json; charset=utf-8", "application/json"),
        ("application/problem+json", "application/json"),
        ("Application/JSON", "application/json"),
        ("application/xml", "application/xml; charset=utf-8"),
        ("text/xml; charset=iso-8859-1", "application/xml; charset=utf-8"),
        ("application/soap+xml; charset=utf-8", "application/xml; charset=utf-8"),
        ("text/plain", "text/plain; charset=utf-8"),
        ("text/csv; charset=windows-1252", "text/csv; charset=utf-8"),
        ("text/html; charset=utf-8", "application/octet-stream"),
        ("image/svg+xml", "application/octet-stream"),
        ("application/xhtml+xml", "application/octet-stream"),
        ("application/javascript", "application/octet-stream"),
        ("text/javascript", "application/octet-stream"),
        ("", "application/octet-stream"),
        ("nonsense", "application/octet-stream"),
    ],
)
def test_only_listed_content_types_are_served(admin_client, stored: str, served: str) -> None:
    _, response = download(admin_client, stored)
    # The payload is stored as text and sent as UTF-8, whatever charset the API named.
    assert response["Content-Type"] == served


@pytest.mark.parametrize("content_type", ["application/json", "text/html", ""])
def test_it_is_always_an_attachment_and_never_sniffed(admin_client, content_type: str) -> None:
    run, response = download(admin_client, content_type, "<script>alert(1)</script>")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert response["Content-Disposition"].endswith(
        f'-run-{run.pk}.{"json" if "json" in content_type else "txt"}"'
    )
    # Even if something showed it inline, it could run nothing.
    assert "sandbox" in response["Content-Security-Policy"]


def test_a_csv_payload_gets_a_csv_name(admin_client) -> None:
    run, response = download(admin_client, "text/csv", "a,b\n1,2\n")
    assert response["Content-Disposition"] == f'attachment; filename="customers-run-{run.pk}.csv"'
    assert b"".join(response.streaming_content) == b"a,b\n1,2\n"
