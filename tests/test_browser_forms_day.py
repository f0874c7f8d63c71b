"""The record pages in the browser, on a desktop and on a phone (issue 12): relative times with
the exact time on hover (item 7); required markers that follow the grant and the folded token
response names (item 9); values as text for a read-only user (item 13)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone
from playwright.sync_api import expect

from connectit.times import exact
from definitions.models import AuthType, Definition
from oauth2_auth.models import GrantType
from tests.browser import field, log_in
from tests.conftest import PASSWORD, make_authorization
from tests.pages_tour import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


def each_viewport():
    """Parametrizes a test over the desktop and the phone viewport (use with ``sized_page``)."""
    return pytest.mark.parametrize("viewport", list(VIEWPORTS), indirect=True)


@pytest.fixture
def viewport(request) -> dict[str, int]:
    return VIEWPORTS[request.param]


@pytest.fixture
def sized_page(page, viewport: dict[str, int]):
    page.set_viewport_size(viewport)
    return page


def _checked_for_accessibility(page) -> None:
    """axe on the open tab once its fade-in is over (mid-fade, its text fails colour contrast)."""
    expect(page.locator(".tab-pane.active").first).to_have_css("opacity", "1")
    assert_accessible(page)


def _controls(page):
    """Editable-looking controls in the form's tabs."""
    return page.locator(".tab-content").locator("input:not([type=hidden]), select, textarea")


@each_viewport()
def test_hovering_a_relative_time_shows_the_exact_time_in_the_configured_zone(
    sized_page, live_server, admin_user, settings
) -> None:
    settings.TIME_ZONE = "Europe/Berlin"
    expires = timezone.now() + timedelta(minutes=52, seconds=20)
    record = make_authorization(access_token="at", token_state="connected", expires_at=expires)
    page = sized_page
    log_in(page, live_server.url, "admin", PASSWORD)
    page.goto(f"{live_server.url}/oauth2/authorizations/{record.pk}/#token")
    when = page.locator("#bearer-token time").first
    expect(when).to_be_visible()
    expect(when.locator("[data-relative-text]")).to_have_text("in 52 min")
    when.hover()
    exact_time = exact(expires)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T", exact_time)
    expect(when).to_have_attribute("title", exact_time)
    expect(when).to_have_attribute("datetime", expires.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    # The exact time is read out too, not only shown on hover.
    expect(when.locator(".visually-hidden")).to_have_text(f" ({exact_time})")


def test_the_relative_time_keeps_up_while_the_page_stays_open(page, live_server, admin_user) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    page.clock.install(time=start)
    record = make_authorization(
        access_token="at", token_state="connected", expires_at=start + timedelta(minutes=10)
    )
    log_in(page, live_server.url, "admin", PASSWORD)
    page.goto(f"{live_server.url}/oauth2/authorizations/{record.pk}/#token")
    text = page.locator("#bearer-token time [data-relative-text]").first
    expect(text).to_have_text("in 10 min")
    page.clock.run_for("05:00")
    expect(text).to_have_text("in 5 min")


@each_viewport()
def test_required_markers_follow_the_grant_select(sized_page, live_server, admin_user) -> None:
    page = sized_page
    log_in(page, live_server.url, "admin", PASSWORD)
    page.goto(f"{live_server.url}/oauth2/authorizations/new/")
    expect(page.locator("#required-legend")).to_have_text("* required for the chosen grant")
    auth_url = page.locator("#id_auth_url")
    marker = page.locator("label[for=id_auth_url] .required-marker")
    expect(marker).to_have_count(0)
    expect(auth_url).not_to_have_attribute("aria-required", "true")
    field(page, "Grant type").select_option(label="Authorization Code")
    page.get_by_role("tab", name="Authorization Code").click()
    expect(marker).to_have_text("*")
    expect(marker).to_have_attribute("aria-hidden", "true")
    expect(auth_url).to_have_attribute("aria-required", "true")
    _checked_for_accessibility(page)
    expect(page.locator("#id_redirect_url")).to_have_attribute("aria-required", "true")
    expect(field(page, "Auth URL")).to_be_visible()  # the marker stays out of the accessible name
    page.get_by_role("tab", name="General").click()
    field(page, "Grant type").select_option(label="Client Credentials")
    expect(marker).to_have_count(0)
    expect(auth_url).not_to_have_attribute("aria-required", "true")


@each_viewport()
def test_the_advanced_section_is_folded_and_opens_on_an_error(sized_page, live_server, admin_user) -> None:
    record = make_authorization()
    page = sized_page
    log_in(page, live_server.url, "admin", PASSWORD)
    page.goto(f"{live_server.url}/oauth2/authorizations/{record.pk}/#credentials")
    advanced = page.locator("#advanced-credentials")
    expect(advanced).not_to_have_attribute("open", "")
    expect(page.locator("#id_access_token_property")).to_be_hidden()
    advanced.locator("summary").click()
    page.locator("#id_access_token_property").fill("")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("tab", name=re.compile("Credentials"))).to_have_class(re.compile(r"\bactive\b"))
    expect(advanced).to_have_attribute("open", "")
    expect(page.locator("#id_access_token_property")).to_be_visible()
    expect(page.locator("#id_access_token_property")).to_have_class(re.compile(r"\bis-invalid\b"))


@each_viewport()
def test_a_reader_sees_text_and_no_save_button(sized_page, live_server, reader: User) -> None:
    reader.user_permissions.add(Permission.objects.get(codename="view_definition"))
    record = make_authorization(
        grant_type=GrantType.AUTHORIZATION_CODE,
        auth_url="https://login.example.com/authorize",
        redirect_url="https://connectit.example.com/oauth2/callback/",
    )
    definition = Definition.objects.create(
        code="ITEMS",
        endpoint_url="https://api.example.com/items",
        auth_type=AuthType.BEARER,
        bearer_token="b",
    )
    page = sized_page
    log_in(page, live_server.url, "reader", PASSWORD)

    page.goto(f"{live_server.url}/oauth2/authorizations/{record.pk}/")
    expect(page.locator("#value-code")).to_have_text("ENDPOINT")
    expect(_controls(page)).to_have_count(0)
    expect(page.get_by_role("button", name="Save", exact=True)).to_have_count(0)
    page.get_by_role("tab", name="Credentials").click()
    expect(page.locator("#value-client_secret")).to_have_text("stored")
    page.get_by_role("tab", name="Authorization Code").click()
    expect(page.locator("#value-auth_url")).to_have_text("https://login.example.com/authorize")
    _checked_for_accessibility(page)

    page.goto(f"{live_server.url}/definitions/{definition.pk}/")
    expect(page.locator("#value-endpoint_url")).to_have_text("https://api.example.com/items")
    expect(_controls(page)).to_have_count(0)
    expect(page.get_by_role("button", name="Save", exact=True)).to_have_count(0)
    page.get_by_role("tab", name="Authorization").click()
    expect(page.locator("#value-bearer_token")).to_have_text("stored")
    _checked_for_accessibility(page)
