"""Reading a provider's metadata (issue 13, item 2): OpenID Connect Discovery
(``/.well-known/openid-configuration``) or RFC 8414 (``/.well-known/oauth-authorization-server``).

``read(issuer_or_url)`` fetches the document, checks that it speaks for the issuer it was read
for (a document naming another issuer is refused: that is how a mix-up starts), and returns what
a record needs: the endpoints, whether PKCE S256 is supported, the client authentication methods
and whether the provider sends ``iss`` with its answers (RFC 9207: then a missing ``iss`` is
refused). ``fields`` turns that into the record's field values; ``differences`` compares a saved
record with it (the "Check configuration" button).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ValidationError

from connectit import http
from connectit.validators import validate_endpoint_url
from oauth2_auth.models import Authorization, CredentialType

OIDC = "/.well-known/openid-configuration"
RFC8414 = "/.well-known/oauth-authorization-server"
MAX_BYTES = 256 * 1024


class DiscoveryError(Exception):
    """The metadata could not be read, or does not hold together."""


@dataclass(frozen=True)
class Metadata:
    source: str  # the URL it was read from
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str
    pkce_s256: bool
    auth_methods: tuple[str, ...]
    sends_iss: bool
    # token_endpoint_auth_signing_alg_values_supported; empty when the provider does not say.
    assertion_algorithms: tuple[str, ...] = ()


def candidate_urls(value: str) -> list[str]:
    """Where the metadata of ``value`` may be: the URL itself when it names a well-known
    document; else the issuer's OIDC document, its RFC 8414 one (the well-known part goes before
    the issuer's path, RFC 8414 section 3) and the issuer + RFC 8414 suffix that servers mounted
    under a path also publish (django-oauth-toolkit)."""
    value = value.strip()
    if "/.well-known/" in value:
        return [value]
    parts = urlsplit(value.rstrip("/"))
    bare = parts._replace(query="", fragment="")
    urls = [
        urlunsplit(bare._replace(path=bare.path + OIDC)),
        urlunsplit(bare._replace(path=RFC8414 + bare.path)),
        urlunsplit(bare._replace(path=bare.path + RFC8414)),
    ]
    return list(dict.fromkeys(urls))  # one URL once (an issuer without a path)


def _issuer_of(url: str) -> str:
    """The issuer a well-known URL speaks for (the inverse of candidate_urls)."""
    parts = urlsplit(url)
    path = parts.path
    for suffix in (OIDC, RFC8414):
        if path.endswith(suffix):
            path = path.removesuffix(suffix)
            break
    else:
        path = path.removeprefix(RFC8414)
    return urlunsplit(parts._replace(path=path, query="", fragment="")).rstrip("/")


def read(value: str) -> Metadata:
    """The metadata for an issuer or a well-known URL; DiscoveryError says why not."""
    _check_url(value, "The issuer or discovery URL")
    problems = []
    for url in candidate_urls(value):
        try:
            return _parse(url, _fetch(url))
        except DiscoveryError as exc:
            problems.append(str(exc))
    raise DiscoveryError(" ".join(problems))


def _check_url(url: str, what: str) -> None:
    try:
        validate_endpoint_url(url)
    except ValidationError as exc:
        raise DiscoveryError(f"{what} is refused: {' '.join(exc.messages)}") from None


def _fetch(url: str) -> dict[str, Any]:
    try:
        response = http.send("GET", url, max_bytes=MAX_BYTES, headers={"Accept": "application/json"})
    except http.HttpError as exc:
        raise DiscoveryError(f"{url}: {exc}") from None
    if response.status != 200:
        raise DiscoveryError(f"{url} answered HTTP {response.status}.")
    try:
        document = json.loads(response.content)
    except ValueError:
        raise DiscoveryError(f"{url} did not answer JSON.") from None
    if not isinstance(document, dict):
        raise DiscoveryError(f"{url} did not answer a JSON object.")
    return document


def _parse(url: str, document: dict[str, Any]) -> Metadata:
    issuer = str(document.get("issuer") or "").rstrip("/")
    if issuer != _issuer_of(url):
        # OIDC Discovery 4.3 and RFC 8414 3.3: a document for another issuer must not be used.
        raise DiscoveryError(f"{url} names the issuer {issuer or '(none)'}, not {_issuer_of(url)}: refused.")
    endpoints = {}
    for name in ("authorization_endpoint", "token_endpoint", "revocation_endpoint"):
        endpoint = document.get(name)
        endpoints[name] = endpoint if isinstance(endpoint, str) else ""
        if endpoints[name]:
            _check_url(endpoints[name], f"The metadata's {name}")
    if not endpoints["token_endpoint"]:
        raise DiscoveryError(f"{url} names no token_endpoint.")
    return Metadata(
        source=url,
        issuer=issuer,
        **endpoints,
        pkce_s256="S256" in _strings(document.get("code_challenge_methods_supported")),
        # RFC 8414: client_secret_basic when the provider does not say.
        auth_methods=_strings(document.get("token_endpoint_auth_methods_supported"))
        or ("client_secret_basic",),
        sends_iss=document.get("authorization_response_iss_parameter_supported") is True,
        assertion_algorithms=_strings(document.get("token_endpoint_auth_signing_alg_values_supported")),
    )


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list) else ()


def fields(metadata: Metadata) -> dict[str, Any]:
    """The record's field values the metadata decides."""
    values: dict[str, Any] = {
        "token_url": metadata.token_endpoint,
        "issuer": metadata.issuer,
        "use_pkce": metadata.pkce_s256,
        "require_iss": metadata.sends_iss,
        "credential_type": _credential_type(metadata.auth_methods),
    }
    if metadata.authorization_endpoint:
        values["auth_url"] = metadata.authorization_endpoint
    if metadata.revocation_endpoint:
        values["revocation_url"] = metadata.revocation_endpoint
    return values


