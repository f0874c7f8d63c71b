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

from django.conf import settings

from connectit import http
from connectit.jsonpath import lookup
from connectit.redact import Redactor
from oauth2_auth import advice, client_assertion

TOKEN_MAX_BYTES = 1024 * 1024
MAX_EXPIRES_IN = 10 * 365 * 24 * 3600
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# Token request parameters whose values are secrets.
SECRET_PARAMS = ("refresh_token", "code", "code_verifier", "client_assertion")
# Credential types that sign a client assertion (RFC 7523) instead of sending the secret.
ASSERTION_TYPES = ("private_key_jwt", "client_secret_jwt")
# Parameters this module sets itself: an extra parameter may never replace or repeat one.
RESERVED_PARAMS = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "state",
        "code_challenge",
        "code_challenge_method",
        "grant_type",
        "code",
        "code_verifier",
        "refresh_token",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
        "scope",
        "resource",
    }
)
# The sign-in hosts of Entra ID's clouds (global, US Government, China). Their v2 endpoints take
# the resource as "<resource>/.default" in the scope and refuse a resource parameter (AADSTS901002).
# Entra ID's clouds and their sign-in origins: the one list (the presets offer these clouds).
ENTRA_CLOUDS = {
    "global": ("Global (login.microsoftonline.com)", "https://login.microsoftonline.com"),
    "usgov": ("US Government (login.microsoftonline.us)", "https://login.microsoftonline.us"),
    "china": ("China, operated by 21Vianet (login.chinacloudapi.cn)", "https://login.chinacloudapi.cn"),
}
ENTRA_LOGIN_HOSTS = frozenset(urlsplit(base).hostname for _, base in ENTRA_CLOUDS.values())
BASIC_FORM = "form"  # RFC 6749 §2.3.1: form-encode the ID and secret first
BASIC_RAW = "raw"  # as they are, for providers that expect RFC 7617 Basic

# Request parameters: a name sent twice (several resources, RFC 8707) holds a list.
Params = dict[str, str | list[str]]
ExtraParams = tuple[tuple[str, str], ...]


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
    credential_type: str = "body"  # "basic", "body", "private_key_jwt" or "client_secret_jwt"
    basic_encoding: str = BASIC_FORM
    private_key: str = ""  # PKCS#8 PEM, for private_key_jwt
    certificate: str = ""  # PEM, names the key in the assertion's header
    assertion_algorithm: str = "PS256"
    scope: str = ""
    resource: str = ""  # one or more resource URLs, one per line
    auth_extra_params: ExtraParams = ()  # added to the consent request
    token_extra_params: ExtraParams = ()  # added to every token request
    access_token_property: str = "access_token"
    expires_in_property: str = "expires_in"
    refresh_token_property: str = "refresh_token"

    def __repr__(self) -> str:  # keep the secret out of tracebacks and logs
        return f"Client(token_url={self.token_url!r}, client_id={self.client_id!r})"

    @property
    def resources(self) -> list[str]:
        return list(dict.fromkeys(self.resource.split()))


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
    client: Client, *, redirect_uri: str, state: str, code_challenge: str | None, auth_url: str = ""
) -> Params:
    """The sign-in request's parameters; ``auth_url`` (default: the token URL) decides whether the
    resource goes into the scope (Entra v2) or into ``resource`` parameters."""
    params: Params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": redirect_uri}
    params.update(scope_and_resource(client, auth_url or client.token_url, with_scope=True))
    params["state"] = state
    if code_challenge:
        params["code_challenge"] = code_challenge
        params["code_challenge_method"] = "S256"
    return add_extra_params(params, client.auth_extra_params)


def consent_url(auth_url: str, params: Params) -> str:
    """The auth URL with the consent parameters added to any query it already has."""
    parts = urlsplit(auth_url)
    query = parse_qsl(parts.query, keep_blank_values=True) + param_pairs(params)
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def param_pairs(params: Params) -> list[tuple[str, str]]:
    """(name, value) pairs in order, a name with several values once per value."""
    return [
        (name, item)
        for name, value in params.items()
        for item in (value if isinstance(value, list) else [value])
    ]


