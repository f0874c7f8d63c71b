"""Filling {name} placeholders, escaped for where the value lands."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape

from connectit.validators import PLACEHOLDER, placeholders

HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Set by the app itself; an extra header may not override them.
RESERVED_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}


class MissingParameters(Exception):
    def __init__(self, names: list[str]) -> None:
        super().__init__(f"Missing parameter(s): {', '.join(names)}. Give a value for each placeholder.")
        self.names = names


def url_escape(value: str) -> str:
    return quote(value, safe="")


def json_escape(value: str) -> str:
    """Inside a JSON string or as a bare number: quotes and backslashes are escaped."""
    return json.dumps(value)[1:-1]


def xml_text_escape(value: str) -> str:
    return xml_escape(value, {'"': "&quot;", "'": "&apos;"})


def no_escape(value: str) -> str:
    return value


ESCAPE_FOR_CONTENT_TYPE: dict[str, Callable[[str], str]] = {
    "application/json": json_escape,
    "application/xml": xml_text_escape,
    "text/xml": xml_text_escape,
    "text/plain": no_escape,
}


def fill(template: str, params: dict[str, str], escape: Callable[[str], str]) -> str:
    missing = [name for name in placeholders(template) if name not in params]
    if missing:
        raise MissingParameters(missing)
    return PLACEHOLDER.sub(lambda match: escape(str(params[match.group(1)])), template)


def parse_headers(text: str) -> list[tuple[str, str]]:
    """'Name: value' lines; raises ValueError with a message naming the bad line."""
    headers = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not HEADER_NAME.match(name):
            raise ValueError(f"Line {number}: write a header as 'Name: value'.")
        if name.lower() in RESERVED_HEADERS:
            raise ValueError(f"Line {number}: {name} is set by the app and cannot be overridden.")
        headers.append((name, value))
    return headers
