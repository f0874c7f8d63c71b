"""An administrator creates an authorization-code record through the tabs, as a person would."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from oauth2_auth.models import Authorization, GrantType
from tests.browser import field, log_in
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_creates_an_authorization_code_record(page, live_server, admin_user) -> None:
    log_in(page, live_server.url, "admin", PASSWORD)
    page.get_by_role("button", name="Administration").click()
    page.get_by_role("link", name="OAuth2 Authorizations").click()
    expect(page.get_by_role("heading", name="OAuth2 Authorizations")).to_be_visible()
    page.get_by_role("link", name="New").click()

    # General tab: the Authorization Code tab appears only once that grant is chosen.
    auth_code_tab = page.get_by_role("tab", name="Authorization Code")
    field(page, "Grant type").select_option(label="Client Credentials")
    expect(auth_code_tab).to_be_hidden()
    field(page, "Code").fill("bc-prod")
    field(page, "Environment").fill("Business Central production")
    field(page, "Grant type").select_option(label="Authorization Code")
    expect(auth_code_tab).to_be_visible()
    field(page, "Access token URL").fill("https://login.microsoftonline.com/contoso/oauth2/v2.0/token")
    field(page, "Scope").fill("https://api.businesscentral.dynamics.com/.default offline_access")

    page.get_by_role("tab", name="Credentials").click()
    field(page, "Username or client ID").fill("app-client-id")
    field(page, "Password or secret").fill("typed-in-browser-secret")
    field(page, "Credential type").select_option(label="Basic (HTTP Basic header)")

    auth_code_tab.click()
    field(page, "Auth URL").fill("https://login.microsoftonline.com/contoso/oauth2/v2.0/authorize")
    expect(field(page, "Redirect URL")).to_have_value(f"{live_server.url}/oauth2/callback/")

    page.get_by_role("tab", name="Bearer Token").click()
    expect(page.locator("#bearer-token")).to_contain_text("Not connected")

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".alert-success")).to_contain_text("Authorization BC-PROD was created.")
    expect(field(page, "Password or secret")).to_have_value("")
    assert "typed-in-browser-secret" not in page.content()

    page.get_by_role("link", name="Back to list").click()
    row = page.get_by_role("row", name=re.compile("BC-PROD"))
    expect(row).to_contain_text("Business Central production")
    expect(row).to_contain_text("Authorization Code")
    expect(row).to_contain_text("Not connected")

    record = Authorization.objects.get(code="BC-PROD")
    assert record.grant_type == GrantType.AUTHORIZATION_CODE
    assert record.client_secret == "typed-in-browser-secret"
    assert record.credential_type == "basic"


def test_errors_open_the_tab_that_holds_them(page, live_server, admin_user) -> None:
    log_in(page, live_server.url, "admin", PASSWORD)
    page.goto(f"{live_server.url}/oauth2/authorizations/new/")
    field(page, "Code").fill("BROKEN")
    field(page, "Grant type").select_option(label="Authorization Code")
    field(page, "Access token URL").fill("https://idp.example.com/token")
    page.get_by_role("button", name="Save", exact=True).click()
    # The missing auth URL lives on the Authorization Code tab, which opens by itself.
    expect(page.get_by_text("Required for the authorization code grant.").first).to_be_visible()
    assert not Authorization.objects.filter(code="BROKEN").exists()
