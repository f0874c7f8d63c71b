"""Sending a definition's requests: authorization headers, the 401 retry, and redaction.

Definitions get OAuth2 tokens only through ``oauth2_auth.tokens``. When an endpoint answers 401,
the token is renewed once (single flight: ``stale_token`` makes concurrent callers share one
refresh) and the request is sent again; a second 401 fails with a message naming the
authorization.

``Caller.send`` returns an ``Exchange``: what was sent and what came back, as a value the run log
stores. A failed attempt travels on the ``RunFailed`` it raises, so the log still shows it.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from connectit import http
from connectit.redact import REDACTED
from connectit.redact import Redactor as BaseRedactor
from definitions.models import AuthType, Definition
from definitions.templating import parse_headers
from oauth2_auth import tokens

# Headers that carry credentials by convention: redacted in run logs even as extra headers.
CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "api-key",
        "apikey",
        "x-auth-token",
        "x-access-token",
        "ocp-apim-subscription-key",
    }
)


@dataclass(frozen=True)
class Exchange:
    """One request as it was sent (secrets in clear: the run log redacts) and its answer."""

    method: str
    url: str
    headers: dict[str, str]
    body: str
    secret_header_names: frozenset[str]
    response: http.Response | None = None
    # False when the run stopped before handing the request to http.send's connection (no token,
    # a refused address, no time left): the run page then says "not sent", not what was meant.
    request_sent: bool = True


class RunFailed(Exception):
    """A run that failed; the message is safe to store and show. ``exchange`` is the request
    that was being sent, when there was one."""

    def __init__(self, message: str, *, exchange: Exchange | None = None) -> None:
        super().__init__(message)
        self.exchange = exchange


def check_status(response: http.Response) -> None:
    if 300 <= response.status < 400:
        # Redirects are not followed: the request carries credentials, and the next hop is the
        # administrator's decision, not the server's.
        where = http.host_of(response.headers.get("location", "")) or "elsewhere"
        raise RunFailed(
            f"The endpoint answered HTTP {response.status}, a redirect to {where}; "
            "put the address it redirects to in the definition."
        )
    if response.status >= 400:
        raise RunFailed(f"The endpoint answered HTTP {response.status}.")


class Redactor(BaseRedactor):
    """Replaces every secret value a run used wherever it might surface in stored text.

    The replacing (and the encodings a server may echo a secret in) is the shared
    ``connectit.redact``; this adds the run log's view of request headers.
    """

    # The run pages hand one to the redact_with filter; a template would otherwise call it.
    do_not_call_in_templates = True

    def headers(self, headers: dict[str, str], secret_names: set[str]) -> str:
        lines = []
        for name, value in headers.items():
            if name.lower() in secret_names:
                scheme, sep, _ = value.partition(" ")
                keep_scheme = sep and name.lower() in ("authorization", "proxy-authorization")
                value = f"{scheme} {REDACTED}" if keep_scheme else REDACTED
            lines.append(f"{name}: {self(value)}")
        return "\n".join(lines)


def _no_step(text: str) -> None:
    pass


@dataclass
class Caller:
    """Sends requests for one definition with its authorization.

    ``deadline`` (a ``time.monotonic()`` value) caps every request's timeout: no request outlives
    the run's deadline. ``on_step`` hears what is about to happen (for a run's live progress).
    """

    definition: Definition
    trigger: tokens.Trigger
    redact: Redactor = field(default_factory=Redactor)
    token: str | None = None
    deadline: float | None = None
    on_step: Callable[[str], None] = _no_step
    # Requests that succeeded only after a 401 made the token be renewed: the run says so, or a
    # token the API keeps refusing would go unnoticed behind runs that look fine.
    renewed_after_401: int = 0

    def __post_init__(self) -> None:
        self.secret_header_names = self._secret_header_names()
        try:
            self.extra_headers = dict(parse_headers(self.definition.extra_headers))
        except ValueError as exc:
            raise RunFailed(f"Extra headers: {exc}") from None
        self.redact.add(*(v for k, v in self.extra_headers.items() if k.lower() in CREDENTIAL_HEADERS))

    def _secret_header_names(self) -> frozenset[str]:
        names = set(CREDENTIAL_HEADERS)
        if self.definition.auth_type == AuthType.API_KEY:
            names.add(self.definition.api_key_header.lower())
        return frozenset(names)

    def auth_headers(self, url: str) -> dict[str, str]:
        """The authorization headers for a request to ``url`` (an OAuth2 token goes only to the
        API hosts its authorization allows)."""
        definition = self.definition
        kind = definition.auth_type
        if kind == AuthType.BASIC:
            pair = f"{definition.auth_username}:{definition.auth_password}".encode()
            encoded = base64.b64encode(pair).decode()
            self.redact.add(definition.auth_password, encoded)
            return {"Authorization": f"Basic {encoded}"}
        if kind == AuthType.BEARER:
            self.redact.add(definition.bearer_token)
            return {"Authorization": f"Bearer {definition.bearer_token}"}
        if kind == AuthType.API_KEY:
            self.redact.add(definition.api_key_value)
            return {definition.api_key_header: definition.api_key_value}
        if kind == AuthType.OAUTH2:
            return {"Authorization": f"Bearer {self._oauth2_token(url)}"}
        return {}

    def _oauth2_token(self, url: str, stale: str | None = None) -> str:
        code = self.authorization_code
        self.on_step(f"Getting a token from OAuth2 authorization {code}")
        try:
            if stale is None:
                self.token = tokens.get_access_token(code, trigger=self.trigger, for_url=url)
            else:
                self.token = tokens.renew(code, trigger=self.trigger, stale_token=stale, for_url=url)
        except tokens.TokenError as exc:
            # The token service already prefixes its messages with the code; name it once.
            detail = str(exc).removeprefix(f"{code}: ")
            raise RunFailed(f"Could not get a token from OAuth2 authorization {code}: {detail}") from None
        self.redact.add(self.token)
        return self.token

    @property
    def authorization_code(self) -> str:
        authorization = self.definition.authorization
        if authorization is None:
            raise RunFailed("The definition uses OAuth2 but names no authorization.")
        return authorization.code

    def headers(self, headers: dict[str, str], url: str) -> dict[str, str]:
        return {**self.extra_headers, **headers, **self.auth_headers(url)}

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: bytes | None = None,
        max_bytes: int,
        truncate: bool = False,
        unauthorized: Callable[[http.Response], bool] = lambda response: response.status == 401,
        check_addresses: http.AddressCheck | None = None,
    ) -> Exchange:
        """Send once, and once more after a token refresh when an OAuth2 endpoint says 401.

        ``check_addresses`` goes to ``http.send``: it may refuse the host's addresses."""
        text = body.decode("utf-8", errors="replace") if body else ""

        def attempt(
            sent: dict[str, str], response: http.Response | None = None, *, request_sent: bool = True
        ) -> Exchange:
            return Exchange(method, url, sent, text, self.secret_header_names, response, request_sent)

        # Without the auth headers first: if getting a token fails, the log still shows the rest.
        sent = {**self.extra_headers, **headers}
        try:
            sent = self.headers(headers, url)
        except RunFailed as exc:
            raise RunFailed(str(exc), exchange=attempt(sent, request_sent=False)) from None
        response = self._send(method, url, sent, body, max_bytes, truncate, check_addresses, attempt)
        if self.definition.auth_type != AuthType.OAUTH2 or not unauthorized(response):
            return attempt(sent, response)
        try:
            fresh = self._oauth2_token(url, stale=self.token)
        except RunFailed as exc:
            raise RunFailed(str(exc), exchange=attempt(sent, response)) from None
        sent = {**sent, "Authorization": f"Bearer {fresh}"}
        response = self._send(method, url, sent, body, max_bytes, truncate, check_addresses, attempt)
        if unauthorized(response):
            raise RunFailed(
                f"{http.host_of(url)} refused the token of OAuth2 authorization {self.authorization_code} "
                f"(HTTP {response.status}) even after a refresh. "
                "Check the authorization's scope and resource.",
                exchange=attempt(sent, response),
            )
        self.renewed_after_401 += 1
        return attempt(sent, response)

    def timeout(self) -> float:
        """The definition's timeout, cut to what is left of the run's deadline."""
        timeout = float(self.definition.timeout)
        if self.deadline is None:
            return timeout
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise RunFailed("The run passed its deadline before this request could be sent.")
        return min(timeout, max(left, 0.5))

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        max_bytes: int,
        truncate: bool,
        check_addresses: http.AddressCheck | None,
        attempt: Callable[..., Exchange],
    ) -> http.Response:
        self.on_step(f"Calling {http.host_of(url)}")
        try:
            timeout = self.timeout()
        except RunFailed as exc:
            raise RunFailed(str(exc), exchange=attempt(headers, request_sent=False)) from None
        try:
            return http.send(
                method,
                url,
                headers=headers,
                data=body,
                max_bytes=max_bytes,
                truncate=truncate,
                timeout=timeout,
                check_addresses=check_addresses,
            )
        except http.AddressRefused as exc:
            # Refused before connecting: nothing left this machine.
            raise RunFailed(str(exc), exchange=attempt(headers, request_sent=False)) from None
        except http.HttpError as exc:
            # A timeout or a cut connection: the request may well have reached the server.
            raise RunFailed(str(exc), exchange=attempt(headers)) from None
        except RunFailed as exc:
            raise RunFailed(str(exc), exchange=attempt(headers)) from None
