from __future__ import annotations

import re
from typing import Any

from django import forms

from connectit.fields import is_stored
from connectit.forms import SecretFieldsMixin, no_autofocus_when_editing, tab_fields
from connectit.validators import validate_endpoint_urls
from oauth2_auth import flows
from oauth2_auth.certificate_form import CERTIFICATE_FIELDS, CertificateFieldsMixin
from oauth2_auth.certificate_form import SHOW_WHEN as CERTIFICATE_SHOW_WHEN
from oauth2_auth.models import (
    CODE_MAX_LENGTH,
    AssertionAlgorithm,
    Authorization,
    BasicEncoding,
    CredentialType,
    GrantType,
    host_port,
    origin,
    parse_hosts,
)

# Fields that only mean something for the authorization-code grant; the page hides them
# for client credentials and the form does not require them there.
AUTH_CODE_FIELDS = (
    "auth_url",
    "auth_method",
    "redirect_url",
    "issuer",
    "require_iss",
    "use_pkce",
    "auth_extra_params",
)
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
            "revocation_url",
            "resource_url",
            "scope",
            "api_hosts",
            "token_extra_params",
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
            "basic_encoding",
            "client_secret_clear",
            "assertion_algorithm",
            *CERTIFICATE_FIELDS,
            "credential_expires_on",
            "content_type",
            "access_token_property",
            "expires_in_property",
            "refresh_token_property",
        ),
        "",
    ),
    ("authcode", "Authorization Code", AUTH_CODE_FIELDS, "grant_type=authorization_code"),
)


RESOURCE_HELP = (
    "The API the token is for, one per line where the provider takes several (RFC 8707). For an "
    "Entra ID v2 endpoint it goes into the scope as '<resource>/.default' (v2 refuses a resource "
    "parameter); elsewhere (Entra v1, AD FS, RFC 8707 servers) it is sent as 'resource'."
)
AUTH_EXTRA_HELP = (
    "Added to the sign-in request, one name=value per line: prompt=consent (some providers give "
    "a refresh token only then), login_hint=…, domain_hint=…, audience=…"
)
TOKEN_EXTRA_HELP = (
    "Added to every token request (refresh included), one name=value per line: audience=… "
    "Not for secrets: put those in the credential fields."
)
# RFC 6749 §8.2: param-name = 1*name-char; name-char = "-" / "." / "_" / DIGIT / ALPHA
PARAM_NAME = re.compile(r"[A-Za-z0-9._-]+")
FIELD_OF = {"scope": "the Scope field", "resource": "the Resource URL field"}


def resource_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def clean_extra_params(text: str) -> str:
    """``name=value`` lines, checked: none may be a parameter the app sets itself."""
    lines, seen = [], set()
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        name, sep, value = (part.strip() for part in line.partition("="))
        problem = _extra_param_problem(name, sep, value, seen)
        if problem:
            raise forms.ValidationError(f"Line {number}: {problem}")
        seen.add(name.lower())
        lines.append(f"{name}={value}")
    return "\n".join(lines)


def _extra_param_problem(name: str, sep: str, value: str, seen: set[str]) -> str:
    if not sep:
        return "write name=value."
    if not PARAM_NAME.fullmatch(name):
        return f"{name[:60]!r} is not a parameter name (letters, digits, '-', '.', '_')."
    if name.lower() in flows.RESERVED_PARAMS:
        where = FIELD_OF.get(name.lower())
        return f"the app sets {name} itself" + (f"; use {where}." if where else ".")
    if name.lower() in seen:
        return f"{name} is given twice."
    if not value:
        return f"give {name} a value."
    if any(not char.isprintable() for char in value):
        return f"the value of {name} has a control character."
    return ""


