"""Get Token in a real browser: our pages, the provider's login and consent, and back."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from oauth2_auth.models import Authorization, Status
from tests.browser import field, log_in
from tests.conftest import PASSWORD
from tests.provider.fixtures import AC_CLIENT_ID, AC_CLIENT_SECRET
from tests.provider.fixtures import PASSWORD as PROVIDER_PASSWORD
from tests.provider.fixtures import USERNAME as PROVIDER_USER

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def provider(oauth_provider):
    oauth_provider.reset()
    return oauth_provider


def create_record_in_pages(page, live_server, provider) -> None:
    """An administrator fills in an authorization-code record, as in the first browser test."""
    callback = f"{live_server.url}/oauth2/callback/"
    provider.set_redirect_uris(AC_CLIENT_ID, [callback])
    log_in(page, live_server.url, "admin", PASSWORD)
    page.goto(f"{live_server.url}/oauth2/authorizations/new/")
    field(page, "Code").fill("DOT")
    field(page, "Grant type").select_option(label="Authorization Code")
    field(page, "Access token URL").fill(provider.token_url)
    field(page, "Scope").fill("read")
    page.get_by_role("tab", name="Credentials").click()
    field(page, "Username or client ID").fill(AC_CLIENT_ID)
    field(page, "Password or secret").fill(AC_CLIENT_SECRET)
    page.get_by_role("tab", name="Authorization Code").click()
    field(page, "Auth URL").fill(provider.auth_url)
    expect(field(page, "Redirect URL")).to_have_value(callback)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".alert-success")).to_contain_text("Authorization DOT was created.")


def sign_in_at_provider(page) -> None:
    expect(page.get_by_role("heading", name="Test provider - sign in")).to_be_visible()
    page.get_by_label("Username").fill(PROVIDER_USER)
    page.get_by_label("Password").fill(PROVIDER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_admin_gets_a_token_with_consent(page, live_server, admin_user, provider) -> None:
    create_record_in_pages(page, live_server, provider)
    page.get_by_role("button", name="Get Token").click()
    sign_in_at_provider(page)
    page.get_by_role("button", name="Authorize").click()

    expect(page.locator(".alert-success")).to_contain_text("Consent given: DOT now holds a token.")
    assert page.url.startswith(live_server.url + "/oauth2/authorizations/")
    assert "code=" not in page.url and "state=" not in page.url
    page.get_by_role("tab", name="Bearer Token").click()
    expect(page.locator("#token-status")).to_contain_text("Valid, expires in")
    expect(page.locator("#token-status .badge")).to_have_class("badge text-bg-success")
    expect(page.locator("#refresh-token")).to_contain_text("••••••••")
    expect(page.locator("#token-events")).to_contain_text("Consent given")

    record = Authorization.objects.get(code="DOT")
    assert record.status == Status.VALID
    html = page.content()
    assert record.token.access_token not in html and record.token.refresh_token not in html
    assert provider.stats()["authorization_code"] == 1


def test_admin_cancels_at_the_provider(page, live_server, admin_user, provider) -> None:
    create_record_in_pages(page, live_server, provider)
    page.get_by_role("button", name="Get Token").click()
    sign_in_at_provider(page)
    page.get_by_role("button", name="Cancel").click()

    expect(page.locator(".alert-danger")).to_contain_text("Consent was denied at the provider.")
    page.get_by_role("tab", name="Bearer Token").click()
    expect(page.locator("#token-events")).to_contain_text("Consent denied")
    assert Authorization.objects.get(code="DOT").status == Status.NOT_CONNECTED
    assert provider.stats()["total"] == 0
