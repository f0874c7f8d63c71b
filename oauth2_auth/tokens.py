"""The token service: the one place that decides when a token is requested, and the only writer
of token state (``BearerToken``: access and refresh token, expiry, state, last error, lease).

``get_access_token(code)`` is what definitions call. A valid stored token costs one query and one
decryption. Otherwise exactly one caller talks to the token endpoint, across threads, processes
and servers sharing the database:

- Threads of one process share one renewal in memory (``SingleFlight``).
- Across processes the renewal is a lease on the token's row. A caller claims it with a
  compare-and-set that commits at once, calls the provider with no transaction open, and stores
  the answer (a rotated refresh token with its access token, in one UPDATE) only if the lease is
  still its own. Everyone else polls the row until the lease is released, and takes over only
  when it has expired (its holder died). The lease outlives the HTTP deadline, so a live holder
  never loses it. The same path serves SQLite and PostgreSQL, refreshes and consent completion.
- A token obtained after a caller asked is fresh for that caller, and the refresh margin never
  exceeds half a token's lifetime: short-lived tokens are not renewed on every call.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connectit.fields import DecryptionError
from oauth2_auth import advice, flows
from oauth2_auth.models import (
    Authorization,
    BearerToken,
    EventKind,
    GrantType,
    TokenEvent,
    TokenState,
    host_port,
    origin,
)
from oauth2_auth.singleflight import SingleFlight

log = logging.getLogger(__name__)

EVENTS_KEPT = 200
DEAD_REFRESH_TOKEN = "The refresh token is no longer accepted: click Get Token to give consent again."
# The lease outlives the HTTP deadline by this much, so only a dead holder ever loses it.
LEASE_SLACK = 5
# Waiters poll the lease this often: from 5 ms (a fast token endpoint) up to 20 ms.
POLL_FIRST = 0.005
POLL_MAX = 0.02
# Only the columns the fast path needs: the row read stays as cheap as a plain lookup.
_FAST_FIELDS = (
    "id",
    "code",
    "api_hosts",
    "bearer__access_token",
    "bearer__expires_at",
    "bearer__obtained_at",
)


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


@dataclass(frozen=True)
class _Want:
    """What a caller of ``renew`` accepts as an answer."""

    force: bool
    stale_token: str | None
    margin: int
    asked_at: datetime


def lease_seconds() -> float:
    return settings.CONNECTIT_HTTP_TIMEOUT + LEASE_SLACK


def client_for(record: Authorization) -> flows.Client:
    return flows.Client(
        token_url=record.token_url,
        client_id=record.client_id,
        client_secret=record.client_secret,
        token_method=record.token_method,
        content_type=record.content_type,
        credential_type=record.credential_type,
        basic_encoding=record.basic_encoding,
        private_key=record.private_key,
        certificate=record.certificate,
        assertion_algorithm=record.assertion_algorithm,
        scope=record.scope,
        resource=record.resource_url,
        auth_extra_params=flows.parse_extra_params(record.auth_extra_params),
        token_extra_params=flows.parse_extra_params(record.token_extra_params),
        access_token_property=record.access_token_property,
        expires_in_property=record.expires_in_property,
        refresh_token_property=record.refresh_token_property,
    )


def _decryption_as_token_error(func):
    """A secret no configured key can decrypt is a token failure callers can show as it is."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DecryptionError as exc:
            raise TokenError(str(exc)) from None

    return wrapper


# --- Reading -------------------------------------------------------------------------------------


@_decryption_as_token_error
def get_access_token(code: str, *, trigger: Trigger = SYSTEM, for_url: str | None = None) -> str:
    """A valid access token for the authorization ``code``, refreshed when needed.

    ``for_url`` is where the caller will send it: refused (before anything else happens) unless
    its host is one of the authorization's API hosts.
    """
    record = _find(code, fields=_FAST_FIELDS)
    check_destination(record, for_url)
    token = record.token
    if token.is_fresh(settings.CONNECTIT_REFRESH_MARGIN):
        return token.access_token
    return renew(code, trigger=trigger)


