"""The Content-Security-Policy every page gets, and the one widening a page may need.

django-csp 4 writes the header (csp.middleware.CSPMiddleware); settings.py builds its setting with
``policy()``. Every script and style is a same-origin static file, so nothing inline is allowed.
The exception is ``form-action``: a page whose form is sent to an OAuth2 provider (the consent POST
page, and the record page whose Get Token answer redirects there) must name that provider's origin,
because Chromium checks ``form-action`` on the form's redirects too.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from csp.constants import NONE, SELF

if TYPE_CHECKING:
    # Only for hints: settings.py imports this module, before Django is set up.
    from django.http import HttpResponseBase

# Hosts that are safe to put in a header value: DNS names or IPv4, and IPv6 literals. Anything else
# (spaces, ';', quotes) could add sources or directives, so such URLs are never allowed.
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$")
_IPV6 = re.compile(r"^[0-9a-f:.]+$")


def policy(https: bool) -> dict[str, Any]:
    """The CONTENT_SECURITY_POLICY setting. ``https``: the site is served over HTTPS."""
    directives: dict[str, Any] = {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        # Bootstrap's CSS draws the select arrow, close button and navbar toggler as data: SVGs.
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
    if https:
        # Only over HTTPS: on a plain-http install it would send the browser to an https:// that
        # does not answer.
        directives["upgrade-insecure-requests"] = True
    return {"DIRECTIVES": directives}


def origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, or None when it has none fit for a header."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname or ""  # hostname: lower-case, no user
    if scheme not in ("http", "https"):
        return None
    if ":" in host and _IPV6.match(host):
        host = f"[{host}]"
    elif not _NAME.match(host):
        return None
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


def allow_form_action(response: HttpResponseBase, url: str | None) -> HttpResponseBase:
    """Let ``response``'s page send a form to ``url``'s origin; returns ``response``.

    A missing or unusable URL changes nothing, so the page keeps ``form-action 'self'``. Uses
    django-csp 4's per-response update, which CSPMiddleware adds to the settings' directives.
    """
    source = origin(url) if url else None
    if source is None:
        return response
    update: dict[str, Any] = dict(getattr(response, "_csp_update", None) or {})
    update["form-action"] = [*update.get("form-action", ()), source]
    response._csp_update = update  # type: ignore[attr-defined]
    return response
