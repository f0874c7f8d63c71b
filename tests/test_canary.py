"""The canary check itself (tests/canary.py) finds a stored secret in any encoding."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote_plus

import pytest

from tests.conftest import make_authorization

SECRET = "canary/secret+value=1"


@pytest.mark.parametrize(
    "shown",
    [SECRET, quote_plus(SECRET), json.dumps(SECRET).replace("/", "\\/"), SECRET.upper().lower()],
)
def test_it_finds_a_stored_secret_in_a_log_record(db, canaries, shown: str) -> None:
    make_authorization(client_secret=SECRET)  # stored, so encrypted: a canary
    assert SECRET in canaries.canaries
    logging.getLogger("tests.canary").warning("the server said %s", shown)
    assert canaries.leaks() == ["log record of tests.canary"]
    canaries.texts.clear()  # the check at teardown must pass: this leak was on purpose


def test_it_finds_a_stored_secret_in_a_page(admin_client, canaries) -> None:
    record = make_authorization(client_secret=SECRET)
    admin_client.get(f"/oauth2/authorizations/{record.pk}/")
    assert canaries.leaks() == []  # the page never shows it
    canaries.add_text("page GET /made-up/", f"<p>{SECRET}</p>")
    assert canaries.leaks() == ["page GET /made-up/"]
    canaries.texts.clear()
