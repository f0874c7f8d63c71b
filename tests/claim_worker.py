"""One separate process that claims queued tasks until none is left:
``python -m tests.claim_worker NAME START_AT [runs]``. It waits until the wall-clock time START_AT,
so that every claimer starts at once, then prints a JSON list of the task ids it took; with
``runs``, of what ``claim_runs`` returns instead."""

from __future__ import annotations

import json
import os
import sys
import time


def claim_runs(name: str) -> list[list]:
    """Claim every queued run task, and take each task's run as the task itself would when it
    starts (never running it): [[run id, "running" or "waits" or "gone"], ...]."""
    from connectit.task_loop import claim_next
    from definitions import runs, tasks

    taken = []
    while (task := claim_next(name, "default", "default")) is not None:
        run_id = task.args_kwargs["args"][0]
        try:
            record = tasks._claim(run_id, task.task_result.id)
        except runs.MustWait:
            taken.append([run_id, "waits"])
            continue
        taken.append([run_id, "gone" if record is None else "running"])
    return taken


def main() -> None:
    name, start_at = sys.argv[1], float(sys.argv[2])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connectit.settings")
    import django

    django.setup()
    from connectit.task_loop import claim_next

    time.sleep(max(0.0, start_at - time.time()))
    if sys.argv[3:] == ["runs"]:
        print(json.dumps(claim_runs(name)), flush=True)
        return
    taken = []
    while (task := claim_next(name, "default", "default")) is not None:
        taken.append(str(task.id))
    print(json.dumps(taken), flush=True)


if __name__ == "__main__":
    main()
