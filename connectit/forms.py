"""Form pieces shared by authorizations and definitions."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db import models
from django.utils.text import capfirst

from connectit.fields import is_stored


class SecretFieldsMixin:
    """Write-only secret fields for a ModelForm.

    ``secret_fields`` names encrypted model fields. Each gets a password input that never renders
    the stored value, plus a "clear" checkbox: a blank input keeps what is stored, a value replaces
    it, the checkbox removes it. The stored value is never decrypted by the form.
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
                help_text=("Stored (encrypted). " if stored else "Not set. ")
                + "Leave blank to keep the stored value.",
            )
            self.fields[f"{name}_clear"] = forms.BooleanField(
                label=f"Clear the stored {model_field.verbose_name}", required=False
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in self.secret_fields:
            if cleaned.get(name) and cleaned.get(f"{name}_clear"):
                self.add_error(f"{name}_clear", "Either enter a new value or clear it, not both.")
        return cleaned

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


def _placeholder(stored: bool) -> str:
    return "•••••••• (stored)" if stored else "not set"


def tab_fields(tabs: tuple, secret_fields: tuple[str, ...]) -> tuple[str, ...]:
    """The model fields a tabbed form edits: every field its tabs list, less the write-only
    secrets (and their clear boxes), which SecretFieldsMixin adds itself."""
    skip = set(secret_fields) | {f"{name}_clear" for name in secret_fields}
    return tuple(name for _tab, _label, names, _when in tabs for name in names if name not in skip)