# The token_endpoint_auth_methods_supported name of each credential type (RFC 8414, OIDC).
AUTH_METHOD = {
    CredentialType.BASIC: "client_secret_basic",
    CredentialType.BODY: "client_secret_post",
    CredentialType.PRIVATE_KEY_JWT: "private_key_jwt",
    CredentialType.CLIENT_SECRET_JWT: "client_secret_jwt",
}


def _credential_type(methods: tuple[str, ...]) -> str:
    # The secret in the body only when the provider takes it there and not in a Basic header.
    if "client_secret_post" in methods and "client_secret_basic" not in methods:
        return CredentialType.BODY
    return CredentialType.BASIC if "client_secret_basic" in methods else CredentialType.BODY


def differences(record: Authorization, metadata: Metadata) -> list[str]:
    """What the saved record says that the provider's metadata does not."""
    found = []
    labels = {field.name: field.verbose_name for field in Authorization._meta.concrete_fields}
    for name, value in fields(metadata).items():
        if name == "credential_type":
            continue  # a choice the provider offers, not a fact: told apart below
        if getattr(record, name) != value:
            found.append(
                f"{labels[name]}: the record has {getattr(record, name)!r}, the provider says {value!r}."
            )
    wanted = AUTH_METHOD.get(record.credential_type)
    if wanted and wanted not in metadata.auth_methods:
        found.append(
            f"credential type: the provider does not list {wanted} "
            f"(it takes {', '.join(metadata.auth_methods)})."
        )
    algorithm = _assertion_algorithm(record)
    if algorithm and metadata.assertion_algorithms and algorithm not in metadata.assertion_algorithms:
        found.append(
            f"signing algorithm: the provider does not list {algorithm} for client assertions "
            f"(it takes {', '.join(metadata.assertion_algorithms)})."
        )
    return found


def _assertion_algorithm(record: Authorization) -> str:
    """The algorithm the record's client assertions are signed with; "" when it sends none."""
    if record.credential_type == CredentialType.PRIVATE_KEY_JWT:
        return record.assertion_algorithm
    return "HS256" if record.credential_type == CredentialType.CLIENT_SECRET_JWT else ""
