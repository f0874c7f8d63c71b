from __future__ import annotations

from django import template

from definitions.calls import Redactor

register = template.Library()


@register.filter
def redact_with(text: object, redact: Redactor) -> str:
    """``text|redact_with:redact``: the last step before a run's text reaches the page, after any
    pretty-printing (see definitions/display.py)."""
    if not isinstance(redact, Redactor):
        # A view that forgot its redactor must fail, not show the text unredacted.
        raise TypeError("redact_with needs the redactor the view puts in the context.")
    return redact("" if text is None else str(text))
