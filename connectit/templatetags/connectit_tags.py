from __future__ import annotations

from django import forms, template

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
