"""Provider presets (issue 13, item 1): the settings a provider needs, filled into a new record.

Each preset is a JSON file in ``oauth2_auth/presets/`` (a new provider is a data change):

- ``name``, ``order``, ``about`` and ``help`` (what to do at the provider);
- ``inputs``: what the administrator types (``tenant``, ``cloud``, ``salesforce_host``, see
  INPUTS), each checked before it goes into a URL;
- ``fields``: values for the record's fields; ``{name}`` placeholders take the inputs (and
  ``login_base``, the cloud's sign-in origin);
- ``authorization_code_scope``: scopes added for the authorization-code grant
  (``offline_access`` for Entra ID, so that a refresh token comes back);
- ``extends``: another preset whose inputs and fields this one starts from;
- ``definition_url``: the shape of the API's URLs, shown for definitions.

Every field stays editable: a preset only fills the form. The Entra sign-in origin of each cloud
can be replaced with CONNECTIT_ENTRA_LOGIN_BASE (tests point it at a local stand-in).
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings

from oauth2_auth import discovery
from oauth2_auth.flows import ENTRA_CLOUDS
from oauth2_auth.models import Authorization, GrantType

DIRECTORY = Path(__file__).resolve().parent / "presets"
# The fields a preset may fill: never the code, the credentials or the token's own state.
FILLABLE = frozenset(
    {
        "grant_type",
        "token_url",
        "token_method",
        "auth_url",
        "auth_method",
        "issuer",
        "use_pkce",
        "require_iss",
        "resource_url",
        "scope",
        "api_hosts",
        "credential_type",
        "content_type",
        "access_token_property",
        "expires_in_property",
        "refresh_token_property",
        "revocation_url",
        "auth_extra_params",
        "token_extra_params",
        "basic_encoding",
    }
)
# Tenants that are not one tenant: they work only for multi-tenant app registrations.
SHARED_TENANTS = ("common", "organizations", "consumers")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.IGNORECASE)


class PresetError(ValueError):
    """A preset file that does not hold together, or an input that does not fit."""


@dataclass(frozen=True)
class Input:
    label: str
    help: str
    check: Callable[[str], tuple[dict[str, str], list[str]]]  # template values, warnings
    choices: tuple[tuple[str, str], ...] = ()


def _tenant(value: str) -> tuple[dict[str, str], list[str]]:
    tenant = value.strip()
    if tenant.lower() in SHARED_TENANTS:
        warning = (
            f"'{tenant}' is not one tenant: it works only for an app registered as multi-tenant. "
            "A single-tenant app needs its tenant ID or domain."
        )
        return {"tenant": tenant.lower()}, [warning]
    if GUID.match(tenant) or DOMAIN.match(tenant):
        return {"tenant": tenant.lower()}, []
    raise PresetError("Tenant: enter the tenant ID (a GUID) or a domain such as contoso.onmicrosoft.com.")


def _cloud(value: str) -> tuple[dict[str, str], list[str]]:
    if value not in ENTRA_CLOUDS:
        raise PresetError(f"Cloud: choose one of {', '.join(ENTRA_CLOUDS)}.")
    base = settings.CONNECTIT_ENTRA_LOGIN_BASE or ENTRA_CLOUDS[value][1]
    return {"cloud": value, "login_base": base.rstrip("/")}, []


def _salesforce_host(value: str) -> tuple[dict[str, str], list[str]]:
    host = value.strip().lower().removeprefix("https://").rstrip("/")
    if not DOMAIN.match(host) or not host.endswith((".salesforce.com", ".force.com")):
        raise PresetError(
            "Login host: login.salesforce.com, test.salesforce.com (sandboxes) or your My Domain "
            "(…my.salesforce.com)."
        )
    return {"salesforce_host": host}, []


def _issuer(value: str) -> tuple[dict[str, str], list[str]]:
    if not value.strip():
        raise PresetError("Issuer: enter the provider's issuer URL or its discovery URL.")
    return {"issuer": value.strip()}, []


INPUTS: dict[str, Input] = {
    "issuer": Input(
        "Issuer or discovery URL",
        "e.g. https://accounts.example.com or …/.well-known/openid-configuration",
        _issuer,
    ),
    "tenant": Input(
        "Tenant", "The directory (tenant) ID, a GUID, or a domain such as contoso.onmicrosoft.com.", _tenant
    ),
    "cloud": Input(
        "Cloud",
        "Each national cloud has its own sign-in host.",
        _cloud,
        tuple((key, label) for key, (label, _) in ENTRA_CLOUDS.items()),
    ),
    "salesforce_host": Input(
        "Login host", "login.salesforce.com, test.salesforce.com or your My Domain.", _salesforce_host
    ),
}


@dataclass(frozen=True)
class Preset:
    id: str
    name: str
    order: int
    about: str
    help: str
    inputs: tuple[str, ...]
    fields: dict[str, Any]
    authorization_code_scope: tuple[str, ...] = ()
    definition_url: str = ""
    discover: bool = False  # the fields come from the provider's metadata (oauth2_auth/discovery.py)

    def fill(
        self, values: dict[str, str], *, grant_type: str | None = None
    ) -> tuple[dict[str, Any], list[str]]:
        """The record's field values for ``values`` (one per input), and warnings to show."""
        variables: dict[str, str] = {}
        warnings: list[str] = []
        for name in self.inputs:
            found, said = INPUTS[name].check(values.get(name, ""))
            variables.update(found)
            warnings += said
        filled = {
            name: value.format_map(variables) if isinstance(value, str) else value
            for name, value in self.fields.items()
        }
        if self.discover:
            try:
                filled.update(discovery.fields(discovery.read(variables["issuer"])))
            except discovery.DiscoveryError as exc:
                raise PresetError(f"Discovery: {exc}") from None
        grant = grant_type or filled.get("grant_type") or GrantType.CLIENT_CREDENTIALS
        filled["grant_type"] = str(grant)
        if grant == GrantType.AUTHORIZATION_CODE and self.authorization_code_scope:
            scopes = filled.get("scope", "").split()
            filled["scope"] = " ".join(
                [*scopes, *(s for s in self.authorization_code_scope if s not in scopes)]
            )
        return filled, warnings


