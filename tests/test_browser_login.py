"""Login protection in a real browser: wrong passwords until the lockout, then the wait is over."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import field, log_in
from tests.conftest import PASSWORD
from tests.test_login_throttle import end_cool_off

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_locked_out_user_sees_when_to_try_again_and_then_gets_in(
    page, live_server, admin_user, settings
) -> None:
    settings.AXES_FAILURE_LIMIT = 3  # fewer round trips; the limit itself is tested without a browser
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(page, live_server.url, "admin", "wrong-password-typed")
        expect(page.locator(".alert-danger")).to_contain_text("Please enter a correct username and password")

    log_in(page, live_server.url, "admin", "wrong-password-typed")
    alert = page.locator(".alert-danger")
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    expect(alert).to_contain_text(f"Too many failed sign-ins. Try again in {minutes} minutes.")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()  # the styled page, not a bare text

    # Even the right password waits for the cool-off.
    field(page, "Username").fill("admin")
    field(page, "Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(alert).to_contain_text("Too many failed sign-ins.")

    end_cool_off()
    field(page, "Username").fill("admin")
    field(page, "Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="OAuth2 Authorizations")).to_be_visible()
