"""PostgreSQL: connectit.task_loop's claim as a function that never sorts the queue, and that
stores the worker's previous task's success in the same round trip.

The claim takes the first ready task of one backend and queue, in the queue's order. Whenever
the planner's statistics say few tasks are ready (a new database, or a queue that is usually
empty and then gets a burst, before autovacuum catches up), it reads every ready task and sorts
them, for every claim: 1 ms a claim with 1,000 queued instead of 0.05 ms, and a burst of N
tasks costs N² rows read. The function runs the same statement with sorting disabled, so the
planner walks the queue's own index (status, priority DESC, run_after, enqueued_at) in order
and stops at the first task it can lock, whatever its statistics say.

SQLite already walks that index in order (tests/test_task_loop.py checks both).

A worker claims its next task as soon as one ends, so the success it would store in a statement
of its own (django-tasks-db's set_successful) is stored by the claim's first statement instead:
one round trip and one commit fewer per task, and the task is marked successful no later.
"""

from django.db import migrations

CREATE = """
CREATE FUNCTION connectit_claim_task(
    backend text, queue text, claimed_at timestamptz, date_max timestamptz, claimed_by jsonb,
    succeeded uuid, succeeded_at timestamptz, succeeded_value jsonb
) RETURNS SETOF django_tasks_database_dbtaskresult LANGUAGE sql SET enable_sort = off AS $$
    UPDATE django_tasks_database_dbtaskresult
    SET status = 'SUCCESSFUL', finished_at = succeeded_at, return_value = succeeded_value,
        exception_class_path = '', traceback = ''
    WHERE id = succeeded;

    UPDATE django_tasks_database_dbtaskresult
    SET status = 'RUNNING', started_at = claimed_at, worker_ids = claimed_by
    WHERE id = (
        SELECT id FROM django_tasks_database_dbtaskresult
        WHERE status = 'READY' AND backend_name = backend AND queue_name = queue
            AND (run_after = date_max OR run_after <= claimed_at)
        ORDER BY priority DESC, run_after ASC, enqueued_at ASC
        LIMIT 1 FOR UPDATE SKIP LOCKED
    )
    RETURNING *
$$
"""
DROP = (
    "DROP FUNCTION IF EXISTS connectit_claim_task"
    "(text, text, timestamptz, timestamptz, jsonb, uuid, timestamptz, jsonb)"
)


def create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("connectit", "0005_form_submissions"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
