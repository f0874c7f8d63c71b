"""An administrator edits a record, then finds the change in the audit trail: field names only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import expect

from connectit import roles
from tests.browser import field, log_in
from tests.conftest import PASSWORD, make_authorization

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_audit_trail_shows_which_fields_an_edit_changed(page, live_server, role_groups) -> None:
    boss = User.objects.create_user("boss", password=PASSWORD)
    boss.groups.add(Group.objects.get(name=roles.ADMINISTRATOR))
    record = make_authorization(code="AUDITED", environment="Sandbox")

    log_in(page, live_server.url, "boss", PASSWORD)
    page.goto(f"{live_server.url}/oauth2/authorizations/{record.pk}/")
    field(page, "Environment").fill("Production tenant, secret-looking text")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Authorization AUDITED was saved.")).to_be_visible()

    page.get_by_role("button", name="Administration").click()
    page.get_by_role("link", name="Audit trail").click()
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
    row = page.locator("#audit tbody tr").filter(has_text="authorization AUDITED").filter(has_text="Changed")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("environment")
    expect(row).to_contain_text("boss")
    expect(page.locator("#audit")).not_to_contain_text("Production tenant")
