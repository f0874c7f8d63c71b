"""An administrator starts a long import, watches its progress live and cancels it, with a real
worker process running it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from definitions.models import Definition, Outcome, Paging, Run
from tests.api_server import ApiServer
from tests.browser import log_in
from tests.conftest import PASSWORD
from tests.workers import workers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_watches_a_run_live_and_cancels_it(page, live_server, admin_user) -> None:
    with ApiServer() as api, workers(1):
        api.state.pages, api.state.page_delay = 500, 0.3
        definition = Definition.objects.create(
            code="SLOW-ITEMS",
            endpoint_url=f"{api.base_url}/items?page={{page}}",
            paging=Paging.PAGE_NUMBER,
            items_property="value",
            total_pages_property="total",
            max_pages=1000,
        )
        log_in(page, live_server.url, "admin", PASSWORD)
        page.goto(f"{live_server.url}/definitions/{definition.pk}/")
        page.get_by_role("link", name="Run", exact=True).click()
        page.get_by_role("button", name="Run now").click()

        expect(page.locator("#run-live")).to_be_visible()
        page.evaluate("window.__notReloaded = true")
        # The numbers move without a reload: pages, items and the current step.
        expect(page.locator("#run-pages")).to_have_text(re.compile(r"^([3-9]|\d\d+)$"), timeout=20_000)
        expect(page.locator("#run-step")).to_contain_text("Calling 127.0.0.1")
        expect(page.locator("[data-outcome]").first).to_have_text("Running")
        items = int(page.locator("#run-items").inner_text())
        assert items >= 6 and items % 2 == 0
        assert page.evaluate("window.__notReloaded") is True

        page.get_by_role("button", name="Cancel run").click()
        expect(page.locator(".alert-info")).to_contain_text("stops after the page it is fetching now")
        # The page follows the run to its end and then shows the finished run.
        expect(page.locator("[data-outcome]").first).to_have_text("Cancelled", timeout=20_000)
        expect(page.locator("#run-live")).to_have_count(0)
        expect(page.locator("#run-message")).to_contain_text("Cancelled")
    run = Run.objects.get()
    assert run.outcome == Outcome.CANCELLED and run.pages < 500
    assert api.state.calls["/items"] == run.pages
