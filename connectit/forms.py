"""Form pieces shared by authorizations and definitions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from cryptography.fernet import InvalidToken
from django import forms
from django.db import models
from django.utils.text import capfirst

from connectit.fields import fernet_for, is_stored

# A secret typed into a form that failed validation is kept this long (seconds), encrypted in the
# page, so fixing another field does not silently drop it.
KEPT_SECRET_TTL = 3600
KEPT_PURPOSE = "connectit-kept-secret"
STORED_HELP = "Stored (encrypted). Leave blank to keep the stored value."
KEPT_HELP = "Kept from your last attempt (not shown). Leave blank to use it, or type another."


class SecretFieldsMixin:
    """Write-only secret fields for a ModelForm.

    ``secret_fields`` names encrypted model fields. Each gets a password input that never renders
    the stored value, plus a "clear" checkbox (shown only when something is stored): a blank input
    keeps what is stored, a value replaces it, the checkbox removes it. The stored value is never
    decrypted by the form.

    When the form fails validation for any reason, a secret that was typed is not lost: it comes
    back encrypted (Fernet under a key derived for this purpose only, with the field's name and a
    one-hour limit inside) in a hidden
    ``<name>_kept`` field, never in clear, and a blank input on the next submission uses it.
    """

    secret_fields: tuple[str, ...] = ()
    instance: models.Model
    fields: dict[str, forms.Field]
    cleaned_data: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in self.secret_fields:
            model_field = self.instance._meta.get_field(name)
            stored = is_stored(self.instance, name)
            self.fields[name] = forms.CharField(
                label=capfirst(model_field.verbose_name),
                required=False,
                strip=False,
                widget=forms.PasswordInput(
                    render_value=False,
                    attrs={"autocomplete": "new-password", "placeholder": _placeholder(stored)},
                ),
                help_text="Stored (encrypted). Leave blank to keep the stored value."
                if stored
                else "Not set.",
            )
            self.fields[f"{name}_clear"] = forms.BooleanField(
                label=f"Clear the stored {model_field.verbose_name}",
                required=False,
                # Nothing stored: nothing to clear (the box would only confuse).
                widget=forms.CheckboxInput if stored else forms.HiddenInput,
            )
            self.fields[f"{name}_kept"] = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in self.secret_fields:
            if cleaned.get(name) and cleaned.get(f"{name}_clear"):
                self.add_error(f"{name}_clear", "Either enter a new value or clear it, not both.")
            elif not cleaned.get(name) and cleaned.get(f"{name}_kept") and not cleaned.get(f"{name}_clear"):
                self._use_kept(cleaned, name)
        return cleaned

    def _use_kept(self, cleaned: dict[str, Any], name: str) -> None:
        value = _unseal(name, cleaned[f"{name}_kept"])
        if value is None:
            self.add_error(name, "The value typed earlier has expired or cannot be read: type it again.")
        else:
            cleaned[name] = value

    @property
    def kept_fields(self) -> list[forms.BoundField]:
        """The hidden fields that carry typed secrets through a failed validation (rendered by
        templates/_form_tabs.html)."""
        return [self[f"{name}_kept"] for name in self.secret_fields]

    def full_clean(self) -> None:
        super().full_clean()
        if self.is_bound and self.errors:
            self._keep_typed_secrets()

    def _keep_typed_secrets(self) -> None:
        """Put each typed secret back, sealed, into its hidden field, and say so beside it."""
        data = self.data.copy()
        for name in self.secret_fields:
            typed = self.cleaned_data.get(name) if hasattr(self, "cleaned_data") else None
            if not typed:
                continue
            data[self.add_prefix(f"{name}_kept")] = _seal(name, typed)
            field = self.fields[name]
            field.widget.attrs["placeholder"] = "•••••••• (typed, kept)"
            field.help_text = (
                "Kept from your last attempt (not shown). Leave blank to use it, or type another."
            )
            self._bound_fields_cache.pop(name, None)  # a bound field made earlier keeps the old text
        self.data = data

    def apply_secrets(self, instance: models.Model) -> list[str]:
        """Set the secrets typed or cleared; returns the names of those that changed."""
        changed = []
        for name in self.secret_fields:
            if self.cleaned_data.get(f"{name}_clear"):
                setattr(instance, name, "")
            elif self.cleaned_data.get(name):
                setattr(instance, name, self.cleaned_data[name])
            else:
                continue
            changed.append(name)
        return changed

    def save(self, commit: bool = True) -> models.Model:
        instance = super().save(commit=False)
        changed = self.apply_secrets(instance)
        if commit:
            adding = instance._state.adding
            # An edit writes only the columns this form shows, and a secret only when it was
            # typed or cleared: a value re-encrypted (key rotation) or written by its own writer
            # meanwhile is never overwritten with what this form loaded earlier.
            instance.save(update_fields=None if adding else self._own_columns(instance, changed))
            self.save_m2m()
        return instance

    def _own_columns(self, instance: models.Model, changed_secrets: list[str]) -> list[str]:
        edited = set(self._meta.fields) | set(changed_secrets)
        return [
            field.name
            for field in instance._meta.concrete_fields
            if field.name in edited or getattr(field, "auto_now", False)
        ]


def _seal(name: str, value: str) -> str:
    payload = json.dumps({"purpose": KEPT_PURPOSE, "field": name, "value": value})
    return fernet_for(KEPT_PURPOSE).encrypt(payload.encode()).decode()


def _unseal(name: str, token: str) -> str | None:
    """The kept value, if the token is ours, for this field and not older than the limit."""
    try:
        payload = json.loads(fernet_for(KEPT_PURPOSE).decrypt(token.encode(), ttl=KEPT_SECRET_TTL))
    except (InvalidToken, ValueError, TypeError):
        return None
    if (
        not isinstance(payload, dict)
        or payload.get("purpose") != KEPT_PURPOSE
        or payload.get("field") != name
    ):
        return None
    value = payload.get("value")
    return value if isinstance(value, str) else None


def _placeholder(stored: bool) -> str:
    return "•••••••• (stored)" if stored else "not set"


def no_autofocus_when_editing(form: forms.ModelForm) -> None:
    """A new record's page starts in Code; an existing record's page must not jump there (and
    on a phone, open the keyboard over what the administrator came to read)."""
    if form.instance.pk and "code" in form.fields:
        form.fields["code"].widget.attrs.pop("autofocus", None)


def tab_fields(tabs: tuple, secret_fields: tuple[str, ...]) -> tuple[str, ...]:
    """The model fields a tabbed form edits: every field its tabs list, less the write-only
    secrets (and their clear boxes), which SecretFieldsMixin adds itself."""
    skip = set(secret_fields) | {f"{name}_{part}" for name in secret_fields for part in ("clear", "kept")}
    return tuple(name for _tab, _label, names, _when in tabs for name in names if name not in skip)


# How templates/_form_tabs.html lays out a tabbed form. A form may set, besides ``tabs`` and
# ``field_show_when``:
#   required_when = {"field": "other=value[,value]"}: required only while that holds (the page
#       marks it; the form's clean() enforces it);
#   advanced = {"tab id": ("summary", ("field", ...))}: fields most people leave as they are,
#       folded into a closed <details> on that tab;
#   read_only = True: values as text, never inputs (set by connectit.records.edit_record).


@dataclass(frozen=True)
class Row:
    field: forms.BoundField
    show_when: str
    required_when: str
    text: str  # the value as the read-only page shows it
    multiline: bool


@dataclass(frozen=True)
class Tab:
    id: str
    label: str
    show_when: str
    rows: list[Row]
    advanced_label: str = ""
    advanced_rows: list[Row] = dc_field(default_factory=list)
    advanced_open: bool = False

    @property
    def has_errors(self) -> bool:
        return any(row.field.errors for row in (*self.rows, *self.advanced_rows))

    @property
    def all_rows(self) -> list[Row]:
        return [*self.rows, *self.advanced_rows]


def tab_layout(form: forms.BaseForm) -> list[Tab]:
    """The tabs of ``form`` with their rows; a read-only form leaves out what does not apply to
    the record (a tab or field whose show-when rule does not hold) and every clear box."""
    read_only = getattr(form, "read_only", False)
    advanced = getattr(form, "advanced", {})
    tabs = []
    for tab_id, label, names, show_when in form.tabs:
        if read_only and not _holds(form, show_when):
            continue
        folded_label, folded = advanced.get(tab_id, ("", ()))
        rows = [_row(form, name) for name in names if name not in folded]
        folded_rows = [_row(form, name) for name in folded]
        if read_only:
            rows = [row for row in rows if _shown_read_only(form, row)]
            folded_rows = [row for row in folded_rows if _shown_read_only(form, row)]
        tabs.append(
            Tab(
                tab_id,
                label,
                show_when,
                rows,
                folded_label,
                folded_rows,
                any(row.field.errors or _differs(form, row.field.name) for row in folded_rows),
            )
        )
    return tabs


def _row(form: forms.BaseForm, name: str) -> Row:
    bound = form[name]
    return Row(
        bound,
        getattr(form, "field_show_when", {}).get(name, ""),
        getattr(form, "required_when", {}).get(name, ""),
        _text(form, bound) if getattr(form, "read_only", False) else "",
        isinstance(bound.field.widget, forms.Textarea),
    )


def _shown_read_only(form: forms.BaseForm, row: Row) -> bool:
    secret_parts = {
        f"{name}_{part}" for name in getattr(form, "secret_fields", ()) for part in ("clear", "kept")
    }
    return row.field.name not in secret_parts and _holds(form, row.show_when)


def _holds(form: forms.BaseForm, rule: str) -> bool:
    """A "field=value[,value][;field=value]" rule against the form's values: every condition
    must hold (an empty rule always holds), as static/connectit/form_tabs.js decides it."""
    for condition in filter(None, rule.split(";")):
        name, values = condition.split("=", 1)
        if name in form.fields and str(form[name].value()) not in values.split(","):
            return False
    return True


def _differs(form: forms.BaseForm, name: str) -> bool:
    """Whether a field holds something else than its model default (then it is not folded away)."""
    try:
        default = form.instance._meta.get_field(name).get_default()
    except (AttributeError, LookupError):
        return False
    return str(form[name].value() or "") != str(default or "")


def _text(form: forms.BaseForm, bound: forms.BoundField) -> str:
    """A value as text for a user who may not change it; a secret only as stored or not."""
    if bound.name in getattr(form, "secret_fields", ()):
        return "stored" if is_stored(form.instance, bound.name) else "not set"
    value = bound.value()
    field = bound.field
    if isinstance(field, forms.BooleanField):
        return "Yes" if value else "No"
    if isinstance(field, forms.ModelChoiceField):
        return str(value) if value not in (None, "") else "—"
    choices = getattr(bound.field.widget, "choices", None) or getattr(field, "choices", None)
    if choices is not None:
        labels = {str(key): label for key, label in choices}
        value = labels.get(str(value), value)
    if isinstance(value, (dict, list)):
        value = json.dumps(value, indent=2, ensure_ascii=False) if value else ""
    return str(value) if value not in (None, "") else "—"
