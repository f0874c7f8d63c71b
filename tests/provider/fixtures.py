"""pytest plugin: the ``oauth_provider`` fixture runs the test authorization server.

Register it from the root conftest with ``pytest_plugins = ["tests.provider.fixtures"]``.
The server is a separate process with its own settings and database, so it never touches the
app's test database and works with or without pytest-django.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from tests.provider.constants import (  # noqa: F401  (re-exported for tests)
    AC_CLIENT_ID,
    AC_CLIENT_SECRET,
    AC_NOPKCE_CLIENT_ID,
    AC_NOPKCE_CLIENT_SECRET,
    CC_CLIENT_ID,
    CC_CLIENT_SECRET,
    ENV_ACCESS_TOKEN_SECONDS,
    ENV_DB_PATH,
    INTROSPECTOR_CLIENT_ID,
    INTROSPECTOR_CLIENT_SECRET,
    PASSWORD,
    USERNAME,
)
from tests.servers import ServerError, run_server

TIMEOUT = 10  # seconds, for every request to the provider


# A provider that does not start, or a consent step that does not go as expected.
ProviderError = ServerError


@dataclass(frozen=True)
class ProviderServer:
    base_url: str  # "http://127.0.0.1:PORT", no trailing slash
    pid: int
    log_path: Path  # gunicorn's and Django's stderr

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/o/token/"

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/o/authorize/"

    @property
    def introspect_url(self) -> str:
        return f"{self.base_url}/o/introspect/"

    @property
    def revoke_url(self) -> str:
        return f"{self.base_url}/o/revoke_token/"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    @property
    def login_url(self) -> str:
        return f"{self.base_url}/accounts/login/"

    # --- test controls ---------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Requests seen since the last reset(): client_credentials, authorization_code,
        refresh_token, other_grant, total (all token requests), api, api_unauthorized,
        introspect."""
        return self._call("GET", "stats/")

    def reset(self) -> None:
        """Zero the counters and the token delay."""
        self._call("POST", "reset/")

    def set_redirect_uris(self, client_id: str, uris: list[str]) -> None:
        self._call("POST", "redirect-uris/", {"client_id": client_id, "uris": " ".join(uris)})

    def expire_tokens(self) -> int:
        """Expire every access token server-side; returns how many."""
        return self._call("POST", "expire/")["expired"]

    def revoke_tokens(self) -> None:
        """Delete every access token and revoke every refresh token (refresh: invalid_grant).

        To make the API answer 401 while refresh still works, use expire_tokens().
        """
        self._call("POST", "revoke/")

    def set_token_delay(self, seconds: float) -> None:
        """Make the token endpoint sleep before answering (reset() sets it back to 0)."""
        self._call("POST", "token-delay/", {"seconds": str(seconds)})

    def set_token_hang(self, seconds: float) -> None:
        """Make token requests wait ``seconds`` and then fail with 503 unprocessed (reset()
        sets it back to 0): no token is issued and no refresh token is spent."""
        self._call("POST", "token-hang/", {"seconds": str(seconds)})

    def _call(self, method: str, path: str, data: dict[str, str] | None = None) -> dict:
        response = requests.request(method, f"{self.base_url}/test/{path}", data=data, timeout=TIMEOUT)
        response.raise_for_status()
        return response.json()

    # --- consent -------------------------------------------------------------------------

    def consent_over_http(self, authorize_url: str, approve: bool = True) -> str:
        """Log in as alice, open ``authorize_url``, approve or cancel on the consent page.

        Returns the provider's redirect Location (the redirect_uri with code and state, or
        with error=...) without following it. Raises ProviderError when the provider shows
        an error page instead (unknown client, unregistered redirect_uri).
        """
        with requests.Session() as session:
            self._log_in(session)
            page = session.get(authorize_url, allow_redirects=False, timeout=TIMEOUT)
            if page.is_redirect:
                # Rejected before consent, e.g. missing PKCE: the error goes to redirect_uri.
                return page.headers["Location"]
            if page.status_code != 200:
                raise ProviderError(f"authorize page answered {page.status_code}: {page.text}")
            fields = _form_fields(page.text, "authorizationForm")
            if approve:
                fields["allow"] = "Authorize"
            # The form has no action: it posts back to the authorize URL itself.
            answer = session.post(page.url, data=fields, allow_redirects=False, timeout=TIMEOUT)
            if not answer.is_redirect:
                raise ProviderError(f"consent answered {answer.status_code}: {answer.text}")
            return urljoin(page.url, answer.headers["Location"])

    def _log_in(self, session: requests.Session) -> None:
        page = session.get(self.login_url, timeout=TIMEOUT)
        page.raise_for_status()
        fields = _form_fields(page.text, "login-form")
        fields.update(username=USERNAME, password=PASSWORD)
        answer = session.post(self.login_url, data=fields, allow_redirects=False, timeout=TIMEOUT)
        if answer.status_code != 302:
            raise ProviderError(f"login as {USERNAME} failed with {answer.status_code}")


class _FormParser(HTMLParser):
    """Collects the named <input> values of one form, found by its id."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.found = False
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form" and attributes.get("id") == self.form_id:
            self.inside = self.found = True
        elif tag == "input" and self.inside and self._is_value_field(attributes):
            self.fields[attributes["name"]] = attributes.get("value") or ""

    @staticmethod
    def _is_value_field(attributes: dict[str, str | None]) -> bool:
        # Submit buttons are left out: the caller decides between Authorize and Cancel.
        return bool(attributes.get("name")) and attributes.get("type") != "submit"

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False


def _form_fields(html: str, form_id: str) -> dict[str, str]:
    parser = _FormParser(form_id)
    parser.feed(html)
    if not parser.found:
        raise ProviderError(f"no form #{form_id} in the page:\n{html[:2000]}")
    return parser.fields


# --- process management ---------------------------------------------------------------------


def _server_env(db_path: Path, access_token_seconds: int | None) -> dict[str, str]:
    env = {ENV_DB_PATH: str(db_path), "DJANGO_SETTINGS_MODULE": "tests.provider.settings"}
    if access_token_seconds is not None:
        env[ENV_ACCESS_TOKEN_SECONDS] = str(access_token_seconds)
    return env


@contextmanager
def run_provider(access_token_seconds: int | None = None) -> Iterator[ProviderServer]:
    """Start a fresh provider (own temp database) and stop it on exit.

    ``access_token_seconds`` overrides the lifetime; by default the server uses
    $PROVIDER_ACCESS_TOKEN_SECONDS or 300.
    """
    env_for = lambda tmp: _server_env(tmp / "provider.sqlite3", access_token_seconds)  # noqa: E731
    with run_server("tests.provider.serve", env_for) as started:
        yield ProviderServer(base_url=started.base_url, pid=started.pid, log_path=started.log_path)


@pytest.fixture(scope="session")
def oauth_provider() -> Iterator[ProviderServer]:
    with run_provider() as server:
        yield server
