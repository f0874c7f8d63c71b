"""An administrator creates a REST import definition on an OAuth2 authorization and runs it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from definitions.models import Definition, Outcome
from tests.browser import field, log_in
from tests.conftest import PASSWORD
from tests.provider_helpers import cc_record
from tests.queue import drain

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_creates_and_runs_a_rest_import(page, live_server, admin_user, oauth_provider) -> None:
    oauth_provider.reset()
    cc_record(oauth_provider, code="BC-API", environment="Test provider")
    log_in(page, live_server.url, "admin", PASSWORD)
    page.get_by_role("button", name="Administration").click()
    page.get_by_role("link", name="Definitions").click()
    page.get_by_role("link", name="New").click()

    field(page, "Code").fill("bc-items")
    field(page, "Description").fill("Items from the test API")
    field(page, "Kind").select_option(label="REST")
    field(page, "Direction").select_option(label="Import (fetch data from the endpoint)")
    field(page, "Endpoint URL").fill(oauth_provider.api_url + "items/?page={page}&page_size={size}")

    page.get_by_role("tab", name="Authorization").click()
    field(page, "Authorization type").select_option(label="OAuth2 authorization")
    expect(field(page, "Password")).to_be_hidden()
    field(page, "OAuth2 authorization").select_option(label="BC-API — Test provider (not connected)")

    page.get_by_role("tab", name="REST").click()
    expect(page.get_by_role("tab", name="SOAP")).to_be_hidden()
    field(page, "Paging").select_option(label="Page number ({page} placeholder)")
    field(page, "Items property").fill("value")
    field(page, "Total pages property").fill("total_pages")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".alert-success")).to_contain_text("Definition BC-ITEMS was created.")

    page.get_by_role("link", name="Run", exact=True).click()
    field(page, "size").fill("10")
    page.get_by_role("button", name="Run now").click()

    # The run is queued; a worker runs it (here: this process), and the page follows it.
    expect(page.locator("[data-outcome]").first).to_have_text("Queued")
    expect(page.locator("#run-live")).to_be_visible()
    assert drain() == 1
    expect(page.locator("[data-outcome]").first).to_have_text("Success")
    expect(page.locator("#run-live")).to_have_count(0)
    expect(page.locator("#http-status")).to_have_text("200")
    expect(page.locator("#response-body")).to_contain_text('"displayName": "Item 1"')
    expect(page.locator("#request")).to_contain_text("Authorization: Bearer [redacted]")
    expect(page.get_by_role("link", name="3", exact=True)).to_be_visible()  # the third page
    page.get_by_role("link", name="3", exact=True).click()
    expect(page.locator("#response-body")).to_contain_text('"displayName": "Item 25"')

    run = Definition.objects.get(code="BC-ITEMS").runs.get()
    assert (run.outcome, run.pages) == (Outcome.SUCCESS, 3)
    assert oauth_provider.stats()["client_credentials"] == 1
