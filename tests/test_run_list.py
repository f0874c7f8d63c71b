from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from definitions.models import Definition, Outcome, Run
from tests.test_definition_create import client_for, definitions_user, make_definition, text

URL = "/definitions/runs/"
NOW = timezone.now()


def listed(response) -> list[int]:
    """The primary keys of the runs on the page, in page order."""
    return [
        int(pk)
        for pk in re.findall(r'<td[^>]*><a href="/definitions/runs/(\d+)/">', response.content.decode())
    ]


def add_runs(definition: Definition, count: int, outcome: str = Outcome.SUCCESS, start: int = 0) -> list[Run]:
    """``count`` runs, one minute apart, the last one the newest."""
    return Run.objects.bulk_create(
        Run(
            definition=definition,
            trigger="system",
            outcome=outcome,
            http_status=200 if outcome == Outcome.SUCCESS else 500,
            started_at=NOW - timedelta(minutes=10_000 - start - number),
            finished_at=NOW - timedelta(minutes=10_000 - start - number),
        )
        for number in range(count)
    )


@pytest.fixture
def customers(db) -> Definition:
    return make_definition(code="CUSTOMERS")


def test_it_redirects_anonymous_to_login(client, admin_user) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_says_when_there_are_none(admin_client) -> None:
    assert "No runs." in text(admin_client.get(URL))
    assert "No runs match the filter." in text(admin_client.get(URL, {"outcome": "failed"}))


def test_it_lists_newest_first(admin_client, customers) -> None:
    older = Run.objects.create(definition=customers, trigger="system", started_at=NOW - timedelta(hours=2))
    newest = Run.objects.create(definition=customers, trigger="system", started_at=NOW)
    middle = Run.objects.create(definition=customers, trigger="system", started_at=NOW - timedelta(hours=1))
    assert listed(admin_client.get(URL)) == [newest.pk, middle.pk, older.pk]


def test_runs_started_in_the_same_instant_are_ordered_by_id(admin_client, customers) -> None:
    first = Run.objects.create(definition=customers, trigger="system", started_at=NOW)
    second = Run.objects.create(definition=customers, trigger="system", started_at=NOW)
    assert listed(admin_client.get(URL)) == [second.pk, first.pk]


def test_it_shows_code_outcome_http_status_and_trigger(admin_client, customers) -> None:
    Run.objects.create(
        definition=customers, trigger="user admin", outcome=Outcome.FAILED, http_status=503, pages=2
    )
    body = text(admin_client.get(URL))
    assert f'<a class="code-cell" href="/definitions/{customers.pk}/">CUSTOMERS</a>' in body
    assert 'data-outcome="failed"' in body
    assert '<td data-label="HTTP">503</td>' in body
    assert '<td data-label="By">user admin</td>' in body


def test_it_filters_by_definition_code(admin_client, customers) -> None:
    vendors = make_definition(code="VENDORS")
    mine = add_runs(customers, 2)
    add_runs(vendors, 3)
    response = admin_client.get(URL, {"definition": " customers "})  # as typed
    assert sorted(listed(response)) == sorted(run.pk for run in mine)
    assert 'value="CUSTOMERS"' in response.content.decode()
    assert listed(admin_client.get(URL, {"definition": "NOPE"})) == []


def test_it_filters_by_outcome(admin_client, customers) -> None:
    add_runs(customers, 2, Outcome.SUCCESS)
    failed = add_runs(customers, 3, Outcome.FAILED, start=2)
    response = admin_client.get(URL, {"outcome": "failed"})
    assert sorted(listed(response)) == sorted(run.pk for run in failed)
    assert '<option value="failed" selected>' in response.content.decode()


def test_it_combines_both_filters(admin_client, customers) -> None:
    vendors = make_definition(code="VENDORS")
    add_runs(customers, 2, Outcome.SUCCESS)
    wanted = add_runs(customers, 1, Outcome.FAILED, start=2)
    add_runs(vendors, 2, Outcome.FAILED, start=3)
    response = admin_client.get(URL, {"definition": "CUSTOMERS", "outcome": "failed"})
    assert listed(response) == [wanted[0].pk]


def test_an_unknown_outcome_is_ignored(admin_client, customers) -> None:
    add_runs(customers, 3)
    assert len(listed(admin_client.get(URL, {"outcome": "bogus"}))) == 3


def test_it_paginates_without_counting(admin_client, customers) -> None:
    runs = add_runs(customers, 30)
    newest_first = [run.pk for run in reversed(runs)]

    with CaptureQueriesContext(connection) as queries:
        first = admin_client.get(URL)
    assert listed(first) == newest_first[:25]
    assert not any("COUNT(" in query["sql"].upper() for query in queries.captured_queries)
    body = first.content.decode()
    assert 'href="?page=2">Next</a>' in body
    assert "Page 1</span>" in body  # no "of N": the total is never counted

    second = admin_client.get(URL, {"page": 2})
    assert listed(second) == newest_first[25:]
    body = second.content.decode()
    assert 'page=1">Previous</a>' in body
    assert '<span class="page-link">Next</span>' in body  # disabled: nothing more


def test_there_is_no_next_link_for_exactly_one_page(admin_client, customers) -> None:
    add_runs(customers, 25)
    response = admin_client.get(URL)
    assert len(listed(response)) == 25
    assert ">Next</a>" not in response.content.decode()


def test_the_page_links_keep_the_filter(admin_client, customers) -> None:
    add_runs(customers, 30, Outcome.FAILED)
    body = admin_client.get(URL, {"definition": "customers", "outcome": "failed"}).content.decode()
    assert 'href="?definition=CUSTOMERS&amp;outcome=failed&amp;page=2">Next</a>' in body


@pytest.mark.parametrize("page", ["abc", "", "0", "-4", "1.5", "1e3", "99999999999999999999999", "50"])
def test_junk_page_numbers_do_not_crash(admin_client, customers, page: str) -> None:
    add_runs(customers, 3)
    response = admin_client.get(URL, {"page": page})
    assert response.status_code == 200


def test_a_page_number_past_the_end_shows_no_runs(admin_client, customers) -> None:
    add_runs(customers, 3)
    response = admin_client.get(URL, {"page": 7})
    assert listed(response) == []
    assert 'page=6">Previous</a>' in response.content.decode()


def test_its_query_count_does_not_grow_with_rows(admin_client, db, django_assert_max_num_queries) -> None:
    # A definition per run: a missing select_related would cost one query per row.
    for number in range(5):
        add_runs(make_definition(code=f"DEF-{number}"), 1, start=number)
    with CaptureQueriesContext(connection) as few:
        response = admin_client.get(URL)
    assert len(listed(response)) == 5
    for number in range(5, 60):
        add_runs(make_definition(code=f"DEF-{number}"), 1, start=number)
    assert Run.objects.count() == 60
    with django_assert_max_num_queries(len(few)):
        response = admin_client.get(URL, {"page": 2})
    assert len(listed(response)) == 25


def test_a_definitions_reader_may_see_runs(db, customers) -> None:
    add_runs(customers, 1)
    response = client_for(definitions_user("defreader", "view_definition")).get(URL)
    assert response.status_code == 200
    assert len(listed(response)) == 1


def test_it_denies_an_authorizations_reader(reader_client) -> None:
    assert reader_client.get(URL).status_code == 403
