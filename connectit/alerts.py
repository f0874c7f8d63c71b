"""Alerts: problems someone must act on, announced by e-mail and/or a signed webhook.

The apps register *sources*: functions that return the problems that exist right now (an
authorization that needs consent again, scheduled runs that keep failing). This module knows
nothing about what a problem means; it keeps the bookkeeping:

- ``evaluate`` (one worker every CONNECTIT_ALERT_CHECK_SECONDS) opens an ``Incident`` for each new
  problem and resolves the open incidents whose problem is gone. Opening and resolving each queue
  one ``AlertDelivery`` per configured channel in the same transaction. The database allows one
  open incident per key and one delivery per incident, event and channel, so two workers that
  evaluate at once still announce a problem once, and its recovery once.
- ``deliver_due`` (every few seconds, in its own thread of whichever worker takes the period; a
  slow receiver holds up nothing else) claims one due delivery at a time in a short
  transaction (SKIP LOCKED on PostgreSQL; on SQLite the transaction itself is exclusive) by moving
  its next attempt past a lease, sends it with no transaction open, and records the outcome in a
  second short write, only if the claim is still its own. A failure is tried again with growing
  pauses (BACKOFF), then given up with its error kept for the Alerts page.

Webhook bodies are signed: ``X-ConnectIT-Signature: sha256=<hex HMAC-SHA256 of
"<X-ConnectIT-Timestamp>.<body>">`` with CONNECTIT_ALERT_WEBHOOK_SECRET, so a receiver can tell our
alerts from anyone's and refuse a replayed one. Alert texts come from the sources, which never put
a secret in them; the webhook URL itself may hold one (chat webhooks carry a token in their path),
so only its host is ever shown or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from connectit import http, worker
from connectit.models import AlertChannel, AlertDelivery, AlertEvent, Incident
from connectit.validators import validate_endpoint_url

log = logging.getLogger(__name__)

# Pauses after the 1st, 2nd, ... failed attempt (seconds); after the last one the delivery is given
# up. About 15 hours in all: a receiver that is down overnight still gets the alert.
BACKOFF = (30, 120, 600, 3600, 2 * 3600, 4 * 3600, 8 * 3600)
MAX_ATTEMPTS = len(BACKOFF) + 1
DELIVER_EVERY = 2.0  # seconds between each worker's looks for due deliveries
BATCH = 50  # deliveries one look sends at most, so a backlog cannot starve the other jobs
KEEP = timedelta(days=90)  # resolved incidents and test alerts are deleted after this long
TEXT_LIMIT = 500  # characters of an error text (from a provider, a run) an alert quotes
WEBHOOK_ANSWER_LIMIT = 64 * 1024
SIGNATURE_HEADER = "X-ConnectIT-Signature"
TIMESTAMP_HEADER = "X-ConnectIT-Timestamp"
TEST_SUBJECT = "Test alert from ConnectIT OAuth2"


@dataclass(frozen=True)
class Problem:
    """A problem a source reports. ``key`` names it across evaluations (one incident per key);
    ``path`` is the page in this app where it is fixed."""

    kind: str
    key: str
    subject: str
    message: str
    action: str
    path: str = ""


Source = Callable[[], Iterable[Problem]]
_sources: dict[str, Source] = {}


def register_source(name: str, source: Source) -> None:
    """Called by the apps (from their jobs.py); ``name`` owns the incidents it opens."""
    _sources[name] = source


def sources() -> dict[str, Source]:
    return dict(_sources)


def cap(text: str, limit: int = TEXT_LIMIT) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- Channels --------------------------------------------------------------------------------


def channels() -> list[str]:
    """The channels configured now, in a stable order."""
    found = []
    if settings.CONNECTIT_ALERT_EMAILS:
        found.append(AlertChannel.EMAIL)
    if settings.CONNECTIT_ALERT_WEBHOOK_URL:
        found.append(AlertChannel.WEBHOOK)
    return found


def webhook_host() -> str:
    """Where the webhook goes, without its path and query: those may hold a token."""
    return http.host_of(settings.CONNECTIT_ALERT_WEBHOOK_URL) if settings.CONNECTIT_ALERT_WEBHOOK_URL else ""


def webhook_refusal() -> str:
    """Why the configured webhook URL may not be used ("" when it may)."""
    try:
        validate_endpoint_url(settings.CONNECTIT_ALERT_WEBHOOK_URL)
    except ValidationError as exc:
        return " ".join(exc.messages)
    return ""


@checks.register()
def check_webhook_url(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``manage.py check`` (and every start of the web server) names a webhook URL the workers
    would refuse, instead of leaving it to fail quietly at the first alert."""
    refusal = webhook_refusal()
    if not refusal:
        return []
    return [checks.Error(f"CONNECTIT_ALERT_WEBHOOK_URL is refused: {refusal}", id="connectit.E101")]


