"""What the run pages and the payload download show: stored text, redacted once more.

A run's text was redacted when it was stored, with the secrets the run used. The pages then
pretty-print JSON and XML (decoding escapes) and the download re-writes merged JSON records; a run
stored by an older version, or an escape the redactor of its day did not know, would come out in
clear. So what is shown passes through a redactor again, after any reformatting, holding the
secrets the definition has now.
"""

from __future__ import annotations

import base64
import logging

from django.db import models

from connectit.fields import DecryptionError, is_stored
from definitions.calls import CREDENTIAL_HEADERS, Redactor
from definitions.models import AuthType, Definition
from definitions.templating import parse_headers

log = logging.getLogger(__name__)


def shown_redactor(definition: Definition) -> Redactor:
    """A redactor holding every secret ``definition`` holds now, whatever its authorization type
    (a secret left from an earlier type may still be in old runs)."""
    redact = Redactor()
    try:
        headers = parse_headers(definition.extra_headers)
    except ValueError:
        headers = []
    redact.add(*(value for name, value in headers if name.lower() in CREDENTIAL_HEADERS))
    for name in ("auth_password", "bearer_token", "api_key_value"):
        redact.add(_decrypted(definition, name))
    password = _decrypted(definition, "auth_password")
    if password:
        redact.add(base64.b64encode(f"{definition.auth_username}:{password}".encode()).decode())
    if definition.auth_type == AuthType.OAUTH2 and definition.authorization_id:
        redact.add(_current_token(definition))
    return redact


def _decrypted(instance: models.Model, name: str) -> str:
    if not is_stored(instance, name):
        return ""
    try:
        return getattr(instance, name) or ""
    except DecryptionError as exc:
        # The page still shows: what it shows was redacted when stored. The log says why this
        # second pass lacks the value (the message names the field, never the value).
        log.warning("Showing a run without re-redacting: %s", exc)
        return ""


def _current_token(definition: Definition) -> str:
    from oauth2_auth.models import BearerToken

    token = BearerToken.objects.filter(authorization_id=definition.authorization_id).first()
    return _decrypted(token, "access_token") if token is not None else ""
