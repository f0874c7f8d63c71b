"""Definitions -> New. Also holds the small helpers the other definition view tests import."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client, override_settings

from definitions.models import AuthType, Definition, Direction, Kind, Paging, SoapMode
from tests.conftest import PASSWORD, make_authorization

URL = "/definitions/new/"
BC_CUSTOMERS = "https://api.businesscentral.dynamics.com/v2.0/{environment}/api/v2.0/customers"


# --- Helpers shared by the definition view tests --------------------------------------------------


def definitions_user(username: str, *codenames: str) -> User:
    """A user with only the named permissions of the definitions app."""
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD)
    permissions = Permission.objects.filter(content_type__app_label="definitions", codename__in=codenames)
    assert permissions.count() == len(codenames), codenames
    user.user_permissions.add(*permissions)
    return user


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:
    """The page with HTML entities decoded, so messages can be matched as they read."""
    return html.unescape(response.content.decode())


def definition_data(**overrides: Any) -> dict[str, Any]:
    """A complete, valid POST for the definition form: an anonymous REST import."""
    data = {
        "code": "bc-customers",
        "description": "Business Central customers",
        "kind": Kind.REST,
        "direction": Direction.IMPORT,
        "endpoint_url": BC_CUSTOMERS,
        "active": "on",
        "timeout": "30",
        "extra_headers": "",
        "auth_type": AuthType.ANONYMOUS,
        "auth_username": "",
        "api_key_header": "",
        "authorization": "",
        "http_method": "GET",
        "body_template": "",
        "content_type": "application/json",
        "accept": "application/json",
        "paging": Paging.NONE,
        "page_start": "1",
        "items_property": "value",
        "total_pages_property": "",
        "next_link_property": "",
        "max_pages": "100",
        "soap_version": "1.1",
        "soap_mode": SoapMode.WSDL,
        "wsdl_url": "",
        "operation": "",
        "parameters_json": "",
        "soap_action": "",
        "envelope_template": "",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def make_definition(**fields: Any) -> Definition:
    values: dict[str, Any] = {
        "code": "CUSTOMERS",
        "description": "Customers",
        "kind": Kind.REST,
        "direction": Direction.IMPORT,
        "endpoint_url": "https://api.example.com/customers",
    }
    values.update(fields)
    return Definition.objects.create(**values)


def errors(response) -> dict[str, list[str]]:
    assert response.status_code == 200, response.status_code
    return {name: list(messages) for name, messages in response.context["form"].errors.items()}


# --- Tests ----------------------------------------------------------------------------------------


@pytest.fixture
def definitions_reader_client(db) -> Client:
    return client_for(definitions_user("defreader", "view_definition"))


def test_it_redirects_anonymous_to_login(client, admin_user) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_it_shows_the_form_with_its_tabs(admin_client) -> None:
    response = admin_client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    for tab_id, label in (
        ("general", "General"),
        ("auth", "Authorization"),
        ("rest", "REST"),
        ("soap", "SOAP"),
    ):
        assert f'id="tab-{tab_id}"' in body
        assert f">{label}</button>" in body
    # The REST and SOAP tabs only show for their kind.
    assert 'data-show-when="kind=rest"' in body
    assert 'data-show-when="kind=soap"' in body
    assert 'name="code"' in body
    assert 'data-read-url="/definitions/new/operations/"' in body  # read before the first save


def test_it_creates_a_rest_definition(admin_client) -> None:
    response = admin_client.post(URL, definition_data())
    record = Definition.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/definitions/{record.pk}/"
    assert record.code == "BC-CUSTOMERS"
    assert record.kind == Kind.REST
    assert record.direction == Direction.IMPORT
    assert record.endpoint_url == BC_CUSTOMERS
    assert record.active is True
    page = admin_client.get(response["Location"])
    assert "Definition BC-CUSTOMERS was created." in text(page)


def test_it_creates_a_soap_wsdl_definition(admin_client) -> None:
    data = definition_data(
        code="erp-customer",
        kind=Kind.SOAP,
        direction=Direction.IMPORT,
        endpoint_url="https://erp.example.com/ws/Customers",
        soap_version="1.2",
        soap_mode=SoapMode.WSDL,
        wsdl_url="https://erp.example.com/ws/Customers?wsdl",
        operation="GetCustomer",
        parameters_json='{"customer_id": "{id}", "limit": 10}',
    )
    response = admin_client.post(URL, data)
    assert response.status_code == 302
    record = Definition.objects.get()
    assert record.code == "ERP-CUSTOMER"
    assert record.kind == Kind.SOAP
    assert record.soap_mode == SoapMode.WSDL
    assert record.soap_version == "1.2"
    assert record.wsdl_url == "https://erp.example.com/ws/Customers?wsdl"
    assert record.operation == "GetCustomer"


def test_it_creates_a_soap_envelope_definition(admin_client) -> None:
    envelope = (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        "<soap:Body><GetCustomer><Id>{id}</Id></GetCustomer></soap:Body></soap:Envelope>"
    )
    data = definition_data(
        code="erp-envelope",
        kind=Kind.SOAP,
        direction=Direction.EXPORT,
        endpoint_url="https://erp.example.com/ws/Customers",
        soap_mode=SoapMode.ENVELOPE,
        soap_action="urn:GetCustomer",
        envelope_template=envelope,
    )
    response = admin_client.post(URL, data)
    assert response.status_code == 302
    record = Definition.objects.get()
    assert record.soap_mode == SoapMode.ENVELOPE
    assert record.soap_action == "urn:GetCustomer"
    assert record.envelope_template == envelope


def test_it_upper_cases_the_code(admin_client) -> None:
    admin_client.post(URL, definition_data(code="  sales-orders_2 "))
    assert Definition.objects.get().code == "SALES-ORDERS_2"


def test_it_rejects_a_duplicate_code(admin_client) -> None:
    make_definition(code="BC-CUSTOMERS")
    response = admin_client.post(URL, definition_data(code="bc-customers"))
    assert "already exists" in text(response)
    assert "code" in errors(response)
    assert Definition.objects.count() == 1


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("has space", "Use only letters, digits"),
        ("x" * 21, "at most 20 characters"),
        ("ÄÖÜ", "Use only letters, digits"),
        ("a/b", "Use only letters, digits"),
        ("", "This field is required."),
    ],
)
def test_it_rejects_a_bad_code(admin_client, code: str, message: str) -> None:
    response = admin_client.post(URL, definition_data(code=code))
    assert any(message in error for error in errors(response)["code"])
    assert not Definition.objects.exists()


# --- Endpoint URL ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://api.example.com/customers", "Plain http is refused"),
        ("api.example.com/customers", "starting with https://"),
        ("ftp://api.example.com/customers", "starting with https://"),
        ("https://user:pw@api.example.com/customers", "Do not put credentials in the URL"),
        ("https://api.example.com/cust omers", "without spaces"),
        ("https://{tenant}.example.com/customers", "Placeholders may appear in the path and query only"),
        ("https://api.example.com:{port}/customers", "Placeholders may appear in the path and query only"),
        ("https://api.{domain}/customers", "Placeholders may appear in the path and query only"),
        ("{base}/customers", "Placeholders may appear in the path and query only"),
        ("", "This field is required."),
    ],
)
def test_it_rejects_a_bad_endpoint_url(admin_client, url: str, message: str) -> None:
    response = admin_client.post(URL, definition_data(endpoint_url=url))
    assert any(message in error for error in errors(response)["endpoint_url"]), errors(response)
    assert not Definition.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://api.businesscentral.dynamics.com/v2.0/{environment}/api/v2.0/companies({company})/customers",
        "https://api.example.com/customers?$filter=number eq '{number}'".replace(" ", "%20"),
        "https://api.example.com/customers/{id}?expand={expand}",
        "http://127.0.0.1:8080/api/{id}",
        "http://localhost/api",
    ],
)
def test_it_accepts_placeholders_in_path_and_query(admin_client, url: str) -> None:
    response = admin_client.post(URL, definition_data(endpoint_url=url))
    assert response.status_code == 302, errors(response)
    assert Definition.objects.get().endpoint_url == url


def test_it_accepts_a_placeholder_in_a_query_without_a_path(admin_client) -> None:
    # "https://host?x={y}" has the placeholder in the query, not in the host.
    url = "https://api.example.com?company={company}"
    response = admin_client.post(URL, definition_data(endpoint_url=url))
    assert response.status_code == 302, errors(response)


@override_settings(CONNECTIT_ALLOW_HTTP=True)
def test_it_allows_http_when_configured(admin_client) -> None:
    response = admin_client.post(URL, definition_data(endpoint_url="http://erp.internal/api/{id}"))
    assert response.status_code == 302


# --- Extra headers --------------------------------------------------------------------------------


def test_it_accepts_extra_headers(admin_client) -> None:
    response = admin_client.post(URL, definition_data(extra_headers="If-Match: *\r\n\r\nX-Tenant: contoso"))
    assert response.status_code == 302
    assert "X-Tenant: contoso" in Definition.objects.get().extra_headers


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ("X-Tenant contoso", "Line 1: write a header as 'Name: value'."),
        ("If-Match: *\nBad Name: x", "Line 2: write a header as 'Name: value'."),
        (": value", "Line 1: write a header as 'Name: value'."),
        ("Host: evil.example.com", "Line 1: Host is set by the app and cannot be overridden."),
        ("content-length: 5", "Line 1: content-length is set by the app and cannot be overridden."),
    ],
)
def test_it_rejects_bad_extra_headers(admin_client, headers: str, message: str) -> None:
    response = admin_client.post(URL, definition_data(extra_headers=headers))
    assert errors(response)["extra_headers"] == [message]
    assert not Definition.objects.exists()


# --- Authorization type ---------------------------------------------------------------------------


def test_basic_needs_username_and_password(admin_client) -> None:
    response = admin_client.post(URL, definition_data(auth_type=AuthType.BASIC))
    found = errors(response)
    assert found["auth_username"] == ["Required for Basic authorization."]
    assert found["auth_password"] == ["Required for Basic authorization."]
    assert not Definition.objects.exists()


def test_it_creates_a_basic_definition(admin_client) -> None:
    data = definition_data(auth_type=AuthType.BASIC, auth_username="svc", auth_password="basic-pass-123")
    assert admin_client.post(URL, data).status_code == 302
    record = Definition.objects.get()
    assert (record.auth_username, record.auth_password) == ("svc", "basic-pass-123")


def test_bearer_needs_a_token(admin_client) -> None:
    response = admin_client.post(URL, definition_data(auth_type=AuthType.BEARER))
    assert errors(response)["bearer_token"] == ["Required for a static bearer token."]
    data = definition_data(auth_type=AuthType.BEARER, bearer_token="static-bearer-xyz")
    assert admin_client.post(URL, data).status_code == 302
    assert Definition.objects.get().bearer_token == "static-bearer-xyz"


def test_api_key_needs_header_name_and_value(admin_client) -> None:
    response = admin_client.post(URL, definition_data(auth_type=AuthType.API_KEY))
    found = errors(response)
    assert found["api_key_header"] == ["Required for an API key."]
    assert found["api_key_value"] == ["Required for an API key."]
    assert not Definition.objects.exists()


@pytest.mark.parametrize("name", ["X Api Key", "X-Key:", "Ü-Key", "Host"])
def test_api_key_needs_a_valid_header_name(admin_client, name: str) -> None:
    data = definition_data(auth_type=AuthType.API_KEY, api_key_header=name, api_key_value="key-value-123")
    response = admin_client.post(URL, data)
    assert errors(response)["api_key_header"] == ["Enter a valid HTTP header name (letters, digits, '-')."]
    assert not Definition.objects.exists()


def test_it_creates_an_api_key_definition(admin_client) -> None:
    data = definition_data(auth_type=AuthType.API_KEY, api_key_header="X-Api-Key", api_key_value="key-123")
    assert admin_client.post(URL, data).status_code == 302
    record = Definition.objects.get()
    assert (record.api_key_header, record.api_key_value) == ("X-Api-Key", "key-123")


def test_oauth2_needs_an_authorization(admin_client) -> None:
    response = admin_client.post(URL, definition_data(auth_type=AuthType.OAUTH2))
    assert errors(response)["authorization"] == ["Required for OAuth2."]
    assert not Definition.objects.exists()


def test_oauth2_offers_the_existing_authorizations_by_code(admin_client) -> None:
    make_authorization(code="ENDPOINT", environment="Business Central sandbox")
    make_authorization(code="OTHER", environment="")
    body = text(admin_client.get(URL))
    assert "ENDPOINT — Business Central sandbox (not connected)" in body
    assert '<option value="OTHER">OTHER (not connected)</option>' in body


def test_oauth2_refuses_an_authorization_that_does_not_exist(admin_client) -> None:
    response = admin_client.post(URL, definition_data(auth_type=AuthType.OAUTH2, authorization="NOPE"))
    assert "Select a valid choice" in errors(response)["authorization"][0]
    assert not Definition.objects.exists()


def test_it_creates_an_oauth2_definition(admin_client) -> None:
    authorization = make_authorization()
    # Definitions reference an authorization by its code.
    data = definition_data(auth_type=AuthType.OAUTH2, authorization=authorization.code)
    assert admin_client.post(URL, data).status_code == 302
    assert Definition.objects.get().authorization == authorization


# --- Paging ---------------------------------------------------------------------------------------


def test_page_number_paging_needs_a_page_placeholder(admin_client) -> None:
    response = admin_client.post(URL, definition_data(paging=Paging.PAGE_NUMBER))
    assert errors(response)["paging"] == ["Page-number paging needs a {page} placeholder in the URL or body."]
    assert not Definition.objects.exists()


def test_page_number_paging_accepts_page_in_the_url(admin_client) -> None:
    data = definition_data(
        paging=Paging.PAGE_NUMBER, endpoint_url="https://api.example.com/items?page={page}"
    )
    assert admin_client.post(URL, data).status_code == 302


def test_page_number_paging_accepts_page_in_the_body(admin_client) -> None:
    data = definition_data(
        paging=Paging.PAGE_NUMBER, http_method="POST", body_template='{"page": {page}, "size": 100}'
    )
    assert admin_client.post(URL, data).status_code == 302


def test_next_link_paging_needs_the_property(admin_client) -> None:
    response = admin_client.post(URL, definition_data(paging=Paging.NEXT_LINK))
    assert errors(response)["next_link_property"] == ["Required for next-link paging."]
    data = definition_data(paging=Paging.NEXT_LINK, next_link_property="@odata.nextLink")
    assert admin_client.post(URL, data).status_code == 302


@pytest.mark.parametrize("paging", [Paging.PAGE_NUMBER, Paging.NEXT_LINK])
def test_paging_is_refused_on_an_export(admin_client, paging: str) -> None:
    data = definition_data(
        direction=Direction.EXPORT,
        paging=paging,
        endpoint_url="https://api.example.com/items?page={page}",
        next_link_property="@odata.nextLink",
    )
    response = admin_client.post(URL, data)
    assert "Paging applies to imports only." in errors(response)["paging"]
    assert not Definition.objects.exists()


# --- Body template --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", '{"number": "{number}", "amount": {amount}, "lines": [{qty}]}'),
        ("application/json", "[]"),
        ("application/xml", "<order><number>{number}</number><amount>{amount}</amount></order>"),
        ("text/plain", "number={number}; this is { not json"),
    ],
)
def test_it_accepts_a_body_template_with_placeholders(admin_client, content_type: str, body: str) -> None:
    data = definition_data(
        direction=Direction.EXPORT, http_method="POST", content_type=content_type, body_template=body
    )
    response = admin_client.post(URL, data)
    assert response.status_code == 302, errors(response)
    assert Definition.objects.get().body_template == body


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/json", '{"number": {number}', "Not valid JSON (with placeholders filled in)"),
        ("application/json", "number={number}", "Not valid JSON (with placeholders filled in)"),
        ("application/xml", "<order><number>{number}</order>", "Not well-formed XML"),
        ("application/xml", "plain text", "Not well-formed XML"),
    ],
)
def test_it_rejects_a_malformed_body_template(
    admin_client, content_type: str, body: str, message: str
) -> None:
    data = definition_data(
        direction=Direction.EXPORT, http_method="POST", content_type=content_type, body_template=body
    )
    response = admin_client.post(URL, data)
    assert errors(response)["body_template"][0].startswith(message)
    assert not Definition.objects.exists()


# --- SOAP -----------------------------------------------------------------------------------------


def soap_data(**overrides: Any) -> dict[str, Any]:
    return definition_data(kind=Kind.SOAP, endpoint_url="https://erp.example.com/ws/Customers", **overrides)


def test_wsdl_mode_needs_a_wsdl_url(admin_client) -> None:
    response = admin_client.post(URL, soap_data(soap_mode=SoapMode.WSDL, wsdl_url=""))
    assert errors(response)["wsdl_url"] == ["Required in WSDL mode."]
    assert not Definition.objects.exists()


def test_wsdl_mode_checks_the_wsdl_url(admin_client) -> None:
    response = admin_client.post(
        URL, soap_data(soap_mode=SoapMode.WSDL, wsdl_url="https://{host}/ws/Customers?wsdl")
    )
    assert "Placeholders may appear in the path and query only" in errors(response)["wsdl_url"][0]


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ("[1, 2]", "Write a JSON object of parameter names and values."),
        ('"{id}"', "Write a JSON object of parameter names and values."),
        ('{"id": ', "Not valid JSON (with placeholders filled in)"),
    ],
)
def test_wsdl_mode_parameters_must_be_a_json_object(admin_client, parameters: str, message: str) -> None:
    data = soap_data(
        soap_mode=SoapMode.WSDL, wsdl_url="https://erp.example.com/ws?wsdl", parameters_json=parameters
    )
    response = admin_client.post(URL, data)
    assert errors(response)["parameters_json"][0].startswith(message)
    assert not Definition.objects.exists()


def test_envelope_mode_needs_an_envelope(admin_client) -> None:
    response = admin_client.post(URL, soap_data(soap_mode=SoapMode.ENVELOPE, envelope_template=""))
    assert errors(response)["envelope_template"] == ["Required in envelope mode."]
    assert not Definition.objects.exists()


def test_envelope_mode_needs_a_well_formed_envelope(admin_client) -> None:
    data = soap_data(soap_mode=SoapMode.ENVELOPE, envelope_template="<Envelope><Body>{id}</Envelope>")
    response = admin_client.post(URL, data)
    assert errors(response)["envelope_template"][0].startswith("Not well-formed XML")
    assert not Definition.objects.exists()


def test_soap_ignores_rest_only_checks(admin_client) -> None:
    # The REST tab is hidden for SOAP; whatever it holds must not block the save.
    data = soap_data(
        soap_mode=SoapMode.WSDL,
        wsdl_url="https://erp.example.com/ws?wsdl",
        content_type="application/json",
        body_template="not json",
    )
    assert admin_client.post(URL, data).status_code == 302


# --- Errors, secrets and permissions --------------------------------------------------------------


def test_a_failed_save_keeps_what_was_typed_except_secrets(admin_client) -> None:
    data = definition_data(
        code="kept-code",
        description="kept description",
        endpoint_url="http://api.example.com/insecure",
        extra_headers="X-Tenant: kept-tenant",
        auth_type=AuthType.BASIC,
        auth_username="kept-user",
        auth_password="typed-password-never-shown",
    )
    response = admin_client.post(URL, data)
    body = text(response)
    assert "Plain http is refused" in body
    assert 'value="kept-code"' in body
    assert 'value="kept description"' in body
    assert 'value="http://api.example.com/insecure"' in body
    assert "X-Tenant: kept-tenant" in body
    assert 'value="kept-user"' in body
    assert "typed-password-never-shown" not in body
    assert not Definition.objects.exists()


@pytest.mark.parametrize("field", ["bearer_token", "api_key_value"])
def test_a_failed_save_never_echoes_other_secrets(admin_client, field: str) -> None:
    response = admin_client.post(URL, definition_data(code="", **{field: "typed-secret-never-shown"}))
    assert response.status_code == 200
    assert "typed-secret-never-shown" not in response.content.decode()


def test_it_denies_a_definitions_reader(definitions_reader_client) -> None:
    assert definitions_reader_client.get(URL).status_code == 403
    assert definitions_reader_client.post(URL, definition_data()).status_code == 403
    assert not Definition.objects.exists()


def test_it_denies_an_authorizations_reader(reader_client) -> None:
    assert reader_client.get(URL).status_code == 403
    assert reader_client.post(URL, definition_data()).status_code == 403
    assert not Definition.objects.exists()


def test_it_denies_an_outsider(outsider_client) -> None:
    assert outsider_client.post(URL, definition_data()).status_code == 403
    assert not Definition.objects.exists()


def test_a_user_with_add_permission_may_create(db) -> None:
    client = client_for(definitions_user("creator", "add_definition", "view_definition"))
    response = client.post(URL, definition_data())
    assert response.status_code == 302
    assert Definition.objects.get().code == "BC-CUSTOMERS"
