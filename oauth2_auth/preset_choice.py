"""Starting a new record from a provider preset (oauth2_auth/presets.py): a small GET form on the
new-record page whose answer fills the record's form. Nothing is saved until the administrator
saves the record, and every filled field stays editable."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import QueryDict

from oauth2_auth import presets
from oauth2_auth.models import GrantType

PRESET_DEFAULT = ""  # the preset's own grant (Google and Salesforce: authorization code)


class PresetChoiceForm(forms.Form):
    preset = forms.ChoiceField(label="Provider")
    grant_type = forms.ChoiceField(
        label="Grant type to fill in",
        required=False,
        choices=[(PRESET_DEFAULT, "The provider's usual one"), *GrantType.choices],
    )
    tenant = forms.CharField(
        label="Tenant (Entra ID, Business Central, Graph)",
        required=False,
        max_length=253,
        help_text=presets.INPUTS["tenant"].help,
    )
    cloud = forms.ChoiceField(
        label="Cloud (Entra ID, Business Central, Graph)",
        required=False,
        choices=presets.INPUTS["cloud"].choices,
        initial="global",
    )
    issuer = forms.CharField(
        label="Issuer or discovery URL (Generic OpenID Connect)",
        required=False,
        max_length=2000,
        help_text=presets.INPUTS["issuer"].help,
    )
    salesforce_host = forms.CharField(
        label="Login host (Salesforce)", required=False, max_length=253, initial="login.salesforce.com"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["preset"].choices = [(key, preset.name) for key, preset in presets.presets().items()]
        self.filled: dict[str, Any] = {}
        self.warnings: list[str] = []
        self.chosen: presets.Preset | None = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "preset" not in cleaned:
            return cleaned
        preset = presets.get(cleaned["preset"])
        values = {name: cleaned.get(name) or "" for name in preset.inputs}
        try:
            self.filled, self.warnings = preset.fill(values, grant_type=cleaned.get("grant_type") or None)
        except presets.PresetError as exc:
            raise forms.ValidationError(str(exc)) from None
        self.chosen = preset  # not "preset": templates would find the field of that name first
        return cleaned


def from_request(query: QueryDict) -> PresetChoiceForm:
    """The chooser: bound when the page was asked for with a preset, empty otherwise."""
    return PresetChoiceForm(query if "preset" in query else None, auto_id="preset_%s")
