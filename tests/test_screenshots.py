"""README's screenshots, taken in headless Chromium from demo records: the authorizations list,
a record's Bearer Token tab and a run.

`make screenshots` writes them to docs/screenshots/ (where README.md shows them from); in the
suite they go to a temporary directory, so that the script keeps working as the pages change.
The demo records hold made-up values only: nothing on a screenshot is a real secret.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from definitions.models import AuthType, Definition, Direction, Outcome, Paging, Run, RunPage
from oauth2_auth.models import Authorization, EventKind, GrantType, TokenState
from tests.browser import log_in
from tests.conftest import PASSWORD, make_authorization

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ENTRA = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0"
BC_API = "https://api.businesscentral.dynamics.com/v2.0/contoso.onmicrosoft.com/Production/api/v2.0"
FAKE_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.demo-not-a-real-token"


def demo_records() -> tuple[Authorization, Run]:
    now = timezone.now()
    production = make_authorization(
        code="BC-PROD",
        environment="Business Central production",
        token_url=f"{ENTRA}/token",
        api_hosts="api.businesscentral.dynamics.com",
        access_token=FAKE_TOKEN,
        token_state=TokenState.CONNECTED,
        obtained_at=now - timedelta(minutes=8),
        expires_at=now + timedelta(minutes=52),
    )
    make_authorization(
        code="BC-SANDBOX",
        environment="Business Central sandbox",
        grant_type=GrantType.AUTHORIZATION_CODE,
        auth_url=f"{ENTRA}/authorize",
        token_url=f"{ENTRA}/token",
        redirect_url="http://127.0.0.1:8000/oauth2/callback/",
        scope="https://api.businesscentral.dynamics.com/.default offline_access",
        token_state=TokenState.CONSENT_REQUIRED,
        last_error="AADSTS700082: The refresh token has expired due to inactivity.",
    )
    make_authorization(
        code="GRAPH-MAIL",
        environment="Microsoft Graph",
        token_url=f"{ENTRA}/token",
        scope="https://graph.microsoft.com/.default",
        access_token=FAKE_TOKEN,
        token_state=TokenState.FAILED,
        obtained_at=now - timedelta(minutes=50),
        expires_at=now + timedelta(minutes=10),
        last_error="The token endpoint did not answer within 15 s.",
    )
    for minutes, kind, trigger in (
        (8, EventKind.OBTAINED, "run 41 of BC-CUSTOMERS, started by schedule"),
        (68, EventKind.OBTAINED, "keep-alive"),
        (130, EventKind.OBTAINED, "user admin"),
    ):
        production.events.create(at=now - timedelta(minutes=minutes), kind=kind, trigger=trigger)
    customers = Definition.objects.create(
        code="BC-CUSTOMERS",
        description="Customers from Business Central",
        direction=Direction.IMPORT,
        endpoint_url=f"{BC_API}/companies({{company}})/customers",
        auth_type=AuthType.OAUTH2,
        authorization=production,
        paging=Paging.NEXT_LINK,
        items_property="value",
        next_link_property="@odata.nextLink",
    )
    return production, demo_run(customers, now)


def demo_run(definition: Definition, now) -> Run:
    url = definition.endpoint_url.replace("{company}", "CRONUS")
    run = Run.objects.create(
        definition=definition,
        trigger="user admin",
        parameters={"company": "CRONUS"},
        outcome=Outcome.SUCCESS,
        started_at=now - timedelta(seconds=3),
        running_since=now - timedelta(seconds=3),
        finished_at=now - timedelta(seconds=1),
        http_status=200,
        pages=2,
        items=3,
        bytes_received=412,
        request_sent=True,
        request_line=f"GET {url}?$skiptoken=2",
        request_headers="Accept: application/json\nAuthorization: Bearer [redacted]",
        response_headers="content-type: application/json; odata.metadata=minimal",
        response_content_type="application/json",
    )
    first = '{"value": [{"number": "10000", "displayName": "Adatum Corporation"}, '
    first += '{"number": "20000", "displayName": "Trey Research"}], "@odata.nextLink": "…?$skiptoken=2"}'
    second = '{"value": [{"number": "30000", "displayName": "School of Fine Art"}]}'
    RunPage.objects.create(run=run, number=1, http_status=200, url=url, body=first, size=len(first))
    RunPage.objects.create(
        run=run, number=2, http_status=200, url=f"{url}?$skiptoken=2", body=second, size=99
    )
    return run


def test_the_readme_screenshots(page, live_server, admin_user, tmp_path) -> None:
    out = Path(os.environ.get("CONNECTIT_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    production, run = demo_records()
    page.set_viewport_size({"width": 1366, "height": 900})
    log_in(page, live_server.url, "admin", PASSWORD)
    shots = {
        "authorizations.png": "/oauth2/authorizations/",
        "bearer-token-tab.png": f"/oauth2/authorizations/{production.pk}/#token",
        "run.png": f"/definitions/runs/{run.pk}/",
    }
    for name, path in shots.items():
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(out / name), full_page=True)
        assert (out / name).stat().st_size > 10_000, name  # a page, not a blank
    # The token tab really is the open one on its screenshot.
    assert page.goto(f"{live_server.url}{shots['bearer-token-tab.png']}") is not None
    assert page.locator("#tab-token").get_attribute("aria-selected") == "true"