def is_entra_v2(url: str) -> bool:
    """Whether ``url`` is an endpoint of Entra ID's v2 (Microsoft identity platform)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    hosts = ENTRA_LOGIN_HOSTS | _configured_login_host()
    return (parts.hostname or "").lower() in hosts and "/oauth2/v2.0/" in parts.path.lower()


def _configured_login_host() -> frozenset[str]:
    # CONNECTIT_ENTRA_LOGIN_BASE stands in for Entra (tests, a proxy): it is treated as Entra.
    base = settings.CONNECTIT_ENTRA_LOGIN_BASE
    return frozenset({urlsplit(base).hostname or ""}) if base else frozenset()


def scope_and_resource(client: Client, endpoint: str, *, with_scope: bool) -> Params:
    """``scope`` and ``resource`` as ``endpoint`` takes them.

    Entra v2 refuses ``resource`` (AADSTS901002): there each resource becomes
    "<resource>/.default" in the scope. Elsewhere every resource is a ``resource`` parameter of its
    own (RFC 8707; Entra v1 and AD FS take one).
    """
    if is_entra_v2(endpoint):
        scopes = client.scope.split()
        defaults = dict.fromkeys(resource.rstrip("/") + "/.default" for resource in client.resources)
        added = [default for default in defaults if default not in scopes]
        # Rewrite the scope only when a resource went into it: otherwise it is sent as typed.
        scope = " ".join([*scopes, *added]) if added else client.scope
        return {"scope": scope} if with_scope and scope else {}
    params: Params = {"scope": client.scope} if with_scope and client.scope else {}
    resources = client.resources
    if resources:
        params["resource"] = resources if len(resources) > 1 else resources[0]
    return params


def add_extra_params(params: Params, extra: ExtraParams) -> Params:
    """``params`` with the configured extra parameters after them; those can never replace or
    repeat a parameter this module sets (the form refuses them, this holds for any record)."""
    params = dict(params)
    for name, value in extra:
        if name.lower() not in RESERVED_PARAMS and name not in params:
            params[name] = value
    return params


def parse_extra_params(text: str) -> ExtraParams:
    """The ``name=value`` lines of an extra parameters field (the form validates them)."""
    pairs = []
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.strip():
            pairs.append((name.strip(), value.strip()))
    return tuple(pairs)


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


def request_token(client: Client, params: Params, *, with_scope: bool) -> Token:
    params = dict(params)
    params.update(scope_and_resource(client, client.token_url, with_scope=with_scope))
    params = add_extra_params(params, client.token_extra_params)
    headers = {"Accept": "application/json"}
    authenticate(client, params, headers)
    redactor = request_redactor(client, params)
    try:
        response = _send(client, params, headers)
        return parse_token_response(response, client, redactor)
    except OAuth2Error as exc:
        # Whatever the message quotes, secrets leave this module redacted.
        exc.redact(redactor)
        raise


def authenticate(client: Client, params: Params, headers: dict[str, str]) -> None:
    """Add the client's credentials the way the record says: every request to the provider that
    authenticates the client (token, revocation) goes through here."""
    if client.credential_type == "basic":
        headers["Authorization"] = basic_auth_header(
            client.client_id, client.client_secret, encoding=client.basic_encoding
        )
        return
    params["client_id"] = client.client_id
    if client.credential_type in ASSERTION_TYPES:
        params.update(client_assertion.assertion_params(signed_assertion(client)))
    elif client.client_secret:
        params["client_secret"] = client.client_secret


def signed_assertion(client: Client) -> str:
    """A fresh client assertion (new jti, short exp) whose audience is the token endpoint: Entra
    ID and AD FS take only that, and RFC 7523 lets every server take it."""
    try:
        if client.credential_type == "client_secret_jwt":
            return client_assertion.client_secret_jwt(
                client.client_secret, client_id=client.client_id, audience=client.token_url
            )
        if not (client.private_key and client.certificate):
            raise client_assertion.CredentialError(
                "No certificate is stored: generate or import one on the Credentials tab."
            )
        credential = client_assertion.Credential(client.private_key, client.certificate)
        return client_assertion.private_key_jwt(
            credential,
            client_id=client.client_id,
            audience=client.token_url,
            algorithm=client.assertion_algorithm,
        )
    except client_assertion.CredentialError as exc:
        # The messages are fixed texts that never quote key material.
        raise OAuth2Error(f"The client assertion could not be signed: {exc}") from None


def request_redactor(client: Client, params: Params) -> Redactor:
    """Knows every secret a token request carries, as sent and in the forms a server echoes."""
    values = (params.get(name, "") for name in SECRET_PARAMS)
    redactor = Redactor(client.client_secret, *(value for value in values if isinstance(value, str)))
    if client.client_secret:
        # Both header spellings: the one sent, and the other should a server re-encode it.
        for encoding in (BASIC_FORM, BASIC_RAW):
            header = basic_auth_header(client.client_id, client.client_secret, encoding=encoding)
            redactor.add(header, header.removeprefix("Basic "))
    return redactor


def basic_auth_header(client_id: str, client_secret: str, *, encoding: str = BASIC_FORM) -> str:
    """RFC 6749 §2.3.1: both parts are form-encoded before they are joined and base64-encoded.

    ``BASIC_RAW`` joins them as they are (RFC 7617), for providers that do not decode them.
    """
    if encoding == BASIC_RAW:
        pair = f"{client_id}:{client_secret}"
    else:
        pair = f"{_form_encode(client_id)}:{_form_encode(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def _form_encode(value: str) -> str:
    return urlencode({"": value})[1:]


def _send(client: Client, params: Params, headers: dict[str, str]) -> http.Response:
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
    message += "."
    # Static advice from the table, after the provider's own words so the two stay apart.
    found = advice.for_error(body)
    if found is not None:
        message += f" {found}"
    return OAuth2Error(message, error=error, status=status)


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


# --- Revocation (RFC 7009) -----------------------------------------------------------------------

REVOKE_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class Revocation:
    """What a revocation endpoint answered. ``detail`` says why it is not confirmed; like every
    text from the provider it passed through the request's redactor."""

    confirmed: bool
    detail: str = ""

    def __str__(self) -> str:
        if self.confirmed:
            return "the provider confirmed the revocation"
        return f"the provider did not confirm the revocation: {self.detail}"