# --- Opening and resolving incidents --------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    opened: int
    resolved: int


def evaluate() -> Evaluation:
    """Open an incident for each new problem, resolve those whose problem is gone."""
    opened = resolved = 0
    for name, source in sources().items():
        try:
            problems = {problem.key: problem for problem in source()}
        except Exception:
            # Not knowing is not "all clear": leave this source's incidents as they are.
            log.exception("Alert source %s failed; its incidents stay as they are", name)
            continue
        current = {
            incident.key: incident for incident in Incident.objects.filter(source=name, resolved_at=None)
        }
        for key, problem in problems.items():
            if key not in current and _open(name, problem):
                opened += 1
        for key, incident in current.items():
            if key not in problems and _resolve(incident):
                resolved += 1
    prune()
    return Evaluation(opened, resolved)


def _open(source: str, problem: Problem) -> bool:
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                kind=problem.kind,
                key=problem.key,
                source=source,
                subject=cap(problem.subject, 300).replace("\n", " "),
                message=problem.message,
                action=problem.action,
                path=problem.path,
            )
            _queue(incident, AlertEvent.OPENED, channels())
    except IntegrityError:
        return False  # another worker opened it a moment ago (one open incident per key)
    log.warning("Alert: %s", incident.subject)
    return True


def _resolve(incident: Incident) -> bool:
    now = timezone.now()
    with transaction.atomic():
        # Compare-and-set: of two workers resolving at once, one queues the "recovered" messages.
        if not Incident.objects.filter(pk=incident.pk, resolved_at=None).update(resolved_at=now):
            return False
        incident.resolved_at = now
        # Recovered goes where the opening went (and still may go): a channel configured since
        # then never heard of the problem.
        announced = set(incident.deliveries.filter(event=AlertEvent.OPENED).values_list("channel", flat=True))
        _queue(incident, AlertEvent.RECOVERED, [channel for channel in channels() if channel in announced])
    log.warning("Alert resolved: %s", incident.subject)
    return True


def _queue(
    incident: Incident | None, event: str, to: list[str], requested_by: str = ""
) -> list[AlertDelivery]:
    now = timezone.now()
    rows = [
        AlertDelivery(
            incident=incident, event=event, channel=channel, requested_by=requested_by, next_attempt_at=now
        )
        for channel in to
    ]
    return AlertDelivery.objects.bulk_create(rows)


def queue_test(requested_by: str) -> list[AlertDelivery]:
    """A test alert on every configured channel, sent by the workers like any other."""
    return _queue(None, AlertEvent.TEST, channels(), requested_by=requested_by[:150])


def prune() -> None:
    cutoff = timezone.now() - KEEP
    Incident.objects.filter(resolved_at__lt=cutoff).delete()
    AlertDelivery.objects.filter(incident=None, created_at__lt=cutoff).delete()