class AuthorizationForm(CertificateFieldsMixin, SecretFieldsMixin, forms.ModelForm):
    secret_fields = SECRET_FIELDS

    tabs = TABS  # the Bearer Token tab is read-only: the record's template renders it
    # The token request's content type only matters for a POST (a GET sends no body).
    field_show_when: dict[str, str] = {
        "content_type": "token_method=POST",
        "basic_encoding": "credential_type=basic",  # only a Basic header has an encoding
        **CERTIFICATE_SHOW_WHEN,
    }
    # What clean() requires only for one grant; the page marks it while that grant is chosen.
    required_when: dict[str, str] = {name: "grant_type=authorization_code" for name in AUTH_CODE_REQUIRED}
    required_legend = "required for the chosen grant"
    # Most people keep the defaults: folded away unless one differs or has an error.
    advanced = {"credentials": ("Advanced: token response property names", PROPERTY_FIELDS)}

    class Meta:
        model = Authorization
        fields = tuple(name for name in tab_fields(TABS, SECRET_FIELDS) if name not in CERTIFICATE_FIELDS)
        widgets = {
            "scope": forms.TextInput(),
            "resource_url": forms.Textarea(attrs={"rows": 2}),
            "auth_extra_params": forms.Textarea(attrs={"rows": 3}),
            "token_extra_params": forms.Textarea(attrs={"rows": 3}),
            "credential_expires_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
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
        self.fields["resource_url"].help_text = RESOURCE_HELP
        self.fields["auth_extra_params"].help_text = AUTH_EXTRA_HELP
        self.fields["token_extra_params"].help_text = TOKEN_EXTRA_HELP
        # Hidden unless the credential type is Basic: a submission without it keeps the default.
        self.fields["basic_encoding"].required = False
        self.fields["assertion_algorithm"].required = False

    @property
    def redirect_differs(self) -> bool:
        stored = self.instance.redirect_url if self.instance.pk else ""
        return bool(self.callback_url and stored and stored != self.callback_url)

    def clean_code(self) -> str:
        return clean_code_value(self.cleaned_data.get("code", ""))

    def clean_resource_url(self) -> str:
        # Checked here, not only by the model after clean(): clean() reads the values.
        value = "\n".join(resource_lines(self.cleaned_data.get("resource_url", "")))
        validate_endpoint_urls(value)
        return value

    def clean_basic_encoding(self) -> str:
        return self.cleaned_data.get("basic_encoding") or BasicEncoding.FORM

    def clean_assertion_algorithm(self) -> str:
        return self.cleaned_data.get("assertion_algorithm") or AssertionAlgorithm.PS256

    def clean_auth_extra_params(self) -> str:
        return clean_extra_params(self.cleaned_data.get("auth_extra_params", ""))

    def clean_token_extra_params(self) -> str:
        return clean_extra_params(self.cleaned_data.get("token_extra_params", ""))

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
        self._keep_revocation_with_the_token_url(cleaned)
        self._check_token_request_options(cleaned)
        self._check_assertion(cleaned)
        resources = resource_lines(cleaned.get("resource_url") or "")
        if not cleaned.get("api_hosts") and resources and "api_hosts" not in self.errors:
            # The resources name the APIs the token is for: the natural first hosts.
            cleaned["api_hosts"] = "\n".join(dict.fromkeys(host_port(url) for url in resources))
        return cleaned

    def _check_token_request_options(self, cleaned: dict[str, Any]) -> None:
        resources = resource_lines(cleaned.get("resource_url") or "")
        if len(resources) > 1 and flows.is_entra_v2(cleaned.get("token_url") or ""):
            self.add_error(
                "resource_url",
                "Entra ID v2 gives a token for one resource at a time (AADSTS700022): keep one "
                "resource URL, or make an authorization for each.",
            )
        raw_basic = (
            cleaned.get("basic_encoding") == BasicEncoding.RAW
            and cleaned.get("credential_type") == CredentialType.BASIC
        )
        if raw_basic and ":" in (cleaned.get("client_id") or "") and "client_id" not in self.errors:
            self.add_error(
                "client_id",
                "A raw Basic header cannot carry a client ID with ':' (RFC 7617); choose form-encoding.",
            )

    def _check_assertion(self, cleaned: dict[str, Any]) -> None:
        kind = cleaned.get("credential_type")
        if kind not in flows.ASSERTION_TYPES:
            return
        if cleaned.get("token_method") == "GET" and "token_method" not in self.errors:
            # A GET would put the signed assertion in the URL, and so in every proxy's log.
            self.add_error("token_method", "A signed client assertion is sent only with POST.")
        if kind == CredentialType.CLIENT_SECRET_JWT and not self._secret_after_save(cleaned):
            self.add_error("client_secret", "client_secret_jwt signs with the secret: type it.")
        self.clean_certificate(cleaned)

    def _secret_after_save(self, cleaned: dict[str, Any]) -> bool:
        if cleaned.get("client_secret_clear"):
            return False
        return bool(cleaned.get("client_secret")) or is_stored(self.instance, "client_secret")

    def apply_secrets(self, instance: Authorization) -> list[str]:
        return super().apply_secrets(instance) + self.apply_certificate(instance)

    def moved_endpoints(self) -> list[str]:
        """What changed origin in this submission, as sentences for the token events."""
        moved = []
        for name, label in ENDPOINT_FIELDS:
            old, new = self._stored_origins[name], origin(self.cleaned_data.get(name) or "")
            if old and new != old:
                moved.append(f"The {label} moved from {old} to {new or 'nowhere'}")
        return moved

    def _keep_revocation_with_the_token_url(self, cleaned: dict[str, Any]) -> None:
        # Clear token sends the client secret and the refresh token to the revocation URL: it may
        # only name the token endpoint's server, which already has both.
        revocation, token_url = cleaned.get("revocation_url"), cleaned.get("token_url")
        if revocation and token_url and origin(revocation) != origin(token_url):
            self.add_error(
                "revocation_url",
                f"Must be on the token URL's server ({origin(token_url)}): Clear token sends the "
                "secret and the refresh token there.",
            )

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
