"""A Viewer who opens a change URL sees the styled 403 naming the role, on a desktop and a phone."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from connectit.roles import VIEWER
from tests.browser import log_in
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(("width", "height"), [(1366, 900), (390, 844)])
def test_viewer_sees_the_styled_403(page, live_server, role_groups, width: int, height: int) -> None:
    user = User.objects.create_user("viewer", "viewer@example.com", PASSWORD)
    user.groups.add(Group.objects.get(name=VIEWER))
    page.set_viewport_size({"width": width, "height": height})
    log_in(page, live_server.url, "viewer", PASSWORD)
    response = page.goto(f"{live_server.url}/oauth2/authorizations/new/")
    assert response is not None and response.status == 403
    text = page.locator("main, body").first.inner_text()
    assert "You can view authorizations but not change them." in text
    assert "Ask an administrator for the Administrator role." in text
    assert page.get_by_role("link", name="Back to authorizations").is_visible()
    # No horizontal scrolling: the role sentence wraps on a phone.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
