"""One separate process that claims queued tasks until none is left:
``python -m tests.claim_worker NAME START_AT``. It waits until the wall-clock time START_AT, so
that every claimer starts at once, then prints a JSON list of the task ids it took."""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    name, start_at = sys.argv[1], float(sys.argv[2])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connectit.settings")
    import django

    django.setup()
    from connectit.task_loop import claim_next

    time.sleep(max(0.0, start_at - time.time()))
    taken = []
    while (task := claim_next(name, "default", "default")) is not None:
        taken.append(str(task.id))
    print(json.dumps(taken), flush=True)


if __name__ == "__main__":
    main()
