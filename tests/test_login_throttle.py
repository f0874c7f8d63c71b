"""Login protection: failed sign-ins are throttled per username and per address (django-axes),
logged without the password, and a session ends after a spell without requests."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import F
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from connectit.login_protection import LAST_SEEN_KEY
from tests.conftest import PASSWORD

REPO = Path(__file__).resolve().parent.parent
LOGIN_URLS = ["/accounts/login/", "/admin/login/"]
PROTECTED = "/oauth2/authorizations/"
WRONG = "not-the-password-1234"


def attempt(client: Client, url: str, username: str, password: str, address: str = "10.0.0.1", **extra):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address, **extra)


def fail(client: Client, url: str, username: str, times: int, address: str = "10.0.0.1") -> None:
    for _ in range(times):
        attempt(client, url, username, WRONG, address)


def signed_in(client: Client) -> bool:
    return client.get(PROTECTED).status_code == 200


def user_limit() -> int:
    return settings.AXES_FAILURE_LIMIT


def address_limit() -> int:
    return settings.CONNECTIT_LOGIN_ADDRESS_FAILURES


def end_cool_off() -> None:
    """As if the cool-off had passed since every recorded failure."""
    AccessAttempt.objects.update(
        attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )


@pytest.mark.parametrize("url", LOGIN_URLS)
def test_the_right_password_is_refused_after_too_many_wrong_ones(client, admin_user, url: str) -> None:
    for _ in range(user_limit() - 1):
        response = attempt(client, url, "admin", WRONG)
        assert response.status_code == 200  # an ordinary "wrong password" page
    locked = attempt(client, url, "admin", WRONG)
    assert locked.status_code == 429
    assert "Too many failed sign-ins. Try again in" in locked.content.decode()

    refused = attempt(client, url, "admin", PASSWORD)
    assert refused.status_code == 429
    assert not signed_in(client)


def test_the_lockout_page_is_the_styled_login_page(client, admin_user) -> None:
    fail(client, "/accounts/login/", "admin", user_limit())
    response = attempt(client, "/accounts/login/", "admin", PASSWORD)
    body = response.content.decode()
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    assert f"Too many failed sign-ins. Try again in {minutes} minutes." in body
    assert "bootstrap.min.css" in body and 'name="password"' in body  # base.html and the form
    assert "Please enter a correct username" not in body  # one clear message, not two
    assert PASSWORD not in body and WRONG not in body


def test_the_admin_login_shows_the_message_on_its_own_page(client, admin_user) -> None:
    fail(client, "/admin/login/", "admin", user_limit())
    body = attempt(client, "/admin/login/", "admin", PASSWORD).content.decode()
    assert "Too many failed sign-ins. Try again in" in body
    assert 'id="login-form"' in body


def test_a_lockout_on_one_login_form_holds_on_the_other(client, admin_user) -> None:
    fail(client, "/accounts/login/", "admin", user_limit())
    assert attempt(client, "/admin/login/", "admin", PASSWORD).status_code == 429


@override_settings(AXES_COOLOFF_TIME=timedelta(minutes=1))
def test_one_minute_is_singular(client, admin_user) -> None:
    fail(client, "/accounts/login/", "admin", user_limit())
    body = attempt(client, "/accounts/login/", "admin", PASSWORD).content.decode()
    assert "Try again in 1 minute." in body


def test_the_lockout_is_per_username(client, admin_user, reader) -> None:
    fail(client, "/accounts/login/", "admin", user_limit(), address="10.0.0.1")
    # The same username from another address is refused too: the account is what is guarded.
    assert attempt(Client(), "/accounts/login/", "admin", PASSWORD, address="10.9.9.9").status_code == 429
    # Another user at the first address is still welcome until the address reaches its own limit.
    other = Client()
    assert attempt(other, "/accounts/login/", "reader", PASSWORD, address="10.0.0.1").status_code == 302
    assert signed_in(other)


def test_the_lockout_is_per_address(client, admin_user, reader) -> None:
    # Spraying: one or two guesses at many names from one address, never the per-user limit.
    for number in range(address_limit()):
        attempt(client, "/accounts/login/", f"guess{number % (address_limit() // 2 + 1)}", WRONG, "10.0.0.2")
    assert attempt(Client(), "/accounts/login/", "reader", PASSWORD, address="10.0.0.2").status_code == 429
    # The same user from another address is fine: only the address is locked.
    other = Client()
    assert attempt(other, "/accounts/login/", "reader", PASSWORD, address="10.0.0.3").status_code == 302
    assert signed_in(other)


def test_the_address_limit_is_above_the_username_limit_by_default() -> None:
    assert address_limit() > user_limit()


@pytest.mark.parametrize("url", LOGIN_URLS)
def test_the_right_password_works_after_the_cool_off(client, admin_user, url: str) -> None:
    fail(client, url, "admin", user_limit())
    assert attempt(client, url, "admin", PASSWORD).status_code == 429
    end_cool_off()
    assert attempt(client, url, "admin", PASSWORD).status_code == 302
    assert signed_in(client)


@override_settings(AXES_COOLOFF_TIME=timedelta(seconds=1))
def test_a_real_cool_off_ends_by_itself(client, admin_user) -> None:
    fail(client, "/accounts/login/", "admin", user_limit())
    assert attempt(client, "/accounts/login/", "admin", PASSWORD).status_code == 429
    time.sleep(1.1)
    assert attempt(client, "/accounts/login/", "admin", PASSWORD).status_code == 302


def test_a_failure_is_logged_with_username_and_address_but_no_password(client, admin_user, caplog) -> None:
    with caplog.at_level(logging.INFO):
        attempt(client, "/accounts/login/", "admin", WRONG, address="192.0.2.44")
        fail(client, "/admin/login/", "admin", user_limit(), address="192.0.2.44")
    failures = [r.getMessage() for r in caplog.records if "login failure" in r.getMessage()]
    assert failures, caplog.text
    assert all('username: "admin"' in line and "192.0.2.44" in line for line in failures)
    assert any("/admin/login/" in line for line in failures)
    assert any("Locking out" in r.getMessage() for r in caplog.records)
    assert WRONG not in caplog.text
    assert WRONG not in "".join(AccessAttempt.objects.values_list("post_data", flat=True))


def test_a_username_cannot_forge_a_log_line(client, admin_user, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        attempt(client, "/accounts/login/", "x\nWARNING forged: line", WRONG)
    assert caplog.records
    assert all("\n" not in record.getMessage() for record in caplog.records)


def test_without_a_proxy_forwarded_for_is_ignored(client, admin_user) -> None:
    attempt(client, "/accounts/login/", "admin", WRONG, "10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.1")
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["10.0.0.5"]


@override_settings(CONNECTIT_BEHIND_PROXY=True)
def test_behind_the_proxy_the_address_it_saw_counts(client, admin_user) -> None:
    # The left part is whatever the client sent; the proxy appended the right-most entry.
    forwarded = "198.51.100.1, 203.0.113.7"
    attempt(client, "/accounts/login/", "admin", WRONG, "10.0.0.6", HTTP_X_FORWARDED_FOR=forwarded)
    attempt(client, "/accounts/login/", "admin", WRONG, "10.0.0.6", HTTP_X_FORWARDED_FOR="junk")
    assert sorted(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["10.0.0.6", "203.0.113.7"]


# --- Session inactivity ------------------------------------------------------------------------


def idle_seconds() -> int:
    return settings.CONNECTIT_SESSION_IDLE_MINUTES * 60


def last_seen(client: Client, seconds_ago: int) -> None:
    session = client.session
    session[LAST_SEEN_KEY] = int(time.time()) - seconds_ago
    session.save()


def test_a_session_survives_just_under_the_idle_limit(admin_client) -> None:
    assert signed_in(admin_client)
    last_seen(admin_client, idle_seconds() - 30)
    assert signed_in(admin_client)


def test_a_session_ends_after_the_idle_limit(admin_client) -> None:
    assert signed_in(admin_client)
    last_seen(admin_client, idle_seconds() + 30)
    response = admin_client.get(PROTECTED, follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/")
    minutes = settings.CONNECTIT_SESSION_IDLE_MINUTES
    assert f"You were signed out after {minutes} minutes without activity." in response.content.decode()
    # Logged out for good, not just for one request.
    assert not signed_in(admin_client)


def test_a_request_counts_as_activity(admin_client) -> None:
    last_seen(admin_client, idle_seconds() - 30)
    assert signed_in(admin_client)
    assert int(time.time()) - admin_client.session[LAST_SEEN_KEY] < 5
    last_seen(admin_client, 40)  # pushed back, but not beyond the limit
    assert signed_in(admin_client)


def test_the_absolute_session_age_still_holds(admin_client) -> None:
    assert signed_in(admin_client)
    expires = admin_client.session.get_expiry_date()
    assert admin_client.session.get_expiry_age() <= settings.SESSION_COOKIE_AGE
    # Activity rewrites the session, but must not push the absolute expiry further out.
    last_seen(admin_client, 120)
    assert signed_in(admin_client)
    assert admin_client.session.get_expiry_date() == expires


def test_pages_within_the_minute_write_no_session(admin_client) -> None:
    # The login stamped the session already: page views cost no session write (query counts).
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            assert signed_in(admin_client)
        writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
        assert not [sql for sql in writes if "django_session" in sql]


def test_a_fresh_login_is_stamped(client, admin_user) -> None:
    assert attempt(client, "/accounts/login/", "admin", PASSWORD).status_code == 302
    assert LAST_SEEN_KEY in client.session


# --- Settings from the environment -------------------------------------------------------------


def load(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess:
    environ = {
        "PATH": os.environ["PATH"],
        "CONNECTIT_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "connectit.settings",
        **extra,
    }
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.AXES_FAILURE_LIMIT, s.CONNECTIT_LOGIN_ADDRESS_FAILURES, "
        "int(s.AXES_COOLOFF_TIME.total_seconds()), s.CONNECTIT_SESSION_IDLE_MINUTES)"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=environ, capture_output=True, text=True, timeout=60
    )


def test_the_limits_come_from_the_environment(tmp_path) -> None:
    defaults = load(tmp_path)
    assert defaults.returncode == 0, defaults.stderr
    assert defaults.stdout.split() == ["5", "20", "900", "60"]
    chosen = load(
        tmp_path,
        CONNECTIT_LOGIN_FAILURES="3",
        CONNECTIT_LOGIN_ADDRESS_FAILURES="9",
        CONNECTIT_LOGIN_COOLOFF_MINUTES="2",
        CONNECTIT_SESSION_IDLE_MINUTES="10",
    )
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.split() == ["3", "9", "120", "10"]


def test_a_bad_limit_stops_the_start(tmp_path) -> None:
    result = load(tmp_path, CONNECTIT_LOGIN_FAILURES="0")
    assert result.returncode != 0
    assert "CONNECTIT_LOGIN_FAILURES must be at least 1" in result.stderr


def test_users_without_a_lockout_still_log_in_normally(client, admin_user) -> None:
    assert attempt(client, "/accounts/login/", "admin", PASSWORD).status_code == 302
    assert User.objects.get(username="admin").last_login is not None
