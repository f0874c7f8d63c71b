"""An administrator reads a WSDL's operations from the URL as typed, on a definition not saved
yet, picks one, sees its parameters, and saves (issue 12, item 11). Against the spyne SOAP
server and the django-oauth-toolkit provider the suite starts."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from definitions.models import Definition
from oauth2_auth.models import host_port
from tests.browser import field, log_in
from tests.conftest import PASSWORD
from tests.provider_helpers import cc_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1366, 390])
def test_operations_are_read_from_the_typed_wsdl_url_before_saving(
    page, live_server, admin_user, oauth_provider, soap_server, width
) -> None:
    page.set_viewport_size({"width": width, "height": 900 if width > 500 else 844})
    oauth_provider.reset()
    soap_server.reset()
    hosts = "\n".join(host_port(url) for url in (oauth_provider.api_url, soap_server.base_url))
    cc_record(oauth_provider, code="ERP", api_hosts=hosts)
    log_in(page, live_server.url, "admin", PASSWORD)
    page.goto(f"{live_server.url}/definitions/new/")
    field(page, "Code").fill("erp-customer")
    field(page, "Kind").select_option(label="SOAP")
    field(page, "Endpoint URL").fill(soap_server.soap11_url)
    page.get_by_role("tab", name="Authorization").click()
    field(page, "Authorization type").select_option(label="OAuth2 authorization")
    field(page, "OAuth2 authorization").select_option("ERP")

    page.get_by_role("tab", name="SOAP").click()
    operation = field(page, "Operation")
    expect(operation.locator("option")).to_have_count(1)  # nothing read yet
    status = page.locator("[data-read-status]")
    field(page, "WSDL URL").fill("http://127.0.0.1:1/nothing?wsdl")  # the form's own checks first
    page.get_by_role("button", name="Read operations").click()
    expect(status).to_contain_text("Ask an administrator to add 127.0.0.1:1 to its API hosts.")
    field(page, "WSDL URL").fill(f"{soap_server.base_url}/no-such-wsdl")
    page.get_by_role("button", name="Read operations").click()
    expect(status).to_contain_text("Could not read operations")

    field(page, "WSDL URL").fill(soap_server.wsdl11_url)
    page.get_by_role("button", name="Read operations").click()
    expect(status).to_contain_text("Read 4 operation(s)")
    operation.select_option("CreateOrder")
    expect(page.locator("[data-operation-parameters]")).to_have_text(
        "Parameters of CreateOrder: customer_id (integer, required); sku (string, required); "
        "quantity (integer, required)."
    )
    assert not Definition.objects.exists()  # reading saved nothing

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".alert-success")).to_contain_text("Definition ERP-CUSTOMER was created.")
    record = Definition.objects.get()
    assert record.operation == "CreateOrder"
    assert [item["name"] for item in record.wsdl_operations] == [
        "CreateOrder",
        "Echo",
        "GetCustomer",
        "ListItems",
    ]
    page.get_by_role("tab", name="SOAP").click()
    expect(page.locator("[data-operation-parameters]")).to_contain_text("customer_id (integer, required)")
    # The WSDL was read with the authorization's token, like a run.
    assert soap_server.stats()["wsdl"] >= 1 and soap_server.stats()["unauthorized"] == 0