@cache
def presets() -> dict[str, Preset]:
    """Every preset by id (its file name), in their order."""
    raw = {path.stem: json.loads(path.read_text()) for path in sorted(DIRECTORY.glob("*.json"))}
    loaded = [_build(preset_id, raw) for preset_id in raw]
    return {preset.id: preset for preset in sorted(loaded, key=lambda preset: (preset.order, preset.name))}


def _build(preset_id: str, raw: dict[str, dict[str, Any]]) -> Preset:
    data = raw[preset_id]
    parent = _build(data["extends"], raw) if "extends" in data else None
    fields = {**(parent.fields if parent else {}), **data.get("fields", {})}
    preset = Preset(
        id=preset_id,
        name=data["name"],
        order=data.get("order", 100),
        about=data.get("about", ""),
        help=" ".join(part for part in ((parent.help if parent else ""), data.get("help", "")) if part),
        inputs=tuple(data.get("inputs", parent.inputs if parent else ())),
        fields=fields,
        authorization_code_scope=tuple(
            data.get("authorization_code_scope", parent.authorization_code_scope if parent else ())
        ),
        definition_url=data.get("definition_url", ""),
        discover=data.get("discover", False),
    )
    _check(preset)
    return preset


def _check(preset: Preset) -> None:
    """A preset file's mistakes are found when it loads (and by its test), not by an administrator."""
    where = f"Preset {preset.id}"
    unknown = set(preset.fields) - FILLABLE
    if unknown:
        raise PresetError(f"{where} fills fields it may not: {', '.join(sorted(unknown))}.")
    if set(preset.inputs) - set(INPUTS):
        raise PresetError(
            f"{where} asks for unknown inputs: {', '.join(sorted(set(preset.inputs) - set(INPUTS)))}."
        )
    names = {field.name for field in Authorization._meta.concrete_fields}
    if set(preset.fields) - names:
        raise PresetError(f"{where} names fields the record does not have.")
    known = set(preset.inputs) | ({"login_base"} if "cloud" in preset.inputs else set())
    for name, value in preset.fields.items():
        if isinstance(value, str):
            used = {field for _, field, _, _ in string.Formatter().parse(value) if field}
            if used - known:
                raise PresetError(
                    f"{where}: {name} uses {', '.join(sorted(used - known))}, which it does not ask for."
                )


def get(preset_id: str) -> Preset:
    try:
        return presets()[preset_id]
    except KeyError:
        raise PresetError(f"No preset called {preset_id!r}.") from None
