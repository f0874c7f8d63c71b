"""Claimers racing over the queue: ``race_claimers`` starts separate processes of this module
(``python -m tests.claim_worker MODE NAME START_AT``) beside threads of the test's own process,
all released at the wall-clock time START_AT, and returns what each took."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable


def claim_tasks(name: str) -> list[str]:
    """Claim queued tasks until none is left: their ids."""
    from connectit.task_loop import claim_next

    taken = []
    while (task := claim_next(name, "default", "default")) is not None:
        taken.append(str(task.id))
    return taken


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


MODES: dict[str, Callable[[str], list]] = {"tasks": claim_tasks, "runs": claim_runs}


def race_claimers(mode: str, *, threads: int = 6, processes: int = 2) -> tuple[list[list], list[list]]:
    """``processes`` processes and ``threads`` threads claiming at once with MODES[mode]; what
    each thread took, and what each process took."""
    from tests.processes import REPO, race, worker_env

    start_at = time.time() + 3  # time for each interpreter to import Django first
    argv = [sys.executable, "-m", "tests.claim_worker", mode]
    claimers = [
        subprocess.Popen(
            [*argv, f"process-{n}", str(start_at)],
            cwd=REPO,
            env=worker_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(processes)
    ]
    time.sleep(max(0.0, start_at - time.time()))
    by_thread = race(lambda: MODES[mode]("thread"), threads)
    by_process = []
    for claimer in claimers:
        out, err = claimer.communicate(timeout=120)
        assert claimer.returncode == 0, err
        by_process.append(json.loads(out.strip().splitlines()[-1]))
    return by_thread, by_process


def main() -> None:
    mode, name, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connectit.settings")
    import django

    django.setup()
    time.sleep(max(0.0, start_at - time.time()))
    print(json.dumps(MODES[mode](name)), flush=True)


if __name__ == "__main__":
    main()
