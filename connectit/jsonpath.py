"""Dotted property paths into decoded JSON, shared by token responses and API pages."""

from __future__ import annotations

from typing import Any


def lookup(body: Any, path: str) -> Any:
    """Follow a dotted property path ('data.access_token') through nested objects.

    A key that itself holds dots (OData's '@odata.nextLink') matches as a whole first.
    """
    if not isinstance(body, dict):
        return None
    if path in body:
        return body[path]
    start = 0
    while (dot := path.find(".", start)) != -1:
        head, rest = path[:dot], path[dot + 1 :]
        if head in body:
            found = lookup(body[head], rest)
            if found is not None:
                return found
        start = dot + 1
    return None