# --- What an alert says --------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """What one delivery says, on any channel."""

    event: str
    kind: str
    key: str
    subject: str
    message: str
    action: str
    opened_at: datetime
    resolved_at: datetime | None
    url: str | None


def _link(path: str) -> str | None:
    # Only a configured public URL: a worker has no request to build an address from.
    return settings.CONNECTIT_PUBLIC_URL + path if settings.CONNECTIT_PUBLIC_URL and path else None


def _when(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")


def compose(delivery: AlertDelivery, incident: Incident | None) -> Alert:
    if incident is None:
        who = f" by {delivery.requested_by}" if delivery.requested_by else ""
        return Alert(
            event=AlertEvent.TEST,
            kind="test",
            key="test",
            subject=TEST_SUBJECT,
            message=f"This test alert was asked for{who} on the Alerts page. If you read this, alerts work.",
            action="Nothing to do.",
            opened_at=delivery.created_at,
            resolved_at=None,
            url=_link(reverse("alerts")),
        )
    opened = delivery.event == AlertEvent.OPENED
    if opened:
        subject, message, action = incident.subject, incident.message, incident.action
    else:
        cleared = _when(incident.resolved_at or delivery.created_at)
        subject = f"Resolved: {incident.subject}"
        reported = _when(incident.opened_at)
        message = f"This problem, reported on {reported}, cleared on {cleared}.\n\n{incident.message}"
        action = "Nothing to do."
    return Alert(
        event=delivery.event,
        kind=incident.kind,
        key=incident.key,
        subject=subject,
        message=message,
        action=action,
        opened_at=incident.opened_at,
        resolved_at=None if opened else incident.resolved_at,
        url=_link(incident.path),
    )


def email_text(alert: Alert) -> str:
    parts = [alert.subject, "", alert.message, "", f"What to do: {alert.action}"]
    if alert.url:
        parts += ["", f"Open: {alert.url}"]
    parts += ["", "-- ", "ConnectIT OAuth2 alerts"]
    return "\n".join(parts) + "\n"


def webhook_body(alert: Alert, delivery_id: int) -> bytes:
    body = {
        "event": alert.event,
        "kind": alert.kind,
        "key": alert.key,
        "subject": alert.subject,
        "message": alert.message,
        "action": alert.action,
        "opened_at": alert.opened_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "url": alert.url,
        # The same id on every retry, so a receiver that got an attempt whose answer we missed can
        # ignore the next one.
        "delivery": delivery_id,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


# --- Sending -------------------------------------------------------------------------------------


class DeliveryFailed(Exception):
    """A delivery attempt that failed; the message is safe to store and show."""


def _lease() -> timedelta:
    # Longer than a send can take, so a live worker's claim never runs out under it; a dead
    # worker's delivery is taken up again when it does.
    return timedelta(seconds=max(settings.EMAIL_TIMEOUT, settings.CONNECTIT_HTTP_TIMEOUT) + 60)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=BACKOFF[min(attempts, len(BACKOFF)) - 1])


def deliver_due(limit: int = BATCH) -> int:
    """Send due deliveries one at a time; returns how many were delivered."""
    delivered = 0
    for _ in range(limit):
        claimed = _claim()
        if claimed is None:
            break
        delivered += _attempt(claimed)
    return delivered


def _claim() -> AlertDelivery | None:
    now = timezone.now()
    due = AlertDelivery.objects.filter(next_attempt_at__lte=now)
    if not due.exists():  # the common case: no transaction, no write lock
        return None
    with transaction.atomic():
        delivery = due.select_for_update(skip_locked=True).order_by("next_attempt_at", "id").first()
        if delivery is None:
            return None
        delivery.attempts += 1
        delivery.next_attempt_at = now + _lease()
        delivery.save(update_fields=["attempts", "next_attempt_at"])
    return delivery


def _attempt(delivery: AlertDelivery) -> bool:
    incident = None
    if delivery.incident_id is not None:
        incident = Incident.objects.filter(pk=delivery.incident_id).first()
        if incident is None:
            return False  # pruned meanwhile; its deliveries went with it
    try:
        send(delivery, incident)
    except DeliveryFailed as exc:
        error = cap(str(exc))
    except Exception as exc:
        log.exception("Alert delivery %s failed unexpectedly", delivery.pk)
        error = f"Unexpected error ({type(exc).__name__}); see the worker's log."
    else:
        error = ""
    return _record(delivery, error)


def _record(delivery: AlertDelivery, error: str) -> bool:
    now = timezone.now()
    # Only while the claim is ours: a worker that took the delivery over after our lease ran out
    # has bumped ``attempts``.
    mine = AlertDelivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts, delivered_at=None)
    if not error:
        mine.update(delivered_at=now, next_attempt_at=None, last_error="")
        return True
    give_up = delivery.attempts >= MAX_ATTEMPTS
    retry_at = None if give_up else now + backoff(delivery.attempts)
    mine.update(next_attempt_at=retry_at, last_error=error)
    log.warning(
        "Alert delivery %s by %s failed (attempt %s of %s%s): %s",
        delivery.pk,
        delivery.channel,
        delivery.attempts,
        MAX_ATTEMPTS,
        ", given up" if give_up else "",
        error,
    )
    return False


