from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.urls import reverse
from django.utils.html import format_html
from lxml import etree

from connectit.fields import is_stored
from connectit.forms import SecretFieldsMixin, no_autofocus_when_editing, tab_fields
from connectit.times import time_element
from connectit.validators import PLACEHOLDER
from definitions.calls import CREDENTIAL_HEADERS
from definitions.models import AuthType, Definition, Direction, Kind, Paging, SoapMode
from definitions.schedules import validate_cron
from definitions.templating import HEADER_NAME, RESERVED_HEADERS, parse_headers
from oauth2_auth.forms import clean_code_value
from oauth2_auth.models import CODE_MAX_LENGTH, Authorization, host_port

SELECT_LIMIT = 500
AUTH_FIELDS = {
    "auth_username": AuthType.BASIC,
    "auth_password": AuthType.BASIC,
    "auth_password_clear": AuthType.BASIC,
    "bearer_token": AuthType.BEARER,
    "bearer_token_clear": AuthType.BEARER,
    "api_key_header": AuthType.API_KEY,
    "api_key_value": AuthType.API_KEY,
    "api_key_value_clear": AuthType.API_KEY,
    "authorization": AuthType.OAUTH2,
}


class AuthorizationChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Authorization) -> str:
        # The token's status beside the code: picking one that needs consent should not surprise.
        label = f"{obj.code} — {obj.environment}" if obj.environment else obj.code
        return f"{label} ({obj.status.label.lower()})"


SECRET_FIELDS = ("auth_password", "bearer_token", "api_key_value")
# (tab id, label, fields, shown when "field=value"), rendered in order by templates/_form_tabs.html;
# the model fields the form edits are read from here too.
TABS = (
    (
        "general",
        "General",
        (
            "code",
            "description",
            "kind",
            "direction",
            "endpoint_url",
            "timeout",
            "active",
            "extra_headers",
        ),
        "",
    ),
    ("auth", "Authorization", ("auth_type", *AUTH_FIELDS), ""),
    (
        "rest",
        "REST",
        (
            "http_method",
            "content_type",
            "accept",
            "body_template",
            "paging",
            "page_start",
            "items_property",
            "total_pages_property",
            "next_link_property",
            "max_pages",
        ),
        "kind=rest",
    ),
    (
        "soap",
        "SOAP",
        (
            "soap_version",
            "soap_mode",
            "wsdl_url",
            "operation",
            "parameters_json",
            "soap_action",
            "envelope_template",
        ),
        "kind=soap",
    ),
    ("runs", "Runs", ("run_deadline", "allow_overlap", "keep_runs_days"), ""),
    (
        "schedule",
        "Schedule",
        ("schedule_enabled", "schedule_every", "schedule_cron", "schedule_parameters"),
        "",
    ),
)
SCHEDULE_FIELDS = frozenset({"schedule_enabled", "schedule_every", "schedule_cron", "active"})


CATALOG_FIELD = "operation_catalog"
OPERATION_HELP = "Read operations loads them from the WSDL URL as typed; nothing is saved until you save."
CATALOG_LIMIT = 500  # operations (and parameters per operation) kept from one WSDL


def parse_catalog(raw: str | None) -> list[dict[str, Any]] | None:
    """The operations the page read from the WSDL (JSON, as ``soap.list_operations`` returns
    them), checked and trimmed; None when nothing was posted or it is not that shape."""
    if not raw:
        return None
    try:
        items = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(items, list):
        return None
    catalog = []
    for item in items[:CATALOG_LIMIT]:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            return None
        parameters = item.get("parameters") if isinstance(item.get("parameters"), list) else []
        catalog.append({"name": item["name"][:200], "parameters": _parameters(parameters)})
    return catalog


def _parameters(items: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "name": str(item.get("name", ""))[:200],
            "type": str(item.get("type", ""))[:200],
            "required": bool(item.get("required")),
            "many": bool(item.get("many")),
        }
        for item in items[:CATALOG_LIMIT]
        if isinstance(item, dict)
    ]


