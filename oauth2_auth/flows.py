"""The OAuth2 protocol as plain functions over HTTP. No database access.

Every failure raises ``OAuth2Error`` whose message is safe to show an administrator: it may name
the endpoint's host, the HTTP status, the response's property names and its ``error`` and
``error_description``, never a secret, a token or a request URL. What the server wrote passes
through a ``Redactor`` first: providers echo the request in their errors, secrets included.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from connectit import http
from connectit.jsonpath import lookup
from connectit.redact import Redactor

TOKEN_MAX_BYTES = 1024 * 1024
MAX_EXPIRES_IN = 10 * 365 * 24 * 3600
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# Token request parameters whose values are secrets.
SECRET_PARAMS = ("refresh_token", "code", "code_verifier")


class OAuth2Error(Exception):
    """A token request that failed; ``error`` holds the server's OAuth2 error code if any."""

    def __init__(self, message: str, *, error: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.status = status

    def redact(self, redactor: Redactor) -> None:
        """Redact the message and error code in place, so no unredacted copy of them survives."""
        self.args = (redactor(str(self)),)
        self.error = redactor(self.error)

    @property
    def consent_required(self) -> bool:
        # invalid_grant on a refresh means the refresh token is dead (revoked, expired, rotated).
        return self.error == "invalid_grant"


@dataclass(frozen=True)
class Client:
    """What a token request needs to know about an authorization record."""

    token_url: str
    client_id: str
    client_secret: str = ""
    token_method: str = "POST"
    content_type: str = FORM
    credential_type: str = "body"  # "basic" or "body"
    scope: str = ""
    resource: str = ""
    access_token_property: str = "access_token"
    expires_in_property: str = "expires_in"
    refresh_token_property: str = "refresh_token"

    def __repr__(self) -> str:  # keep the secret out of tracebacks and logs
        return f"Client(token_url={self.token_url!r}, client_id={self.client_id!r})"


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_in: int | None
    refresh_token: str | None
    token_type: str
    scope: str = ""

    def __repr__(self) -> str:
        return f"Token(expires_in={self.expires_in!r}, refresh_token={'yes' if self.refresh_token else 'no'})"


# --- Authorization code: the consent URL --------------------------------------------------------


def new_state() -> str:
    return secrets.token_urlsafe(32)


def new_pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) as RFC 7636 describes."""
    verifier = secrets.token_urlsafe(64)  # 86 characters, within the 43..128 allowed
    return verifier, s256_challenge(verifier)


def s256_challenge(verifier: str) -> str:
    """BASE64URL(SHA256(ASCII(code_verifier))) without padding (RFC 7636, section 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def consent_params(
    client: Client, *, redirect_uri: str, state: str, code_challenge: str | None
) -> dict[str, str]:
    params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": redirect_uri}
    if client.scope:
        params["scope"] = client.scope
    if client.resource:
        params["resource"] = client.resource
    params["state"] = state
    if code_challenge:
        params["code_challenge"] = code_challenge
        params["code_challenge_method"] = "S256"
    return params


def consent_url(auth_url: str, params: dict[str, str]) -> str:
    """The auth URL with the consent parameters added to any query it already has."""
    parts = urlsplit(auth_url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def issuer_matches(iss: str, *, expected: str, auth_url: str) -> bool:
    """RFC 9207 mix-up defence: the ``iss`` sent with the code names the server we asked.

    With no expected issuer configured, the issuer must at least share the auth URL's origin.
    """
    if expected:
        return iss.rstrip("/") == expected.rstrip("/")
    try:
        got, asked = urlsplit(iss), urlsplit(auth_url)
    except ValueError:
        return False
    return (got.scheme, got.netloc.lower()) == (asked.scheme, asked.netloc.lower())


# --- Token requests ------------------------------------------------------------------------------


def client_credentials(client: Client) -> Token:
    return request_token(client, {"grant_type": "client_credentials"}, with_scope=True)


def exchange_code(client: Client, *, code: str, redirect_uri: str, code_verifier: str | None) -> Token:
    params = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if code_verifier:
        params["code_verifier"] = code_verifier
    return request_token(client, params, with_scope=False)


def refresh(client: Client, refresh_token: str) -> Token:
    return request_token(
        client, {"grant_type": "refresh_token", "refresh_token": refresh_token}, with_scope=True
    )


def request_token(client: Client, params: dict[str, str], *, with_scope: bool) -> Token:
    params = dict(params)
    if with_scope and client.scope:
        params["scope"] = client.scope
    if client.resource:
        params["resource"] = client.resource
    headers = {"Accept": "application/json"}
    if client.credential_type == "basic":
        headers["Authorization"] = basic_auth_header(client.client_id, client.client_secret)
    else:
        params["client_id"] = client.client_id
        if client.client_secret:
            params["client_secret"] = client.client_secret
    redactor = request_redactor(client, params)
    try:
        response = _send(client, params, headers)
        return parse_token_response(response, client, redactor)
    except OAuth2Error as exc:
        # Whatever the message quotes, secrets leave this module redacted.
        exc.redact(redactor)
        raise


def request_redactor(client: Client, params: dict[str, str]) -> Redactor:
    """Knows every secret a token request carries, as sent and in the forms a server echoes."""
    redactor = Redactor(client.client_secret, *(params.get(name, "") for name in SECRET_PARAMS))
    if client.client_secret:
        header = basic_auth_header(client.client_id, client.client_secret)
        redactor.add(header, header.removeprefix("Basic "))
    return redactor


def basic_auth_header(client_id: str, client_secret: str) -> str:
    """RFC 6749 §2.3.1: both parts are form-encoded before they are joined and base64-encoded."""
    pair = f"{_form_encode(client_id)}:{_form_encode(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def _form_encode(value: str) -> str:
    return urlencode({"": value})[1:]


def _send(client: Client, params: dict[str, str], headers: dict[str, str]) -> http.Response:
    kwargs: dict[str, Any] = {"headers": headers}
    if client.token_method == "GET":
        kwargs["params"] = params
    elif client.content_type == JSON:
        kwargs["json"] = params
    else:
        kwargs["data"] = params
    try:
        return http.send(client.token_method, client.token_url, max_bytes=TOKEN_MAX_BYTES, **kwargs)
    except http.HttpError as exc:
        raise OAuth2Error(f"Token request failed: {exc}") from None


# --- Token responses -----------------------------------------------------------------------------


def parse_token_response(response: http.Response, client: Client, redactor: Redactor | None = None) -> Token:
    """The token in ``response``; text the server wrote reaches an error only through ``redactor``."""
    if redactor is None:  # a caller outside request_token: the client's secrets at least
        redactor = request_redactor(client, {})
    host = http.host_of(client.token_url)
    body = _decode_body(response, host)
    if body is not None and body.get("error"):
        raise _server_error(body, response.status, host, redactor)
    if response.status >= 400 or body is None:
        raise _status_error(response, host, body)
    if not (200 <= response.status < 300):
        raise OAuth2Error(
            f"The token endpoint at {host} answered HTTP {response.status}.", status=response.status
        )
    access_token = lookup(body, client.access_token_property)
    if not isinstance(access_token, str) or not access_token:
        raise OAuth2Error(
            f"The token response from {host} has no '{client.access_token_property}' property "
            f"(it has: {_property_names(body, redactor)}). Check the Access Token Property name.",
            status=response.status,
        )
    refresh_token = lookup(body, client.refresh_token_property)
    return Token(
        access_token=access_token,
        expires_in=_expires_in(lookup(body, client.expires_in_property), client, host),
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
        token_type=str(body.get("token_type") or "Bearer")[:40],
        scope=str(body.get("scope") or ""),
    )


def _decode_body(response: http.Response, host: str) -> dict[str, Any] | None:
    """The body as a dict, or None when it is neither a JSON object nor a form (an HTML page)."""
    text = response.text().lstrip("\ufeff").strip()
    looks_like_form = text and text[0] not in "{[<" and "=" in text and response.content_type != "text/html"
    if response.content_type == FORM or looks_like_form:
        # Some providers (GitHub's classic endpoint) answer form-encoded unless told otherwise.
        return dict(parse_qsl(text, keep_blank_values=True))
    try:
        body = json.loads(text)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _server_error(body: dict[str, Any], status: int, host: str, redactor: Redactor) -> OAuth2Error:
    # Redact before clipping: clip() would cut a secret in two and join its whitespace.
    error = clip(redactor(str(body.get("error"))), 100)
    description = body.get("error_description")
    message = f"The token endpoint at {host} refused the request: {error}"
    if description:
        message += f" ({clip(redactor(str(description)), 500)})"
    return OAuth2Error(message + ".", error=error, status=status)


def _status_error(response: http.Response, host: str, body: dict[str, Any] | None) -> OAuth2Error:
    if body is None:
        kind = response.content_type or "no content type"
        message = f"The token endpoint at {host} answered HTTP {response.status} with {_what(response)}."
        if response.status < 400 and kind == "text/html":
            message += (
                " Check the Access Token URL: it may point to a login page instead of the token endpoint."
            )
        return OAuth2Error(message, status=response.status)
    return OAuth2Error(
        f"The token endpoint at {host} answered HTTP {response.status}.", status=response.status
    )


def _what(response: http.Response) -> str:
    """Describes a token response body that is not a JSON object."""
    if not response.content:
        return "an empty answer"
    try:
        json.loads(response.content)
    except ValueError:
        kind = response.content_type or "no content type"
        return "invalid JSON" if kind == JSON else f"{kind}, not JSON"
    return "JSON that is not an object"


def _expires_in(value: Any, client: Client, host: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise TypeError
        seconds = int(float(value))
    except (TypeError, ValueError, OverflowError):
        raise OAuth2Error(
            f"The token response from {host} has a '{client.expires_in_property}' that is not a number."
        ) from None
    # Clamp absurd lifetimes: a date ten years out is already "does not expire".
    return min(max(seconds, 0), MAX_EXPIRES_IN)


def _property_names(body: dict[str, Any], redactor: Redactor) -> str:
    # A text answer read as a form can have any words, secrets too, as property names.
    names = sorted(str(name) for name in body)
    return ", ".join(clip(redactor(name), 60) for name in names[:20]) or "nothing"


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