def check_destination(record: Authorization, url: str | None) -> None:
    """A token goes only to the API hosts its authorization allows."""
    if url is None or record.allows(url):
        return
    allowed = ", ".join(record.allowed_hosts) or "no host yet"
    raise TokenError(
        f"{record.code}: its token may be sent only to {allowed}, not to {host_port(url) or 'that URL'}. "
        "An administrator can add the host to the authorization's API hosts."
    )


def _find(code: str, *, fields: tuple[str, ...] = ()) -> Authorization:
    with_token = not fields or any(name.startswith("bearer__") for name in fields)
    records = Authorization.objects.select_related("bearer") if with_token else Authorization.objects
    try:
        return (records.only(*fields) if fields else records).get(code=code.upper())
    except Authorization.DoesNotExist:
        raise TokenError(f"There is no OAuth2 authorization with code {code.upper()!r}.") from None


def _bearer(record: Authorization) -> BearerToken:
    """The record's token row, created (empty) the first time a token is asked for."""
    try:
        return record.bearer
    except BearerToken.DoesNotExist:
        pass
    token, _created = BearerToken.objects.get_or_create(authorization=record)
    record.bearer = token
    return token


# --- Renewing ------------------------------------------------------------------------------------


@_decryption_as_token_error
def renew(
    code: str,
    *,
    trigger: Trigger = SYSTEM,
    force: bool = False,
    stale_token: str | None = None,
    margin: int | None = None,
    for_url: str | None = None,
) -> str:
    """Get a new token unless another caller already did; single flight across processes.

    A token valid for more than ``margin`` seconds (default CONNECTIT_REFRESH_MARGIN, at most
    half its lifetime) is returned as it is. ``force`` renews even such a token (Refresh now).
    ``stale_token`` is the token an API just refused with 401: renew only if it is still the
    stored one, so fifty callers that all saw the same 401 cause one refresh. Any token obtained
    after this call began satisfies it. ``for_url`` as for ``get_access_token``.
    """
    if for_url is not None:
        check_destination(_find(code, fields=("id", "code", "api_hosts")), for_url)
    want = _Want(
        force=force,
        stale_token=stale_token,
        margin=settings.CONNECTIT_REFRESH_MARGIN if margin is None else margin,
        asked_at=timezone.now(),
    )
    # Threads of one process share one renewal in memory: only the leader polls the database.
    # The key holds everything that changes the answer, so no caller gets a token it refused.
    key = (code.upper(), force, stale_token)
    return _in_process.share(key, lambda: _renew(code, want, trigger))


_in_process = SingleFlight()


def _renew(code: str, want: _Want, trigger: Trigger) -> str:
    while True:
        record = _find(code)
        token = _bearer(record)
        if _satisfied(token, want):
            return token.access_token
        if not want.force and _known_failure(token, want.asked_at):
            return _usable_or_raise(token, want, TokenError(f"{record.code}: {token.last_error}"))
        lease = _claim(record.pk)
        if lease is not None:
            break
        _wait_for_release(record.pk)
    # Someone may have stored a token between our read and our claim.
    record = _find(code)
    if _satisfied(record.token, want):
        _release(record.pk, lease)
        return record.token.access_token
    return _with_lease(lease, record, lambda: _renew_leased(record, lease, want, trigger))


def _satisfied(token: BearerToken, want: _Want) -> bool:
    if not token.is_fresh():
        return False
    if token.obtained_at is not None and token.obtained_at >= want.asked_at:
        return True  # obtained after this caller asked: as fresh as a renewal could make it
    if want.stale_token is not None:
        return token.access_token != want.stale_token
    return not want.force and token.is_fresh(want.margin)


def _known_failure(token: BearerToken, asked_at: datetime) -> bool:
    """Answer without asking the server: the refresh token is dead (invalid_grant), or the
    request this caller waited for failed after it asked; asking again would only repeat it."""
    if token.state == TokenState.CONSENT_REQUIRED:
        return True
    return token.state == TokenState.FAILED and token.updated_at >= asked_at


