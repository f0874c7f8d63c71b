from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from connectit.fields import DecryptionError

log = logging.getLogger(__name__)


class DecryptionErrorMiddleware:
    """Turns an undecryptable secret into a clear page instead of a traceback.

    The message names the field and record only; it never holds ciphertext or plaintext.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DecryptionError):
            return None
        log.error("%s", exception)
        return render(
            request,
            "error.html",
            {"title": "Cannot decrypt a stored secret", "message": str(exception)},
            status=500,
        )
