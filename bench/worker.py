"""One process of the stampede: ``python -m bench.worker CODE START_AT`` prints its wait as JSON."""

from __future__ import annotations

import json
import os
import sys
import time

import django


def main() -> None:
    code, start_at = sys.argv[1], float(sys.argv[2])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connectit.settings")
    django.setup()
    from oauth2_auth import tokens

    tokens.Authorization.objects.exists()  # connect before the start, as a running server would be
    time.sleep(max(0.0, start_at - time.time()))
    began = time.perf_counter()
    token = tokens.get_access_token(code)
    print(json.dumps({"token": token, "waited_ms": (time.perf_counter() - began) * 1000}))


if __name__ == "__main__":
    main()
