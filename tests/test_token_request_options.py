"""What a token request and a sign-in request send: the Entra v2 resource/scope rewrite, several
resources (RFC 8707), extra parameters, and the Basic header's encoding (issue 13, items 3-5)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from oauth2_auth import flows
from oauth2_auth.forms import AuthorizationForm
from oauth2_auth.models import Authorization, GrantType
from oauth2_auth.tokens import client_for
from tests.conftest import form_data, make_authorization

CLIENT_ID = "app-id"
SECRET = "s3cr3t:+%x y"  # reserved characters of a Basic header and of a form body
BC = "https://api.businesscentral.dynamics.com"
GRAPH = "https://graph.microsoft.com/"
REDIRECT_URI = "https://connectit.example.com/oauth2/callback/"
OTHER_TOKEN_URL = "https://login.example.com/contoso/oauth2/v2.0/token"
V1_TOKEN_URL = "https://login.microsoftonline.com/contoso/oauth2/token"
ENTRA_HOSTS = ("login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn")
GOOD = {"access_token": "access-token-value-AAAA", "expires_in": 3600, "refresh_token": "refresh-RRRR"}


def v2(host: str = "login.microsoftonline.com", kind: str = "token") -> str:
    return f"https://{host}/contoso/oauth2/v2.0/{kind}"


def make_client(**fields: Any) -> flows.Client:
    values: dict[str, Any] = {"token_url": OTHER_TOKEN_URL, "client_id": CLIENT_ID, "client_secret": SECRET}
    return flows.Client(**{**values, **fields})


def sent_pairs(client: flows.Client, call=flows.client_credentials) -> list[tuple[str, str]]:
    """The (name, value) pairs of the one token request ``call`` makes, in order."""
    method = responses.GET if client.token_method == "GET" else responses.POST
    with responses.RequestsMock() as mocked:
        mocked.add(method, client.token_url, json=GOOD)
        call(client)
        request = mocked.calls[0].request
    if client.token_method == "GET":
        return parse_qsl(urlsplit(request.url).query, strict_parsing=True)
    body = request.body.decode() if isinstance(request.body, bytes) else request.body
    return parse_qsl(body, strict_parsing=True)


def sent(client: flows.Client, call=flows.client_credentials) -> dict[str, str]:
    pairs = sent_pairs(client, call)
    assert len(pairs) == len(dict(pairs))  # no parameter twice
    return dict(pairs)


def consent_query(client: flows.Client, auth_url: str) -> list[tuple[str, str]]:
    params = flows.consent_params(
        client, redirect_uri=REDIRECT_URI, state="st4te", code_challenge="ch", auth_url=auth_url
    )
    return parse_qsl(urlsplit(flows.consent_url(auth_url, params)).query, strict_parsing=True)


# --- Entra v2: the resource becomes <resource>/.default in the scope -------------------------------


@pytest.mark.parametrize("host", ENTRA_HOSTS)
def test_it_puts_the_resource_into_the_scope_for_each_entra_cloud(host: str) -> None:
    body = sent(make_client(token_url=v2(host), resource=BC + "/"))
    assert body["scope"] == f"{BC}/.default"
    assert "resource" not in body


def test_it_adds_the_default_scope_after_the_typed_scopes() -> None:
    body = sent(make_client(token_url=v2(), scope="offline_access openid", resource=BC))
    assert body["scope"] == f"offline_access openid {BC}/.default"


def test_it_does_not_add_the_default_scope_twice() -> None:
    scope = f"{BC}/.default offline_access"
    assert sent(make_client(token_url=v2(), scope=scope, resource=BC))["scope"] == scope


def test_it_recognises_entra_v2_whatever_the_case_of_host_and_path() -> None:
    assert flows.is_entra_v2("https://LOGIN.MicrosoftOnline.com/contoso/OAuth2/V2.0/token")


@pytest.mark.parametrize(
    "url",
    [
        V1_TOKEN_URL,
        OTHER_TOKEN_URL,  # a v2-looking path elsewhere
        "https://login.microsoftonline.com.evil.example/contoso/oauth2/v2.0/token",
        "https://sts.contoso.com/adfs/oauth2/token",
        "not a url [",
    ],
)
def test_it_knows_what_is_not_entra_v2(url: str) -> None:
    assert not flows.is_entra_v2(url)


@pytest.mark.parametrize("token_url", [V1_TOKEN_URL, OTHER_TOKEN_URL])
def test_it_sends_resource_elsewhere_and_keeps_the_scope(token_url: str) -> None:
    body = sent(make_client(token_url=token_url, scope="read", resource=BC))
    assert (body["scope"], body["resource"]) == ("read", BC)


def test_it_sends_one_resource_parameter_per_resource() -> None:
    pairs = sent_pairs(make_client(resource=f"{BC}\n{GRAPH}\n"))
    assert [value for name, value in pairs if name == "resource"] == [BC, GRAPH]


def test_it_sends_several_resources_in_a_get_query() -> None:
    pairs = sent_pairs(make_client(resource=f"{BC}\n{GRAPH}", token_method="GET"))
    assert [value for name, value in pairs if name == "resource"] == [BC, GRAPH]


@responses.activate
def test_it_sends_several_resources_as_a_json_array() -> None:
    responses.add(responses.POST, OTHER_TOKEN_URL, json=GOOD)
    flows.client_credentials(make_client(resource=f"{BC}\n{GRAPH}", content_type=flows.JSON))
    assert json.loads(responses.calls[0].request.body)["resource"] == [BC, GRAPH]


def test_it_rewrites_the_scope_of_a_refresh_and_sends_none_with_a_code() -> None:
    client = make_client(token_url=v2(), scope="offline_access", resource=BC)
    refreshed = sent(client, lambda c: flows.refresh(c, "refresh-token-value"))
    assert (refreshed["scope"], "resource" in refreshed) == (f"offline_access {BC}/.default", False)
    exchanged = sent(
        client,
        lambda c: flows.exchange_code(c, code="code-value", redirect_uri=REDIRECT_URI, code_verifier=None),
    )
    assert "scope" not in exchanged and "resource" not in exchanged


@pytest.mark.parametrize("host", ENTRA_HOSTS)
def test_the_sign_in_request_of_entra_v2_has_the_scope_and_no_resource(host: str) -> None:
    client = make_client(token_url=v2(host), scope="offline_access", resource=BC)
    query = dict(consent_query(client, v2(host, "authorize")))
    assert query["scope"] == f"offline_access {BC}/.default"
    assert "resource" not in query


def test_the_sign_in_request_elsewhere_has_one_resource_parameter_per_resource() -> None:
    client = make_client(scope="read", resource=f"{BC}\n{GRAPH}")
    query = consent_query(client, "https://login.example.com/authorize")
    assert [value for name, value in query if name == "resource"] == [BC, GRAPH]
    assert dict(query)["scope"] == "read"


def test_the_sign_in_request_follows_the_token_url_without_an_auth_url() -> None:
    client = make_client(token_url=v2(), resource=BC)
    params = flows.consent_params(client, redirect_uri=REDIRECT_URI, state="s", code_challenge=None)
    assert params["scope"] == f"{BC}/.default" and "resource" not in params


# --- Extra parameters --------------------------------------------------------------------------------

AUTH_EXTRA = (("prompt", "consent"), ("login_hint", "ana@contoso.com"))
TOKEN_EXTRA = (("audience", "https://api.example.com/"),)


def test_the_sign_in_url_carries_the_extra_parameters_after_the_apps_own() -> None:
    client = make_client(auth_extra_params=AUTH_EXTRA, token_extra_params=TOKEN_EXTRA)
    query = consent_query(client, "https://login.example.com/authorize?p=B2C_1")
    names = [name for name, _ in query]
    assert names[0] == "p" and names[-2:] == ["prompt", "login_hint"]
    assert dict(query)["login_hint"] == "ana@contoso.com"
    assert "audience" not in names  # token parameters stay in the token request


GRANTS = {
    "client_credentials": flows.client_credentials,
    "authorization_code": lambda c: flows.exchange_code(
        c, code="code-value", redirect_uri=REDIRECT_URI, code_verifier="verifier-value"
    ),
    "refresh_token": lambda c: flows.refresh(c, "refresh-token-value"),
}


@pytest.mark.parametrize("grant", GRANTS)
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_every_grant_carries_the_extra_token_parameters(grant: str, method: str) -> None:
    client = make_client(token_method=method, token_extra_params=TOKEN_EXTRA, auth_extra_params=AUTH_EXTRA)
    body = sent(client, GRANTS[grant])
    assert body["grant_type"] == grant
    assert body["audience"] == "https://api.example.com/"
    assert "prompt" not in body  # sign-in parameters stay in the sign-in request


@responses.activate
def test_a_json_token_request_carries_the_extra_parameters() -> None:
    responses.add(responses.POST, OTHER_TOKEN_URL, json=GOOD)
    flows.client_credentials(make_client(content_type=flows.JSON, token_extra_params=TOKEN_EXTRA))
    assert json.loads(responses.calls[0].request.body)["audience"] == "https://api.example.com/"


def test_an_extra_parameter_never_replaces_one_the_app_sets() -> None:
    smuggled = (("client_secret", "other"), ("Scope", "x"), ("grant_type", "password"), ("resource", "y"))
    client = make_client(scope="read", resource=BC, token_extra_params=smuggled, auth_extra_params=smuggled)
    body = sent(client)
    expected = {"grant_type": "client_credentials", "scope": "read", "resource": BC}
    assert body == {**expected, "client_id": CLIENT_ID, "client_secret": SECRET}
    query = dict(consent_query(client, "https://login.example.com/authorize"))
    assert "client_secret" not in query and "Scope" not in query and query["resource"] == BC


@responses.activate
def test_a_token_request_with_extra_parameters_still_redacts_every_secret() -> None:
    echo = f"client_secret={SECRET} refresh_token=refresh-token-value audience=https://api.example.com/"
    responses.add(
        responses.POST, OTHER_TOKEN_URL, json={"error": "invalid_client", "error_description": echo}
    )
    client = make_client(token_extra_params=TOKEN_EXTRA)
    with pytest.raises(flows.OAuth2Error) as caught:
        flows.refresh(client, "refresh-token-value")
    assert SECRET not in str(caught.value) and "refresh-token-value" not in str(caught.value)
    assert "audience=https://api.example.com/" in str(caught.value)  # not a secret


def test_parse_extra_params_reads_name_value_lines() -> None:
    text = " prompt = consent \n\nlogin_hint=a=b\nbroken line\n=x\n"
    assert flows.parse_extra_params(text) == (("prompt", "consent"), ("login_hint", "a=b"))


# --- Basic header encoding ---------------------------------------------------------------------------


def decoded(header: str) -> str:
    return base64.b64decode(header.removeprefix("Basic ")).decode()


def test_raw_basic_joins_the_id_and_secret_as_they_are() -> None:
    header = flows.basic_auth_header(CLIENT_ID, SECRET, encoding=flows.BASIC_RAW)
    assert decoded(header) == "app-id:s3cr3t:+%x y"


def test_form_basic_form_encodes_them_first() -> None:
    assert decoded(flows.basic_auth_header(CLIENT_ID, SECRET)) == "app-id:s3cr3t%3A%2B%25x+y"


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [(flows.BASIC_RAW, "app-id:s3cr3t:+%x y"), (flows.BASIC_FORM, "app-id:s3cr3t%3A%2B%25x+y")],
)
@responses.activate
def test_the_token_request_sends_the_chosen_basic_encoding(encoding: str, expected: str) -> None:
    responses.add(responses.POST, OTHER_TOKEN_URL, json=GOOD)
    flows.client_credentials(make_client(credential_type="basic", basic_encoding=encoding))
    request = responses.calls[0].request
    assert decoded(request.headers["Authorization"]) == expected
    assert "client_secret" not in request.body.decode() if isinstance(request.body, bytes) else request.body


@pytest.mark.parametrize("sent_encoding", [flows.BASIC_RAW, flows.BASIC_FORM])
@pytest.mark.parametrize("echoed_encoding", [flows.BASIC_RAW, flows.BASIC_FORM])
@responses.activate
def test_it_redacts_an_echoed_basic_header_in_either_form(sent_encoding: str, echoed_encoding: str) -> None:
    echoed = flows.basic_auth_header(CLIENT_ID, SECRET, encoding=echoed_encoding)
    responses.add(
        responses.POST,
        OTHER_TOKEN_URL,
        status=401,
        json={"error": "invalid_client", "error_description": echoed},
    )
    with pytest.raises(flows.OAuth2Error) as caught:
        flows.client_credentials(make_client(credential_type="basic", basic_encoding=sent_encoding))
    message = str(caught.value)
    assert echoed.removeprefix("Basic ") not in message
    assert "[redacted]" in message
    assert SECRET not in message


# --- client_for and the consent start ------------------------------------------------------------------


@pytest.mark.django_db
def test_client_for_carries_the_new_settings() -> None:
    record = make_authorization(
        basic_encoding="raw",
        resource_url=f"{BC}\n{GRAPH}",
        auth_extra_params="prompt=consent\nlogin_hint=ana@contoso.com",
        token_extra_params="audience=https://api.example.com/",
    )
    client = client_for(record)
    assert client.basic_encoding == flows.BASIC_RAW
    assert client.resources == [BC, GRAPH]
    assert client.auth_extra_params == AUTH_EXTRA
    assert client.token_extra_params == TOKEN_EXTRA


@pytest.mark.django_db
def test_get_token_redirects_with_the_extra_sign_in_parameters(admin_client) -> None:
    record = make_authorization(
        grant_type=GrantType.AUTHORIZATION_CODE,
        auth_url=v2(kind="authorize"),
        token_url=v2(),
        redirect_url=REDIRECT_URI,
        scope="offline_access",
        resource_url=BC,
        auth_extra_params="prompt=consent\ndomain_hint=contoso.com",
    )
    location = admin_client.post(f"/oauth2/authorizations/{record.pk}/get-token/")["Location"]
    query = dict(parse_qsl(urlsplit(location).query))
    assert (query["prompt"], query["domain_hint"]) == ("consent", "contoso.com")
    assert query["scope"] == f"offline_access {BC}/.default"
    assert "resource" not in query


@pytest.mark.django_db
def test_a_posted_sign_in_request_has_one_field_per_resource(admin_client) -> None:
    record = make_authorization(
        grant_type=GrantType.AUTHORIZATION_CODE,
        auth_url="https://login.example.com/authorize",
        auth_method="POST",
        redirect_url=REDIRECT_URI,
        resource_url=f"{BC}\n{GRAPH}",
        auth_extra_params="prompt=consent",
    )
    body = admin_client.post(f"/oauth2/authorizations/{record.pk}/get-token/").content.decode()
    assert f'name="resource" value="{BC}"' in body
    assert f'name="resource" value="{GRAPH}"' in body
    assert 'name="prompt" value="consent"' in body


# --- The form ---------------------------------------------------------------------------------------


def bound(**overrides: Any) -> AuthorizationForm:
    form = AuthorizationForm(data=form_data(**overrides))
    form.is_valid()
    return form


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["auth_extra_params", "token_extra_params"])
@pytest.mark.parametrize("name", sorted(flows.RESERVED_PARAMS))
def test_the_form_refuses_a_parameter_the_app_sets(field: str, name: str) -> None:
    errors = bound(**{field: f"prompt=consent\n{name}=x"}).errors[field]
    assert errors == [re.sub(r"\.$", "", errors[0]) + "."]  # one sentence
    assert errors[0].startswith(f"Line 2: the app sets {name} itself")
    if name == "scope":
        assert "use the Scope field" in errors[0]
    if name == "resource":
        assert "use the Resource URL field" in errors[0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("prompt", "Line 1: write name=value."),
        ("prompt=consent\nlogin hint=x", "Line 2: 'login hint' is not a parameter name"),
        ("login_hint=", "Line 1: give login_hint a value."),
        ("prompt=consent\n\nPrompt=login", "Line 3: Prompt is given twice."),
        ("audience=a\x07b", "Line 1: the value of audience has a control character."),
        ("GRANT_TYPE=password", "Line 1: the app sets GRANT_TYPE itself."),
    ],
)
def test_the_form_refuses_bad_lines(text: str, error: str) -> None:
    for field in ("auth_extra_params", "token_extra_params"):
        assert bound(**{field: text}).errors[field][0].startswith(error)


@pytest.mark.django_db
def test_the_form_saves_tidy_extra_parameters(admin_client) -> None:
    data = form_data(
        code="EXTRA",
        auth_extra_params=" prompt = consent \r\n\r\nlogin_hint=ana@contoso.com\r\n",
        token_extra_params="audience=https://api.example.com/?a=b",
    )
    assert admin_client.post("/oauth2/authorizations/new/", data).status_code == 302
    record = Authorization.objects.get(code="EXTRA")
    assert record.auth_extra_params == "prompt=consent\nlogin_hint=ana@contoso.com"
    assert record.token_extra_params == "audience=https://api.example.com/?a=b"


def test_the_fields_sit_on_their_tabs() -> None:
    tabs = {tab_id: names for tab_id, _, names, _ in AuthorizationForm.tabs}
    assert "token_extra_params" in tabs["general"]
    assert "auth_extra_params" in tabs["authcode"]
    assert "basic_encoding" in tabs["credentials"]
    assert AuthorizationForm.field_show_when["basic_encoding"] == "credential_type=basic"


@pytest.mark.django_db
def test_the_page_shows_the_basic_encoding_only_for_basic(admin_client) -> None:
    page = admin_client.get("/oauth2/authorizations/new/").content.decode()
    assert re.search(
        r'data-show-when="credential_type=basic"[^>]*>\s*<div[^>]*id="div_id_basic_encoding"', page
    )


@pytest.mark.django_db
def test_the_form_keeps_form_encoding_when_the_field_is_not_sent() -> None:
    form = bound()
    assert form.is_valid(), form.errors
    assert form.cleaned_data["basic_encoding"] == "form"


@pytest.mark.django_db
def test_the_form_refuses_a_raw_basic_header_for_a_client_id_with_a_colon() -> None:
    form = bound(credential_type="basic", basic_encoding="raw", client_id="app:one")
    assert "cannot carry a client ID with ':'" in form.errors["client_id"][0]
    assert bound(credential_type="basic", basic_encoding="form", client_id="app:one").is_valid()


@pytest.mark.django_db
def test_the_form_takes_several_resources_and_fills_the_api_hosts(admin_client) -> None:
    data = form_data(
        code="MULTI",
        token_url="https://sts.contoso.com/adfs/oauth2/token",
        resource_url=f" {BC}/\r\n\r\n{GRAPH}\r\n",
        api_hosts="",
    )
    assert admin_client.post("/oauth2/authorizations/new/", data).status_code == 302
    record = Authorization.objects.get(code="MULTI")
    assert record.resource_url == f"{BC}/\n{GRAPH}"
    assert record.allowed_hosts == ["api.businesscentral.dynamics.com", "graph.microsoft.com"]


@pytest.mark.django_db
def test_the_form_names_the_bad_resource_line() -> None:
    errors = bound(resource_url=f"{BC}\nftp://files.example.com").errors["resource_url"]
    assert errors[0].startswith("ftp://files.example.com: Enter an absolute URL")


@pytest.mark.django_db
def test_the_form_refuses_several_resources_for_entra_v2() -> None:
    form = bound(token_url=v2(), resource_url=f"{BC}\n{GRAPH}")
    assert "AADSTS700022" in form.errors["resource_url"][0]
    assert bound(token_url=v2(), resource_url=BC).is_valid()
