"""Pending authorization-code consents, kept in the administrator's session.

Starting Get Token stores a random ``state`` with the record, the PKCE verifier and the exact
redirect URI. The callback pops it: it works once, only in the session that started it, and only
for CONNECTIT_CONSENT_TIMEOUT seconds. The verifier never leaves the server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.utils.crypto import constant_time_compare

from oauth2_auth import flows
from oauth2_auth.models import Authorization
from oauth2_auth.tokens import client_for

SESSION_KEY = "oauth2_pending_consents"
MAX_PENDING = 10


class ConsentStateError(Exception):
    """The callback's state does not match a pending consent of this session."""


@dataclass(frozen=True)
class Pending:
    pk: int
    redirect_uri: str
    code_verifier: str | None


@dataclass(frozen=True)
class Start:
    """Where to send the browser: a URL to redirect to (GET) or a form to post (POST)."""

    method: str
    url: str
    params: flows.Params

    @property
    def fields(self) -> list[tuple[str, str]]:
        """The POST form's (name, value) pairs: a resource given several times is one per value."""
        return flows.param_pairs(self.params)


def start(session: SessionBase, record: Authorization) -> Start:
    state = flows.new_state()
    verifier, challenge = flows.new_pkce_pair() if record.use_pkce else (None, None)
    params = flows.consent_params(
        client_for(record),
        redirect_uri=record.redirect_url,
        state=state,
        code_challenge=challenge,
        auth_url=record.auth_url,
    )
    pending = _live(session)
    pending[state] = {
        "pk": record.pk,
        "redirect_uri": record.redirect_url,
        "verifier": verifier,
        "created": time.time(),
    }
    # Several tabs may each start a consent; the oldest beyond MAX_PENDING are forgotten.
    while len(pending) > MAX_PENDING:
        oldest = min(pending, key=lambda key: pending[key]["created"])
        del pending[oldest]
    session[SESSION_KEY] = pending
    if record.auth_method == "POST":
        return Start("POST", record.auth_url, params)
    return Start("GET", flows.consent_url(record.auth_url, params), {})


def pop(session: SessionBase, state: str) -> Pending:
    """The pending consent for ``state``, removed so it cannot be used twice."""
    if not state:
        raise ConsentStateError("The provider's answer has no state.")
    stored = session.get(SESSION_KEY) or {}
    # Compare every key in constant time so the answer's timing says nothing about valid states.
    match = None
    for key in stored:
        if constant_time_compare(key, state):
            match = key
    if match is None:
        raise ConsentStateError("The state does not match a Get Token started in this browser session.")
    entry = stored.pop(match)
    session[SESSION_KEY] = stored
    if time.time() - entry["created"] > settings.CONNECTIT_CONSENT_TIMEOUT:
        raise ConsentStateError("The consent took too long and has expired.")
    return Pending(pk=entry["pk"], redirect_uri=entry["redirect_uri"], code_verifier=entry["verifier"])


def _live(session: SessionBase) -> dict[str, dict]:
    now = time.time()
    stored = session.get(SESSION_KEY) or {}
    return {
        key: entry
        for key, entry in stored.items()
        if now - entry["created"] <= settings.CONNECTIT_CONSENT_TIMEOUT
    }
