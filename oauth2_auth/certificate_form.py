"""The certificate part of the authorization form (private_key_jwt): generate a key pair and a
self-signed certificate, import a PEM pair or a PFX file, or keep what is stored.

The record form is the only writer of the key, the certificate and the expiry date, so a
certificate page saved at the same time as the form cannot undo one another. Key material that
was pasted or uploaded is not kept in the page when another field has an error: it is asked for
again (a PFX file cannot be put back into a file input anyway).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django import forms
from django.urls import reverse
from django.utils.html import format_html

from oauth2_auth import client_assertion
from oauth2_auth.client_assertion import Credential, CredentialError
from oauth2_auth.models import Authorization, CredentialType

KEEP, GENERATE, PEM, PFX = "keep", "generate", "pem", "pfx"
PFX_MAX_BYTES = 64 * 1024  # a key and a short chain; anything larger is not a client certificate
PEM_MAX_CHARS = 64 * 1024
CERTIFICATE_FIELDS = (
    "certificate_source",
    "certificate_name",
    "certificate_days",
    "private_key_pem",
    "certificate_pem",
    "pfx_file",
    "pfx_password",
)
# Fields only for private_key_jwt, and some only for one source.
_FOR_CERTIFICATE = "credential_type=private_key_jwt"
SHOW_WHEN = {
    "assertion_algorithm": _FOR_CERTIFICATE,
    "certificate_source": _FOR_CERTIFICATE,
    "certificate_name": f"{_FOR_CERTIFICATE};certificate_source={GENERATE}",
    "certificate_days": f"{_FOR_CERTIFICATE};certificate_source={GENERATE}",
    "private_key_pem": f"{_FOR_CERTIFICATE};certificate_source={PEM}",
    "certificate_pem": f"{_FOR_CERTIFICATE};certificate_source={PEM}",
    "pfx_file": f"{_FOR_CERTIFICATE};certificate_source={PFX}",
    "pfx_password": f"{_FOR_CERTIFICATE};certificate_source={PFX}",
}
ASKED_AGAIN = "Key material is not kept in the page: give it again."


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders its value: a pasted private key must not come back in the
    page when another field has an error."""

    def format_value(self, value: Any) -> None:
        return None


def stored_credential(record: Authorization) -> Credential | None:
    """The record's stored certificate, or None when there is none or it cannot be read."""
    if not record.certificate:
        return None
    try:
        credential = Credential(private_key_pem="", certificate_pem=record.certificate)
        credential.certificate  # noqa: B018  (parse now: a damaged one counts as none)
    except ValueError:
        return None
    return credential


def describe(credential: Credential) -> str:
    """One line naming a certificate the way the provider's portal shows it."""
    names = credential.certificate.subject.rfc4514_string()
    return (
        f"{names}, thumbprint {credential.thumbprint_sha1_hex}, "
        f"valid until {credential.not_after.date().isoformat()}"
    )