def _usable_or_raise(token: BearerToken, want: _Want, failure: TokenError) -> str:
    """A renewal failed, but a token that has not expired yet still serves automatic callers
    (unless an API has just refused it, or a person asked for a new one)."""
    if not want.force and want.stale_token is None and token.is_fresh():
        return token.access_token
    failure.consent_required = failure.consent_required or token.state == TokenState.CONSENT_REQUIRED
    raise failure


def _renew_leased(record: Authorization, lease: str, want: _Want, trigger: Trigger) -> str:
    token = record.token
    client = client_for(record)
    if record.grant_type == GrantType.CLIENT_CREDENTIALS:
        return _ask(
            record, lease, want, trigger, lambda: flows.client_credentials(client), EventKind.OBTAINED
        )
    if not token.has_refresh_token:
        message = (
            "There is no refresh token for this authorization: click Get Token to give consent "
            "(add offline_access to the scope if the provider returns no refresh token)."
        )
        if token.is_fresh():
            message = "The access token cannot be refreshed (no refresh token); click Get Token."
        failure = _fail(record, lease, trigger, EventKind.REFRESH_FAILED, message, consent_required=True)
        return _usable_or_raise(token, want, failure)
    refresh_token = token.refresh_token
    return _ask(
        record, lease, want, trigger, lambda: flows.refresh(client, refresh_token), EventKind.REFRESHED
    )


def _ask(
    record: Authorization,
    lease: str,
    want: _Want,
    trigger: Trigger,
    call: Callable[[], flows.Token],
    kind: str,
) -> str:
    """Call the token endpoint (no transaction is open here) and store what it answered."""
    failed_kind = EventKind.REFRESH_FAILED if kind == EventKind.REFRESHED else EventKind.REQUEST_FAILED
    try:
        issued = call()
    except flows.OAuth2Error as exc:
        dead = exc.consent_required and kind == EventKind.REFRESHED
        message = str(exc)
        if dead:
            # Before the advice, which stays last (the record page shows it apart).
            said, found = advice.split(message)
            message = f"{said} {DEAD_REFRESH_TOKEN}" + (f" {found}" if found else "")
        failure = _fail(record, lease, trigger, failed_kind, message, consent_required=dead)
        return _usable_or_raise(record.token, want, failure)
    _store(record, lease, issued, trigger=trigger, kind=kind)
    return issued.access_token


# --- The lease -----------------------------------------------------------------------------------


def _claim(pk: int) -> str | None:
    """Take the renewal lease if it is free or its holder's time ran out: one UPDATE, a
    compare-and-set that commits at once."""
    lease = uuid.uuid4().hex
    now = timezone.now()
    free = Q(lease_owner="") | Q(lease_until__lt=now)
    until = now + timedelta(seconds=lease_seconds())
    claimed = BearerToken.objects.filter(free, pk=pk).update(lease_owner=lease, lease_until=until)
    return lease if claimed else None


def _claim_waiting(pk: int) -> str:
    while (lease := _claim(pk)) is None:
        _wait_for_release(pk)
    return lease


def _wait_for_release(pk: int) -> None:
    """Poll until the lease is released or its holder's time has run out."""
    delay = POLL_FIRST
    while True:
        row = BearerToken.objects.filter(pk=pk).values_list("lease_owner", "lease_until").first()
        if row is None or not row[0] or row[1] is None:
            return
        if row[1] < timezone.now():
            log.warning("OAuth2 authorization %s: the renewal's holder stopped answering; taking over", pk)
            return
        time.sleep(delay)
        delay = min(delay * 1.5, POLL_MAX)


def _release(pk: int, lease: str) -> None:
    BearerToken.objects.filter(pk=pk, lease_owner=lease).update(lease_owner="", lease_until=None)


def _with_lease(lease: str, record: Authorization, work: Callable[[], str]) -> str:
    """Run ``work`` holding ``lease``; whatever happens, the lease does not outlive it."""
    try:
        return work()
    except BaseException:
        # _store and _fail release the lease with what they write; after any other error (a
        # secret that cannot be decrypted, a bug) free it now, instead of making every other
        # caller wait for it to expire.
        _release(record.pk, lease)
        raise


def _lease_lost(record: Authorization) -> TokenError:
    message = (
        "The authorization changed while its token was being requested (the token was cleared, or "
        "its token URL changed), so the new token was not kept. Try again."
    )
    log.warning("OAuth2 authorization %s: %s", record.code, message)
    return TokenError(f"{record.code}: {message}")


