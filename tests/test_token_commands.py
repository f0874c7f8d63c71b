"""manage.py refresh_tokens (for cron) and manage.py get_token."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import responses
from django.core.management import CommandError, call_command
from django.utils import timezone

from oauth2_auth.models import Authorization, EventKind, TokenState
from tests.conftest import make_authorization

TOKEN_URL = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"


def connected(code: str, expires_in: timedelta, **fields) -> Authorization:
    """A record holding a one-hour token that expires in ``expires_in``."""
    expires_at = timezone.now() + expires_in
    values = {
        "access_token": f"old-{code}",
        "token_state": TokenState.CONNECTED,
        "obtained_at": expires_at - timedelta(hours=1),
    }
    return make_authorization(code=code, expires_at=expires_at, **{**values, **fields})


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@responses.activate
def test_refresh_tokens_renews_what_expires_soon(db) -> None:
    soon = connected("SOON", timedelta(minutes=5))
    later = connected("LATER", timedelta(hours=2))
    make_authorization(code="NEVER")  # not connected: nothing to refresh
    responses.post(TOKEN_URL, json={"access_token": "fresh-token", "expires_in": 3600})

    out, _ = run("refresh_tokens", "--within", "10")

    assert "refreshed SOON" in out and "1 refreshed, 0 failed." in out
    assert len(responses.calls) == 1
    soon.refresh_from_db()
    later.refresh_from_db()
    assert soon.token.access_token == "fresh-token"
    assert later.token.access_token == "old-LATER"
    event = soon.events.first()
    assert (event.kind, event.trigger) == (EventKind.OBTAINED, "command refresh_tokens")


@responses.activate
def test_refresh_tokens_exits_non_zero_when_one_fails(db) -> None:
    connected("BROKEN", timedelta(minutes=1))
    connected("FINE", timedelta(minutes=1), token_url="https://idp.example.com/token")
    responses.post(TOKEN_URL, status=503, body="down", content_type="text/plain")
    responses.post("https://idp.example.com/token", json={"access_token": "ok-token", "expires_in": 60})

    with pytest.raises(CommandError) as raised:
        run("refresh_tokens")

    assert raised.value.returncode == 1
    assert "1 token refresh(es) failed." in str(raised.value)
    broken = Authorization.objects.get(code="BROKEN")
    assert broken.token.access_token == "old-BROKEN"  # kept
    assert Authorization.objects.get(code="FINE").token.access_token == "ok-token"


def test_refresh_tokens_skips_records_waiting_for_consent(db) -> None:
    connected("DEAD", timedelta(minutes=-5), token_state=TokenState.CONSENT_REQUIRED)
    with responses.RequestsMock():  # nothing may be requested
        out, _ = run("refresh_tokens", "--within", "60")
    assert "0 refreshed, 0 failed." in out


def test_refresh_tokens_refuses_a_negative_window(db) -> None:
    with pytest.raises(CommandError, match="--within must be 0 or more"):
        run("refresh_tokens", "--within", "-1")


def test_get_token_prints_a_valid_token(db) -> None:
    connected("BC", timedelta(hours=1))
    with responses.RequestsMock():
        out, _ = run("get_token", "bc")
    assert out.strip() == "old-BC"


@responses.activate
def test_get_token_renews_an_expired_token(db) -> None:
    connected("BC", timedelta(minutes=-1))
    responses.post(TOKEN_URL, json={"access_token": "renewed", "expires_in": 3600})
    out, _ = run("get_token", "BC")
    assert out.strip() == "renewed"


def test_get_token_explains_an_unknown_code(db) -> None:
    with pytest.raises(CommandError, match="There is no OAuth2 authorization with code 'NOPE'"):
        run("get_token", "nope")
