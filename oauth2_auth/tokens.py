"""The token service: the one place that decides when a token is requested or refreshed.

``get_access_token(code)`` is what definitions call. A valid stored token costs one query and
one decryption. Otherwise exactly one caller talks to the token endpoint: the record's row is
locked (``select_for_update`` on PostgreSQL; on SQLite every transaction begins IMMEDIATE, which
takes the database write lock), and whoever gets the lock second finds the fresh token already
saved and returns it. The token endpoint's answer is saved in the same transaction, so a rotated
refresh token is never lost.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from connectit.fields import DecryptionError
from oauth2_auth import flows
from oauth2_auth.models import Authorization, EventKind, GrantType, TokenEvent, TokenState
from oauth2_auth.singleflight import SingleFlight

log = logging.getLogger(__name__)

EVENTS_KEPT = 200
# Only the columns the fast path needs: the row read stays as cheap as a plain lookup.
_FAST_FIELDS = ("id", "code", "access_token", "expires_at", "obtained_at")


class TokenError(Exception):
    """Getting a token failed. The message is safe to show: it holds no secret."""

    def __init__(self, message: str, *, consent_required: bool = False) -> None:
        super().__init__(message)
        self.consent_required = consent_required


@dataclass(frozen=True)
class Trigger:
    """Who or what asked for a token, as the token events record it."""

    label: str

    @classmethod
    def user(cls, user) -> Trigger:
        return cls(f"user {user.get_username()}")


SYSTEM = Trigger("system")


def client_for(record: Authorization) -> flows.Client:
    return flows.Client(
        token_url=record.token_url,
        client_id=record.client_id,
        client_secret=record.client_secret,
        token_method=record.token_method,
        content_type=record.content_type,
        credential_type=record.credential_type,
        scope=record.scope,
        resource=record.resource_url,
        access_token_property=record.access_token_property,
        expires_in_property=record.expires_in_property,
        refresh_token_property=record.refresh_token_property,
    )


# --- Reading -------------------------------------------------------------------------------------


def _decryption_as_token_error(func):
    """A secret no configured key can decrypt is a token failure callers can show as it is."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DecryptionError as exc:
            raise TokenError(str(exc)) from None

    return wrapper


@_decryption_as_token_error
def get_access_token(code: str, *, trigger: Trigger = SYSTEM) -> str:
    """A valid access token for the authorization ``code``, refreshed when needed."""
    record = _fast_record(code)
    if record.token_is_fresh(settings.CONNECTIT_REFRESH_MARGIN):
        return record.access_token
    return renew(code, trigger=trigger)


def _fast_record(code: str) -> Authorization:
    try:
        return Authorization.objects.only(*_FAST_FIELDS).get(code=code.upper())
    except Authorization.DoesNotExist:
        raise TokenError(f"There is no OAuth2 authorization with code {code.upper()!r}.") from None


# --- Renewing ------------------------------------------------------------------------------------


@_decryption_as_token_error
def renew(
    code: str,
    *,
    trigger: Trigger = SYSTEM,
    force: bool = False,
    stale_token: str | None = None,
    margin: int | None = None,
) -> str:
    """Get a new token unless another caller already did; single flight across processes.

    A token valid for more than ``margin`` seconds (default CONNECTIT_REFRESH_MARGIN) is
    returned as it is. ``force`` renews even such a token (Refresh now). ``stale_token`` is the
    token an API just refused with 401: renew only if it is still the stored one, so fifty callers
    that all saw the same 401 cause one refresh.
    """
    if margin is None:
        margin = settings.CONNECTIT_REFRESH_MARGIN
    asked_at = timezone.now()
    # Threads of one process share one renewal in memory: only the leader touches the database
    # (and so takes its lock); the others wait for its outcome without even a connection.
    return _in_process.share(
        (code.upper(), force),
        lambda: _renew_across_processes(code, trigger, force, stale_token, margin, asked_at),
    )


_in_process = SingleFlight()


def _renew_across_processes(
    code: str, trigger: Trigger, force: bool, stale_token: str | None, margin: int, asked_at: datetime
) -> str:
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        return _with_sqlite_write_lock(
            lambda: _renew_locked_or_reuse(code, trigger, force, stale_token, margin, asked_at),
            lambda: _reuse_if_renewed(code, force, stale_token, margin),
        )
    return _renew_locked_or_reuse(code, trigger, force, stale_token, margin, asked_at)


