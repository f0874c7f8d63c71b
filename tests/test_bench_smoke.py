"""The benchmark scripts at tiny sizes, so they keep working. No time is asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bench import OUT_DIR, REPO


def test_the_benchmarks_run_and_query_counts_do_not_grow() -> None:
    # python -m bench makes its own scratch databases (SQLite, and PostgreSQL when DATABASE_URL
    # points there), so this test needs no test database.
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"],
        cwd=REPO,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| Database | Benchmark |" in result.stdout
    summary = json.loads((OUT_DIR / "smoke.json").read_text())
    for backend, figures in summary["results"].items():
        assert figures["stampede_threads"]["token_requests"] == 1, backend
        assert figures["stampede_processes"]["token_requests"] == 1, backend
        assert figures["stampede_threads"]["distinct_tokens"] == 1, backend
        assert figures["import_memory"]["outcome"] == "success", backend
        assert figures["import_memory"]["pages"] == 4, backend
        hang = figures["writes_during_hang"]
        # The writes really ran while the token request hung, and nothing sat in a transaction.
        assert hang["writes"] == 6 and hang["during_hang"], (backend, hang)
        assert hang["idle_in_transaction"] == 0, (backend, hang)
        # Background runs: queued through the web form, all hanging while /healthz was sampled;
        # one idle worker took each submitted run; every queued and inline run succeeded.
        health = figures["health_during_hang"]
        assert health["samples"] == 25 and health["errors"] == 0, (backend, health)
        assert health["running_after_sampling"] == 3, (backend, health)
        assert health["outcomes"] == {"success": 3}, (backend, health)
        assert figures["queue_latency"]["started"] == 3, backend
        throughput = figures["throughput"]
        assert throughput["outcomes"] == {"inline": {"success": 20}, "queued": {"success": 20}}, backend
        slow = figures["throughput_slow_api"]
        assert slow["outcomes"] == {"inline": {"success": 10}, "queued": {"success": 10}}, backend
        locked = figures["database_locked"]
        # gunicorn and 6 workers: 1 of 4 threads for the 3 hanging runs, 1 idle, 2 + 2 draining
        assert locked["log_files"] == 7, (backend, locked)
        assert locked["locked_log_lines"] == 0 and locked["failed_runs_locked"] == 0, (backend, locked)
        for page, numbers in figures["pages"]["pages"].items():
            # Query counts must not grow with the tables (measured at two sizes) and stay small.
            assert numbers["queries_small"] == numbers["queries_large"], (backend, page)
            assert numbers["queries_large"] <= 10, (backend, page)
