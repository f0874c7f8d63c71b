"""Import memory, in a process of its own: ``python -m bench.memory SERVER_URL``.

The process's resident memory is sampled every few milliseconds while an import pages through
the server's /pages; the figure is the peak above what the process held just before.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connectit.settings")
django.setup()

from django.test import override_settings  # noqa: E402

from bench import sizes  # noqa: E402
from definitions import runner  # noqa: E402
from definitions.models import Definition, Direction, Outcome, Paging  # noqa: E402
from oauth2_auth.tokens import Trigger  # noqa: E402

SIZE = sizes.get(os.environ.get("BENCH_SIZE", "full"))
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = rss()
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss())
            time.sleep(0.002)


def main() -> None:
    server = sys.argv[1]
    definition = Definition.objects.create(
        code="BENCH-IMPORT",
        direction=Direction.IMPORT,
        endpoint_url=f"{server}/pages?page={{page}}",
        paging=Paging.PAGE_NUMBER,
        items_property="value",
        total_pages_property="total_pages",
        max_pages=SIZE.import_pages,
    )
    # Keep every page in the run log: the point is that storing them costs no memory.
    with override_settings(CONNECTIT_RUN_KEEP_BYTES=SIZE.import_pages * SIZE.page_bytes * 2):
        warm = Definition.objects.create(code="BENCH-WARM", endpoint_url=f"{server}/pages?page=1")
        runner.run(warm, params={}, trigger=Trigger("bench"))  # imports and first-use allocations
        before = rss()
        sampler = Sampler()
        sampler.start()
        began = time.perf_counter()
        result = runner.run(definition, params={}, trigger=Trigger("bench"))
        seconds = time.perf_counter() - began
        sampler.running = False
        sampler.join()
    growth_mib = (sampler.peak - before) / 2**20
    print(
        json.dumps(
            {
                "pages": result.pages,
                "outcome": result.outcome,
                "received_mib": round(result.bytes_received / 2**20, 1),
                "seconds": round(seconds, 2),
                "peak_growth_mib": round(growth_mib, 1),
                "target": "growth < 64 MiB",
                "met": result.outcome == Outcome.SUCCESS and growth_mib < 64,
            }
        )
    )


if __name__ == "__main__":
    main()