# --- Consent (authorization code) -----------------------------------------------------------------


@_decryption_as_token_error
def complete_consent(
    pk: int, *, code: str, redirect_uri: str, code_verifier: str | None, trigger: Trigger
) -> Authorization:
    """Exchange the code the provider sent back; the record keeps its old tokens on failure.

    It takes the same lease as a renewal, so a refresh in flight cannot overwrite the tokens
    that consent brings (or the other way round).
    """
    record = Authorization.objects.select_related("bearer").filter(pk=pk).first()
    if record is None:
        raise TokenError("The authorization was deleted while consent was given.")
    _bearer(record)
    lease = _claim_waiting(pk)
    return _with_lease(
        lease, record, lambda: _exchange(record, lease, code, redirect_uri, code_verifier, trigger)
    )


def _exchange(
    record: Authorization,
    lease: str,
    code: str,
    redirect_uri: str,
    code_verifier: str | None,
    trigger: Trigger,
) -> Authorization:
    client = client_for(record)
    try:
        issued = flows.exchange_code(
            client, code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
        )
    except flows.OAuth2Error as exc:
        message = f"Code exchange failed: {exc}"
        raise _fail(
            record, lease, trigger, EventKind.REQUEST_FAILED, message, consent_required=False
        ) from None
    _store(record, lease, issued, trigger=trigger, kind=EventKind.CONSENT_GIVEN)
    record.bearer = BearerToken.objects.get(pk=record.pk)
    return record


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
    _bearer(record)
    with transaction.atomic():
        BearerToken.objects.filter(pk=record.pk).update(last_error=message, updated_at=timezone.now())
        add_event(record, kind, trigger, message, success=False)
    return message


# --- Writing (each a short transaction; never around a network call) ------------------------------


def _store(record: Authorization, lease: str, issued: flows.Token, *, trigger: Trigger, kind: str) -> None:
    """Save a token response if the lease is still ours. A refresh answered without a refresh
    token keeps the stored one; a consent answered without one drops it. A rotated one is saved
    in the same UPDATE as its access token."""
    now = timezone.now()
    values = {
        "access_token": issued.access_token,
        "token_type": issued.token_type,
        "scope": issued.scope[:2000],
        "obtained_at": now,
        "expires_at": now + timedelta(seconds=issued.expires_in) if issued.expires_in is not None else None,
        "state": TokenState.CONNECTED,
        "last_error": "",
        "updated_at": now,
        "lease_owner": "",
        "lease_until": None,
    }
    new_grant = kind == EventKind.CONSENT_GIVEN
    if issued.refresh_token:
        values["refresh_token"] = issued.refresh_token
    elif new_grant:
        # A consent starts a new grant: an earlier grant's refresh token (another scope, perhaps
        # another client) must not outlive it and be used as this one's.
        values["refresh_token"] = ""
    with transaction.atomic():
        stored = BearerToken.objects.filter(pk=record.pk, lease_owner=lease).update(**values)
        if stored:
            add_event(record, kind, trigger, _describe(issued, new_grant=new_grant))
    if not stored:
        raise _lease_lost(record)


def _fail(
    record: Authorization, lease: str, trigger: Trigger, kind: str, message: str, *, consent_required: bool
) -> TokenError:
    """Record a failure and return the error to raise. Every stored token is kept."""
    state = TokenState.CONSENT_REQUIRED if consent_required else TokenState.FAILED
    now = timezone.now()
    with transaction.atomic():
        recorded = BearerToken.objects.filter(pk=record.pk, lease_owner=lease).update(
            state=state, last_error=message, updated_at=now, lease_owner="", lease_until=None
        )
        if recorded:
            add_event(record, kind, trigger, message, success=False)
    log.warning("OAuth2 authorization %s: %s", record.code, message)
    record.token.state, record.token.last_error, record.token.updated_at = state, message, now
    return TokenError(f"{record.code}: {message}", consent_required=consent_required)


