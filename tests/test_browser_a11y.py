"""Every page on a desktop screen passes axe-core with no serious or critical violation (issue 12);
tests/test_browser_phone.py checks the same pages on a phone."""

from __future__ import annotations

import pytest

from tests.pages_tour import DESKTOP, assert_accessible, assert_fits, seed, visit_all

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_every_page_is_accessible_on_a_desktop(page, live_server, admin_user, role_groups) -> None:
    keys = seed()
    page.set_viewport_size(DESKTOP)
    visit_all(page, live_server.url, keys, assert_fits, assert_accessible)
