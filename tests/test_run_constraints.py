"""The database itself holds the runs' rules, whatever code writes them: one running exclusive
run per definition, one run per form submission. Built by the migrations, as deployed."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from definitions.models import Definition, Outcome, Run, RunPage

pytestmark = pytest.mark.django_db


@pytest.fixture
def definition() -> Definition:
    return Definition.objects.create(code="ONE-AT-A-TIME", endpoint_url="https://api.example.com/items")


def test_two_exclusive_runs_of_a_definition_are_never_both_running(definition) -> None:
    Run.objects.create(definition=definition, trigger="a", outcome=Outcome.RUNNING, exclusive=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        Run.objects.create(definition=definition, trigger="b", outcome=Outcome.RUNNING, exclusive=True)
    # Runs that allow overlap, and runs of another state, are not held back.
    Run.objects.create(definition=definition, trigger="c", outcome=Outcome.RUNNING, exclusive=False)
    Run.objects.create(definition=definition, trigger="d", outcome=Outcome.QUEUED, exclusive=True)


def test_one_run_per_form_submission(definition) -> None:
    Run.objects.create(definition=definition, trigger="a", submission="key-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Run.objects.create(definition=definition, trigger="b", submission="key-1")
    # Runs no form asked for have no key, and any number of them may exist.
    Run.objects.create(definition=definition, trigger="c")
    Run.objects.create(definition=definition, trigger="d")


def test_runs_and_pages_carry_no_index_another_one_already_provides() -> None:
    """Every index costs each run's claim and finish (both change its indexed outcome)."""
    with connection.cursor() as cursor:
        found = {
            table: connection.introspection.get_constraints(cursor, table)
            for table in (Run._meta.db_table, RunPage._meta.db_table)
        }
    single_column = {
        table: sorted(
            name for name, info in constraints.items() if info["index"] and info["columns"] == [column]
        )
        for (table, constraints), column in zip(found.items(), ("definition_id", "run_id"), strict=True)
    }
    assert single_column == {
        Run._meta.db_table: ["one_running_run_per_definition"],
        RunPage._meta.db_table: [],
    }
