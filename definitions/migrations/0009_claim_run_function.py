"""PostgreSQL: the run claim (definitions.runs.claim) as a function, so that a worker's task claim
can claim the task's run in the same statement (definitions.tasks joins it to the task claim):
one round trip fewer for every queued run.

It sets the run running for the worker if it is still queued, and returns it. A run whose
definition does not allow overlap may meet the unique index on running exclusive runs: then
the run is returned as it is, still queued, and the worker makes it wait for its turn. The
failure is caught here (a savepoint, taken only for exclusive runs), so that it never undoes
the task claim of the same statement.

``ROWS 1``: it returns one run at most, and the planner, told so, joins it to the definition by
the definition's key instead of hashing the whole definitions table for every claim.
"""

from django.db import migrations

CREATE = """
CREATE FUNCTION definitions_claim_run(
    run bigint, claimed_at timestamptz, claimed_by text, first_step text
) RETURNS SETOF definitions_run LANGUAGE plpgsql ROWS 1 AS $$
BEGIN
    IF run IS NULL THEN  -- the claimed task is not a run's
        RETURN;
    END IF;
    RETURN QUERY
        UPDATE definitions_run
        SET outcome = 'running', running_since = claimed_at, heartbeat_at = claimed_at,
            worker = claimed_by, step = first_step
        WHERE id = run AND outcome = 'queued' AND NOT exclusive
        RETURNING *;
    IF FOUND THEN
        RETURN;
    END IF;
    BEGIN
        RETURN QUERY
            UPDATE definitions_run
            SET outcome = 'running', running_since = claimed_at, heartbeat_at = claimed_at,
                worker = claimed_by, step = first_step
            WHERE id = run AND outcome = 'queued' AND exclusive
            RETURNING *;
    EXCEPTION WHEN unique_violation THEN
        -- Another run of the definition is running: this one stays queued and waits (unless
        -- it was cancelled meanwhile: then nothing, as for a run no longer queued).
        RETURN QUERY SELECT * FROM definitions_run WHERE id = run AND outcome = 'queued';
    END;
END
$$
"""
DROP = "DROP FUNCTION IF EXISTS definitions_claim_run(bigint, timestamptz, text, text)"


def create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("definitions", "0008_fewer_run_indexes")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