def _reuse_if_renewed(code: str, force: bool, stale_token: str | None, margin: int) -> str | None:
    record = _fast_record(code)
    if _already_renewed(record, force=force, stale_token=stale_token, margin=margin):
        return record.access_token
    return None


def _with_sqlite_write_lock(locked: Callable[[], str], meanwhile: Callable[[], str | None]) -> str:
    """Take SQLite's write lock by polling every few milliseconds, reading meanwhile.

    SQLite's own busy handler sleeps up to 100 ms between tries, so a process waiting on a
    200 ms token request would often wake long after the token arrived. Here a waiter checks
    (a read, which WAL allows during a write) whether the token it waits for is there yet.
    """
    patient = int(connection.settings_dict["OPTIONS"].get("timeout", 30) * 1000)
    deadline = time.monotonic() + patient / 1000
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 5")
    try:
        while True:
            try:
                return locked()
            except OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            reused = meanwhile()
            if reused is not None:
                return reused
            time.sleep(0.005)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {patient}")


def _renew_locked_or_reuse(
    code: str, trigger: Trigger, force: bool, stale_token: str | None, margin: int, asked_at: datetime
) -> str:
    failure: TokenError | None = None
    with transaction.atomic():
        record = _locked(code)
        if _already_renewed(record, force=force, stale_token=stale_token, margin=margin):
            return record.access_token
        if not force and _known_failure(record, asked_at):
            return _usable_or_raise(record, stale_token, TokenError(f"{record.code}: {record.last_error}"))
        try:
            return _renew_locked(record, trigger)
        except TokenError as exc:
            failure = exc  # recorded in this transaction, raised (or worked around) after it commits
    if force:
        raise failure
    return _usable_or_raise(record, stale_token, failure)


def _known_failure(record: Authorization, asked_at: datetime) -> bool:
    """Answer without asking the server: the refresh token is dead (invalid_grant), or the
    request this caller queued behind failed a moment ago; asking again would only repeat it."""
    if record.token_state == TokenState.CONSENT_REQUIRED:
        return True
    return record.token_state == TokenState.FAILED and record.updated_at >= asked_at


def _usable_or_raise(record: Authorization, stale_token: str | None, failure: TokenError) -> str:
    """A renewal failed, but a token that has not expired yet still serves automatic callers
    (unless an API has just refused it)."""
    if stale_token is None and record.token_is_fresh():
        return record.access_token
    failure.consent_required = failure.consent_required or record.token_state == TokenState.CONSENT_REQUIRED
    raise failure


def _locked(code: str) -> Authorization:
    try:
        return Authorization.objects.select_for_update().get(code=code.upper())
    except Authorization.DoesNotExist:
        raise TokenError(f"There is no OAuth2 authorization with code {code.upper()!r}.") from None


def _already_renewed(record: Authorization, *, force: bool, stale_token: str | None, margin: int) -> bool:
    if stale_token is not None:
        return record.access_token != stale_token and record.token_is_fresh()
    return not force and record.token_is_fresh(margin)


def _renew_locked(record: Authorization, trigger: Trigger) -> str:
    client = client_for(record)
    if record.grant_type == GrantType.CLIENT_CREDENTIALS:
        return _request(record, trigger, lambda: flows.client_credentials(client), EventKind.OBTAINED)
    if not record.has_refresh_token:
        message = (
            "There is no refresh token for this authorization: click Get Token to give consent "
            "(add offline_access to the scope if the provider returns no refresh token)."
        )
        if record.token_is_fresh():
            message = "The access token cannot be refreshed (no refresh token); click Get Token."
        raise _failure(record, trigger, EventKind.REFRESH_FAILED, message, consent_required=True)
    refresh_token = record.refresh_token
    return _request(record, trigger, lambda: flows.refresh(client, refresh_token), EventKind.REFRESHED)


def _request(record: Authorization, trigger: Trigger, call, kind: str) -> str:
    failed_kind = EventKind.REFRESH_FAILED if kind == EventKind.REFRESHED else EventKind.REQUEST_FAILED
    try:
        token = call()
    except flows.OAuth2Error as exc:
        dead = exc.consent_required and kind == EventKind.REFRESHED
        message = str(exc)
        if dead:
            message += " The refresh token is no longer accepted: click Get Token to give consent again."
        raise _failure(record, trigger, failed_kind, message, consent_required=dead) from None
    store(record, token, trigger=trigger, kind=kind)
    return token.access_token


