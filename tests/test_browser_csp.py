"""The pages work in a real browser under the Content-Security-Policy: nothing is refused.

The ``page`` fixture (tests/browser.py) collects every violation and fails any browser test that
saw one; these tests walk the pages that the other browser tests do not, and check that the
collection really catches violations.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from definitions.models import Definition, Direction, Kind
from oauth2_auth.models import Authorization
from tests.browser import field, log_in
from tests.conftest import PASSWORD
from tests.provider_helpers import ac_record, cc_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait_for_violations(page, csp_violations: list[str], count: int, seconds: float = 5) -> None:
    """The reports arrive asynchronously from the browser; give them a moment."""
    for _ in range(int(seconds * 10)):
        if len(csp_violations) >= count:
            return
        page.wait_for_timeout(100)


def goto(page, url: str) -> None:
    """Open ``url`` and check that its answer carries the policy."""
    response = page.goto(url)
    assert response is not None and response.ok, url
    assert "default-src 'none'" in response.headers["content-security-policy"], url


def test_the_fixture_catches_violations(page, live_server, admin_user, csp_violations) -> None:
    goto(page, f"{live_server.url}/accounts/login/")
    # What an inline style attribute or inline script in a template would do.
    page.evaluate(
        """() => {
          document.body.setAttribute("style", "color: red");
          const script = document.createElement("script");
          script.textContent = "window.ran = true";
          document.body.append(script);
        }"""
    )
    wait_for_violations(page, csp_violations, 2)
    assert page.evaluate("window.ran") is None
    assert any("style-src-attr" in text for text in csp_violations), csp_violations
    assert any("script-src-elem" in text for text in csp_violations), csp_violations
    csp_violations.clear()  # expected here; do not let the fixture fail this test


def test_the_main_pages_run_under_the_policy(
    page, live_server, admin_user, oauth_provider, csp_violations
) -> None:
    oauth_provider.reset()
    record = cc_record(oauth_provider, code="BC-API", environment="Test provider")
    definition = Definition.objects.create(
        code="ITEMS",
        kind=Kind.REST,
        direction=Direction.IMPORT,
        endpoint_url=oauth_provider.api_url + "items/",
        authorization=record,
    )
    log_in(page, live_server.url, "admin", PASSWORD)
    expect(page.get_by_role("heading", name="OAuth2 Authorizations")).to_be_visible()

    # Bootstrap's dropdown (Popper positions it through the CSSOM, which style-src allows).
    page.get_by_role("button", name="Administration").click()
    expect(page.get_by_role("link", name="Definitions")).to_be_visible()

    # The authorization form: tabs switch, a grant type shows its tab, the code is upper-cased.
    goto(page, f"{live_server.url}/oauth2/authorizations/new/")
    field(page, "Code").fill("lower")
    expect(field(page, "Code")).to_have_css("text-transform", "uppercase")
    field(page, "Grant type").select_option(label="Authorization Code")
    for tab in ("Credentials", "Authorization Code", "Bearer Token", "General"):
        page.get_by_role("tab", name=tab).click()
        expect(page.get_by_role("tab", name=tab)).to_have_attribute("aria-selected", "true")
    goto(page, f"{live_server.url}/oauth2/authorizations/{record.pk}/")
    page.get_by_role("tab", name="Bearer Token").click()

    # The definition form and its tabs, the definition list and the runs list.
    goto(page, f"{live_server.url}/definitions/new/")
    expect(field(page, "Code")).to_have_css("text-transform", "uppercase")
    page.get_by_role("tab", name="Authorization").click()
    field(page, "Authorization type").select_option(label="OAuth2 authorization")
    page.get_by_role("tab", name="REST").click()
    goto(page, f"{live_server.url}/definitions/{definition.pk}/")
    goto(page, f"{live_server.url}/definitions/")
    goto(page, f"{live_server.url}/definitions/runs/")

    # Django's admin: index, a list with its filters, and a change form with its widgets.
    goto(page, f"{live_server.url}/admin/")
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    goto(page, f"{live_server.url}/admin/auth/user/")
    goto(page, f"{live_server.url}/admin/auth/user/{admin_user.pk}/change/")
    expect(page.locator("#id_groups_add_all")).to_be_visible()  # SelectFilter2.js ran

    wait_for_violations(page, csp_violations, 1, seconds=1)
    assert csp_violations == []


def test_the_consent_post_page_reaches_the_provider(
    page, live_server, admin_user, oauth_provider, csp_violations
) -> None:
    oauth_provider.reset()
    record = ac_record(oauth_provider, redirect_url=f"{live_server.url}/oauth2/callback/")
    Authorization.objects.filter(pk=record.pk).update(auth_method="POST")
    log_in(page, live_server.url, "admin", PASSWORD)
    goto(page, f"{live_server.url}/oauth2/authorizations/{record.pk}/")
    page.get_by_role("button", name="Get Token").click()
    # consent_post.js submits the form by itself; form-action must let it go to the provider.
    page.wait_for_url(re.compile("^" + re.escape(oauth_provider.base_url)))
    wait_for_violations(page, csp_violations, 1, seconds=1)
    assert csp_violations == []
