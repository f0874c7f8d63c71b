"""An administrator switches a Business Central authorization to a certificate: generates it on
the record, downloads it, uploads it to the app registration (a local stand-in for Entra ID)
and gets a token signed with it; a certificate that was not uploaded gets Entra's advice."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from oauth2_auth import client_assertion
from oauth2_auth.models import Authorization, GrantType
from tests.browser import field, log_in
from tests.conftest import PASSWORD, make_authorization
from tests.entra_standin import EntraStandIn

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TENANT = "0f8fad5b-d9cb-469f-a165-70867728950e"
CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
CERTIFICATE_TYPE = "Certificate (private_key_jwt: signed with a private key)"


def bc_record(entra: EntraStandIn) -> Authorization:
    return make_authorization(
        code="BC-CERT",
        grant_type=GrantType.CLIENT_CREDENTIALS,
        client_id=CLIENT_ID,
        client_secret="",
        token_url=f"{entra.base_url}/{TENANT}/oauth2/v2.0/token",
        scope="https://api.businesscentral.dynamics.com/.default",
        api_hosts="api.businesscentral.dynamics.com",
    )


def test_a_generated_certificate_is_downloaded_uploaded_and_gets_a_token(
    sized_page, live_server, admin_user
) -> None:
    page = sized_page
    with EntraStandIn(CLIENT_ID, "unused-secret") as entra:
        record = bc_record(entra)
        log_in(page, live_server.url, "admin", PASSWORD)
        page.goto(f"{live_server.url}/oauth2/authorizations/{record.pk}/#credentials")
        expect(field(page, "Certificate name (CN)")).to_be_hidden()
        field(page, "Credential type").select_option(label=CERTIFICATE_TYPE)
        # Generating is the default for a record without a certificate.
        expect(field(page, "Certificate name (CN)")).to_be_visible()
        expect(field(page, "Private key (PEM)")).to_be_hidden()
        field(page, "Certificate").select_option(label="Import a PEM private key and certificate")
        expect(field(page, "Private key (PEM)")).to_be_visible()
        expect(field(page, "Certificate name (CN)")).to_be_hidden()
        field(page, "Certificate").select_option(label="Generate a new key and certificate here")
        field(page, "Certificate name (CN)").fill("BC integration")
        page.get_by_role("button", name="Save", exact=True).click()
        record.refresh_from_db()
        thumbprint = client_assertion.Credential("", record.certificate).thumbprint_sha1_hex
        expect(page.locator(".alert-info")).to_contain_text(f"thumbprint {thumbprint}")

        page.get_by_role("tab", name="Credentials").click()
        with page.expect_download() as download_info:
            page.get_by_role("link", name="Download the certificate").click()
        download = download_info.value
        assert download.suggested_filename == "BC-CERT.cer"
        pem = Path(download.path()).read_text()
        assert pem == record.certificate and "PRIVATE KEY" not in pem

        # Before the upload, Entra refuses the assertion and the page says what that means.
        page.get_by_role("button", name="Get Token").click()
        expect(page.locator(".alert-danger")).to_contain_text("AADSTS700027")
        entra.upload_certificate(pem)
        page.get_by_role("button", name="Get Token").click()
        expect(page.locator(".alert-success")).to_contain_text("Token obtained for BC-CERT")
    _path, form = entra.requests[-1]
    assert "client_secret" not in form
    assert form["client_assertion_type"] == client_assertion.ASSERTION_TYPE
    record.refresh_from_db()
    assert record.credential_expires_on is not None