def _failure(
    record: Authorization, trigger: Trigger, kind: str, message: str, *, consent_required: bool
) -> TokenError:
    """Record a failure and return the error to raise. Every stored token is kept."""
    record.token_state = TokenState.CONSENT_REQUIRED if consent_required else TokenState.FAILED
    record.last_error = message
    record.save(update_fields=["token_state", "last_error", "updated_at"])
    add_event(record, kind, trigger, message, success=False)
    log.warning("OAuth2 authorization %s: %s", record.code, message)
    return TokenError(f"{record.code}: {message}", consent_required=consent_required)


# --- Consent (authorization code) -----------------------------------------------------------------


def complete_consent(
    pk: int, *, code: str, redirect_uri: str, code_verifier: str | None, trigger: Trigger
) -> Authorization:
    """Exchange the code the provider sent back; the record keeps its old tokens on failure."""
    failure: TokenError | None = None
    with transaction.atomic():
        record = Authorization.objects.select_for_update().filter(pk=pk).first()
        if record is None:
            raise TokenError("The authorization was deleted while consent was given.")
        client = client_for(record)
        try:
            token = flows.exchange_code(
                client, code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
            )
        except flows.OAuth2Error as exc:
            message = f"Code exchange failed: {exc}"
            failure = _failure(record, trigger, EventKind.REQUEST_FAILED, message, consent_required=False)
        else:
            store(record, token, trigger=trigger, kind=EventKind.CONSENT_GIVEN)
            return record
    raise failure


def consent_denied(record: Authorization, *, error: str, description: str, trigger: Trigger) -> str:
    if error == "access_denied":
        message = "Consent was denied at the provider."
    else:
        message = f"The provider answered {flows.clip(error, 100)}."
    if description:
        message += f" ({flows.clip(description, 300)})"
    return consent_failed(record, message, trigger=trigger, kind=EventKind.CONSENT_DENIED)


def consent_failed(
    record: Authorization, message: str, *, trigger: Trigger, kind: str = EventKind.REQUEST_FAILED
) -> str:
    """A consent that produced no token; the stored tokens stay as they were."""
    record.last_error = message
    record.save(update_fields=["last_error", "updated_at"])
    add_event(record, kind, trigger, message, success=False)
    return message


# --- Writing -------------------------------------------------------------------------------------


def store(
    record: Authorization, token: flows.Token, *, trigger: Trigger, kind: str, message: str = ""
) -> None:
    """Save a token response. A response without a refresh token keeps the stored one."""
    now = timezone.now()
    record.access_token = token.access_token
    if token.refresh_token:
        record.refresh_token = token.refresh_token
    record.token_type = token.token_type
    record.obtained_at = now
    record.expires_at = now + timedelta(seconds=token.expires_in) if token.expires_in is not None else None
    record.token_state = TokenState.CONNECTED
    record.last_error = ""
    record.save(
        update_fields=[
            "access_token",
            "refresh_token",
            "token_type",
            "obtained_at",
            "expires_at",
            "token_state",
            "last_error",
            "updated_at",
        ]
    )
    if not message:
        message = _describe(token)
    add_event(record, kind, trigger, message)


def _describe(token: flows.Token) -> str:
    lifetime = f"valid for {token.expires_in} s" if token.expires_in is not None else "no expiry given"
    refresh = "with a new refresh token" if token.refresh_token else "no new refresh token"
    return f"{lifetime}, {refresh}"


def clear(record: Authorization, *, trigger: Trigger) -> None:
    with transaction.atomic():
        # Locked like a renewal, so a refresh running at this moment cannot write a token back.
        record = Authorization.objects.select_for_update().get(pk=record.pk)
        _clear_locked(record, trigger)


def _clear_locked(record: Authorization, trigger: Trigger) -> None:
    record.access_token = ""
    record.refresh_token = ""
    record.expires_at = None
    record.obtained_at = None
    record.token_type = ""
    record.token_state = TokenState.NOT_CONNECTED
    record.last_error = ""
    record.save()
    add_event(record, EventKind.CLEARED, trigger, "Access and refresh tokens removed.")


def add_event(
    record: Authorization, kind: str, trigger: Trigger, message: str = "", *, success: bool = True
) -> None:
    TokenEvent.objects.create(
        authorization=record, kind=kind, trigger=trigger.label[:200], message=message, success=success
    )
    # Keep the history bounded: the newest EVENTS_KEPT per authorization are plenty to debug with.
    old = TokenEvent.objects.filter(authorization=record).values_list("id", flat=True)[EVENTS_KEPT:]
    stale_ids = list(old)
    if stale_ids:
        TokenEvent.objects.filter(id__in=stale_ids).delete()
