"""Key rotation in a separate process: ``python -m tests.rotate_worker SECONDS``.

Runs ``rotate_encryption_keys`` over and over for SECONDS (with the keys its environment gives),
then prints a JSON line with how many passes ran and how many values they rewrote.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import time


def main() -> None:
    seconds = float(sys.argv[1])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connectit.settings")
    import django

    django.setup()
    from django.core.management import call_command

    passes = rewritten = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        out = io.StringIO()
        call_command("rotate_encryption_keys", stdout=out)
        rewritten += int(re.search(r"Re-encrypted (\d+)", out.getvalue()).group(1))
        passes += 1
    print(json.dumps({"passes": passes, "rewritten": rewritten}), flush=True)


if __name__ == "__main__":
    main()
