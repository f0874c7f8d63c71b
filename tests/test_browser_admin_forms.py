"""The record pages in the browser: Copy puts the callback URL on the clipboard (issue 12, item 3);
a token action lands on the Bearer Token tab, and the open tab stays in the address (item 10)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import field, log_in
from tests.conftest import PASSWORD
from tests.provider_helpers import cc_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_copy_puts_the_callback_url_on_the_clipboard(sized_page, live_server, admin_user) -> None:
    page = sized_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    log_in(page, live_server.url, "admin", PASSWORD)
    page.goto(f"{live_server.url}/oauth2/authorizations/new/")
    expect(page.locator("#callback-box")).to_be_hidden()  # client credentials: no redirect
    field(page, "Grant type").select_option(label="Authorization Code")
    expect(page.locator("#callback-url")).to_have_value(f"{live_server.url}/oauth2/callback/")
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == f"{live_server.url}/oauth2/callback/"


def test_a_token_action_lands_on_the_bearer_token_tab_and_the_tab_survives_a_reload(
    sized_page, live_server, admin_user, oauth_provider
) -> None:
    page = sized_page
    oauth_provider.reset()
    record = cc_record(oauth_provider)
    log_in(page, live_server.url, "admin", PASSWORD)
    page.goto(f"{live_server.url}/oauth2/authorizations/{record.pk}/")
    expect(page.get_by_role("tab", name="General")).to_have_class(re.compile(r"\bactive\b"))
    page.get_by_role("button", name="Refresh now").click()
    expect(page).to_have_url(re.compile(r"#token$"))
    expect(page.get_by_role("tab", name="Bearer Token")).to_have_class(re.compile(r"\bactive\b"))
    expect(page.locator(".alert-success")).to_contain_text("valid for")
    page.get_by_role("tab", name="Credentials").click()
    expect(page).to_have_url(re.compile(r"#credentials$"))
    page.reload()
    expect(page.get_by_role("tab", name="Credentials")).to_have_class(re.compile(r"\bactive\b"))
