"""One separate process asking for a token: ``python -m tests.single_flight_worker CODE START_AT``.

It waits until the wall-clock time START_AT so that all workers ask at the same moment, then
prints a JSON line with the token it got (or the error) and how long it waited.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    code, start_at = sys.argv[1], float(sys.argv[2])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connectit.settings")
    import django

    django.setup()
    from oauth2_auth import tokens

    time.sleep(max(0.0, start_at - time.time()))
    began = time.monotonic()
    try:
        result = {"token": tokens.get_access_token(code)}
    except tokens.TokenError as exc:
        result = {"error": str(exc)}
    result["waited_ms"] = (time.monotonic() - began) * 1000
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