NO_REFRESH_TOKEN = (
    "no refresh token (the provider gave none: ask for offline_access in the scope, and some "
    "providers give one only with prompt=consent)"
)


def _describe(token: flows.Token, *, new_grant: bool = False) -> str:
    lifetime = f"valid for {token.expires_in} s" if token.expires_in is not None else "no expiry given"
    if token.refresh_token:
        refresh = "with a new refresh token"
    else:
        refresh = NO_REFRESH_TOKEN if new_grant else "no new refresh token"
    scopes = f", scopes: {token.scope}" if token.scope else ""
    return f"{lifetime}, {refresh}{scopes}"


CLEARED_MESSAGE = "Access and refresh tokens removed."


def clear(record: Authorization, *, trigger: Trigger) -> flows.Revocation | None:
    """Forget the access and refresh tokens, then revoke them at the provider when the record has
    a revocation URL (RFC 7009). A renewal in flight loses its lease, so it cannot write a token
    back afterwards.

    The local clear comes first and never depends on the provider; the revocation runs after it,
    with no transaction open. Returns what the provider answered (None: nothing was asked), which
    the token event records too.
    """
    pending = _revocable(record)
    event = _forget(record, trigger, EventKind.CLEARED, CLEARED_MESSAGE)
    if pending is None:
        return None
    result = _revoke(record, *pending)
    message = f"{CLEARED_MESSAGE.removesuffix('.')}; {result}"
    TokenEvent.objects.filter(pk=event.pk).update(message=message, success=result.confirmed)
    if not result.confirmed:
        log.warning("OAuth2 authorization %s: %s", record.code, result)
    return result


def _revocable(record: Authorization) -> tuple[str, str] | None:
    """(token, type hint) to revoke: the refresh token, else the access token; None for none."""
    if not record.revocation_url:
        return None
    try:
        token = BearerToken.objects.filter(pk=record.pk).first()
        if token is None:
            return None
        if token.refresh_token:
            return token.refresh_token, "refresh_token"
        if token.access_token:
            return token.access_token, "access_token"
    except DecryptionError:
        return None  # no key reads it: nothing can be revoked, but the clear still happens
    return None


def _revoke(record: Authorization, token: str, hint: str) -> flows.Revocation:
    # The secret and the token go only to the token endpoint's server (the form enforces it too):
    # a revocation URL elsewhere would hand them to whoever an editor named.
    if not origin(record.token_url) or origin(record.revocation_url) != origin(record.token_url):
        return flows.Revocation(False, "not sent: the revocation URL is not on the token URL's server.")
    try:
        client = client_for(record)
    except DecryptionError as exc:
        return flows.Revocation(False, f"not sent: {exc}")
    return flows.revoke(client, token, hint, url=record.revocation_url)


def endpoint_changed(record: Authorization, *, trigger: Trigger, message: str) -> None:
    """The token or auth URL now points at another server: the tokens issued by the old one are
    dropped (the new server must not receive the old refresh token)."""
    _forget(record, trigger, EventKind.ENDPOINT_CHANGED, message)


def _forget(record: Authorization, trigger: Trigger, kind: str, message: str) -> TokenEvent:
    _bearer(record)
    with transaction.atomic():
        BearerToken.objects.filter(pk=record.pk).update(
            access_token="",
            refresh_token="",
            token_type="",
            scope="",
            expires_at=None,
            obtained_at=None,
            state=TokenState.NOT_CONNECTED,
            last_error="",
            updated_at=timezone.now(),
            lease_owner="",
            lease_until=None,
        )
        return add_event(record, kind, trigger, message)


def add_event(
    record: Authorization, kind: str, trigger: Trigger, message: str = "", *, success: bool = True
) -> TokenEvent:
    event = TokenEvent.objects.create(
        authorization=record, kind=kind, trigger=trigger.label[:200], message=message, success=success
    )
    # Keep the history bounded: the newest EVENTS_KEPT per authorization are plenty to debug with.
    old = TokenEvent.objects.filter(authorization=record).values_list("id", flat=True)[EVENTS_KEPT:]
    stale_ids = list(old)
    if stale_ids:
        TokenEvent.objects.filter(id__in=stale_ids).delete()
    return event
