"""Tokens kept warm by the workers: renewed before they expire, refreshed before an idle refresh
token reaches the provider's inactivity limit."""

from __future__ import annotations

from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from oauth2_auth import keepalive
from oauth2_auth.models import BearerToken, EventKind, GrantType, TokenEvent, TokenState
from tests.conftest import make_authorization, set_token
from tests.provider_helpers import ac_record, give_consent
from tests.workers import wait_for, workers

TOKEN_URL = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"


def held(code: str, **token) -> None:
    now = timezone.now()
    values = {
        "access_token": f"access-{code}",
        "obtained_at": now - timedelta(minutes=5),
        "expires_at": now + timedelta(hours=1),
        "token_state": TokenState.CONNECTED,
        **token,
    }
    record = make_authorization(code=code, grant_type=token.pop("grant", GrantType.CLIENT_CREDENTIALS))
    set_token(record, **{k: v for k, v in values.items() if k != "grant"})


def test_it_picks_expiring_and_idle_tokens_only(db) -> None:
    now = timezone.now()
    held("FRESH")
    held("EXPIRING", expires_at=now + timedelta(seconds=100))
    held(
        "IDLE-AC", grant=GrantType.AUTHORIZATION_CODE, refresh_token="r1", obtained_at=now - timedelta(days=8)
    )
    held(
        "RECENT-AC",
        grant=GrantType.AUTHORIZATION_CODE,
        refresh_token="r2",
        obtained_at=now - timedelta(days=6),
    )
    held("IDLE-NO-REFRESH", grant=GrantType.AUTHORIZATION_CODE, obtained_at=now - timedelta(days=8))
    held("IDLE-CC", obtained_at=now - timedelta(days=30), expires_at=now + timedelta(days=1))
    held("CONSENT", token_state=TokenState.CONSENT_REQUIRED, expires_at=now - timedelta(seconds=1))
    held("JUST-FAILED", token_state=TokenState.FAILED, expires_at=now + timedelta(seconds=10))
    due = {item.code: item.why for item in keepalive.due(300, 7)}
    assert due == {"EXPIRING": "expiring", "IDLE-AC": "idle"}


def test_a_failed_renewal_is_tried_again_after_a_while(db) -> None:
    held("FAILED", token_state=TokenState.FAILED, expires_at=timezone.now() + timedelta(seconds=10))
    BearerToken.objects.update(updated_at=timezone.now() - timedelta(minutes=6))
    assert [item.code for item in keepalive.due(300, 7)] == ["FAILED"]


@responses.activate
def test_keep_warm_renews_an_expiring_client_credentials_token(db, settings) -> None:
    settings.CONNECTIT_RENEW_AHEAD = 300
    responses.post(TOKEN_URL, json={"access_token": "renewed-token", "expires_in": 3600})
    held("ENDPOINT", expires_at=timezone.now() + timedelta(seconds=60))
    assert keepalive.keep_warm() == {"ENDPOINT": ""}
    token = BearerToken.objects.get()
    assert token.access_token == "renewed-token"
    assert TokenEvent.objects.get(kind=EventKind.OBTAINED).trigger == "keep-alive"


@responses.activate
def test_keep_warm_reports_a_failure_and_keeps_the_token(db) -> None:
    responses.post(TOKEN_URL, status=400, json={"error": "invalid_client", "error_description": "bad secret"})
    held("ENDPOINT", expires_at=timezone.now() + timedelta(seconds=60))
    result = keepalive.keep_warm()
    assert "invalid_client" in result["ENDPOINT"]
    assert BearerToken.objects.get().access_token == "access-ENDPOINT"


@pytest.mark.django_db(transaction=True)
def test_a_worker_refreshes_an_idle_authorization_code_token(oauth_provider, client, admin_user) -> None:
    oauth_provider.reset()
    client.force_login(admin_user)
    record = ac_record(oauth_provider)
    give_consent(client, oauth_provider, record)
    before = BearerToken.objects.get(pk=record.pk)
    assert before.has_refresh_token
    old_refresh = before.refresh_token
    eight_days_ago = timezone.now() - timedelta(days=8)
    BearerToken.objects.filter(pk=record.pk).update(obtained_at=eight_days_ago)
    with workers(1):
        event = wait_for(
            lambda: TokenEvent.objects.filter(authorization=record, kind=EventKind.REFRESHED).first(),
            what="the keep-alive refresh",
        )
    assert event.trigger == "keep-alive" and event.success
    after = BearerToken.objects.get(pk=record.pk)
    assert after.obtained_at > eight_days_ago + timedelta(days=7)
    assert after.refresh_token != old_refresh  # the provider rotated it, and it was saved
    assert oauth_provider.stats()["refresh_token"] == 1
