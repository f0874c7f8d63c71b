"""Prepare the provider's database, then become gunicorn (same PID).

Usage: python -m tests.provider.serve 127.0.0.1:PORT
Run from the repository root with PROVIDER_DB_PATH set; the fixture does this.
"""

from __future__ import annotations

import os
import sys

GUNICORN_OPTIONS = [
    "--worker-class=gthread",
    "--workers=1",  # the counters and knobs in state.py live in this one process
    "--threads=16",
    "--graceful-timeout=3",
    "--log-level=warning",
]


def prepare_database() -> None:
    import django
    from django.core.management import call_command
    from django.db import connections

    django.setup()
    call_command("migrate", run_syncdb=True, interactive=False, verbosity=0)

    from tests.provider.seed import seed

    seed()
    # Leave no open SQLite handle behind for gunicorn to inherit.
    connections.close_all()


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.exit("usage: python -m tests.provider.serve HOST:PORT")
    # Forced, not defaulted: the app's test run exports its own settings module.
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.provider.settings"
    prepare_database()
    command = [sys.executable, "-m", "gunicorn", f"--bind={argv[0]}", *GUNICORN_OPTIONS]
    # exec keeps the PID, so the fixture stops the server it started by that PID.
    os.execv(sys.executable, [*command, "tests.provider.wsgi:application"])


if __name__ == "__main__":
    main(sys.argv[1:])
