"""The token core under real concurrency: what runs beside a renewal never loses its result.

Every test here runs the race for real, against the test provider (django-oauth-toolkit with
rotating refresh tokens), with threads and separate processes on the suite's database (SQLite,
or PostgreSQL when DATABASE_URL says so).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from connectit.fields import decrypt
from oauth2_auth import tokens
from oauth2_auth.models import Authorization, BearerToken, TokenState
from tests.processes import REPO, in_processes, worker_env
from tests.provider.fixtures import run_provider
from tests.provider_helpers import ac_record, call_api, cc_record, give_consent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def provider(oauth_provider):
    oauth_provider.reset()
    yield oauth_provider
    oauth_provider.reset()


def expire(record: Authorization, lifetime: int = 3600) -> None:
    now = timezone.now()
    BearerToken.objects.filter(pk=record.pk).update(
        expires_at=now - timedelta(seconds=1), obtained_at=now - timedelta(seconds=lifetime + 1)
    )


def stored(record: Authorization) -> BearerToken:
    return BearerToken.objects.get(pk=record.pk)


@pytest.fixture
def allow_http():
    # The test callback is http://testserver/, which the form accepts only with this setting.
    with override_settings(CONNECTIT_ALLOW_HTTP=True):
        yield


def consented(provider, client) -> Authorization:
    record = ac_record(provider)
    give_consent(client, provider, record)
    provider.reset()
    return record


class InThread:
    """Run ``function`` in a thread with its own database connection; ``result()`` joins it."""

    def __init__(self, function) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(function,))
        self.thread.start()

    def _run(self, function) -> None:
        try:
            self.value = function()
        except BaseException as exc:  # handed to the test by result()
            self.error = exc
        finally:
            connections.close_all()

    def result(self, timeout: float = 60) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the thread did not finish"
        if self.error is not None:
            raise self.error
        return self.value


def wait_for(condition, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def edit_post(record: Authorization, **changes: str) -> dict[str, str]:
    """The authorization form as the page posts it, secret left blank (keep), with changes."""
    names = (
        "code", "environment", "grant_type", "client_id", "auth_url", "auth_method", "redirect_url",
        "issuer", "token_url", "token_method", "resource_url", "scope", "credential_type",
        "content_type", "access_token_property", "expires_in_property", "refresh_token_property",
    )  # fmt: skip
    data = {name: str(getattr(record, name)) for name in names}
    data.update(client_secret="", use_pkce="on" if record.use_pkce else "", **changes)
    return {key: value for key, value in data.items() if value != ""}


# --- Forms never write token state -------------------------------------------------------------


def test_a_form_save_during_a_refresh_keeps_the_rotated_refresh_token(
    provider, admin_client, allow_http
) -> None:
    record = consented(provider, admin_client)
    spent = stored(record).refresh_token
    expire(record)
    provider.set_token_delay(1.0)
    refresh = InThread(lambda: tokens.get_access_token(record.code))
    wait_for(lambda: provider.stats()["refresh_token"] == 1)  # the refresh is in flight
    # The page was loaded before the refresh: it holds the old token state, if any.
    response = admin_client.post(
        f"/oauth2/authorizations/{record.pk}/", edit_post(record, environment="Renamed while refreshing")
    )
    assert response.status_code == 302, response.context["form"].errors
    new_access = refresh.result()

    token = stored(record)
    assert Authorization.objects.get(pk=record.pk).environment == "Renamed while refreshing"
    assert token.access_token == new_access
    assert token.refresh_token != spent  # the rotated one, not the spent one
    # The provider accepts what is stored: the next refresh works.
    provider.set_token_delay(0)
    assert tokens.renew(record.code, force=True) != new_access
    assert stored(record).state == TokenState.CONNECTED


def test_a_form_save_racing_clear_token_does_not_undo_it(provider, admin_client, allow_http) -> None:
    record = consented(provider, admin_client)
    page = admin_client.get(f"/oauth2/authorizations/{record.pk}/")  # loaded with the tokens
    assert page.status_code == 200
    admin_client.post(f"/oauth2/authorizations/{record.pk}/clear-token/")
    response = admin_client.post(f"/oauth2/authorizations/{record.pk}/", edit_post(record, environment="x"))
    assert response.status_code == 302
    token = stored(record)
    assert (token.access_token, token.refresh_token, token.state) == ("", "", TokenState.NOT_CONNECTED)


def test_clear_token_during_a_refresh_wins(provider, admin_client) -> None:
    record = consented(provider, admin_client)
    expire(record)
    provider.set_token_delay(1.0)
    refresh = InThread(lambda: tokens.renew(record.code, force=True))
    wait_for(lambda: provider.stats()["refresh_token"] == 1)
    admin_client.post(f"/oauth2/authorizations/{record.pk}/clear-token/")
    with pytest.raises(tokens.TokenError, match="new token was not kept"):
        refresh.result()
    token = stored(record)
    assert (token.access_token, token.refresh_token, token.lease_owner) == ("", "", "")


# --- Key rotation beside renewals -------------------------------------------------------------


def test_key_rotation_beside_20_renewals_loses_no_token(provider, admin_client) -> None:
    # Rotating refresh tokens: a rotation pass that wrote back a spent refresh token would make
    # the next refresh of that record fail with invalid_grant, at any moment of the run.
    records = []
    for n in range(20):
        record = ac_record(provider, code=f"ROT-{n:02d}")
        give_consent(admin_client, provider, record)
        records.append(record)
    old_key = settings.CONNECTIT_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    # Another process rotates to the new key again and again, while this one keeps storing new
    # tokens under the old key (as a server not yet restarted with the new key first would).
    rotate = subprocess.Popen(
        [sys.executable, "-m", "tests.rotate_worker", "4"],
        cwd=REPO,
        env=worker_env(CONNECTIT_ENCRYPTION_KEYS=f"{new_key},{old_key}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    last: dict[str, str] = {}
    stop = time.monotonic() + 5

    def renew_until_stopped(code: str) -> None:
        while time.monotonic() < stop:
            last[code] = tokens.renew(code, force=True)

    try:
        with override_settings(CONNECTIT_ENCRYPTION_KEYS=[old_key, new_key]):
            workers = [InThread(lambda code=record.code: renew_until_stopped(code)) for record in records]
            for worker in workers:
                worker.result()
        out, err = rotate.communicate(timeout=60)
    finally:
        rotate.kill()
    assert rotate.returncode == 0, err
    rotation = json.loads(out.strip().splitlines()[-1])
    assert rotation["rewritten"] > len(records)  # it really ran beside the renewals

    with override_settings(CONNECTIT_ENCRYPTION_KEYS=[new_key, old_key]):
        for record in records:
            assert stored(record).access_token == last[record.code], record.code


# --- Freshness of short-lived tokens -----------------------------------------------------------


@pytest.fixture(scope="module")
def minute_provider():
    """A provider that issues access tokens valid for 60 seconds."""
    with run_provider(access_token_seconds=60) as server:
        yield server


@pytest.fixture
def minute_tokens(minute_provider):
    minute_provider.reset()
    with override_settings(CONNECTIT_REFRESH_MARGIN=60):
        yield minute_provider
    minute_provider.reset()


def test_sixty_second_tokens_and_margin_50_threads_one_request(minute_tokens) -> None:
    record = cc_record(minute_tokens)
    tokens.get_access_token(record.code)
    assert stored(record).expires_at - stored(record).obtained_at == timedelta(seconds=60)
    expire(record, lifetime=60)
    minute_tokens.reset()
    minute_tokens.set_token_delay(0.3)
    barrier = threading.Barrier(50)
    callers = [InThread(lambda: (barrier.wait(), tokens.get_access_token(record.code))[1]) for _ in range(50)]
    assert len({caller.result() for caller in callers}) == 1
    assert minute_tokens.stats()["total"] == 1
    # Three more calls in a row: the new token is fresh (the margin is at most half of 60 s).
    for _ in range(3):
        tokens.get_access_token(record.code)
    assert minute_tokens.stats()["total"] == 1


def test_sixty_second_tokens_and_margin_three_sequential_calls_one_request(minute_tokens) -> None:
    record = cc_record(minute_tokens)
    got = {tokens.get_access_token(record.code) for _ in range(3)}
    assert len(got) == 1
    assert minute_tokens.stats()["total"] == 1


def test_sixty_second_tokens_and_margin_4_processes_one_request(minute_tokens) -> None:
    record = cc_record(minute_tokens)
    tokens.get_access_token(record.code)
    expire(record, lifetime=60)
    minute_tokens.reset()
    minute_tokens.set_token_delay(0.3)
    # The worker processes read the margin from their environment.
    os.environ["CONNECTIT_REFRESH_MARGIN"] = "60"
    try:
        results = in_processes(record.code, 4)
    finally:
        del os.environ["CONNECTIT_REFRESH_MARGIN"]
    assert all("token" in result for result in results), results
    assert len({result["token"] for result in results}) == 1
    assert minute_tokens.stats()["total"] == 1


# --- A lease whose holder died -----------------------------------------------------------------


def test_a_killed_lease_holder_is_taken_over_and_no_refresh_token_is_lost(provider, admin_client) -> None:
    record = consented(provider, admin_client)
    refresh_token = stored(record).refresh_token
    expire(record)
    # The holder's request hangs at the provider (and is dropped unprocessed): it is killed
    # while it waits. Its lease lasts its HTTP deadline (2 s) plus the slack.
    provider.set_token_hang(30)
    holder = subprocess.Popen(
        [sys.executable, "-m", "tests.single_flight_worker", record.code, "0"],
        cwd=REPO,
        env=worker_env(CONNECTIT_HTTP_TIMEOUT="2"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: provider.stats()["refresh_token"] == 1)
        lease = stored(record)
        assert lease.lease_owner and lease.lease_until > timezone.now()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate(timeout=10)
    provider.set_token_hang(0)

    began = time.monotonic()
    with override_settings(CONNECTIT_HTTP_TIMEOUT=2):
        access = tokens.get_access_token(record.code)
    waited = time.monotonic() - began
    assert waited < 2 + tokens.LEASE_SLACK + 2  # it waited for the lease to expire, no longer

    token = stored(record)
    assert token.access_token == access and token.lease_owner == ""
    assert token.refresh_token not in ("", refresh_token)  # rotated and saved
    assert provider.stats()["refresh_token"] == 2
    assert call_api(provider, access) == 200
    # The stored refresh token is the live one: refreshing again works.
    assert tokens.renew(record.code, force=True) != access


def test_the_lease_outlives_the_http_deadline() -> None:
    assert tokens.lease_seconds() > settings.CONNECTIT_HTTP_TIMEOUT


def test_decrypt_reads_the_rotated_value(provider) -> None:
    # The rotation test compares plaintexts; make sure a stored value really is ciphertext.
    record = cc_record(provider, code="CIPHER")
    access = tokens.get_access_token(record.code)
    raw = BearerToken.objects.filter(pk=record.pk).values_list("access_token", flat=True).get()
    assert str(raw) != access and decrypt(str(raw)) == access