class OperationWidget(forms.Select):
    """The WSDL operation: a select of the operations read from the WSDL, a Read operations
    button that reads them from the WSDL URL as typed (static/connectit/wsdl_operations.js, which
    also keeps the list in a hidden field so that Save stores it), and the chosen operation's
    parameter names and types (each option carries its own, so the script only shows them)."""

    def __init__(self, operations: list[dict[str, Any]], read_url: str, catalog_name: str) -> None:
        super().__init__()
        self.operations = operations
        self.descriptions = describe_operations(operations)
        self.read_url = read_url
        self.catalog_name = catalog_name

    def create_option(self, name: str, value: Any, label: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, label, *args, **kwargs)
        if value in self.descriptions:
            option["attrs"]["data-parameters"] = self.descriptions[value]
        return option

    def render(self, name: str, value: Any, attrs: dict | None = None, renderer: Any = None) -> str:
        names = [item["name"] for item in self.operations]
        self.choices = [("", "— read the operations first —" if not names else "---------")]
        self.choices += [(item, item) for item in names]
        if value and value not in names:
            self.choices.append((value, f"{value} (not in the WSDL read last)"))
        return format_html(
            '<div class="operation-picker" data-read-url="{}">'
            '<div class="input-group">{}<button class="btn btn-outline-primary" type="button" '
            "data-read-operations>Read operations</button></div>"
            '<input type="hidden" name="{}" value="{}" data-operation-catalog>'
            '<div class="small mt-1" data-read-status role="status" aria-live="polite"></div>'
            '<div class="small mt-1 text-body-secondary" data-operation-parameters>{}</div></div>',
            self.read_url,
            super().render(name, value, attrs, renderer),
            self.catalog_name,
            json.dumps(self.operations) if self.operations else "",
            self.descriptions.get(value, ""),
        )


def describe_operations(operations: list[dict[str, Any]]) -> dict[str, str]:
    """Each operation's 'Parameters of GetCustomer: customer_id (integer, required)'."""
    return {item["name"]: _describe(item) for item in operations}


def _describe(operation: dict[str, Any]) -> str:
    name = operation["name"]
    if not operation["parameters"]:
        return f"{name} takes no parameters (or they were not read: read the operations again)."
    parts = []
    for parameter in operation["parameters"]:
        notes = [parameter["type"] or "any type"]
        notes += ["required"] if parameter["required"] else []
        notes += ["a list"] if parameter["many"] else []
        parts.append(f"{parameter['name']} ({', '.join(notes)})")
    return f"Parameters of {name}: {'; '.join(parts)}."


