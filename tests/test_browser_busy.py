"""Slow token actions in the browser (issue 12, items 2 and 4): the clicked button says what is
happening and cannot be sent twice; unsaved edits block the token buttons, and Save & Get Token
saves first. At a desktop and a phone viewport, against the test provider."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from connectit.models import FormSubmission
from oauth2_auth.models import Authorization, Status
from tests.browser import field, log_in
from tests.conftest import PASSWORD
from tests.provider_helpers import cc_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
# Reports the Get Token button's state to the test when its form is sent and half a second
# later, while the token endpoint is still slow. Registered after busy.js, so it runs after it.
WATCH_BUSY = """() => {
  const forms = document.querySelectorAll("#token-actions form");
  const button = forms[0].querySelector("button");
  function report() {
    const spinner = button.querySelector(".spinner-border.spinner-border-sm[aria-hidden=true]");
    window.__busyState({
      disabled: button.disabled,
      text: button.textContent.trim(),
      spinner: spinner !== null,
      formBusy: forms[0].getAttribute("aria-busy"),
      refreshDisabled: forms[1].querySelector("button").disabled,
    });
  }
  document.addEventListener("submit", function () {
    report();
    setTimeout(report, 500);
  });
}"""
WATCH_SAVE_AND_GET = """() => {
  document.addEventListener("submit", function () {
    const button = document.getElementById("save-and-get-token");
    window.__busyState([button.disabled, button.textContent.trim()]);
  });
}"""
NOTE = "Save your changes first: the token would be requested with the saved settings."


@pytest.fixture(params=list(VIEWPORTS))
def sized_page(request, page):
    """The ``page`` fixture, at each viewport in turn."""
    page.set_viewport_size(VIEWPORTS[request.param])
    return page


@pytest.fixture
def provider(oauth_provider):
    oauth_provider.reset()
    yield oauth_provider
    oauth_provider.reset()


def open_record(page, live_server, record: Authorization) -> None:
    log_in(page, live_server.url, "admin", PASSWORD)
    page.goto(f"{live_server.url}/oauth2/authorizations/{record.pk}/")


def get_token_button(page):
    # By place, not by name: the name changes to the busy text.
    return page.locator("#token-actions form").first.locator("button")


def test_get_token_shows_what_it_is_doing_and_stays_disabled(
    sized_page, live_server, admin_user, provider
) -> None:
    page = sized_page
    provider.set_token_delay(3.0)  # ample time to read the page on a busy machine
    record = cc_record(provider)
    open_record(page, live_server, record)
    button = get_token_button(page)
    expect(button).to_have_attribute("data-busy", "Requesting a token from 127.0.0.1…")

    # The page reports its own state: Playwright's evaluate() and expect() would wait for the
    # form's navigation to finish, and by then this page (and its busy button) is gone.
    seen: list[dict] = []
    page.expose_function("__busyState", lambda state: seen.append(state))
    page.evaluate(WATCH_BUSY)

    button.click()

    expect(page.locator(".alert-success")).to_contain_text("Token obtained for DOT-CC")
    busy = {
        "disabled": True,
        "text": "Requesting a token from 127.0.0.1…",
        "spinner": True,
        "formBusy": "true",
        "refreshDisabled": False,  # another form
    }
    assert seen == [busy, busy]
    assert provider.stats()["client_credentials"] == 1


def test_a_double_click_on_get_token_sends_one_token_request(
    sized_page, live_server, admin_user, provider
) -> None:
    page = sized_page
    provider.set_token_delay(1.0)
    record = cc_record(provider)
    open_record(page, live_server, record)

    get_token_button(page).dblclick()

    expect(page.locator(".alert-success")).to_contain_text("Token obtained for DOT-CC")
    expect(page.locator(".alert-info")).to_have_count(0)  # the second click never left the page
    assert provider.stats()["client_credentials"] == 1
    assert FormSubmission.objects.count() == 1


def test_unsaved_edits_block_the_token_buttons_until_reverted(
    sized_page, live_server, admin_user, provider
) -> None:
    page = sized_page
    record = cc_record(provider)
    open_record(page, live_server, record)
    environment = field(page, "Environment")
    original = environment.input_value()
    expect(page.locator("#token-actions-note")).to_be_hidden()
    expect(page.get_by_role("button", name="Save & Get Token")).to_be_hidden()

    environment.fill("Production")

    expect(page.locator("#token-actions-note")).to_be_visible()
    expect(page.locator("#token-actions-note")).to_have_text(NOTE)
    expect(get_token_button(page)).to_be_disabled()
    expect(page.get_by_role("button", name="Refresh now")).to_be_disabled()
    expect(page.locator("#token-actions a", has_text="Clear token")).to_have_attribute(
        "aria-disabled", "true"
    )
    expect(page.get_by_role("button", name="Save & Get Token")).to_be_visible()

    environment.fill(original)

    expect(page.locator("#token-actions-note")).to_be_hidden()
    expect(get_token_button(page)).to_be_enabled()
    expect(page.get_by_role("button", name="Refresh now")).to_be_enabled()
    expect(page.locator("#token-actions a", has_text="Clear token")).not_to_have_attribute(
        "aria-disabled", "true"
    )
    expect(page.get_by_role("button", name="Save & Get Token")).to_be_hidden()
    assert provider.stats()["total"] == 0


def test_save_and_get_token_saves_then_gets_the_token(sized_page, live_server, admin_user, provider) -> None:
    page = sized_page
    provider.set_token_delay(1.0)
    record = cc_record(provider)
    open_record(page, live_server, record)
    field(page, "Environment").fill("Production")
    save_and_get = page.get_by_role("button", name="Save & Get Token")

    seen: list[list] = []
    page.expose_function("__busyState", lambda state: seen.append(state))
    page.evaluate(WATCH_SAVE_AND_GET)

    save_and_get.click()

    expect(page.locator(".alert-success").first).to_contain_text("Authorization DOT-CC was saved.")
    expect(page.locator(".alert-success").last).to_contain_text("Token obtained for DOT-CC")
    expect(page).to_have_url(re.compile(r"#token$"))
    saved = Authorization.objects.get(pk=record.pk)
    assert saved.environment == "Production" and saved.status == Status.VALID
    assert provider.stats()["client_credentials"] == 1
    assert seen == [[True, "Saving, then getting a token…"]]
    # The page is clean again: nothing blocks the token buttons.
    expect(page.locator("#token-actions-note")).to_be_hidden()
    expect(get_token_button(page)).to_be_enabled()
