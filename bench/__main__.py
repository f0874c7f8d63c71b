"""``python -m bench [--smoke]``: every benchmark on the embedded SQLite database and, when
DATABASE_URL points at PostgreSQL, on a scratch database of that server too.

Prints one table and writes it as JSON to var/bench/latest.json (smoke runs: smoke.json).
BENCH_ONLY=step,step (names as in bench/suite.py) runs only those steps and prints their JSON.
The application's own database is never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench import OUT_DIR, REPO

PG_SCRATCH = "connectit_bench"


def sqlite_url(size: str) -> str:
    path = OUT_DIR / f"bench-{size}.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def postgres_url(base: str, size: str) -> str:
    """A fresh scratch database on the same server as ``base``."""
    import psycopg

    name = f"{PG_SCRATCH}_{size}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


def backends(size: str) -> dict[str, str]:
    # Smoke and full runs use different scratch databases, so the test suite can run beside
    # a benchmark.
    found = {"sqlite": sqlite_url(size)}
    configured = os.environ.get("DATABASE_URL", "")
    if configured.startswith(("postgres://", "postgresql://")):
        found["postgresql"] = postgres_url(configured, size)
    return found


def run_suite(name: str, url: str, size: str) -> dict:
    out = OUT_DIR / f"{name}-{size}.json"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "BENCH_SIZE": size,
        "DJANGO_SETTINGS_MODULE": "connectit.settings",
    }
    print(f"== {name}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "bench.suite", str(out)], cwd=REPO, env=env, check=True)
    return json.loads(out.read_text())


def rows(result: dict) -> list[tuple[str, str, str, str]]:
    """(benchmark, figure, target, met) rows for the table."""
    token, run, memory = result["token_path"], result["run_overhead"], result["import_memory"]
    table = [
        (
            f"Valid-token path ({token['calls']} calls)",
            f"ours {token['ours_median_us']} us (p99 {token['ours_p99_us']}) vs ORM get "
            f"{token['baseline_median_us']} us (p99 {token['baseline_p99_us']}): x{token['ratio']}",
            token["target"],
            token["met"],
        )
    ]
    for key, label in (("stampede_threads", "threads"), ("stampede_processes", "processes")):
        s = result[key]
        table.append(
            (
                f"Refresh stampede, {s['callers']} {label}",
                f"{s['token_requests']} token request(s), "
                f"wait p50 {s['wait_p50_ms']} ms, p95 {s['wait_p95_ms']} ms",
                s["target"],
                s["met"],
            )
        )
    table.append(
        (
            f"Definition run overhead ({run['runs']} runs)",
            f"run {run['ours_median_ms']} ms vs requests {run['baseline_median_ms']} ms: "
            f"+{run['overhead_ms']} ms",
            run["target"],
            run["met"],
        )
    )
    for page, figures in result["pages"]["pages"].items():
        table.append(
            (
                f"Page: {page}",
                f"{figures['queries_large']} queries ({figures['queries_small']} at 1/10 size), "
                f"median {figures['median_ms']} ms",
                "<= 10 queries, constant, < 50 ms",
                figures["met"],
            )
        )
    hang = result["writes_during_hang"]
    table.append(
        (
            f"Writes while a token request hangs {hang['hang_s']} s ({hang['writes']} writes)",
            f"p50 {hang['p50_ms']} ms, p95 {hang['p95_ms']} ms (no hang: {hang['baseline_p95_ms']} ms), "
            f"max {hang['max_ms']} ms; "
            f"{hang['idle_in_transaction']} connection(s) idle in transaction",
            hang["target"],
            hang["met"],
        )
    )
    table.append(
        (
            f"Import memory ({memory['pages']} pages, {memory['received_mib']} MiB)",
            f"peak growth {memory['peak_growth_mib']} MiB in {memory['seconds']} s",
            memory["target"],
            memory["met"],
        )
    )
    return table + background_rows(result)


def throughput_row(tput: dict) -> tuple[str, str, str, str]:
    api = f", API answering in {tput['api_delay_ms']} ms" if tput["api_delay_ms"] else ", quick GET"
    return (
        f"Throughput, {tput['runs']} runs{api}: queued at once, drained by {tput['workers']} idle workers "
        f"of {tput['threads']} threads",
        f"drained in {tput['queued_s']} s ({tput['queued_per_s']}/s) vs inline {tput['inline_s']} s "
        f"({tput['inline_per_s']}/s): x{tput['ratio']}{_rounds(tput)}; queueing took {tput['submit_s']} s",
        tput["target"],
        tput["met"],
    )


def _rounds(tput: dict) -> str:
    ratios = tput.get("rounds", [])
    if len(ratios) < 2:
        return ""
    return f" (median of {len(ratios)} rounds: " + ", ".join(f"x{ratio}" for ratio in ratios) + ")"


def background_rows(result: dict) -> list[tuple[str, str, str, str]]:
    hang, latency, tput, locked = (
        result["health_during_hang"],
        result["queue_latency"],
        result["throughput"],
        result["database_locked"],
    )
    return [
        (
            f"/healthz while {hang['runs']} runs hang {hang['hang_s']} s, {hang['workers']} workers "
            f"({hang['samples']} samples)",
            f"p50 {hang['p50_ms']} ms, p95 {hang['p95_ms']} ms (nothing running: "
            f"{hang['baseline_p95_ms']} ms), max {hang['max_ms']} ms, {hang['errors']} error(s); "
            f"queued through the web form, p95 {hang['form_get_and_post_p95_ms']} ms",
            hang["target"],
            hang["met"],
        ),
        (
            f"Queue latency, one idle worker ({latency['runs']} runs)",
            f"submit -> start p50 {latency['p50_ms']} ms, p95 {latency['p95_ms']} ms, "
            f"max {latency['max_ms']} ms (poll {latency['poll_s']} s)",
            latency["target"],
            latency["met"],
        ),
        throughput_row(tput),
        throughput_row(result["throughput_slow_api"]),
        (
            f'"database is locked" ({locked["log_files"]} process logs)',
            f"{locked['locked_log_lines']} log line(s), {locked['failed_runs_locked']} failed run(s); "
            f"{locked['operational_error_lines']} OperationalError line(s), "
            f"{locked['failed_tasks']} failed task(s)",
            locked["target"],
            locked["met"],
        ),
    ]


def print_table(results: dict[str, dict]) -> None:
    print("| Database | Benchmark | Figure | Target | Met |")
    print("|---|---|---|---|---|")
    for name, result in results.items():
        for benchmark, figure, target, met in rows(result):
            print(f"| {name} | {benchmark} | {figure} | {target} | {'yes' if met else 'NO'} |")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check the scripts work")
    args = parser.parse_args()
    size = "smoke" if args.smoke else "full"
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    began, load_before = time.time(), os.getloadavg()
    results = {name: run_suite(name, url, size) for name, url in backends(size).items()}
    summary = {
        "size": size,
        "seconds": round(time.time() - began),
        # Other work on the machine slows every figure: the 1, 5 and 15 minute load averages.
        "load_before": [round(value, 2) for value in load_before],
        "load_after": [round(value, 2) for value in os.getloadavg()],
        "cpus": os.cpu_count(),
        "results": results,
    }
    if os.environ.get("BENCH_ONLY"):  # some steps only (while working on them): no table
        print(json.dumps(results, indent=2))
        (OUT_DIR / f"partial-{size}.json").write_text(json.dumps(summary, indent=2))
        return
    print_table(results)
    (OUT_DIR / ("smoke.json" if args.smoke else "latest.json")).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
