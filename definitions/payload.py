"""The import payload of a run, streamed from its stored pages for download."""

from __future__ import annotations

import json
from collections.abc import Iterator

from connectit.jsonpath import lookup
from definitions.models import Direction, Run

# The types a download is served as, by what the API answered; anything else is served as
# application/octet-stream. The payload is stored as text and sent as UTF-8 (JSON is UTF-8 by
# definition), whatever charset the API named.
JSON_TYPE = "application/json"
XML_TYPE = "application/xml; charset=utf-8"
SERVED_TYPES = {
    "application/json": JSON_TYPE,
    "text/json": JSON_TYPE,
    "application/xml": XML_TYPE,
    "text/xml": XML_TYPE,
    "application/soap+xml": XML_TYPE,
    "text/plain": "text/plain; charset=utf-8",
    "text/csv": "text/csv; charset=utf-8",
}
OTHER_TYPE = "application/octet-stream"
EXTENSIONS = {JSON_TYPE: "json", XML_TYPE: "xml", SERVED_TYPES["text/csv"]: "csv"}


def payload_type(run: Run) -> str:
    """The Content-Type a run's payload is downloaded as: an allow-listed one, or octet-stream.

    Served as the API named it, "text/html" or "image/svg+xml" would be a page of this app's
    origin, with the API's script in it.
    """
    media = run.response_content_type.split(";", 1)[0].strip().lower()
    if media in SERVED_TYPES:
        return SERVED_TYPES[media]
    # application/problem+json and the like are JSON still. No "+xml" here: SVG and XHTML are XML.
    kind, _, subtype = media.partition("/")
    if kind == "application" and subtype.endswith("+json"):
        return JSON_TYPE
    return OTHER_TYPE


def download_name(run: Run) -> str:
    extension = EXTENSIONS.get(payload_type(run), "txt")
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