class CertificateFieldsMixin:
    """Adds the certificate fields to a ModelForm of Authorization and applies them on save."""

    instance: Authorization
    fields: dict[str, forms.Field]
    cleaned_data: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.credential: Credential | None = None  # the new one, set by clean()
        stored = stored_credential(self.instance) if self.instance.pk else None
        # Without a choice posted, what is stored stays: only an explicit choice replaces a key.
        self.default_source = KEEP if stored else GENERATE
        choices = [(KEEP, f"The stored certificate: {describe(stored)}")] if stored else []
        choices += [
            (GENERATE, "Generate a new key and certificate here"),
            (PEM, "Import a PEM private key and certificate"),
            (PFX, "Import a PFX (PKCS#12) file"),
        ]
        self.fields["certificate_source"] = forms.ChoiceField(
            label="Certificate", choices=choices, initial=self.default_source, required=False
        )
        if stored:
            url = reverse("oauth2_auth:certificate", args=[self.instance.pk])
            self.fields["certificate_source"].help_text = format_html(
                '<a href="{}" id="download-certificate">Download the certificate</a> and upload it '
                "to the app registration (Entra ID: Certificates &amp; secrets). A new one replaces "
                "it when you save.",
                url,
            )
        self.fields["certificate_name"] = forms.CharField(
            label="Certificate name (CN)",
            max_length=64,
            required=False,
            help_text="Shown in the provider's portal. Blank: “ConnectIT” and this record's code.",
        )
        self.fields["certificate_days"] = forms.IntegerField(
            label="Valid for (days)", min_value=1, max_value=3650, initial=730, required=False
        )
        self.fields["private_key_pem"] = forms.CharField(
            label="Private key (PEM)",
            required=False,
            strip=False,
            max_length=PEM_MAX_CHARS,
            widget=WriteOnlyTextarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
            help_text="-----BEGIN PRIVATE KEY----- … Unencrypted; stored encrypted, never shown again.",
        )
        self.fields["certificate_pem"] = forms.CharField(
            label="Certificate (PEM)",
            required=False,
            max_length=PEM_MAX_CHARS,
            widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
            help_text="-----BEGIN CERTIFICATE----- … The one that matches the key; a chain is fine.",
        )
        self.fields["pfx_file"] = forms.FileField(label="PFX file (.pfx, .p12)", required=False)
        self.fields["pfx_password"] = forms.CharField(
            label="PFX password",
            required=False,
            strip=False,
            widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        )

    def clean_certificate(self, cleaned: dict[str, Any]) -> None:
        """Read the chosen key material now, so a bad file is an error beside its field."""
        if cleaned.get("credential_type") != CredentialType.PRIVATE_KEY_JWT:
            return
        source = self.source(cleaned)
        try:
            if source == PEM:
                self.credential = self._from_pem(cleaned)
            elif source == PFX:
                self.credential = self._from_pfx(cleaned)
        except CredentialError as exc:
            field = "pfx_file" if source == PFX else "private_key_pem"
            self.add_error(field, str(exc))  # type: ignore[attr-defined]

    def source(self, cleaned: dict[str, Any]) -> str:
        return cleaned.get("certificate_source") or self.default_source

    def _from_pem(self, cleaned: dict[str, Any]) -> Credential | None:
        key, certificate = cleaned.get("private_key_pem"), cleaned.get("certificate_pem")
        if not key or not certificate:
            for name, value in (("private_key_pem", key), ("certificate_pem", certificate)):
                if not value:
                    self.add_error(name, "Paste it to import a PEM pair.")  # type: ignore[attr-defined]
            return None
        return client_assertion.load_pem(key, certificate)

    def _from_pfx(self, cleaned: dict[str, Any]) -> Credential | None:
        upload = cleaned.get("pfx_file")
        if not upload:
            self.add_error("pfx_file", "Choose the PFX file to import.")  # type: ignore[attr-defined]
            return None
        if upload.size > PFX_MAX_BYTES:
            limit = PFX_MAX_BYTES // 1024
            raise CredentialError(f"The file is larger than {limit} KiB: not a client certificate.")
        return client_assertion.load_pfx(upload.read(), cleaned.get("pfx_password") or None)

    def apply_certificate(self, instance: Authorization) -> list[str]:
        """Store the new key and certificate on ``instance``; the names of the columns changed."""
        if self.cleaned_data.get("credential_type") != CredentialType.PRIVATE_KEY_JWT:
            return []
        if self.credential is None and self.source(self.cleaned_data) == GENERATE:
            name = self.cleaned_data.get("certificate_name") or f"ConnectIT {instance.code}"
            days = self.cleaned_data.get("certificate_days") or 730
            self.credential = client_assertion.generate(name, days=days)
        if self.credential is None:
            return []
        instance.private_key = self.credential.private_key_pem
        instance.certificate = self.credential.certificate_pem
        # The date the list and the alerts warn ahead of: the certificate's own.
        instance.credential_expires_on = self.credential.not_after.date()
        return ["private_key", "certificate", "credential_expires_on"]

    @cached_property
    def changed_data(self) -> list[str]:
        """For the audit trail: the record's columns, so a new key and certificate show as such
        and the inputs that made them (name, days, files) do not."""
        changed = [name for name in super().changed_data if name not in CERTIFICATE_FIELDS]  # type: ignore[misc]
        return changed + (["private_key", "certificate"] if self.credential is not None else [])

    def full_clean(self) -> None:
        super().full_clean()  # type: ignore[misc]
        if getattr(self, "is_bound", False) and getattr(self, "errors", None):
            self._ask_for_key_material_again()

    def _ask_for_key_material_again(self) -> None:
        """Pasted or uploaded key material is not rendered back: say it must be given again."""
        data, files = getattr(self, "data", {}), getattr(self, "files", {})
        for name in ("private_key_pem", "pfx_file"):
            if data.get(name) or files.get(name):
                self.fields[name].help_text = ASKED_AGAIN
                # A bound field made earlier keeps the old help text.
                getattr(self, "_bound_fields_cache", {}).pop(name, None)
