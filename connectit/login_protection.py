"""Login protection: django-axes hooks (client address, per-parameter limits, lockout page) and the
session inactivity limit.

Settings (connectit/settings.py): AXES_FAILURE_LIMIT failures lock a username,
CONNECTIT_LOGIN_ADDRESS_FAILURES lock a client address, for AXES_COOLOFF_TIME;
CONNECTIT_SESSION_IDLE_MINUTES ends a login after that long without a request.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import time
from collections.abc import Callable
from datetime import timedelta

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off, get_failure_limit, get_lockout_parameters
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.sessions.backends.base import SessionBase
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

log = logging.getLogger(__name__)

# The session key holding the time (Unix seconds) of the user's latest request.
LAST_SEEN_KEY = "connectit_last_seen"
# The stamp is rewritten at most this often, so that browsing costs one session write a minute
# rather than one per request; the idle limit is therefore exact to within this many seconds.
LAST_SEEN_RESOLUTION = 60


def client_address(request: HttpRequest) -> str | None:
    """The address failures are counted against (AXES_CLIENT_IP_CALLABLE).

    X-Forwarded-For is trusted only behind our proxy (CONNECTIT_BEHIND_PROXY), and only its last
    entry: the proxy appends the address it saw, everything to its left came from the client and
    could be forged to dodge the limit. Anything that is not an IP address is ignored, since the
    attempt rows store it in an IP address column.
    """
    if getattr(settings, "CONNECTIT_BEHIND_PROXY", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        if _is_address(forwarded):
            return forwarded
    remote = request.META.get("REMOTE_ADDR", "")
    return remote if _is_address(remote) else None


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def client_description(
    username: str | None,
    ip_address: str | None,
    user_agent: str,
    path_info: str | tuple,
    request: HttpRequest,
) -> str:
    """Who tried what from where, for axes' log lines (AXES_CLIENT_STR_CALLABLE).

    axes would mask the username and address, which are the point of the log. The values come
    from the client, so each is JSON-quoted: a newline in a username cannot forge a log line. The
    password is never among them.
    """
    if isinstance(path_info, tuple | list):
        path_info = path_info[0] if path_info else ""
    values = {
        "username": username,
        "ip_address": ip_address,
        "user_agent": user_agent,
        "path_info": path_info,
    }
    return "{" + ", ".join(f"{key}: {json.dumps(value)}" for key, value in values.items()) + "}"


class LoginProtectionHandler(AxesDatabaseHandler):
    """axes' database handler (AXES_HANDLER), with a separate, higher limit for an address than for
    a username, and the idle clock started at every login.

    axes compares one number with AXES_FAILURE_LIMIT for every lockout parameter. One limit would
    mean a person who mistypes their password five times also locks out everyone behind the same
    office NAT; a higher address limit still stops one address spraying guesses over many names.
    """

    def user_logged_in(self, sender, request: HttpRequest, user, **kwargs) -> None:
        super().user_logged_in(sender, request, user, **kwargs)
        # Here rather than in IdleSessionMiddleware: every login passes through this handler
        # (the admin's too, and the test client's force_login), so the first page after a login
        # needs no session write of its own.
        start_session_clock(request.session)

    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        limit = get_failure_limit(request, credentials)
        address_limit = settings.CONNECTIT_LOGIN_ADDRESS_FAILURES
        counted = 0
        parameters = get_lockout_parameters(request, credentials)
        for parameter, attempts in zip(parameters, self.get_user_attempts(request, credentials), strict=True):
            failures = attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            if parameter in ("ip_address", ["ip_address"]):
                # Expressed on the username scale: it reaches the limit exactly when the address
                # reaches its own.
                failures = limit if failures >= address_limit else min(failures, limit - 1)
            counted = max(counted, failures)
        return counted


def lockout_message(cool_off: timedelta | None) -> str:
    if cool_off is None:
        return "Too many failed sign-ins. Ask an administrator to unlock your account."
    minutes = max(1, math.ceil(cool_off.total_seconds() / 60))
    return f"Too many failed sign-ins. Try again in {minutes} minute{'s' if minutes != 1 else ''}."


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """The login page the user posted to, with the lockout as its only error (AXES_LOCKOUT_CALLABLE).

    Both /accounts/login/ and /admin/login/ answer with a TemplateResponse holding the form, so the
    page is drawn again as it was, in its own layout. Every failed attempt during a lockout starts
    the cool-off again (axes' default), so the full cool-off is the true wait.
    """
    message = lockout_message(get_cool_off(request))
    form = None
    if isinstance(original_response, TemplateResponse) and original_response.context_data:
        context = dict(original_response.context_data)
        template = original_response.template_name
        form = context.get("form")
    else:
        # Not a login page we know (another view that authenticates): our own login page, with
        # an unbound form, since validating one would count as another attempt.
        context = {"form": AuthenticationForm(request)}
        template = "registration/login.html"
    if form is not None and form.is_bound:
        # Drop "wrong username or password": it was axes that refused, and two errors confuse.
        form.errors.clear()
        form.add_error(None, message)
    else:
        messages.error(request, message)
    response = TemplateResponse(request, template, context, status=settings.AXES_HTTP_RESPONSE_CODE)
    # The handler renders responses before middleware sees them; this one is made afterwards.
    return response.render()


class IdleSessionMiddleware:
    """Ends a login after CONNECTIT_SESSION_IDLE_MINUTES without a request.

    The latest request's time lives in the session (rewritten at most once a minute). That needs
    session saves, which would slide SESSION_COOKIE_AGE forward, so start_session_clock pins the
    expiry at login and SESSION_COOKIE_AGE stays an absolute limit. (SESSION_SAVE_EVERY_REQUEST
    alone would turn SESSION_COOKIE_AGE into the idle limit and lose the absolute one.)
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        now = int(time.time())
        if request.user.is_authenticated:
            last_seen = request.session.get(LAST_SEEN_KEY)
            idle_minutes = settings.CONNECTIT_SESSION_IDLE_MINUTES
            if isinstance(last_seen, int) and now - last_seen > idle_minutes * 60:
                log.info("Signed out %s after %d idle minutes", request.user.get_username(), idle_minutes)
                logout(request)
                messages.info(request, f"You were signed out after {idle_minutes} minutes without activity.")
        response = self.get_response(request)
        if request.user.is_authenticated:
            last_seen = request.session.get(LAST_SEEN_KEY)
            if not isinstance(last_seen, int):
                # A session from before this middleware, or a login that bypassed axes.
                start_session_clock(request.session, now)
            elif now - last_seen >= LAST_SEEN_RESOLUTION:
                request.session[LAST_SEEN_KEY] = now
        return response


def start_session_clock(session: SessionBase, now: int | None = None) -> None:
    """Stamp a new login's activity and pin its expiry to SESSION_COOKIE_AGE from now.

    Pinned, the expiry stays put when later stamps save the session (otherwise every save would
    push it SESSION_COOKIE_AGE further out); a new login starts a new one.
    """
    session.set_expiry(timedelta(seconds=settings.SESSION_COOKIE_AGE))
    session[LAST_SEEN_KEY] = int(time.time()) if now is None else now
