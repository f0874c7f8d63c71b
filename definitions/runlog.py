"""A run's log: what it sent and received, its live progress, and how it ended.

The protocols (``rest``, ``soap``) hand ``RunLog`` the ``Exchange`` values the caller returns and
the pages they receive; every stored text passes through the run's redactor first.

Progress (pages, bytes, items, the current step) is kept in memory and written by one thread per
process, ``_Live``, at most twice a second and only while it changes, together with a heartbeat
every CONNECTIT_HEARTBEAT_SECONDS. So a fast run costs no extra writes, a slow one shows what it
is doing, and a run whose process died stops beating (``runs.mark_lost``). The same thread reads
``cancel_requested`` and wakes the run, which stops at its next page boundary.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from connectit import http
from connectit.db import insert_row, update_where, where_equal
from definitions.calls import Exchange, Redactor
from definitions.models import Outcome, Run, RunPage

log = logging.getLogger(__name__)

EXPORT_KEEP_BYTES = 1024 * 1024
FLUSH_EVERY = 0.5  # seconds between progress writes of one run, at most
PROGRESS_BUSY_MS = 2000
PROGRESS_FIELDS = ("pages", "bytes_received", "items", "step", "retries")


class RunStopped(Exception):
    """The run stops early: cancelled, past its deadline, or its worker is stopping."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome


@dataclass
class RunLog:
    run: Run
    redact: Redactor = field(default_factory=Redactor)
    deadline: float | None = None  # time.monotonic() value
    deadline_minutes: int = 0
    kept_bytes: int = 0
    wake: threading.Event = field(default_factory=threading.Event)
    stop_reason: RunStopped | None = None
    changed: int = 0  # bumped on every progress change; _Live writes when it moved
    flushed: int = 0
    beat_at: float = field(default_factory=time.monotonic)

    # --- what was sent and received ---

    def exchange(self, exchange: Exchange) -> None:
        """Record a request (and its answer, when there was one)."""
        self.run.request_line = self.redact(f"{exchange.method} {exchange.url}")
        self.run.request_headers = self.redact.headers(exchange.headers, set(exchange.secret_header_names))
        self.run.request_body = self.redact.body(exchange.body)[:EXPORT_KEEP_BYTES]
        self.run.request_sent = self.run.request_sent or exchange.request_sent
        if exchange.response is not None:
            self.response(exchange.response)

    def response(self, response: http.Response) -> None:
        self.run.http_status = response.status
        self.run.response_content_type = response.headers.get("content-type", "")[:200]
        self.run.response_headers = self.redact("\n".join(f"{k}: {v}" for k, v in response.headers.items()))
        self.run.bytes_received += len(response.content)
        self._changed()

    def export_body(self, response: http.Response) -> None:
        self.run.pages = 1
        self.run.response_body = self.redact.body(response.text(), response.content_type)[:EXPORT_KEEP_BYTES]
        self.run.response_truncated = response.truncated or len(response.content) > EXPORT_KEEP_BYTES
        self._changed()

    def page(self, number: int, url: str, response: http.Response, items: int | None = None) -> None:
        """Store one import page now, so a long import never sits in memory."""
        # Once one page did not fit, none after it is kept either: the kept pages stay a prefix.
        fits = self.kept_bytes + len(response.content) <= settings.CONNECTIT_RUN_KEEP_BYTES
        keep = fits and not self.run.response_truncated
        if keep:
            self.kept_bytes += len(response.content)
        else:
            self.run.response_truncated = True
        insert_row(
            RunPage,
            run=self.run,
            number=number,
            http_status=response.status,
            url=self.redact(url),
            # body(), not just the redactor: the page pretty-prints it, decoding what a plain
            # search cannot see.
            body=self.redact.body(response.text(), response.content_type) if keep else "",
            size=len(response.content),
            kept=keep,
        )
        self.run.pages = number
        if items is not None:
            self.run.items = (self.run.items or 0) + items
        self._changed()

    # --- progress ---

    def step(self, text: str) -> None:
        if text != self.run.step:
            self.run.step = self.redact(text)[:300]
            self._changed()

    def _changed(self) -> None:
        self.changed += 1

    def checkpoint(self) -> None:
        """A page boundary: stop here if the run was cancelled, passed its deadline, or its
        worker is stopping."""
        if self.stop_reason is not None:
            raise self.stop_reason
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise RunStopped(
                Outcome.FAILED,
                f"Stopped: the run passed its deadline of {self.deadline_minutes} min "
                f"after {self.run.pages} page(s). Raise the definition's run deadline if it needs longer.",
            )

    def wait(self, seconds: float, why: str) -> None:
        """Sleep (e.g. for Retry-After), waking at once for a cancel; never past the deadline."""
        if self.deadline is not None and time.monotonic() + seconds >= self.deadline:
            raise RunStopped(
                Outcome.FAILED,
                f"Stopped: waiting {seconds:.0f} s ({why}) would pass the run's deadline of "
                f"{self.deadline_minutes} min.",
            )
        self.step(f"Waiting {seconds:.0f} s: {why}")
        self.wake.wait(seconds)
        self.checkpoint()

    def stop(self, reason: RunStopped) -> None:
        """Called from another thread: the run ends at its next checkpoint."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self.wake.set()

    # --- the end ---

    def fail(self, message: str) -> None:
        self._finish(Outcome.FAILED, message)

    def succeed(self, message: str = "") -> None:
        self._finish(Outcome.SUCCESS, message or self.run.message)

    def stopped(self, stop: RunStopped) -> None:
        message = str(stop)
        if stop.outcome == Outcome.CANCELLED:
            message = f"Cancelled after {self.run.pages} page(s); nothing more was sent."
        self._finish(stop.outcome, message)

    def _finish(self, outcome: str, message: str) -> None:
        _live.forget(self)
        run = self.run
        run.outcome = outcome
        run.message = self.redact(message)
        run.finished_at = timezone.now()
        run.step = ""
        run.payload = None
        values = {name: getattr(run, name) for name in FINAL_FIELDS}
        # Only a running run ends here: one that was marked lost meanwhile keeps that outcome.
        if not update_where(Run, values, where_equal(Run, "id", "outcome"), [run.pk, Outcome.RUNNING]):
            log.warning("Run %s had already ended (%s) when its worker finished it.", run.pk, outcome)
            run.refresh_from_db()


FINAL_FIELDS = (
    "outcome",
    "message",
    "finished_at",
    "http_status",
    "pages",
    "bytes_received",
    "items",
    "step",
    "retries",
    "payload",
    "request_line",
    "request_headers",
    "request_body",
    "response_headers",
    "response_content_type",
    "response_body",
    "response_truncated",
    "request_sent",
)


def follow(run_log: RunLog) -> None:
    """Keep ``run_log``'s progress and heartbeat written while it runs in this process."""
    _live.add(run_log)


