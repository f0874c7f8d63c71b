"""Issue 12 in the browser, on a laptop and on a phone (``sized_page``): a typed secret survives
another field's error (item 1), Clear token asks first and names what will fail (item 8), the
definition form hides what does nothing and shows each authorization's status (item 11), and a
run page links what it ran and says which page is which (item 12)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from definitions.models import AuthType, Definition, Direction, Outcome, Paging, Run, RunPage
from oauth2_auth.models import Authorization, GrantType, TokenState
from tests.browser import field, log_in
from tests.conftest import PASSWORD, make_authorization

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "typed-client-secret-4711"
TOKEN_URL = "https://login.example.com/tenant/oauth2/v2.0/token"


def test_a_typed_secret_survives_another_fields_error(sized_page, live_server, admin_user) -> None:
    page = sized_page
    log_in(page, live_server.url, "admin", PASSWORD)
    page.goto(f"{live_server.url}/oauth2/authorizations/new/")
    field(page, "Code").fill("bc-prod")
    field(page, "Access token URL").fill("not a url")
    page.get_by_role("tab", name="Credentials").click()
    field(page, "Username or client ID").fill("my-client")
    field(page, "Password or secret").fill(SECRET)
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".is-invalid").first).to_be_attached()
    page.get_by_role("tab", name="Credentials").click()
    secret = field(page, "Password or secret")
    expect(secret).to_have_value("")  # never echoed into the page in clear...
    expect(secret).to_have_attribute("placeholder", re.compile("typed, kept"))  # ...but kept
    assert SECRET not in page.content()
    page.get_by_role("tab", name="General").click()
    field(page, "Access token URL").fill(TOKEN_URL)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".alert-success")).to_be_visible()
    assert Authorization.objects.get(code="BC-PROD").client_secret == SECRET


def test_clear_token_asks_first_and_names_the_definitions_that_will_fail(
    sized_page, live_server, admin_user
) -> None:
    page = sized_page
    record = make_authorization(
        code="BC-SANDBOX",
        grant_type=GrantType.AUTHORIZATION_CODE,
        auth_url="https://login.example.com/tenant/oauth2/v2.0/authorize",
        redirect_url=f"{live_server.url}/oauth2/callback/",
        access_token="access-value",
        refresh_token="refresh-value",
        token_state=TokenState.CONNECTED,
        obtained_at=timezone.now(),
        expires_at=timezone.now() + timedelta(hours=1),
    )
    for code in ("BC-ITEMS", "BC-ORDERS"):
        Definition.objects.create(
            code=code,
            endpoint_url="https://api.example.com/x",
            auth_type=AuthType.OAUTH2,
            authorization=record,
        )
    log_in(page, live_server.url, "admin", PASSWORD)
    page.goto(f"{live_server.url}/oauth2/authorizations/{record.pk}/")
    page.get_by_role("link", name="Clear token").click()
    expect(page.get_by_role("heading", name="Clear the tokens of BC-SANDBOX?")).to_be_visible()
    expect(page.locator("#affected-definitions li")).to_have_text(["BC-ITEMS", "BC-ORDERS"])
    page.get_by_role("link", name="Cancel").click()
    assert record.bearer.__class__.objects.get(pk=record.pk).refresh_token == "refresh-value"

    page.get_by_role("link", name="Clear token").click()
    page.get_by_role("button", name="Clear token").click()
    expect(page.locator(".alert-success")).to_contain_text("The tokens of BC-SANDBOX were removed.")
    assert record.bearer.__class__.objects.get(pk=record.pk).refresh_token == ""


def test_the_definition_form_shows_only_what_applies(sized_page, live_server, admin_user) -> None:
    page = sized_page
    make_authorization(
        code="BC-PROD",
        environment="",
        access_token="access-value",
        token_state=TokenState.CONNECTED,
        obtained_at=timezone.now(),
        expires_at=timezone.now() + timedelta(hours=1),
    )
    log_in(page, live_server.url, "admin", PASSWORD)
    page.goto(f"{live_server.url}/definitions/new/")
    page.get_by_role("tab", name="REST").click()
    field(page, "Method").select_option("GET")
    expect(field(page, "Body template")).to_be_hidden()  # a GET sends no body
    field(page, "Method").select_option("POST")
    expect(field(page, "Body template")).to_be_visible()
    page.get_by_role("tab", name="Authorization").click()
    field(page, "Authorization type").select_option(label="OAuth2 authorization")
    options = field(page, "OAuth2 authorization").locator("option")
    expect(options.filter(has_text="BC-PROD")).to_have_text(re.compile(r"BC-PROD \(valid"))


def test_a_run_page_links_what_it_ran_and_says_which_page_is_which(
    sized_page, live_server, admin_user
) -> None:
    page = sized_page
    authorization = make_authorization(code="BC-PROD")
    definition = Definition.objects.create(
        code="BC-CUSTOMERS",
        direction=Direction.IMPORT,
        endpoint_url="https://api.example.com/customers",
        auth_type=AuthType.OAUTH2,
        authorization=authorization,
        paging=Paging.NEXT_LINK,
        items_property="value",
        next_link_property="next",
    )
    now = timezone.now()
    run = Run.objects.create(
        definition=definition,
        trigger="user admin",
        outcome=Outcome.SUCCESS,
        running_since=now,
        finished_at=now,
        http_status=200,
        pages=2,
        items=3,
        request_sent=True,
        request_line="GET https://api.example.com/customers?page=2",
    )
    RunPage.objects.create(
        run=run, number=1, http_status=200, url="https://api.example.com/customers", body="{}"
    )
    RunPage.objects.create(run=run, number=2, http_status=200, url="https://api.example.com/customers?page=2")
    log_in(page, live_server.url, "admin", PASSWORD)
    page.goto(f"{live_server.url}/definitions/runs/{run.pk}/")
    expect(page.locator("#request-which")).to_contain_text("of page 2, the last")
    expect(page.locator("#first-page-request")).to_have_text(
        "GET https://api.example.com/customers · HTTP 200"
    )
    expect(page.locator("#run-items")).to_have_text("3")
    page.locator("#run-authorization").get_by_role("link", name="BC-PROD").click()
    expect(page).to_have_url(re.compile(rf"/oauth2/authorizations/{authorization.pk}/"))
    page.go_back()
    page.locator("#run-definition").get_by_role("link", name="BC-CUSTOMERS").click()
    expect(page).to_have_url(re.compile(rf"/definitions/{definition.pk}/"))


def test_the_list_chips_filter_and_the_status_column_sorts(sized_page, live_server, admin_user) -> None:
    page = sized_page
    now = timezone.now()
    make_authorization(
        code="A-VALID",
        access_token="access-value",
        token_state=TokenState.CONNECTED,
        obtained_at=now,
        expires_at=now + timedelta(hours=1),
    )
    make_authorization(code="B-CONSENT", token_state=TokenState.CONSENT_REQUIRED, last_error="invalid_grant")
    make_authorization(
        code="C-FAILED", token_state=TokenState.FAILED, last_error="The endpoint did not answer."
    )
    log_in(page, live_server.url, "admin", PASSWORD)
    page.goto(f"{live_server.url}/oauth2/authorizations/")
    chips = page.locator("#status-chips a")
    expect(chips).to_have_text(["All 3", "1 needs consent", "1 failed", "1 valid"])
    codes = page.locator("tbody .code-cell")
    expect(codes).to_have_text(["A-VALID", "B-CONSENT", "C-FAILED"])
    expect(page.locator("[data-last-error]").first).to_contain_text("invalid_grant")

    page.get_by_role("link", name="1 needs consent").click()
    expect(codes).to_have_text(["B-CONSENT"])
    expect(page.get_by_role("link", name="1 needs consent")).to_have_attribute("aria-current", "page")
    page.get_by_role("link", name="All 3").click()
    # The status column's header sorts; on a phone, where the header folds into the cards, a link
    # above the list does.
    phone = page.viewport_size["width"] < 576
    page.locator("#sort-toggle" if phone else "#sort-status").click()
    expect(codes).to_have_text(["B-CONSENT", "C-FAILED", "A-VALID"])
