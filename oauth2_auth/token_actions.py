"""What the record page's token buttons need: the text each shows while it works, and a fresh
submission key per form (connectit.submissions), computed here so the page's script stays dumb.

A busy text names only the host being contacted: never a path, a query or a user name, which
may carry a tenant or a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from connectit import submissions
from oauth2_auth.models import Authorization

UNKNOWN_HOST = "the provider"


@dataclass(frozen=True)
class TokenActions:
    get_token_busy: str
    refresh_busy: str
    get_token_key: str
    refresh_key: str
    save_key: str  # for Save & Get Token, in the record's own form


def host(url: str) -> str:
    """The host of ``url`` alone (no user, port, path or query), or a neutral name."""
    try:
        name = urlsplit(url.strip()).hostname
    except ValueError:
        name = None
    return name or UNKNOWN_HOST


def for_page(record: Authorization) -> TokenActions:
    requesting = f"Requesting a token from {host(record.token_url)}…"
    if record.is_authorization_code:
        get_token = f"Opening the sign-in page at {host(record.auth_url)}…"
    else:
        get_token = requesting
    return TokenActions(
        get_token_busy=get_token,
        refresh_busy=requesting,
        get_token_key=submissions.new_key(),
        refresh_key=submissions.new_key(),
        save_key=submissions.new_key(),
    )
