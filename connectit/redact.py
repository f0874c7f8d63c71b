"""Replacing secret values in text that is shown, stored or logged.

A server that echoes a request rarely quotes a secret only as itself: it comes back URL-encoded
(from a query or a form body), JSON-escaped (from a JSON body), HTML-escaped (in an error page) or
Base64-encoded (from a Basic header). A ``Redactor`` knows each secret in all those forms and puts
``[redacted]`` in place of every one. Both apps use it: the token requests of ``oauth2_auth`` and
the runs of ``definitions``.

Escapes are matched one character at a time and with their hex digits in either case: a server
may write "%2f" where Python writes "%2F", "\\u002B" for "+" (.NET does), or escape only some
characters. Whatever a JSON, URL or HTML/XML decoder turns back into the secret is redacted, so a
page that pretty-prints (decodes) the stored text cannot show it either. ``Redactor.body`` also
checks a JSON or XML body as a parser reads it, for what no escape pattern can see (an XML CDATA
section splitting the secret, say).
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus

from lxml import etree

REDACTED = "[redacted]"
# Very short values would redact innocent text and protect nothing.
MIN_LENGTH = 4


class Redactor:
    """Replaces every secret value it was given, in any of its encodings, with ``[redacted]``."""

    def __init__(self, *values: str) -> None:
        self.secrets: set[str] = set()
        self._forms: set[str] = set()
        self._patterns: list[re.Pattern[str]] = []
        self.add(*values)

    def add(self, *values: str) -> None:
        for value in values:
            if value and len(value) >= MIN_LENGTH and value not in self.secrets:
                self.secrets.add(value)
                # The exact forms are what Base64 needs (its case matters); the pattern finds the
                # escaped forms however they are mixed. Searching both costs little: str.find is fast.
                self._forms.update(encodings(value))
                self._patterns.append(escaped_pattern(value))

    def __call__(self, text: str) -> str:
        if not self._forms:
            return text
        pieces: list[str] = []
        end = 0
        for start, stop in _spans(text, self._forms, self._patterns):
            pieces += [text[end:start], REDACTED]
            end = stop
        pieces.append(text[end:])
        return "".join(pieces)

    def body(self, text: str, content_type: str = "") -> str:
        """``text`` redacted, and if it is JSON or XML whose decoded strings still hold a secret,
        that document re-written with those strings redacted.

        The run pages pretty-print (so decode) JSON and XML bodies; the pattern covers every escape
        a parser decodes, but a parser also joins text an attacker-controlled server split (CDATA
        sections) or normalises (whitespace in attributes). Only then is the body re-written: a
        body without secrets is stored byte for byte as it came.
        """
        redacted = self(text)
        if not self.secrets:
            return redacted
        for rewrite in (self._json_body, self._xml_body):
            rewritten = rewrite(redacted, content_type)
            if rewritten is not None:
                return rewritten
        return redacted

    def _shows_a_secret(self, strings: Iterable[str]) -> bool:
        # One pass over all of them: NUL never occurs in a secret, so no match spans two strings.
        joined = "\x00".join(strings)
        return self(joined) != joined

    def _json_body(self, text: str, content_type: str) -> str | None:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return None
        if not self._shows_a_secret(_json_strings(data)):
            return None
        try:
            return json.dumps(_redact_json(data, self), ensure_ascii=False)
        except (ValueError, RecursionError):
            return UNREDACTABLE

    def _xml_body(self, text: str, content_type: str) -> str | None:
        if "xml" not in content_type.lower() and not text.lstrip().startswith("<"):
            return None
        try:
            # As the run page's pretty-printer reads it: no entities, no network.
            parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)
            root = etree.fromstring(text.encode(), parser=parser)
        except (etree.XMLSyntaxError, ValueError):
            return None
        if not self._shows_a_secret(_xml_strings(root)):
            return None
        for element in root.iter():
            if element.text:
                element.text = self(element.text)
            if element.tail:
                element.tail = self(element.tail)
            if isinstance(element.tag, str):  # comments and processing instructions have none
                for name, value in element.attrib.items():
                    element.set(name, self(value))
        return etree.tostring(root, encoding="unicode")


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


# What the JSON, URL and HTML/XML decoders turn into a character, besides its numeric escapes.
_NAMED_ESCAPES: dict[str, tuple[str, ...]] = {
    " ": (r"\+",),
    "/": (r"\\/",),
    "\\": (r"\\\\",),
    '"': (r'\\"', "(?i:&quot;)"),
    "&": ("(?i:&amp;)",),
    "<": ("(?i:&lt;)",),
    ">": ("(?i:&gt;)",),
    "'": ("&apos;",),
    "\b": (r"\\b",),
    "\f": (r"\\f",),
    "\n": (r"\\n",),
    "\r": (r"\\r",),
    "\t": (r"\\t",),
}


def _caseless_hex(number: int, width: int) -> str:
    """``number`` in hex digits for a pattern: "2f" and "2F" alike."""
    return "".join(f"[{d.lower()}{d}]" if d.isalpha() else d for d in f"{number:0{width}X}")


def _character_pattern(char: str) -> str:
    code = ord(char)
    if code > 0xFFFF:  # JSON writes it as a UTF-16 surrogate pair
        units = char.encode("utf-16-be")
        json_escape = "".join(
            r"\\u" + _caseless_hex(int.from_bytes(units[i : i + 2], "big"), 4) for i in (0, 2)
        )
    else:
        json_escape = r"\\u" + _caseless_hex(code, 4)
    alternatives = [
        re.escape(char),
        "".join("%" + _caseless_hex(byte, 2) for byte in char.encode()),  # URL: its UTF-8 bytes
        json_escape,
        f"&#0*{code};",  # HTML/XML character references, decimal and hex
        f"&#[xX]0*{_caseless_hex(code, 1)};",
        *_NAMED_ESCAPES.get(char, ()),
    ]
    return "(?:" + "|".join(alternatives) + ")"


@lru_cache(maxsize=256)
def escaped_pattern(value: str) -> re.Pattern[str]:
    """Matches ``value`` with any of its characters escaped (URL, JSON, HTML/XML), hex digits in
    either case, and ``value``'s UTF-8 written as hex; case matters everywhere else."""
    per_character = "".join(_character_pattern(char) for char in value)
    return re.compile(f"{per_character}|(?i:{value.encode().hex()})")


