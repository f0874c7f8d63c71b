"""An administrator creates a Business Central authorization from its preset, typing only the
tenant, the client ID and the secret, and gets a token from a local stand-in for Entra ID
(issue 13, done-when)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from oauth2_auth.models import Authorization
from tests.browser import field, log_in
from tests.conftest import PASSWORD
from tests.entra_standin import EntraStandIn

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TENANT = "0f8fad5b-d9cb-469f-a165-70867728950e"
CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
SECRET = "standin~secret.value-1234"


def test_a_business_central_authorization_from_its_preset_gets_a_token(
    sized_page, live_server, admin_user, settings
) -> None:
    page = sized_page
    with EntraStandIn(CLIENT_ID, SECRET) as entra:
        settings.CONNECTIT_ENTRA_LOGIN_BASE = entra.base_url
        log_in(page, live_server.url, "admin", PASSWORD)
        page.goto(f"{live_server.url}/oauth2/authorizations/new/")
        field(page, "Provider").select_option(label="Business Central (Entra ID v2)")
        field(page, "Tenant (Entra ID, Business Central, Graph)").fill(TENANT)
        page.get_by_role("button", name="Fill in the form").click()
        expect(page.locator("#preset-filled")).to_contain_text(
            "Filled in from Business Central (Entra ID v2)."
        )

        field(page, "Code").fill("bc-prod")
        page.get_by_role("tab", name="Credentials").click()
        field(page, "Username or client ID").fill(CLIENT_ID)
        field(page, "Password or secret").fill(SECRET)
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator(".alert-success")).to_contain_text("Authorization BC-PROD was created.")

        page.get_by_role("button", name="Get Token").click()
        expect(page).to_have_url(re.compile(r"#token$"))
        expect(page.locator(".alert-success")).to_contain_text(
            "scopes: https://api.businesscentral.dynamics.com/.default"
        )
    record = Authorization.objects.get(code="BC-PROD")
    assert record.token_url == f"{entra.base_url}/{TENANT}/oauth2/v2.0/token"
    path, form = entra.requests[-1]
    assert path == f"/{TENANT}/oauth2/v2.0/token"
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == "https://api.businesscentral.dynamics.com/.default"
    assert "resource" not in form  # Entra v2 refuses it (AADSTS901002)
