"""Replacing secret values in text that is shown, stored or logged.

A server that echoes a request rarely quotes a secret only as itself: it comes back URL-encoded
(from a query or a form body), JSON-escaped (from a JSON body), HTML-escaped (in an error page) or
Base64-encoded (from a Basic header). A ``Redactor`` knows each secret in all those forms and puts
``[redacted]`` in place of every one. Both apps use it: the token requests of ``oauth2_auth`` and
the runs of ``definitions``.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Iterator
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
# Very short values would redact innocent text and protect nothing.
MIN_LENGTH = 4


class Redactor:
    """Replaces every secret value it was given, in any of its encodings, with ``[redacted]``."""

    def __init__(self, *values: str) -> None:
        self.secrets: set[str] = set()
        self._forms: set[str] = set()
        self.add(*values)

    def add(self, *values: str) -> None:
        for value in values:
            if value and len(value) >= MIN_LENGTH:
                self.secrets.add(value)
                self._forms.update(encodings(value))

    def __call__(self, text: str) -> str:
        if not self._forms:
            return text
        pieces: list[str] = []
        end = 0
        for start, stop in _spans(text, self._forms):
            pieces += [text[end:start], REDACTED]
            end = stop
        pieces.append(text[end:])
        return "".join(pieces)


def encodings(value: str) -> set[str]:
    """``value`` and the forms a server may echo it in."""
    # quote_plus is also what urlencode (so requests, and flows' form encoding) writes;
    # quote keeps "/" unless told otherwise, as some clients and servers do.
    url_forms = {value, quote(value), quote(value, safe=""), quote_plus(value)}
    forms = set(url_forms)
    for form in url_forms:
        forms.update(_json_forms(form))
    forms.update({html.escape(value), html.escape(value, quote=False)})
    forms.update(_base64_forms(value))
    return forms


def _json_forms(value: str) -> Iterator[str]:
    """The inside of a JSON string holding ``value``, as the common JSON writers put it."""
    for escaped in (json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]):
        yield escaped
        # Python leaves "/" alone, but PHP's json_encode and others write it as "\/".
        yield escaped.replace("/", "\\/")


def _base64_forms(value: str) -> Iterator[str]:
    # Without the padding, which then stays behind harmlessly: it matches padded and unpadded text.
    # This finds the value only when it was encoded on its own; callers add composed values such
    # as Basic credentials ("id:secret") whole.
    raw = value.encode()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        yield encode(raw).decode("ascii").rstrip("=")


def _spans(text: str, forms: Iterable[str]) -> list[tuple[int, int]]:
    """Where ``forms`` occur in ``text``, overlapping occurrences merged, in order.

    Working on the original text (rather than replacing one value after another) means no value
    is half-replaced because a shorter or overlapping one went first, and no value is found inside
    a ``[redacted]`` that an earlier replacement left.
    """
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(_occurrences(text, forms)):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


def _occurrences(text: str, forms: Iterable[str]) -> Iterator[tuple[int, int]]:
    for form in forms:
        start = text.find(form)
        while start != -1:
            yield start, start + len(form)
            start = text.find(form, start + 1)
