"""The canary check: no secret the suite stores ever reaches a page or a log record.

Every value that ``connectit.fields.encrypt`` encrypts during a test is a secret of that test
(client secrets, passwords, static bearer tokens, API keys, access and refresh tokens as they are
stored): its canaries. Every page Django renders in this process during the test (the test
client's requests and the live server's, for the browser tests) and every log record is captured.
When the test ends, none of them may hold a canary, raw or in any encoding the redactor knows
(URL-, form-, JSON-, HTML-escaped, Base64). A hit fails the test at teardown, naming the page or
the logger, never the secret itself.

Streaming responses (payload downloads) are left out: reading them would consume them; their
redaction has tests of its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
from django.core.handlers.base import BaseHandler

from connectit import fields
from connectit.redact import Redactor

# Shorter values are not redacted either (connectit.redact.MIN_LENGTH) and would match by chance.
MIN_CANARY = 8


class _Seen(logging.Handler):
    """Collects what a test's pages and log records held."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self._guard = threading.Lock()  # not "lock": logging.Handler holds that one in emit()
        self.canaries: set[str] = set()
        self.texts: list[tuple[str, str]] = []  # (where, text)

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.add_text(f"log record of {record.name}", text)

    def add_text(self, where: str, text: str) -> None:
        with self._guard:
            self.texts.append((where, text))

    def add_canary(self, value: str) -> None:
        if len(value) >= MIN_CANARY:
            with self._guard:
                self.canaries.add(value)

    def leaks(self) -> list[str]:
        redactor = Redactor(*self.canaries)
        return sorted({where for where, text in self.texts if redactor(text) != text})


@pytest.fixture(autouse=True)
def canaries(monkeypatch) -> Iterator[_Seen]:
    seen = _Seen()
    encrypt = fields.encrypt

    def recording_encrypt(plaintext: str) -> str:
        seen.add_canary(plaintext)
        return encrypt(plaintext)

    get_response = BaseHandler.get_response

    def recording_get_response(self, request):
        response = get_response(self, request)
        if not response.streaming:
            seen.add_text(
                f"page {request.method} {request.path}", response.content.decode("utf-8", "replace")
            )
        return response

    monkeypatch.setattr(fields, "encrypt", recording_encrypt)
    monkeypatch.setattr(BaseHandler, "get_response", recording_get_response)
    root = logging.getLogger()
    root.addHandler(seen)
    try:
        yield seen
    finally:
        root.removeHandler(seen)
    leaks = seen.leaks()
    if leaks:
        pytest.fail("A stored secret reached: " + "; ".join(leaks), pytrace=False)
