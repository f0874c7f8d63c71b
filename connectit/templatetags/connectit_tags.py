from __future__ import annotations

import json

from django import forms, template
from lxml import etree

register = template.Library()


@register.filter
def field(form: forms.BaseForm, name: str) -> forms.BoundField:
    """``form|field:"name"``: lets a template lay out fields from a list of names."""
    return form[name]


@register.filter
def tab_has_errors(form: forms.BaseForm, names: tuple[str, ...]) -> bool:
    return any(name in form.errors for name in names)


@register.filter
def get(mapping: dict, key: str):
    return mapping.get(key, "")


PAGE_BODY_LIMIT = 1024 * 1024


@register.filter
def pretty_body(text: str, content_type: str = "") -> str:
    """JSON indented, XML re-indented, anything else as it is; at most 1 MiB on a page."""
    text = text or ""
    cut = len(text) > PAGE_BODY_LIMIT
    if not cut:
        text = _pretty(text, content_type or "")
    if len(text) > PAGE_BODY_LIMIT:
        text, cut = text[:PAGE_BODY_LIMIT], True
    return text + ("\n… (cut at 1 MiB; download for the whole payload)" if cut else "")


def _pretty(text: str, content_type: str) -> str:
    stripped = text.lstrip()
    if "json" in content_type or stripped[:1] in "{[":
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return text
    if "xml" in content_type or stripped.startswith("<"):
        try:
            parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
            root = etree.fromstring(text.encode(), parser=parser)
            return etree.tostring(root, pretty_print=True, encoding="unicode")
        except (etree.XMLSyntaxError, ValueError):
            return text
    return text
