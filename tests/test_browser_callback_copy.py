"""The callback URL to register at the provider is shown read-only, and Copy puts it on the
clipboard (issue 12, item 3)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import field, log_in
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_copy_puts_the_callback_url_on_the_clipboard(page, live_server, admin_user) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    log_in(page, live_server.url, "admin", PASSWORD)
    page.goto(f"{live_server.url}/oauth2/authorizations/new/")
    expect(page.locator("#callback-box")).to_be_hidden()  # client credentials: no redirect
    field(page, "Grant type").select_option(label="Authorization Code")
    expect(page.locator("#callback-url")).to_have_value(f"{live_server.url}/oauth2/callback/")
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == f"{live_server.url}/oauth2/callback/"
