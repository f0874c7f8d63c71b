"""Provider presets (oauth2_auth/presets/*.json): every preset loads, fills a record that the
form accepts, and checks what the administrator types before it goes into a URL."""

from __future__ import annotations

import json

import pytest
import responses

from oauth2_auth import presets
from oauth2_auth.forms import AuthorizationForm
from oauth2_auth.models import GrantType
from tests.conftest import form_data

TENANT = "0f8fad5b-d9cb-469f-a165-70867728950e"
ISSUER = "https://id.example.com"
INPUTS = {"tenant": TENANT, "cloud": "global", "salesforce_host": "login.salesforce.com", "issuer": ISSUER}
METADATA = {
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/authorize",
    "token_endpoint": f"{ISSUER}/token",
    "code_challenge_methods_supported": ["S256"],
}
CALLBACK = "https://connectit.example.com/oauth2/callback/"


def test_every_preset_file_loads_in_order() -> None:
    loaded = presets.presets()
    assert list(loaded) == [
        "entra-v2",
        "business-central",
        "microsoft-graph",
        "google",
        "salesforce",
        "generic-oidc",
    ]
    assert all(preset.name and preset.about and preset.help for preset in loaded.values())


@pytest.mark.parametrize("preset_id", list(presets.presets()))
@pytest.mark.parametrize("grant", [GrantType.CLIENT_CREDENTIALS, GrantType.AUTHORIZATION_CODE])
def test_every_preset_fills_a_record_the_form_accepts(db, preset_id: str, grant: str) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{ISSUER}/.well-known/openid-configuration", json=METADATA)
        filled, warnings = presets.get(preset_id).fill(INPUTS, grant_type=grant)
    assert warnings == []
    data = form_data(code=f"P-{preset_id[:10]}", client_id="app-id", redirect_url=CALLBACK, resource_url="")
    data.update({name: value for name, value in filled.items() if not isinstance(value, bool)})
    data["use_pkce"] = "on" if filled.get("use_pkce", True) else ""
    form = AuthorizationForm(data, callback_url=CALLBACK)
    assert form.is_valid(), form.errors
    record = form.save()
    for name, value in filled.items():
        if name in form.fields:
            assert getattr(record, name) == value, name


def test_entra_builds_both_urls_for_the_tenant_and_cloud() -> None:
    for cloud, host in (
        ("global", "login.microsoftonline.com"),
        ("usgov", "login.microsoftonline.us"),
        ("china", "login.chinacloudapi.cn"),
    ):
        filled, _ = presets.get("entra-v2").fill({"tenant": "Contoso.onmicrosoft.com", "cloud": cloud})
        assert filled["token_url"] == f"https://{host}/contoso.onmicrosoft.com/oauth2/v2.0/token"
        assert filled["auth_url"] == f"https://{host}/contoso.onmicrosoft.com/oauth2/v2.0/authorize"


def test_the_entra_login_host_is_a_setting_tests_can_point_elsewhere(settings) -> None:
    settings.CONNECTIT_ENTRA_LOGIN_BASE = "http://127.0.0.1:43210/"
    filled, _ = presets.get("business-central").fill({"tenant": TENANT, "cloud": "global"})
    assert filled["token_url"] == f"http://127.0.0.1:43210/{TENANT}/oauth2/v2.0/token"


@pytest.mark.parametrize("tenant", ["not a tenant", "contoso", "", "../evil", "a@b.com"])
def test_a_tenant_must_be_a_guid_or_a_domain(tenant: str) -> None:
    with pytest.raises(presets.PresetError, match="tenant ID"):
        presets.get("entra-v2").fill({"tenant": tenant, "cloud": "global"})


@pytest.mark.parametrize("tenant", ["common", "Organizations", "consumers"])
def test_a_shared_tenant_warns_that_a_single_tenant_app_needs_its_own(tenant: str) -> None:
    filled, warnings = presets.get("entra-v2").fill({"tenant": tenant, "cloud": "global"})
    assert f"/{tenant.lower()}/oauth2/v2.0/token" in filled["token_url"]
    assert "multi-tenant" in warnings[0] and "single-tenant app needs its tenant ID" in warnings[0]


