"""Static files come from this app, with no CDN: Bootstrap from its wheel, the favicon at /."""

from __future__ import annotations

import re

import pytest


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_the_favicon_is_served_without_login(client, db) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert body(response)[:4] == b"\x00\x00\x01\x00"  # an ICO header


@pytest.mark.parametrize(
    ("path", "marker"),
    [
        ("/static/bootstrap/css/bootstrap.min.css", b"Bootstrap  v5.3.8"),
        ("/static/bootstrap/js/bootstrap.bundle.min.js", b"Bootstrap v5.3.8"),
    ],
)
def test_bootstrap_is_served_from_our_static_files(client, db, path: str, marker: bytes) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert marker in body(response)[:200]


def test_pages_link_only_our_own_static_files(client, admin_user) -> None:
    page = client.get("/accounts/login/").content.decode()
    sources = re.findall(r'(?:href|src)="([^"]+\.(?:css|js))"', page)
    assert "/static/bootstrap/css/bootstrap.min.css" in sources
    assert all(source.startswith("/static/") for source in sources), sources
