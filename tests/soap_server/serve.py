"""Become gunicorn serving the SOAP test server (same PID, so the fixture can stop it by PID).

Usage: python -m tests.soap_server.serve 127.0.0.1:PORT
Run from the repository root with SOAP_INTROSPECT_URL, SOAP_INTROSPECT_CLIENT_ID and
SOAP_INTROSPECT_CLIENT_SECRET set; the fixture does this.
"""

from __future__ import annotations

import os
import sys

from tests.soap_server.app import ENV_INTROSPECT_CLIENT_ID, ENV_INTROSPECT_CLIENT_SECRET, ENV_INTROSPECT_URL

GUNICORN_OPTIONS = [
    "--worker-class=gthread",
    "--workers=1",  # the counters and order ids live in this one process
    "--threads=8",
    # Stopping waits for open keep-alive connections; tests hold some, so keep it short.
    "--graceful-timeout=1",
    "--log-level=warning",
]


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.exit("usage: python -m tests.soap_server.serve HOST:PORT")
    missing = [
        name
        for name in (ENV_INTROSPECT_URL, ENV_INTROSPECT_CLIENT_ID, ENV_INTROSPECT_CLIENT_SECRET)
        if not os.environ.get(name)
    ]
    if missing:
        sys.exit(f"missing environment: {', '.join(missing)}")
    command = [sys.executable, "-m", "gunicorn", f"--bind={argv[0]}", *GUNICORN_OPTIONS]
    # exec keeps the PID; the app is built in the worker (factory call), not in the master.
    os.execv(sys.executable, [*command, "tests.soap_server.app:create_app()"])


if __name__ == "__main__":
    main(sys.argv[1:])
