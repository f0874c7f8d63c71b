"""The import payload of a run, streamed from its stored pages for download."""

from __future__ import annotations

import json
from collections.abc import Iterator

from connectit.jsonpath import lookup
from definitions.models import Direction, Run


def download_name(run: Run) -> str:
    extension = (
        "json"
        if "json" in run.response_content_type
        else "xml"
        if "xml" in run.response_content_type
        else "txt"
    )
    return f"{run.definition.code.lower()}-run-{run.pk}.{extension}"


def payload_chunks(run: Run) -> Iterator[str]:
    """One page: its body as it came. Several JSON pages: their records merged into one list
    (through the definition's items property). Other formats: the pages one after another."""
    if run.definition.direction == Direction.EXPORT or not run.page_set.exists():
        yield run.response_body  # an export's answer, or a SOAP import's (one response, no pages)
        return
    bodies = run.page_set.filter(kept=True).order_by("number").values_list("body", flat=True)
    if run.pages <= 1:
        yield from bodies[:1]
        return
    if "json" not in run.response_content_type:
        for body in bodies.iterator(chunk_size=1):
            yield body + "\n"
        return
    yield from _merged_json(bodies.iterator(chunk_size=1), run.definition.items_property)


def _merged_json(bodies: Iterator[str], items_property: str) -> Iterator[str]:
    yield "["
    first = True
    for body in bodies:
        try:
            data = json.loads(body)
        except ValueError:
            continue
        items = lookup(data, items_property) if items_property else data
        for item in items if isinstance(items, list) else [items]:
            yield ("" if first else ",") + json.dumps(item)
            first = False
    yield "]"
