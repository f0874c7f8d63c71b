"""The benchmarks themselves, run in one process per database: ``python -m bench.suite OUT.json``
(the background-run benchmarks are in bench/background.py).

DATABASE_URL names a fresh, empty database (bench/__main__.py makes it); BENCH_SIZE is "full" or
"smoke". Every figure is measured side by side with its baseline, interleaved call by call, so a
noisy machine slows both alike. Nothing here asserts: the table says what met its target.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connectit.settings")
django.setup()

import requests  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.signals import request_finished, request_started  # noqa: E402
from django.db import close_old_connections, connection, connections  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import REPO, background, sizes  # noqa: E402
from definitions import runner  # noqa: E402
from definitions.models import AuthType, Definition, Direction, Outcome, Paging, Run  # noqa: E402
from oauth2_auth import tokens  # noqa: E402
from oauth2_auth.models import (  # noqa: E402
    Authorization,
    BearerToken,
    EventKind,
    TokenEvent,
    TokenState,
    host_port,
)

TRIGGER = tokens.Trigger("bench")
SIZE = sizes.get(os.environ.get("BENCH_SIZE", "full"))
FAKE_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + "x" * 1400  # an Entra token is ~1.5 KB


def us(values_ns: list[int], q: float) -> float:
    ordered = sorted(values_ns)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000, 1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def valid_authorization(code: str, token_url: str = "https://login.example.com/token") -> Authorization:
    now = timezone.now()
    record = Authorization.objects.create(
        code=code,
        client_id="bench-client",
        client_secret="bench-secret-value",
        token_url=token_url,
        api_hosts=host_port(token_url),  # the bench's API runs on the same local server
    )
    BearerToken.objects.create(
        authorization=record,
        access_token=FAKE_TOKEN,
        state=TokenState.CONNECTED,
        obtained_at=now,
        expires_at=now + timedelta(days=1),
    )
    return record


# --- 1. Valid-token path -------------------------------------------------------------------------


def bench_token_path() -> dict:
    record = valid_authorization("BENCH-TOKEN")
    ours, base = [], []
    for i in range(SIZE.token_calls + SIZE.warmup):
        t0 = time.perf_counter_ns()
        tokens.get_access_token(record.code)
        t1 = time.perf_counter_ns()
        Authorization.objects.get(code=record.code)
        t2 = time.perf_counter_ns()
        if i >= SIZE.warmup:
            ours.append(t1 - t0)
            base.append(t2 - t1)
    ratio = statistics.median(ours) / statistics.median(base)
    return {
        "calls": SIZE.token_calls,
        "ours_median_us": us(ours, 0.5),
        "ours_p99_us": us(ours, 0.99),
        "baseline_median_us": us(base, 0.5),
        "baseline_p99_us": us(base, 0.99),
        "ratio": round(ratio, 2),
        "target": "ratio <= 1.5",
        "met": ratio <= 1.5,
    }


# --- 2. Refresh stampede -------------------------------------------------------------------------


def expired_authorization(code: str, server: str) -> Authorization:
    record = valid_authorization(code, token_url=f"{server}/token")
    BearerToken.objects.filter(pk=record.pk).update(expires_at=timezone.now() - timedelta(seconds=10))
    return record


def bench_stampede_threads(server: str) -> dict:
    record = expired_authorization("BENCH-THREADS", server)
    requests.post(f"{server}/reset", timeout=5)
    barrier = threading.Barrier(SIZE.stampede_threads)
    waits: list[float] = []
    got: set[str] = set()

    def caller() -> None:
        # Connect first, as a server thread with a persistent connection would have: the figure
        # is the wait for the token, not for PostgreSQL to fork 50 backends at once.
        Authorization.objects.exists()
        barrier.wait()
        began = time.perf_counter()
        got.add(tokens.get_access_token(record.code))
        waits.append((time.perf_counter() - began) * 1000)
        connections.close_all()

    threads = [threading.Thread(target=caller) for _ in range(SIZE.stampede_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return _stampede_result(server, len(threads), waits, got)


def bench_stampede_processes(server: str) -> dict:
    record = expired_authorization("BENCH-PROCS", server)
    requests.post(f"{server}/reset", timeout=5)
    start_at = time.time() + SIZE.process_start_s
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.worker", record.code, str(start_at)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(SIZE.stampede_processes)
    ]
    results = [json.loads(worker.communicate(timeout=120)[0].strip().splitlines()[-1]) for worker in workers]
    waits = [result["waited_ms"] for result in results]
    return _stampede_result(server, len(workers), waits, {result.get("token", "") for result in results})


def _stampede_result(server: str, callers: int, waits: list[float], got: set[str]) -> dict:
    token_requests = requests.get(f"{server}/stats", timeout=5).json()["token_requests"]
    limit = SIZE.token_delay_ms + 100
    p95 = percentile(waits, 0.95)
    return {
        "callers": callers,
        "token_requests": token_requests,
        "distinct_tokens": len(got),
        "wait_p50_ms": round(percentile(waits, 0.5), 1),
        "wait_p95_ms": round(p95, 1),
        "target": f"1 request, p95 <= {limit} ms",
        "met": token_requests == 1 and len(got) == 1 and p95 <= limit,
    }


# --- 3. Definition run overhead ------------------------------------------------------------------


def bench_run_overhead(server: str) -> dict:
    record = valid_authorization("BENCH-RUN", token_url=f"{server}/token")
    definition = Definition.objects.create(
        code="BENCH-EXPORT",
        direction=Direction.EXPORT,
        endpoint_url=f"{server}/api/orders",
        http_method="POST",
        body_template='{"customerId": 1, "amount": 100}',
        auth_type=AuthType.OAUTH2,
        authorization=record,
    )
    session = requests.Session()
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/json; charset=utf-8",
        "Authorization": f"Bearer {FAKE_TOKEN}",
    }
    ours, base = [], []
    for i in range(SIZE.runs + SIZE.warmup // 10):
        t0 = time.perf_counter_ns()
        result = runner.run(definition, params={}, trigger=TRIGGER)
        t1 = time.perf_counter_ns()
        session.post(
            definition.endpoint_url, data=definition.body_template.encode(), headers=headers, timeout=15
        )
        t2 = time.perf_counter_ns()
        if result.outcome != Outcome.SUCCESS:
            raise RuntimeError(f"bench run failed: {result.message}")
        if i >= SIZE.warmup // 10:
            ours.append(t1 - t0)
            base.append(t2 - t1)
    extra_ms = (statistics.median(ours) - statistics.median(base)) / 1e6
    return {
        "runs": SIZE.runs,
        "ours_median_ms": round(statistics.median(ours) / 1e6, 2),
        "baseline_median_ms": round(statistics.median(base) / 1e6, 2),
        "overhead_ms": round(extra_ms, 2),
        "target": "overhead <= 3 ms",
        "met": extra_ms <= 3,
    }


# --- 4. Pages at scale ---------------------------------------------------------------------------


def seed(authorizations: int, definitions: int, runs: int) -> None:
    """Grow the tables to the given sizes (adding to what is there)."""
    now = timezone.now()
    have = Authorization.objects.filter(code__startswith="A").count()
    Authorization.objects.bulk_create(
        [
            Authorization(
                code=f"A{n:06d}",
                environment=f"Tenant {n % 50}",
                client_id=f"client-{n}",
                client_secret=f"secret-{n}",
                token_url="https://login.example.com/token",
            )
            for n in range(have, authorizations)
        ],
        batch_size=1000,
    )
    # Every other authorization holds a token.
    without_token = Authorization.objects.filter(code__startswith="A", bearer__isnull=True)
    BearerToken.objects.bulk_create(
        [
            BearerToken(
                authorization_id=pk,
                access_token=FAKE_TOKEN,
                state=TokenState.CONNECTED,
                obtained_at=now,
                expires_at=now + timedelta(hours=1),
            )
            for pk, code in without_token.values_list("id", "code").iterator()
            if int(code[1:]) % 2
        ],
        batch_size=1000,
    )
    auth_ids = list(
        Authorization.objects.filter(code__startswith="A").order_by("code").values_list("id", flat=True)
    )
    have = Definition.objects.filter(code__startswith="D").count()
    Definition.objects.bulk_create(
        [
            Definition(
                code=f"D{n:05d}",
                description=f"Definition {n}",
                endpoint_url=f"https://api.example.com/v2.0/items/{n}",
                auth_type=AuthType.OAUTH2,
                authorization_id=auth_ids[n % len(auth_ids)],
                paging=Paging.NONE,
            )
            for n in range(have, definitions)
        ],
        batch_size=1000,
    )
    definition_ids = list(Definition.objects.filter(code__startswith="D").values_list("id", flat=True))
    have = Run.objects.count()
    for start in range(have, runs, 5000):
        Run.objects.bulk_create(
            [
                Run(
                    definition_id=definition_ids[n % len(definition_ids)],
                    trigger="command run_definition",
                    started_at=now - timedelta(seconds=runs - n),
                    finished_at=now - timedelta(seconds=runs - n) + timedelta(milliseconds=120),
                    outcome=Outcome.SUCCESS if n % 4 else Outcome.FAILED,
                    http_status=200 if n % 4 else 500,
                    pages=1,
                    bytes_received=512,
                    request_line="GET https://api.example.com/v2.0/items",
                    request_headers="Accept: application/json\nAuthorization: Bearer [redacted]",
                    response_body='{"value": [{"id": 1, "displayName": "Item"}]}',
                    response_content_type="application/json",
                )
                for n in range(start, min(start + 5000, runs))
            ]
        )


def measure_pages(client: Client, repeats: int, deep_page: int) -> dict[str, dict]:
    authorization = Authorization.objects.filter(code__startswith="A").order_by("code").first()
    run = Run.objects.order_by("-id").first()
    definition = Definition.objects.filter(code__startswith="D").first()
    if not TokenEvent.objects.filter(authorization=authorization).exists():
        TokenEvent.objects.bulk_create(
            [
                TokenEvent(authorization=authorization, kind=EventKind.REFRESHED, trigger="bench")
                for _ in range(50)
            ]
        )
    pages = {
        "authorizations list": "/oauth2/authorizations/",
        "authorization page": f"/oauth2/authorizations/{authorization.pk}/",
        "definitions list": "/definitions/",
        "runs list": "/definitions/runs/",
        "runs list, filtered, page 500": f"/definitions/runs/?outcome=success&page={deep_page}",
        "runs list, one definition": f"/definitions/runs/?definition={definition.code}",
        "run page": f"/definitions/runs/{run.pk}/",
    }
    results = {}
    for name, url in pages.items():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        count = len(queries)  # now: the log is cleared by the next request
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            client.get(url)
            times.append((time.perf_counter() - began) * 1000)
        results[name] = {"queries": count, "median_ms": round(statistics.median(times), 2)}
    return results


def bench_pages() -> dict:
    # As in a running server with persistent connections (and as Django's test runner does),
    # keep the connection across requests; it also lets CaptureQueriesContext see every query.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    admin = User.objects.create_superuser("bench-admin", "bench@example.com", "bench-password-123")
    client = Client(SERVER_NAME="127.0.0.1")  # ALLOWED_HOSTS has no "testserver" outside tests
    client.force_login(admin)
    small, large = SIZE.small_tables, SIZE.large_tables
    seed(*small)
    # The deep page at 1/10 of the size is page 50: a page that exists, on the same code path.
    at_small = measure_pages(client, 1, max(2, SIZE.deep_page // 10))
    seed(*large)
    # A fresh login, so no page pays for the idle-session stamp (rewritten once a minute).
    client.force_login(admin)
    at_large = measure_pages(client, SIZE.page_repeats, SIZE.deep_page)
    pages = {}
    for name, figures in at_large.items():
        constant = figures["queries"] == at_small[name]["queries"]
        pages[name] = {
            "queries_small": at_small[name]["queries"],
            "queries_large": figures["queries"],
            "median_ms": figures["median_ms"],
            "met": constant and figures["queries"] <= 10 and figures["median_ms"] < 50,
        }
    return {
        "small_tables": dict(zip(("authorizations", "definitions", "runs"), small, strict=True)),
        "large_tables": dict(zip(("authorizations", "definitions", "runs"), large, strict=True)),
        "target": "<= 10 queries, same at both sizes, median < 50 ms",
        "pages": pages,
        "met": all(page["met"] for page in pages.values()),
    }


# --- 5. Writes while a token request hangs ------------------------------------------------------


def bench_writes_during_hang(server: str) -> dict:
    """While one renewal waits SIZE.hang_seconds for its token endpoint, other threads write:
    a login's session, an authorization form save, a run-log row. None may wait for it."""
    hung = valid_authorization("BENCH-HANG", token_url=f"{server}/token-hang?seconds={SIZE.hang_seconds}")
    BearerToken.objects.filter(pk=hung.pk).update(expires_at=timezone.now() - timedelta(seconds=10))
    other = valid_authorization("BENCH-FORM")
    definition = Definition.objects.create(
        code="BENCH-HANG-RUNS", endpoint_url=f"{server}/api/x", auth_type=AuthType.ANONYMOUS
    )
    admin = User.objects.create_superuser("bench-hang", "hang@example.com", "bench-password-123")
    # The same writes with no token request anywhere: what they cost on their own.
    baseline = _timed_writes(admin, other, definition, spread=SIZE.hang_seconds * 0.8)
    requests.post(f"{server}/reset", timeout=5)
    renewal = threading.Thread(target=_renew_and_close, args=(hung.code,))
    renewal.start()
    _wait_for_token_request(server)
    idle_in_transaction = _idle_in_transaction()
    # Spread over most of the hang, so every write meets the token request in flight.
    latencies = _timed_writes(admin, other, definition, spread=SIZE.hang_seconds * 0.8)
    idle_in_transaction = max(idle_in_transaction, _idle_in_transaction())
    still_hanging = renewal.is_alive()
    renewal.join(SIZE.hang_seconds + 30)
    p95 = percentile(latencies, 0.95)
    return {
        "writes": len(latencies),
        "hang_s": SIZE.hang_seconds,
        "p50_ms": round(percentile(latencies, 0.5), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(max(latencies), 1),
        "baseline_p95_ms": round(percentile(baseline, 0.95), 1),
        "during_hang": still_hanging,
        "idle_in_transaction": idle_in_transaction,
        "target": "p95 <= 50 ms, none idle in transaction",
        "met": p95 <= 50 and still_hanging and idle_in_transaction == 0,
    }


def _renew_and_close(code: str) -> None:
    try:
        tokens.renew(code, force=True, trigger=TRIGGER)
    finally:
        connections.close_all()


def _wait_for_token_request(server: str) -> None:
    for _ in range(500):
        if requests.get(f"{server}/stats", timeout=5).json()["token_requests"]:
            return
        time.sleep(0.01)
    raise RuntimeError("the hung token request never arrived")


def _idle_in_transaction() -> int:
    """PostgreSQL sessions that hold a transaction open while doing nothing (0 on SQLite)."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%%'"
        )
        return cursor.fetchone()[0]


def _timed_writes(admin: User, other: Authorization, definition: Definition, spread: float) -> list[float]:
    """SIZE.hang_writes writes, a third each of login, form save and run-log insert, started at an
    even pace over ``spread`` seconds, each in a thread of its own as separate web requests would
    be: a write that has to wait does not hold back the ones after it."""
    writes = [_login, _form_save, _run_log] * (SIZE.hang_writes // 3 + 1)
    latencies: list[float] = []
    lock = threading.Lock()

    def timed(write) -> None:
        client = Client(SERVER_NAME="127.0.0.1")
        try:
            began = time.perf_counter()
            write(client, admin, other, definition)
            with lock:
                latencies.append((time.perf_counter() - began) * 1000)
        finally:
            connections.close_all()

    threads = []
    start = time.perf_counter()
    for n, write in enumerate(writes[: SIZE.hang_writes]):
        time.sleep(max(0.0, start + n * spread / SIZE.hang_writes - time.perf_counter()))
        threads.append(threading.Thread(target=timed, args=(write,)))
        threads[-1].start()
    for thread in threads:
        thread.join(120)
    return latencies


def _login(client: Client, admin: User, other: Authorization, definition: Definition) -> None:
    # The writes of a login (session row, last_login), without the deliberately slow hashing.
    client.force_login(admin)


def _form_save(client: Client, admin: User, other: Authorization, definition: Definition) -> None:
    client.force_login(admin)
    data = {
        "code": other.code,
        "environment": f"saved at {time.time()}",
        "grant_type": other.grant_type,
        "client_id": other.client_id,
        "token_url": other.token_url,
        "token_method": other.token_method,
        "auth_method": other.auth_method,
        "credential_type": other.credential_type,
        "content_type": other.content_type,
        "access_token_property": "access_token",
        "expires_in_property": "expires_in",
        "refresh_token_property": "refresh_token",
    }
    response = client.post(f"/oauth2/authorizations/{other.pk}/", data)
    if response.status_code != 302:
        raise RuntimeError(f"the form save answered {response.status_code}")


def _run_log(client: Client, admin: User, other: Authorization, definition: Definition) -> None:
    Run.objects.create(definition=definition, trigger="bench", outcome=Outcome.SUCCESS)


# --- 6. Import memory ----------------------------------------------------------------------------


def bench_import_memory(server: str) -> dict:
    output = subprocess.run(
        [sys.executable, "-m", "bench.memory", server],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


# --- Driver --------------------------------------------------------------------------------------


def main() -> None:
    out = Path(sys.argv[1])
    call_command("migrate", verbosity=0)
    background.clear_logs()
    results = {"backend": connection.vendor, "size": SIZE.name}
    with sizes.local_server(SIZE) as server:
        steps = {
            "token_path": bench_token_path,
            "stampede_threads": lambda: bench_stampede_threads(server),
            "stampede_processes": lambda: bench_stampede_processes(server),
            "run_overhead": lambda: bench_run_overhead(server),
            "pages": bench_pages,
            "writes_during_hang": lambda: bench_writes_during_hang(server),
            "import_memory": lambda: bench_import_memory(server),
            "health_during_hang": lambda: background.bench_health_during_hang(server, SIZE),
            "queue_latency": lambda: background.bench_queue_latency(server, SIZE),
            "throughput": lambda: background.bench_throughput(server, SIZE),
            "throughput_slow_api": lambda: background.bench_throughput_slow_api(server, SIZE),
            # Last: counted over the logs and runs of every step above.
            "database_locked": background.database_locked,
        }
        only = [name for name in os.environ.get("BENCH_ONLY", "").split(",") if name]
        for name, step in steps.items():
            if only and name not in only:
                continue
            began = time.perf_counter()
            results[name] = step()
            print(
                f"  {connection.vendor}: {name} done in {time.perf_counter() - began:.1f} s", file=sys.stderr
            )
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