def _base64_forms(value: str) -> Iterator[str]:
    # Without the padding, which then stays behind harmlessly: it matches padded and unpadded text.
    # This finds the value only when it was encoded on its own; callers add composed values such
    # as Basic credentials ("id:secret") whole.
    raw = value.encode()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        yield encode(raw).decode("ascii").rstrip("=")


def _spans(
    text: str, forms: Iterable[str], patterns: Iterable[re.Pattern[str]] = ()
) -> list[tuple[int, int]]:
    """Where ``forms`` and ``patterns`` occur in ``text``, overlapping occurrences merged, in order.

    Working on the original text (rather than replacing one value after another) means no value
    is half-replaced because a shorter or overlapping one went first, and no value is found inside
    a ``[redacted]`` that an earlier replacement left.
    """
    merged: list[tuple[int, int]] = []
    found = [*_occurrences(text, forms), *_matches(text, patterns)]
    for start, stop in sorted(found):
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


def _matches(text: str, patterns: Iterable[re.Pattern[str]]) -> Iterator[tuple[int, int]]:
    for pattern in patterns:
        match = pattern.search(text)
        while match is not None:
            yield match.span()
            # From the next character, like _occurrences: overlapping occurrences are merged whole.
            match = pattern.search(text, match.start() + 1)


# A JSON body that showed a secret once decoded but cannot be written again (nested too deeply).
UNREDACTABLE = f"{REDACTED} (the body held a secret that could not be redacted in place)"


def _json_strings(data: Any) -> Iterator[str]:
    """Every string in decoded JSON, keys included; iterative, so depth costs no recursion."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            for key, value in item.items():
                yield key
                stack.append(value)


def _redact_json(data: Any, redact: Redactor) -> Any:
    """``data`` with every string (keys included) passed through ``redact``, changed in place."""
    root = [data]
    stack: list[list[Any] | dict[str, Any]] = [root]
    while stack:
        container = stack.pop()
        if isinstance(container, list):
            for index, item in enumerate(container):
                if isinstance(item, str):
                    container[index] = redact(item)
                elif isinstance(item, list | dict):
                    stack.append(item)
        else:
            items = list(container.items())
            container.clear()
            for key, value in items:
                if isinstance(value, str):
                    value = redact(value)
                elif isinstance(value, list | dict):
                    stack.append(value)
                container[redact(key)] = value
    return root[0]


def _xml_strings(root: etree._Element) -> Iterator[str]:
    for element in root.iter():
        yield element.text or ""
        yield element.tail or ""
        if isinstance(element.tag, str):
            yield from element.attrib.values()
