"""Browser fixtures: Playwright driving the system Chromium in headless mode.

Playwright's own browser download does not work here, so tests launch Debian's Chromium. On a
machine without it the browser tests skip with a message; in CI (CI=true) they fail instead,
because CI must never pass without running them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage

CHROMIUM = Path(os.environ.get("CONNECTIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"Chromium not found at {CHROMIUM}: install it (apt-get install chromium) to run browser tests."
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " CI must not skip browser tests.")
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the Django ORM calls the tests
    # make between clicks are synchronous and safe, so allow them.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


# Reports every Content-Security-Policy violation to the test. Playwright injects it through the
# DevTools protocol, so the page's own policy does not block it.
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  const blocked = event.blockedURI || "inline";
  window.__cspViolation(`${event.effectiveDirective} refused ${blocked} on ${event.documentURI}`);
});
"""


@pytest.fixture
def csp_violations() -> list[str]:
    """The Content-Security-Policy violations the browser saw in this test (see ``page``)."""
    return []


@pytest.fixture
def page(chromium, csp_violations: list[str]) -> Iterator[object]:
    """A fresh browser tab. Fails the test if any page broke the Content-Security-Policy: a
    refused script, style or form is a broken page, even when the test's assertions pass."""
    context = chromium.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(15_000)

    def report(text: str) -> None:
        csp_violations.append(text)

    def console(message: ConsoleMessage) -> None:
        # Chromium also logs each violation here: a second witness, so that a violation whose
        # event is lost (its page already unloading) still fails the test.
        if "Content Security Policy" in message.text:
            csp_violations.append(message.text)

    context.expose_function("__cspViolation", report)
    context.add_init_script(_REPORT_CSP_VIOLATIONS)
    context.on("console", console)
    page = context.new_page()
    yield page
    context.close()
    if csp_violations:
        pytest.fail("Content-Security-Policy violations:\n" + "\n".join(csp_violations))


def field(page, label: str):
    """The form control labelled ``label`` (crispy marks required ones with a trailing '*')."""
    return page.get_by_label(re.compile(rf"^\s*{re.escape(label)}\s*\*?\s*$"))


def log_in(page, live_server_url: str, username: str, password: str) -> None:
    page.goto(f"{live_server_url}/")
    field(page, "Username").fill(username)
    field(page, "Password").fill(password)
    page.get_by_role("button", name="Log in").click()


# The two screens every page of the day-to-day work is tried on (issue 12): a laptop and a phone.
VIEWPORTS = {"desktop": (1366, 900), "phone": (390, 844)}


@pytest.fixture(params=list(VIEWPORTS))
def sized_page(request, page):
    """``page`` at each of VIEWPORTS in turn (a test using it runs once per screen)."""
    width, height = VIEWPORTS[request.param]
    page.set_viewport_size({"width": width, "height": height})
    return page
