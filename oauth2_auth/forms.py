from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django import forms

from connectit.fields import is_stored
from connectit.forms import SecretFieldsMixin, no_autofocus_when_editing, tab_fields
from oauth2_auth.models import CODE_MAX_LENGTH, Authorization, GrantType, host_port, parse_hosts

# Fields that only mean something for the authorization-code grant; the page hides them
# for client credentials and the form does not require them there.
AUTH_CODE_FIELDS = ("auth_url", "auth_method", "redirect_url", "issuer", "require_iss", "use_pkce")
AUTH_CODE_REQUIRED = ("auth_url", "redirect_url")
PROPERTY_FIELDS = ("access_token_property", "expires_in_property", "refresh_token_property")


def clean_code_value(value: str) -> str:
    """Codes are stored upper-case so that references by code cannot differ only in case."""
    return (value or "").strip().upper()


SECRET_FIELDS = ("client_secret",)
# Where the client secret and the tokens go. A change of origin (scheme, host, port) needs the
# secret typed again and drops the stored tokens: an editor must not be able to redirect a
# write-only secret, or a refresh token, to a server of their choosing.
ENDPOINT_FIELDS = (("token_url", "token URL"), ("auth_url", "auth URL"))
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> str:
    """scheme://host:port of a URL, with the default port spelled out; "" for none."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return url
    if not parts.hostname:
        return ""
    return f"{parts.scheme.lower()}://{parts.hostname.lower()}:{port}"


# (tab id, label, fields, shown when "field=value"), rendered in order by templates/_form_tabs.html;
# the model fields the form edits are read from here too.
TABS = (
    (
        "general",
        "General",
        (
            "code",
            "environment",
            "grant_type",
            "token_url",
            "token_method",
            "resource_url",
            "scope",
            "api_hosts",
        ),
        "",
    ),
    (
        "credentials",
        "Credentials",
        (
            "client_id",
            "client_secret",
            "credential_type",
            "client_secret_clear",
            "content_type",
            "access_token_property",
            "expires_in_property",
            "refresh_token_property",
        ),
        "",
    ),
    ("authcode", "Authorization Code", AUTH_CODE_FIELDS, "grant_type=authorization_code"),
)


class AuthorizationForm(SecretFieldsMixin, forms.ModelForm):
    secret_fields = SECRET_FIELDS

    tabs = TABS  # the Bearer Token tab is read-only: the record's template renders it
    # The token request's content type only matters for a POST (a GET sends no body).
    field_show_when: dict[str, str] = {"content_type": "token_method=POST"}
    # What clean() requires only for one grant; the page marks it while that grant is chosen.
    required_when: dict[str, str] = {name: "grant_type=authorization_code" for name in AUTH_CODE_REQUIRED}
    required_legend = "required for the chosen grant"
    # Most people keep the defaults: folded away unless one differs or has an error.
    advanced = {"credentials": ("Advanced: token response property names", PROPERTY_FIELDS)}

    class Meta:
        model = Authorization
        fields = tab_fields(TABS, SECRET_FIELDS)
        widgets = {
            "scope": forms.TextInput(),
            "code": forms.TextInput(attrs={"autofocus": True, "class": "text-uppercase"}),
        }

    def __init__(self, *args: Any, callback_url: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stored_origins = {name: origin(getattr(self.instance, name)) for name, _ in ENDPOINT_FIELDS}
        self.fields["api_hosts"].widget.attrs["rows"] = 3
        self.fields["code"].max_length = CODE_MAX_LENGTH
        self.fields["token_url"].required = True
        no_autofocus_when_editing(self)
        # This app's callback, shown read-only with a Copy button (the administrator registers it
        # at the provider), and compared with the redirect URL stored on the record.
        self.callback_url = callback_url
        if not self.instance.pk and callback_url:
            self.initial.setdefault("redirect_url", callback_url)
        for name in PROPERTY_FIELDS:
            self.fields[name].help_text = "Name in the token response; a dotted path reaches nested values."

    @property
    def redirect_differs(self) -> bool:
        stored = self.instance.redirect_url if self.instance.pk else ""
        return bool(self.callback_url and stored and stored != self.callback_url)

    def clean_code(self) -> str:
        return clean_code_value(self.cleaned_data.get("code", ""))

    def clean_api_hosts(self) -> str:
        raw = self.cleaned_data.get("api_hosts", "")
        hosts = parse_hosts(raw)
        bad = [item for item in raw.replace(",", " ").split() if not parse_hosts(item)]
        if bad:
            raise forms.ValidationError(
                f"Not a host name: {bad[0]!r}. Enter host or host:port, one per line."
            )
        return "\n".join(hosts)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("grant_type") == GrantType.AUTHORIZATION_CODE:
            for name in AUTH_CODE_REQUIRED:
                if not cleaned.get(name) and name not in self.errors:
                    self.add_error(name, "Required for the authorization code grant.")
        self._require_secret_for_a_new_origin(cleaned)
        if not cleaned.get("api_hosts") and cleaned.get("resource_url") and "api_hosts" not in self.errors:
            # The resource names the API the token is for: the natural first host.
            cleaned["api_hosts"] = host_port(cleaned["resource_url"])
        return cleaned

    def moved_endpoints(self) -> list[str]:
        """What changed origin in this submission, as sentences for the token events."""
        moved = []
        for name, label in ENDPOINT_FIELDS:
            old, new = self._stored_origins[name], origin(self.cleaned_data.get(name) or "")
            if old and new != old:
                moved.append(f"The {label} moved from {old} to {new or 'nowhere'}")
        return moved

    def _require_secret_for_a_new_origin(self, cleaned: dict[str, Any]) -> None:
        if not self.instance.pk or not is_stored(self.instance, "client_secret"):
            return
        if cleaned.get("client_secret") or cleaned.get("client_secret_clear"):
            return
        moved = [
            (label, origin(cleaned.get(name) or ""))
            for name, label in ENDPOINT_FIELDS
            if self._stored_origins[name] and origin(cleaned.get(name) or "") != self._stored_origins[name]
        ]
        if moved:
            label, new = moved[0]
            self.add_error(
                "client_secret",
                f"The {label} now points to another server ({new or 'none'}): type the password or "
                "secret again to send it there, or tick Clear.",
            )
