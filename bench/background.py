"""The benchmarks of background runs: a real gunicorn and real ``manage.py worker`` processes
against the bench database (imported by bench/suite.py, after Django is set up there).

- ``bench_health_during_hang``: /healthz while runs queued through the web Run form hang on a
  slow endpoint, beside /healthz with nothing running.
- ``bench_queue_latency``: submit -> start (``started_at`` -> ``running_since``) with one idle
  worker, runs submitted one at a time.
- ``bench_throughput``: queued runs drained by two workers, beside the same runs inline in one
  process with ``runner.run``.
- ``database_locked``: "database is locked" in the logs of every process started here, and in
  the messages of failed runs (a SQLite figure; counted on PostgreSQL too).

Every process listens on, or talks to, 127.0.0.1 only; each is stopped by its own PID.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import requests
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Max, Min
from django.test import Client

from bench import OUT_DIR, REPO, sizes
from definitions import runner, tasks
from definitions.models import UNFINISHED, AuthType, Definition, Outcome, Run
from oauth2_auth import tokens

LOG_DIR = OUT_DIR / "logs"
TRIGGER = tokens.Trigger("bench")
# The flags of `make run` (manage.py serve): 2 workers of 4 threads each, gthread.
GUNICORN_FLAGS = ["--workers", "2", "--threads", "4", "--worker-class", "gthread"]
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
Started = tuple[subprocess.Popen, Path]  # a process and its log file
# Started workers' threads connect and find the queue empty, and their periodic jobs run once.
WARM_UP_S = 1.0
LOCKED = re.compile(r"database is locked", re.IGNORECASE)
# definitions/tasks.py logs a failed task by its exception's type only: the text may be a lock.
TASK_ERROR = re.compile(r"the task failed with OperationalError")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _log_path(name: str) -> Path:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    return LOG_DIR / f"{connection.vendor}-{os.environ.get('BENCH_SIZE', 'full')}-{name}.log"


def _env() -> dict[str, str]:
    # The same database, keys and settings as this process (DATABASE_URL names the bench database).
    return {**os.environ, "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "connectit.settings"}


def _stop(process: subprocess.Popen, grace: float = 30) -> None:
    """Stop one process we started, by its PID: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def _start(name: str, argv: list[str]) -> Started:
    path = _log_path(name)
    with path.open("wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(argv, cwd=REPO, env=_env(), stdout=log, stderr=subprocess.STDOUT)
    return process, path


@contextmanager
def web_server() -> Iterator[str]:
    """gunicorn with the flags of `make run` on a free port; yields its base URL."""
    port = sizes.free_port()
    argv = [sys.executable, "-m", "gunicorn", "connectit.wsgi", "--bind", f"127.0.0.1:{port}"]
    argv += [*GUNICORN_FLAGS, "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT]
    # No control socket: its default path (~/.gunicorn/gunicorn.ctl) is shared with `make run`.
    argv += ["--forwarded-allow-ips", "127.0.0.1", "--no-control-socket"]
    process, path = _start("gunicorn", argv)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}; see {path}")
            try:  # while many workers start beside it, the first answers may be slow
                if requests.get(f"{url}/healthz", timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer within 60 s; see {path}")
            time.sleep(0.1)
        yield url
    finally:
        _stop(process)


@contextmanager
def task_workers(count: int, name: str, *, wait: bool = True) -> Iterator[list[Started]]:
    """``count`` processes of ``manage.py worker`` (default poll, periodic jobs on, as deployed);
    with ``wait``, each is ready (its start line printed) when this yields."""
    with ExitStack() as stack:
        started = []
        for n in range(count):
            argv = [sys.executable, "manage.py", "worker", "--worker-id", f"bench-{name}-{n + 1}"]
            process, path = _start(f"worker-{name}-{n + 1}", argv)
            stack.callback(_stop, process)
            started.append((process, path))
        if wait:
            workers_ready(started)
        yield started


def workers_ready(started: list[Started]) -> None:
    deadline = time.monotonic() + 60
    for process, path in started:
        while b" started" not in path.read_bytes():  # each log file is this run's own
            if process.poll() is not None:
                raise RuntimeError(f"a worker exited with {process.returncode}; see {path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"a worker did not start within 60 s; see {path}")
            time.sleep(0.05)


def _wait_finished(run_ids: list[int], timeout: float, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while Run.objects.filter(pk__in=run_ids, outcome__in=UNFINISHED).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"runs still unfinished after {timeout} s")
        time.sleep(every)


def _outcomes(run_ids: list[int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in Run.objects.filter(pk__in=run_ids).values_list("outcome", flat=True):
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


# --- /healthz while runs hang ---------------------------------------------------------------------


def bench_health_during_hang(server: str, size: sizes.Size) -> dict:
    """``size.hang_runs`` runs, queued through the web Run form by a logged-in admin, hang on an
    endpoint that answers after ``size.hang_endpoint_s``, with enough workers (of
    CONNECTIT_WORKER_THREADS threads each, as deployed) that all hang at once. /healthz is
    sampled at an even pace, each time on a new connection as a load balancer would, first with
    nothing running (the baseline) and then while every run hangs."""
    definition = Definition.objects.create(
        code="BENCH-HANG-WEB",
        endpoint_url=f"{server}/hang?seconds={{seconds}}",
        auth_type=AuthType.ANONYMOUS,
        allow_overlap=True,
    )
    requests.post(f"{server}/reset", timeout=5)
    # The workers start while gunicorn does.
    # Each worker holds a connection per thread and one for its ticker: one worker per run
    # would hold 5 for each and, at 20 runs, fill PostgreSQL's default 100.
    worker_count = -(-size.hang_runs // settings.CONNECTIT_WORKER_THREADS)
    with task_workers(worker_count, "hang", wait=False) as workers, web_server() as web:
        workers_ready(workers)
        browser = _logged_in_browser()
        baseline = _sample_health(web, size)
        posts, run_ids = [], []
        for _ in range(size.hang_runs):
            began = time.perf_counter()
            run_ids.append(_submit_through_form(browser, web, definition, size.hang_endpoint_s))
            posts.append((time.perf_counter() - began) * 1000)
        _wait_for_hangs(server, size.hang_runs)
        latencies = _sample_health(web, size)
        running = Run.objects.filter(pk__in=run_ids, outcome=Outcome.RUNNING).count()
        in_flight = requests.get(f"{server}/stats", timeout=5).json()["hangs_in_flight"]
        # Let the runs end, so the workers stop idle.
        _wait_finished(run_ids, timeout=size.hang_endpoint_s + 60, every=0.25)
    errors = sum(1 for value in latencies if value < 0)
    latencies = [value for value in latencies if value >= 0] or [float("inf")]
    baseline = [value for value in baseline if value >= 0] or [float("inf")]
    p95 = percentile(latencies, 0.95)
    return {
        "runs": size.hang_runs,
        "workers": worker_count,
        "hang_s": size.hang_endpoint_s,
        "samples": size.health_samples,
        "p50_ms": round(percentile(latencies, 0.5), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(max(latencies), 1),
        "baseline_p95_ms": round(percentile(baseline, 0.95), 1),
        "form_get_and_post_p95_ms": round(percentile(posts, 0.95), 1),
        "errors": errors,
        "running_after_sampling": running,
        "hanging_after_sampling": in_flight,
        "outcomes": _outcomes(run_ids),
        "target": "p95 <= 50 ms",
        "met": p95 <= 50 and errors == 0 and running == size.hang_runs,
    }


def _logged_in_browser() -> requests.Session:
    """A requests session holding a logged-in superuser's session cookie (no password hashing)."""
    admin = User.objects.filter(username="bench-web").first() or User.objects.create_superuser(
        "bench-web", "web@example.com", "bench-password-123"
    )
    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(admin)
    browser = requests.Session()
    browser.cookies.set(settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value)
    return browser


def _hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page) or re.search(
        rf'value="([^"]*)" name="{name}"', page
    )
    if match is None:
        raise RuntimeError(f"the Run form has no {name} field")
    return match.group(1)


def _submit_through_form(browser: requests.Session, web: str, definition: Definition, seconds: float) -> int:
    """GET the Run form, POST it (CSRF token, submission key, one parameter); the run's id."""
    url = f"{web}/definitions/{definition.pk}/run/"
    page = browser.get(url, timeout=30)
    if page.status_code != 200:
        raise RuntimeError(f"the Run form answered {page.status_code}")
    data = {
        "csrfmiddlewaretoken": _hidden(page.text, "csrfmiddlewaretoken"),
        "submission": _hidden(page.text, "submission"),
        "param_seconds": str(seconds),
    }
    answer = browser.post(url, data=data, headers={"Referer": url}, allow_redirects=False, timeout=30)
    match = re.search(r"/definitions/runs/(\d+)/", answer.headers.get("Location", ""))
    if answer.status_code != 302 or match is None:
        raise RuntimeError(f"the Run form POST answered {answer.status_code}, not a redirect to a run")
    return int(match.group(1))


def _wait_for_hangs(server: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while requests.get(f"{server}/stats", timeout=5).json()["hangs_in_flight"] < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} runs never all reached the hanging endpoint")
        time.sleep(0.05)


def _sample_health(web: str, size: sizes.Size) -> list[float]:
    """size.health_samples GETs of /healthz spread evenly over size.hang_sample_s; -1 for an
    answer that was not 200."""
    latencies = []
    start = time.perf_counter()
    for n in range(size.health_samples):
        time.sleep(max(0.0, start + n * size.hang_sample_s / size.health_samples - time.perf_counter()))
        began = time.perf_counter()
        try:
            status = requests.get(f"{web}/healthz", timeout=30).status_code
        except requests.RequestException:
            status = 0
        elapsed = (time.perf_counter() - began) * 1000
        latencies.append(elapsed if status == 200 else -1.0)
    return latencies


# --- Queue latency --------------------------------------------------------------------------------


def quick_definition(code: str, server: str) -> Definition:
    """One quick GET to the local API, anonymous; overlapping runs allowed (so that two workers
    can run two of its runs at once)."""
    base, _, query = server.partition("?")
    return Definition.objects.create(
        code=code,
        endpoint_url=f"{base}/api/items" + (f"?{query}" if query else ""),
        auth_type=AuthType.ANONYMOUS,
        allow_overlap=True,
    )


def bench_queue_latency(server: str, size: sizes.Size) -> dict:
    """With one idle worker (default poll), submit a run, wait until it has finished, pause a
    random 50-300 ms (so a submit meets the worker's poll at any phase), again."""
    definition = quick_definition("BENCH-LATENCY", server)
    pick = random.Random(7)  # pacing, not security
    run_ids = []
    with task_workers(1, "latency"):
        for _ in range(size.latency_runs):
            record, _ = tasks.submit(definition, params={}, trigger=TRIGGER)
            run_ids.append(record.pk)
            _wait_finished([record.pk], timeout=60, every=0.01)
            time.sleep(pick.uniform(0.05, 0.3))
    latencies = [
        (running_since - started_at).total_seconds() * 1000
        for started_at, running_since in Run.objects.filter(pk__in=run_ids).values_list(
            "started_at", "running_since"
        )
        if running_since is not None
    ]
    p95 = percentile(latencies, 0.95) if latencies else float("inf")
    return {
        "runs": size.latency_runs,
        "started": len(latencies),
        "poll_s": settings.CONNECTIT_WORKER_POLL,
        "p50_ms": round(percentile(latencies, 0.5), 1) if latencies else None,
        "p95_ms": round(p95, 1),
        "max_ms": round(max(latencies), 1) if latencies else None,
        "outcomes": _outcomes(run_ids),
        "target": "p95 <= 1 s",
        "met": p95 <= 1000 and len(latencies) == size.latency_runs,
    }


# --- Throughput -----------------------------------------------------------------------------------


def bench_throughput(server: str, size: sizes.Size) -> dict:
    """size.throughput_runs quick runs inline, one after another in this process (runner.run),
    then the same number drained by size.throughput_workers workers: the workers are started
    and left idle for WARM_UP_S, then the runs are queued in one transaction (tasks.submit), so
    that they appear at once, as a schedule's burst does. Both walls are first start -> last
    finish, from the runs' own timestamps: the workers' start-up is not counted (it is
    reported), and the queued wall includes the idle workers' noticing the burst (their poll).

    Both take a few seconds, which the machine's other work moves by a fifth either way, so this
    is done size.throughput_rounds times and the round with the median ratio is reported (with
    every round's ratio)."""
    target = 1.5 if connection.vendor == "postgresql" else 1.0
    return _throughput(server, size, size.throughput_runs, "TPUT", target, rounds=size.throughput_rounds)


def bench_throughput_slow_api(server: str, size: sizes.Size) -> dict:
    """The same against an API that takes size.api_delay_ms to answer (Business Central takes
    tens to hundreds of ms): what a worker's threads are for. No target was set; reported."""
    return _throughput(server, size, size.slow_api_runs, "SLOW", None, f"?delay_ms={size.api_delay_ms}")


def _throughput(
    server: str,
    size: sizes.Size,
    runs: int,
    name: str,
    target: float | None,
    query: str = "",
    *,
    rounds: int = 1,
) -> dict:
    results = sorted(
        (_throughput_round(server, size, runs, f"{name}{n}", query) for n in range(1, rounds + 1)),
        key=lambda result: result["ratio"],
    )
    result = results[len(results) // 2]
    return {
        **result,
        "rounds": [r["ratio"] for r in results],
        "target": f"queued >= {target}x inline" if target else "reported",
        "met": (result["ratio"] >= target if target else True) and all(r["all_succeeded"] for r in results),
    }


def _throughput_round(server: str, size: sizes.Size, runs: int, name: str, query: str) -> dict:
    inline = quick_definition(f"BENCH-{name}-INLINE", server + query)
    queued = quick_definition(f"BENCH-{name}-QUEUED", server + query)
    inline_ids = [runner.run(inline, params={}, trigger=TRIGGER).pk for _ in range(runs)]
    inline_s = _wall(inline_ids)
    began = time.perf_counter()
    with task_workers(size.throughput_workers, name.lower()):
        workers_ready_s = time.perf_counter() - began
        time.sleep(WARM_UP_S)
        began = time.perf_counter()
        with transaction.atomic():  # the whole burst appears at once
            queued_ids = [tasks.submit(queued, params={}, trigger=TRIGGER)[0].pk for _ in range(runs)]
        submit_s = time.perf_counter() - began
        _wait_finished(queued_ids, timeout=600, every=0.5)
    queued_s = _wall(queued_ids)
    outcomes = {"inline": _outcomes(inline_ids), "queued": _outcomes(queued_ids)}
    return {
        "runs": runs,
        "workers": size.throughput_workers,
        "threads": settings.CONNECTIT_WORKER_THREADS,
        "api_delay_ms": size.api_delay_ms if query else 0,
        "inline_s": round(inline_s, 2),
        "queued_s": round(queued_s, 2),
        "inline_per_s": round(runs / inline_s, 1),
        "queued_per_s": round(runs / queued_s, 1),
        "submit_s": round(submit_s, 2),
        "workers_ready_s": round(workers_ready_s, 2),
        "ratio": round(inline_s / queued_s, 2),
        "outcomes": outcomes,
        "all_succeeded": all(counts == {Outcome.SUCCESS: runs} for counts in outcomes.values()),
    }


def _wall(run_ids: list[int]) -> float:
    span = Run.objects.filter(pk__in=run_ids).aggregate(first=Min("running_since"), last=Max("finished_at"))
    return (span["last"] - span["first"]).total_seconds()


# --- "database is locked" -------------------------------------------------------------------------


def database_locked() -> dict:
    """Counted over everything above: log lines of the web server and the workers, and failed
    runs whose message mentions a lock. A task that fails logs only its exception's type
    (definitions/tasks.py), so OperationalError lines are counted too."""
    logs = sorted(LOG_DIR.glob(f"{connection.vendor}-{os.environ.get('BENCH_SIZE', 'full')}-*.log"))
    locked_lines = operational_errors = 0
    for path in logs:
        for line in path.read_text(errors="replace").splitlines():
            locked_lines += bool(LOCKED.search(line))
            operational_errors += bool(TASK_ERROR.search(line))
    failed_runs = Run.objects.filter(outcome=Outcome.FAILED, message__icontains="locked").count()
    from django_tasks_db.models import DBTaskResult

    failed_tasks = DBTaskResult.objects.filter(status="FAILED").count()
    total = locked_lines + failed_runs
    return {
        "log_files": len(logs),
        "locked_log_lines": locked_lines,
        "operational_error_lines": operational_errors,
        "failed_runs_locked": failed_runs,
        "failed_tasks": failed_tasks,
        "target": "0",
        "met": total == 0 and operational_errors == 0 and failed_tasks == 0,
    }


def clear_logs() -> None:
    for path in LOG_DIR.glob(f"{connection.vendor}-{os.environ.get('BENCH_SIZE', 'full')}-*.log"):
        path.unlink()