class DefinitionForm(SecretFieldsMixin, forms.ModelForm):
    secret_fields = SECRET_FIELDS

    tabs = TABS
    field_show_when = {
        **{name: f"auth_type={kind}" for name, kind in AUTH_FIELDS.items()},
        "wsdl_url": "soap_mode=wsdl",
        "operation": "soap_mode=wsdl",
        "parameters_json": "soap_mode=wsdl",
        "soap_action": "soap_mode=envelope",
        "envelope_template": "soap_mode=envelope",
        # A GET sends no body.
        "body_template": "http_method=POST,PUT,PATCH,DELETE",
        "content_type": "http_method=POST,PUT,PATCH,DELETE",
        "page_start": "paging=page_number",
        "total_pages_property": "paging=page_number",
        "next_link_property": "paging=next_link",
    }

    authorization = AuthorizationChoiceField(
        queryset=Authorization.objects.select_related("bearer")
        .only(
            "id",
            "code",
            "environment",
            "bearer__state",
            "bearer__access_token",
            "bearer__expires_at",
            "bearer__obtained_at",
        )
        .order_by("code"),
        required=False,
        label="OAuth2 authorization",
        to_field_name="code",
    )

    class Meta:
        model = Definition
        fields = tab_fields(TABS, SECRET_FIELDS)
        widgets = {
            "extra_headers": forms.Textarea(
                attrs={"rows": 3, "placeholder": "If-Match: *\nX-Tenant: contoso"}
            ),
            "body_template": forms.Textarea(attrs={"rows": 8, "class": "font-monospace"}),
            "parameters_json": forms.Textarea(attrs={"rows": 5, "class": "font-monospace"}),
            "envelope_template": forms.Textarea(attrs={"rows": 10, "class": "font-monospace"}),
            "code": forms.TextInput(attrs={"autofocus": True, "class": "text-uppercase"}),
            "schedule_parameters": forms.Textarea(
                attrs={"rows": 3, "class": "font-monospace", "placeholder": '{"company": "CRONUS"}'}
            ),
        }

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].max_length = CODE_MAX_LENGTH
        no_autofocus_when_editing(self)
        if user is not None and not user.has_perm("oauth2_auth.use_authorization"):
            # Attaching an authorization hands its token to this definition's endpoint.
            field = self.fields["authorization"]
            field.disabled = True
            field.help_text = "Only users who may use authorizations (administrators) can change this."
        if self.instance.pk and not self.is_bound:
            # Saved before credential headers were refused: the page must not show the value.
            self.initial["extra_headers"] = _hide_credentials(self.instance.extra_headers)
        if self.instance.authorization_id:
            # The field is keyed by code (to_field_name), the model's initial by primary key.
            self.initial["authorization"] = self.instance.authorization.code
        self._authorization_by_code_when_many()
        self._link_authorization(user)
        self._describe_run_settings()
        self._operation_catalog()

    def _operation_catalog(self) -> None:
        """The operation select, from the operations read last: posted with this form (read from
        the WSDL URL as typed, not saved yet) or stored with the record."""
        posted = parse_catalog(self.data.get(self.add_prefix(CATALOG_FIELD))) if self.is_bound else None
        self.catalog = posted
        operations = posted if posted is not None else self.instance.operations()
        read_url = reverse("definitions:read_operations", args=[self.instance.pk] if self.instance.pk else [])
        catalog_name = self.add_prefix(CATALOG_FIELD)
        self.fields["operation"].widget = OperationWidget(operations, read_url, catalog_name)
        self.fields["operation"].help_text = OPERATION_HELP

    def save(self, commit: bool = True) -> Definition:
        if self.catalog is not None:
            self.instance.wsdl_operations = self.catalog
        return super().save(commit)

    def _own_columns(self, instance: Definition, changed_secrets: list[str]) -> list[str]:
        # The operations read with this form are saved with it (the column is not a form field).
        columns = super()._own_columns(instance, changed_secrets)
        return [*columns, "wsdl_operations"] if self.catalog is not None else columns

    def _describe_run_settings(self) -> None:
        """The server defaults and the next scheduled run, where the administrator sets them."""
        minutes = max(1, settings.CONNECTIT_RUN_DEADLINE // 60)
        self.fields["run_deadline"].help_text = f"Empty: the server default ({minutes} min)."
        days = settings.CONNECTIT_RUN_RETENTION_DAYS
        self.fields["keep_runs_days"].help_text = f"Empty: the server default ({days} days)."
        next_run = self.instance.next_run_at if self.instance.pk else None
        if next_run is not None and self.instance.schedule_enabled and self.instance.active:
            # Rendered unescaped by crispy's help text: time_element escapes what it holds.
            self.fields["schedule_enabled"].help_text = format_html("Next run: {}.", time_element(next_run))
        elif self.instance.schedule_enabled and not self.instance.active:
            self.fields["schedule_enabled"].help_text = "The definition is not active: the schedule waits."

    def clean_code(self) -> str:
        return clean_code_value(self.cleaned_data.get("code", ""))

    def _link_authorization(self, user: Any) -> None:
        """The chosen authorization one click away: its token, its status, Get Token."""
        record = self.instance.authorization if self.instance.authorization_id else None
        if record is None or (user is not None and not user.has_perm("oauth2_auth.view_authorization")):
            return
        field = self.fields["authorization"]
        field.help_text = format_html(
            '<a href="{}" id="authorization-link">Open {}</a> to see its token or get one. {}',
            reverse("oauth2_auth:detail", args=[record.pk]),
            record.code,
            field.help_text,
        )

    def _authorization_by_code_when_many(self) -> None:
        """Thousands of authorizations make a select too long to use (and to render): then the
        authorization is typed by its code, as definitions reference it anyway."""
        if Authorization.objects.count() <= SELECT_LIMIT:
            return
        field = self.fields["authorization"]
        field.widget = forms.TextInput(attrs={"class": "text-uppercase", "placeholder": "CODE"})
        field.help_text = "Type the code of an OAuth2 authorization."
        if self.data.get("authorization"):
            self.data = self.data.copy()
            self.data["authorization"] = clean_code_value(self.data["authorization"])

    def clean_extra_headers(self) -> str:
        value = self.cleaned_data.get("extra_headers", "")
        try:
            parse_headers(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        # The extra headers are stored in clear and shown on this page; a credential belongs in
        # the encrypted, write-only authorization fields.
        for number, name in _header_names(value):
            if name.lower() in CREDENTIAL_HEADERS:
                raise forms.ValidationError(
                    f"Line {number}: {name} carries a credential; put the credential in the "
                    "Authorization tab (Basic, bearer token or API key header and value), where it "
                    "is stored encrypted and never shown."
                )
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        self._check_auth(cleaned)
        if cleaned.get("kind") == Kind.SOAP:
            self._check_soap(cleaned)
        else:
            self._check_rest(cleaned)
        self._check_schedule(cleaned)
        return cleaned

    def _require(self, cleaned: dict[str, Any], name: str, why: str) -> None:
        if not cleaned.get(name) and name not in self.errors:
            self.add_error(name, f"Required {why}.")

    def _require_secret(self, cleaned: dict[str, Any], name: str, why: str) -> None:
        stored = is_stored(self.instance, name) and not cleaned.get(f"{name}_clear")
        if not cleaned.get(name) and not stored:
            self.add_error(name, f"Required {why}.")

    def _check_auth(self, cleaned: dict[str, Any]) -> None:
        kind = cleaned.get("auth_type")
        if kind == AuthType.BASIC:
            self._require(cleaned, "auth_username", "for Basic authorization")
            self._require_secret(cleaned, "auth_password", "for Basic authorization")
        elif kind == AuthType.BEARER:
            self._require_secret(cleaned, "bearer_token", "for a static bearer token")
        elif kind == AuthType.API_KEY:
            self._require(cleaned, "api_key_header", "for an API key")
            self._require_secret(cleaned, "api_key_value", "for an API key")
            name = cleaned.get("api_key_header", "")
            if name and (not HEADER_NAME.match(name) or name.lower() in RESERVED_HEADERS):
                self.add_error("api_key_header", "Enter a valid HTTP header name (letters, digits, '-').")
            for number, extra in _header_names(cleaned.get("extra_headers", "")):
                if name and extra.lower() == name.lower() and "extra_headers" not in self.errors:
                    self.add_error(
                        "extra_headers",
                        f"Line {number}: {extra} is the API key header; its value is set in the "
                        "Authorization tab.",
                    )
        elif kind == AuthType.OAUTH2:
            self._require(cleaned, "authorization", "for OAuth2")
            self._check_token_destination(cleaned)

    def _check_token_destination(self, cleaned: dict[str, Any]) -> None:
        """The authorization's token may go to this definition's endpoint (and WSDL)."""
        authorization = cleaned.get("authorization")
        if authorization is None or not authorization.allowed_hosts:
            return  # an empty list is filled with this endpoint's host when the definition is saved
        for name in ("endpoint_url", "wsdl_url"):
            url = cleaned.get(name) or ""
            if url and not authorization.allows(url) and name not in self.errors:
                self.add_error(
                    name,
                    f"OAuth2 authorization {authorization.code} sends its token only to "
                    f"{', '.join(authorization.allowed_hosts)}. Ask an administrator to add "
                    f"{host_port(url)} to its API hosts.",
                )

    def _check_rest(self, cleaned: dict[str, Any]) -> None:
        paging = cleaned.get("paging")
        if paging != Paging.NONE and cleaned.get("direction") != Direction.IMPORT:
            self.add_error("paging", "Paging applies to imports only.")
        if paging == Paging.PAGE_NUMBER:
            templates = cleaned.get("endpoint_url", "") + cleaned.get("body_template", "")
            if "{page}" not in templates:
                self.add_error("paging", "Page-number paging needs a {page} placeholder in the URL or body.")
        if paging == Paging.NEXT_LINK:
            self._require(cleaned, "next_link_property", "for next-link paging")
        body = cleaned.get("body_template", "")
        if body and cleaned.get("content_type") == "application/json":
            _check_json(self, "body_template", body)
        elif body and cleaned.get("content_type") == "application/xml":
            _check_xml(self, "body_template", body)

    def _check_schedule(self, cleaned: dict[str, Any]) -> None:
        every, cron = cleaned.get("schedule_every"), (cleaned.get("schedule_cron") or "").strip()
        cleaned["schedule_cron"] = cron
        if every and cron:
            self.add_error("schedule_cron", "Give either 'every (minutes)' or a cron expression, not both.")
        if cron:
            try:
                validate_cron(cron)
            except forms.ValidationError as exc:
                self.add_error("schedule_cron", exc)
        params = cleaned.get("schedule_parameters")
        if params in (None, ""):
            params = cleaned["schedule_parameters"] = {}
        if not isinstance(params, dict) or not all(isinstance(v, str | int | float) for v in params.values()):
            self.add_error(
                "schedule_parameters", 'Write a JSON object of names and values, e.g. {"company": "X"}.'
            )
            return
        cleaned["schedule_parameters"] = {name: str(value) for name, value in params.items()}
        if not cleaned.get("schedule_enabled"):
            return
        if every is None and not cron and "schedule_every" not in self.errors:
            self.add_error(
                "schedule_every", "Give 'every (minutes)' or a cron expression to run on a schedule."
            )
        missing = [name for name in self._placeholders(cleaned) if name not in params]
        if missing:
            self.add_error(
                "schedule_parameters",
                f"A scheduled run needs a value for every placeholder; missing: {', '.join(missing)}.",
            )

    def _placeholders(self, cleaned: dict[str, Any]) -> list[str]:
        from definitions.runner import parameter_names

        fields = ("endpoint_url", "kind", "body_template", "soap_mode", "wsdl_url", "parameters_json")
        probe = Definition(**{name: cleaned.get(name) or "" for name in fields if name in cleaned})
        probe.envelope_template = cleaned.get("envelope_template") or ""
        return parameter_names(probe)

    def _check_soap(self, cleaned: dict[str, Any]) -> None:
        if cleaned.get("soap_mode") == SoapMode.ENVELOPE:
            self._require(cleaned, "envelope_template", "in envelope mode")
            if cleaned.get("envelope_template"):
                _check_xml(self, "envelope_template", cleaned["envelope_template"])
        else:
            self._require(cleaned, "wsdl_url", "in WSDL mode")
            if cleaned.get("parameters_json"):
                _check_json(self, "parameters_json", cleaned["parameters_json"], want_object=True)


def _hide_credentials(text: str) -> str:
    lines = []
    for line in (text or "").splitlines():
        name = line.partition(":")[0].strip()
        if name.lower() in CREDENTIAL_HEADERS:
            line = f"{name}: [hidden; move this credential to the Authorization tab]"
        lines.append(line)
    return "\n".join(lines)


def _header_names(text: str) -> list[tuple[int, str]]:
    """(line number, name) of each header in extra headers that parse_headers accepted."""
    lines = enumerate((text or "").splitlines(), start=1)
    return [(number, line.partition(":")[0].strip()) for number, line in lines if line.strip()]


def _sample(template: str) -> str:
    # Placeholders stand for values; 0 fits both a JSON number and the inside of a string.
    return PLACEHOLDER.sub("0", template)


def _check_json(form: forms.Form, name: str, template: str, want_object: bool = False) -> None:
    try:
        value = json.loads(_sample(template))
    except ValueError as exc:
        form.add_error(name, f"Not valid JSON (with placeholders filled in): {exc}")
        return
    if want_object and not isinstance(value, dict):
        form.add_error(name, "Write a JSON object of parameter names and values.")


def _check_xml(form: forms.Form, name: str, template: str) -> None:
    try:
        etree.fromstring(
            _sample(template).encode(), parser=etree.XMLParser(resolve_entities=False, no_network=True)
        )
    except etree.XMLSyntaxError as exc:
        form.add_error(name, f"Not well-formed XML: {exc}")


class RunForm(forms.Form):
    """One field per placeholder, plus an optional payload for exports.

    ``submission`` is a fresh random key in every form page: the same form sent twice carries the
    same key, and the second POST finds the run the first one queued."""

    submission = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    payload = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "class": "font-monospace"}),
        help_text="Optional: replaces the body template (or SOAP envelope/parameters) for this run.",
    )

    def __init__(self, *args: Any, names: list[str], allow_payload: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.names = names
        for name in names:
            self.fields[f"param_{name}"] = forms.CharField(label=name, required=True, strip=False)
        if not allow_payload:
            del self.fields["payload"]

    def params(self) -> dict[str, str]:
        return {name: self.cleaned_data[f"param_{name}"] for name in self.names}

    def payload_value(self) -> str | None:
        return self.cleaned_data.get("payload") or None

    def submission_key(self) -> str | None:
        return self.cleaned_data.get("submission") or None