def test_business_central_adds_offline_access_for_the_authorization_code_grant_only() -> None:
    preset = presets.get("business-central")
    code, _ = preset.fill(INPUTS, grant_type=GrantType.AUTHORIZATION_CODE)
    credentials, _ = preset.fill(INPUTS, grant_type=GrantType.CLIENT_CREDENTIALS)
    assert code["scope"] == "https://api.businesscentral.dynamics.com/.default offline_access"
    assert credentials["scope"] == "https://api.businesscentral.dynamics.com/.default"
    assert (
        preset.definition_url
        == "https://api.businesscentral.dynamics.com/v2.0/{tenant}/{environment}/api/v2.0/"
    )
    assert "Microsoft Entra applications" in preset.help and "Value, not its ID" in preset.help


def test_google_asks_for_a_refresh_token_and_salesforce_checks_its_host() -> None:
    google, _ = presets.get("google").fill({})
    assert google["grant_type"] == GrantType.AUTHORIZATION_CODE
    assert google["auth_extra_params"].splitlines() == ["access_type=offline", "prompt=consent"]
    salesforce, _ = presets.get("salesforce").fill({"salesforce_host": "https://acme.my.salesforce.com/"})
    assert salesforce["token_url"] == "https://acme.my.salesforce.com/services/oauth2/token"
    with pytest.raises(presets.PresetError, match="Login host"):
        presets.get("salesforce").fill({"salesforce_host": "evil.example.com"})


def test_the_generic_preset_reads_the_providers_metadata() -> None:
    with responses.RequestsMock() as mock:
        mock.get(f"{ISSUER}/.well-known/openid-configuration", json=METADATA)
        filled, _ = presets.get("generic-oidc").fill(
            {"issuer": ISSUER + "/"}, grant_type=GrantType.AUTHORIZATION_CODE
        )
    assert (filled["auth_url"], filled["token_url"], filled["use_pkce"]) == (
        f"{ISSUER}/authorize",
        f"{ISSUER}/token",
        True,
    )
    with responses.RequestsMock() as mock:
        mock.get(f"{ISSUER}/.well-known/openid-configuration", status=404)
        mock.get(f"{ISSUER}/.well-known/oauth-authorization-server", status=404)
        with pytest.raises(presets.PresetError, match=r"Discovery: .* answered HTTP 404"):
            presets.get("generic-oidc").fill({"issuer": ISSUER})


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ({"name": "X", "fields": {"client_secret": "x"}}, "fills fields it may not: client_secret"),
        (
            {"name": "X", "fields": {"token_url": "https://{host}/token"}},
            "uses host, which it does not ask for",
        ),
        ({"name": "X", "inputs": ["nothing"], "fields": {}}, "asks for unknown inputs: nothing"),
    ],
)
def test_a_broken_preset_file_is_refused_when_it_loads(tmp_path, monkeypatch, content, said) -> None:
    (tmp_path / "broken.json").write_text(json.dumps(content))
    monkeypatch.setattr(presets, "DIRECTORY", tmp_path)
    presets.presets.cache_clear()
    try:
        with pytest.raises(presets.PresetError, match=said):
            presets.presets()
    finally:
        presets.presets.cache_clear()


def test_the_new_record_page_fills_its_form_from_a_preset(admin_client) -> None:
    page = admin_client.get("/oauth2/authorizations/new/").content.decode()
    assert 'id="preset-chooser"' in page and "Business Central (Entra ID v2)" in page
    query = {
        "preset": "business-central",
        "grant_type": "authorization_code",
        "tenant": TENANT,
        "cloud": "global",
    }
    page = admin_client.get("/oauth2/authorizations/new/", query).content.decode()
    assert "Filled in from Business Central (Entra ID v2)." in page
    assert f'value="https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"' in page
    assert 'value="https://api.businesscentral.dynamics.com/.default offline_access"' in page
    assert "/v2.0/{tenant}/{environment}/api/v2.0/" in page
    shared = admin_client.get("/oauth2/authorizations/new/", {**query, "tenant": "common"}).content.decode()
    assert "works only for an app registered as multi-tenant" in shared
    bad = admin_client.get(
        "/oauth2/authorizations/new/", {**query, "tenant": "not a tenant"}
    ).content.decode()
    assert 'id="preset-error"' in bad and 'id="preset-filled"' not in bad
    # An existing record's page offers no preset.
    record = admin_client.post("/oauth2/authorizations/new/", form_data()).url
    assert 'id="preset-chooser"' not in admin_client.get(record).content.decode()
