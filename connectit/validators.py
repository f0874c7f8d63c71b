"""Validation shared by authorizations and definitions."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine: a loopback address, "localhost" or "*.localhost".

    A name is only a claim: "x.localhost" is resolved through the network's DNS and may point
    anywhere. It counts once resolved: connectit.http resolves it when it connects and sends plain
    http only if every address is loopback (``is_loopback_address``).
    """
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """127.0.0.0/8 or ::1, also written as an IPv4-mapped IPv6 address (::ffff:127.0.0.1)."""
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def validate_endpoint_url(value: str) -> None:
    """An absolute http(s) URL with a host; plain http only for loopback unless allowed.

    Tokens and secrets travel to these URLs, so http to another host would send them in the
    clear; CONNECTIT_ALLOW_HTTP exists for closed test networks.
    """
    if not value:
        return
    if any(ch.isspace() for ch in value):
        raise ValidationError("Enter a URL without spaces.", code="invalid_url")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValidationError("Enter a valid URL.", code="invalid_url") from None
    if parts.scheme not in ("http", "https"):
        raise ValidationError(
            "Enter an absolute URL starting with https:// (or http:// for a local server).",
            code="invalid_scheme",
        )
    if not host:
        raise ValidationError("Enter a URL with a host name.", code="missing_host")
    if parts.username or parts.password:
        raise ValidationError(
            "Do not put credentials in the URL; use the credential fields.", code="credentials"
        )
    if parts.scheme == "http" and not is_loopback_host(host) and not settings.CONNECTIT_ALLOW_HTTP:
        raise ValidationError(
            "Plain http is refused for hosts other than this machine, because tokens and secrets "
            "would travel unencrypted. Use https:// (or set CONNECTIT_ALLOW_HTTP=true).",
            code="http_refused",
        )


def validate_endpoint_urls(value: str) -> None:
    """One or more endpoint URLs, one per line, each as ``validate_endpoint_url`` wants it."""
    urls = [line.strip() for line in (value or "").splitlines() if line.strip()]
    for url in urls:
        try:
            validate_endpoint_url(url)
        except ValidationError as exc:
            if len(urls) == 1:
                raise
            # Say which line: the field may hold several.
            raise ValidationError(f"{url[:200]}: {exc.messages[0]}", code=exc.code) from None


PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(text: str) -> list[str]:
    """The distinct {name} placeholders in a template, in order of appearance."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text or "")))


def validate_templated_url(value: str) -> None:
    """An endpoint URL that may hold {name} placeholders in its path and query only.

    The scheme and host are fixed: a parameter must never be able to send a token elsewhere.
    """
    if not value:
        return
    origin = re.match(r"^[^/?#]*(//[^/?#]*)?", value).group(0)  # scheme://host:port
    if "{" in origin or "}" in origin:
        raise ValidationError(
            "Placeholders may appear in the path and query only, not in the scheme or host.",
            code="placeholder_in_host",
        )
    validate_endpoint_url(PLACEHOLDER.sub("x", value))