def stop_all(message: str) -> None:
    """Every run of this process ends at its next page boundary (the worker is stopping)."""
    _live.stop_all(RunStopped(Outcome.FAILED, message))


class _Live:
    """The one thread per process that writes running runs' progress and heartbeats."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.logs: dict[int, RunLog] = {}
        self.thread: threading.Thread | None = None

    def add(self, run_log: RunLog) -> None:
        with self.lock:
            self.logs[run_log.run.pk] = run_log
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="run-progress", daemon=True)
                self.thread.start()

    def forget(self, run_log: RunLog) -> None:
        with self.lock:
            self.logs.pop(run_log.run.pk, None)

    def stop_all(self, reason: RunStopped) -> None:
        with self.lock:
            logs = list(self.logs.values())
        for run_log in logs:
            run_log.stop(reason)

    def _loop(self) -> None:
        while True:
            time.sleep(FLUSH_EVERY)
            with self.lock:
                logs = list(self.logs.values())
            if not logs:
                connection.close()  # idle: hold no connection
                continue
            try:
                self._flush(logs)
            except DatabaseError as exc:  # a busy or restarting database: the next round retries
                log.warning("Could not write run progress: %s", exc)
                connection.close()
            except Exception:  # this thread is every live run's heartbeat: it must never die
                log.exception("Writing run progress failed; retrying")
                connection.close()

    def _flush(self, logs: list[RunLog]) -> None:
        if connection.vendor == "sqlite":
            # Progress is best effort and retried twice a second: it does not queue for the write
            # lock behind a long transaction as long as the runs' own writes do.
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA busy_timeout = {PROGRESS_BUSY_MS}")
        now = time.monotonic()
        beat = settings.CONNECTIT_HEARTBEAT_SECONDS
        for run_log in logs:
            due = now - run_log.beat_at >= beat
            if run_log.changed != run_log.flushed or due:
                self._write(run_log)
        self._read_cancels(logs)

    def _write(self, run_log: RunLog) -> None:
        seen = run_log.changed
        run = run_log.run
        values = {name: getattr(run, name) for name in PROGRESS_FIELDS}
        Run.objects.filter(pk=run.pk, outcome=Outcome.RUNNING).update(heartbeat_at=timezone.now(), **values)
        run_log.flushed, run_log.beat_at = seen, time.monotonic()

    def _read_cancels(self, logs: list[RunLog]) -> None:
        by_pk = {run_log.run.pk: run_log for run_log in logs}
        rows = Run.objects.filter(pk__in=by_pk).values_list("pk", "cancel_requested", "outcome")
        for pk, cancel_requested, outcome in rows:
            run_log = by_pk[pk]
            if cancel_requested:
                run_log.stop(RunStopped(Outcome.CANCELLED, "Cancelled."))
            elif outcome != Outcome.RUNNING and run_log.stop_reason is None:
                # Marked lost while it was still going (e.g. the database was unreachable).
                run_log.stop(RunStopped(outcome, "The run was ended elsewhere."))


_live = _Live()