def send(delivery: AlertDelivery, incident: Incident | None) -> None:
    """Send one delivery now; raises DeliveryFailed. Called with no transaction open."""
    alert = compose(delivery, incident)
    if delivery.channel == AlertChannel.EMAIL:
        _send_email(alert)
    else:
        _send_webhook(alert, delivery.pk)


def _send_email(alert: Alert) -> None:
    recipients = settings.CONNECTIT_ALERT_EMAILS
    if not recipients:
        raise DeliveryFailed("No recipients: CONNECTIT_ALERT_EMAILS is not set.")
    try:
        send_mail(
            f"[ConnectIT] {alert.subject}",
            email_text(alert),
            settings.DEFAULT_FROM_EMAIL,
            recipients,
            fail_silently=False,
        )
    except OSError as exc:  # smtplib's errors, refused connections and timeouts are all OSErrors
        # SMTP replies quote the server, never our password; name the server we tried.
        where = f"{settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
        raise DeliveryFailed(f"E-mail via {where} failed: {type(exc).__name__}: {exc}") from None


def _send_webhook(alert: Alert, delivery_id: int) -> None:
    url, secret = settings.CONNECTIT_ALERT_WEBHOOK_URL, settings.CONNECTIT_ALERT_WEBHOOK_SECRET
    if not url:
        raise DeliveryFailed("No webhook: CONNECTIT_ALERT_WEBHOOK_URL is not set.")
    refusal = webhook_refusal()
    if refusal:
        raise DeliveryFailed(f"CONNECTIT_ALERT_WEBHOOK_URL is refused: {refusal}")
    body = webhook_body(alert, delivery_id)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }
    try:
        answer = http.send(
            "POST", url, data=body, headers=headers, max_bytes=WEBHOOK_ANSWER_LIMIT, truncate=True
        )
    except http.HttpError as exc:  # names the host only, never the URL
        raise DeliveryFailed(str(exc)) from None
    if not 200 <= answer.status < 300:
        raise DeliveryFailed(f"{webhook_host()} answered HTTP {answer.status}.")


# --- The workers' jobs ---------------------------------------------------------------------------
# Registered when this module is imported (connectit's AppConfig.ready imports it).


@worker.periodic("alerts.evaluate", every=lambda: float(settings.CONNECTIT_ALERT_CHECK_SECONDS))
def evaluate_job() -> None:
    evaluate()


# Not every_worker: those run in the ticker's thread, which must never wait on the network.
@worker.periodic("alerts.deliver", every=lambda: DELIVER_EVERY)
def deliver_job() -> None:
    deliver_due()
