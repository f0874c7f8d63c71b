from __future__ import annotations

import json
from datetime import datetime

from django import forms, template
from django.utils.safestring import SafeString
from lxml import etree

from connectit.forms import Tab, tab_layout
from connectit.times import time_element

register = template.Library()


@register.simple_tag
def local_time(value: datetime | None) -> SafeString:
    """Every time on the pages: relative text, the exact time in the configured zone on hover."""
    return time_element(value)


@register.filter(name="tab_layout")
def tab_layout_filter(form: forms.BaseForm) -> list[Tab]:
    """``form|tab_layout``: the tabs and rows templates/_form_tabs.html renders."""
    return tab_layout(form)


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
