"""The authorizations list's overview (issue 12, item 14): counts per status as filter chips, a sort
by status (most urgent first) and a short last error in the row."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from oauth2_auth import overview
from oauth2_auth.models import Authorization, Status, TokenState
from tests.conftest import make_authorization, set_token

URL = "/oauth2/authorizations/"
pytestmark = pytest.mark.django_db


def _valid(code: str, **fields) -> Authorization:
    now = timezone.now()
    return make_authorization(
        code=code,
        access_token="at",
        obtained_at=now,
        expires_at=now + timedelta(hours=1),
        token_state=TokenState.CONNECTED,
        **fields,
    )


def _mixed() -> None:
    _valid("VALID-1")
    _valid("VALID-2")
    make_authorization(code="CONSENT-1", token_state=TokenState.CONSENT_REQUIRED, last_error="Consent again.")
    make_authorization(code="CONSENT-2", token_state=TokenState.CONSENT_REQUIRED)
    make_authorization(
        code="FAILED-1", token_state=TokenState.FAILED, last_error="The provider answered 500."
    )
    make_authorization(code="NEW-1")


def _chips(body: str) -> list[tuple[str, str]]:
    """(data-chip, text) of each chip, in page order."""
    return re.findall(r'data-chip="([a-z_]+)"[^>]*>([^<]+)</a>', body)


def _codes(body: str) -> list[str]:
    return re.findall(r'<td class="code-cell" data-label="Code"><a [^>]+>([A-Z0-9-]+)</a>', body)


def test_it_counts_each_status_most_urgent_first(admin_client) -> None:
    _mixed()
    body = admin_client.get(URL).content.decode()
    assert _chips(body) == [
        ("all", "All 6"),
        ("consent_required", "2 need consent"),
        ("failed", "1 failed"),
        ("not_connected", "1 not connected"),
        ("valid", "2 valid"),
    ]  # no chip for a status nobody has (expired)


def test_a_chip_filters_the_list_and_keeps_the_search(admin_client) -> None:
    _mixed()
    body = admin_client.get(URL, {"q": "consent-1"}).content.decode()
    assert ("consent_required", "1 needs consent") in _chips(body)
    assert 'href="?q=consent-1&amp;status=consent_required"' in body
    body = admin_client.get(URL, {"status": "consent_required"}).content.decode()
    assert _codes(body) == ["CONSENT-1", "CONSENT-2"]
    assert 'data-chip="consent_required" aria-current="page"' in body
    # The counts stay those of the whole list: they are the choices, not the result.
    assert ("valid", "2 valid") in _chips(body)
    assert '<input type="hidden" name="status" value="consent_required">' in body


def test_it_ignores_an_unknown_status(admin_client) -> None:
    _mixed()
    body = admin_client.get(URL, {"status": "bogus"}).content.decode()
    assert len(_codes(body)) == 6


def test_it_says_when_no_authorization_has_the_status(admin_client) -> None:
    _valid("VALID-1")
    body = admin_client.get(URL, {"status": "failed"}).content.decode()
    assert "No authorization has this status." in body


def test_it_sorts_by_status_most_urgent_first(admin_client) -> None:
    _mixed()
    body = admin_client.get(URL, {"sort": "status"}).content.decode()
    assert _codes(body) == ["CONSENT-1", "CONSENT-2", "FAILED-1", "NEW-1", "VALID-1", "VALID-2"]
    assert 'aria-sort="ascending">Token status' in body
    default = admin_client.get(URL).content.decode()
    assert _codes(default) == sorted(_codes(default))
    assert 'href="?sort=status" id="sort-status"' in default


def test_paging_keeps_the_filter_and_the_sort(admin_client) -> None:
    for number in range(30):
        make_authorization(code=f"F{number:02d}", token_state=TokenState.FAILED)
    body = admin_client.get(URL, {"status": "failed", "sort": "status"}).content.decode()
    assert "?status=failed&amp;sort=status&amp;page=2" in body or "?status=failed&sort=status&page=2" in body


def test_the_row_shows_a_short_last_error_with_the_whole_text_in_its_title(admin_client) -> None:
    error = "The provider answered invalid_client <b>" + "x" * 200
    make_authorization(code="BROKEN", token_state=TokenState.FAILED, last_error=error)
    _valid("FINE")
    body = admin_client.get(URL).content.decode()
    shown = re.findall(
        r'<small class="last-error[^"]*" title="([^"]*)" data-last-error>([^<]*)</small>', body
    )
    assert len(shown) == 1  # only the row whose last request failed
    title, text = shown[0]
    assert title == error.replace("<", "&lt;").replace(">", "&gt;")
    assert text.endswith("…") and len(text) < 140
    assert "<b>" not in body


def test_the_last_error_never_shows_a_secret(admin_client) -> None:
    record = make_authorization(
        code="BROKEN", client_secret="s3cr3t-client-value", access_token="tok-secret-1"
    )
    # tokens.py stores errors redacted; the list shows exactly what was stored, like the record page.
    set_token(record, state=TokenState.FAILED, last_error="The provider answered invalid_client.")
    body = admin_client.get(URL).content.decode()
    assert "invalid_client" in body
    assert "s3cr3t-client-value" not in body and "tok-secret-1" not in body


def _page_queries(client, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL, params).status_code == 200
    return len(queries)


def test_it_makes_the_same_few_queries_whatever_the_size(admin_client) -> None:
    _mixed()
    few = _page_queries(admin_client)
    for number in range(40):
        make_authorization(code=f"MORE-{number:02d}", token_state=TokenState.FAILED, last_error="No.")
    assert _page_queries(admin_client) == few <= 10
    assert _page_queries(admin_client, sort="status", status="failed", q="more") == few


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, Status.NOT_CONNECTED),
        ({"token_state": TokenState.NOT_CONNECTED, "access_token": "at"}, Status.NOT_CONNECTED),
        ({"token_state": TokenState.CONNECTED}, Status.NOT_CONNECTED),  # no token stored
        ({"token_state": TokenState.CONSENT_REQUIRED, "access_token": "at"}, Status.CONSENT_REQUIRED),
        ({"token_state": TokenState.FAILED, "access_token": "at"}, Status.FAILED),
        ({"token_state": TokenState.CONNECTED, "access_token": "at", "expires_at": 3600}, Status.VALID),
        ({"token_state": TokenState.CONNECTED, "access_token": "at", "expires_at": -60}, Status.EXPIRED),
        ({"token_state": TokenState.CONNECTED, "access_token": "at", "obtained_at": -60}, Status.VALID),
        (
            {"token_state": TokenState.CONNECTED, "access_token": "at", "obtained_at": -(10**7)},
            Status.EXPIRED,
        ),
        ({"token_state": TokenState.CONNECTED, "access_token": "at"}, Status.EXPIRED),  # no expiry known
    ],
)
def test_the_database_decides_each_status_as_the_record_does(fields: dict, expected: Status) -> None:
    now = timezone.now()
    for name in ("expires_at", "obtained_at"):
        if name in fields:
            fields[name] = now + timedelta(seconds=fields[name])
    record = make_authorization(code="ONE", **fields)
    record = Authorization.objects.select_related("bearer").get(pk=record.pk)
    assert record.status == expected
    counted = overview.count_by_status(overview.with_urgency(Authorization.objects.all()))
    assert counted == {expected: 1}