def revoke(client: Client, token: str, hint: str = "refresh_token", *, url: str) -> Revocation:
    """Ask the provider at ``url`` to revoke ``token``, authenticating as a token request does.

    Only HTTP 200 confirms (RFC 7009, section 2.2). Anything else, a failed connection included,
    is an unconfirmed revocation with its reason: the caller has already forgotten the token
    locally, so this reports and never raises.
    """
    params: Params = {"token": token, "token_type_hint": hint}
    headers = {"Accept": "application/json"}
    try:
        authenticate(client, params, headers)
    except OAuth2Error as exc:
        return Revocation(False, str(exc))
    redactor = request_redactor(client, params)
    redactor.add(token)
    host = http.host_of(url)
    try:
        # RFC 7009 takes a form body, whatever the record's token request Content-Type.
        response = http.send("POST", url, max_bytes=REVOKE_MAX_BYTES, headers=headers, data=params)
    except http.HttpError as exc:
        return Revocation(False, clip(redactor(f"the request to {host} failed: {exc}"), 600))
    if response.status == 200:
        return Revocation(True)
    return Revocation(False, _revocation_refusal(response, host, redactor))


def _revocation_refusal(response: http.Response, host: str, redactor: Redactor) -> str:
    detail = f"HTTP {response.status} from {host}"
    body = _decode_body(response, host)
    if body is not None and body.get("error"):
        # Redact before clipping, as for token errors.
        detail += f" ({clip(redactor(str(body['error'])), 100)}"
        if body.get("error_description"):
            detail += f": {clip(redactor(str(body['error_description'])), 300)}"
        detail += ")"
    return detail + "."
