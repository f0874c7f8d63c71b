"""Every page on a 390 x 844 phone: no sideways scrolling, and no serious accessibility violation
(issue 12, item 5). The pages come from tests/pages_tour.py."""

from __future__ import annotations

import pytest

from tests.pages_tour import PHONE, assert_accessible, assert_fits, assert_tabs_in_one_row, seed, visit_all

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_every_page_fits_a_phone_and_is_accessible(page, live_server, admin_user, role_groups) -> None:
    keys = seed()
    page.set_viewport_size(PHONE)
    visit_all(page, live_server.url, keys, assert_fits, assert_tabs_in_one_row, assert_accessible)
