"""private_key_jwt and client_secret_jwt wired into the record: the form generates or imports the
key, the key stays encrypted and off every page, each token request carries a fresh assertion,
and the public certificate can be downloaded for the app registration."""

from __future__ import annotations

import datetime as dt
import hashlib
from urllib.parse import parse_qsl

import jwt
import pytest
import responses
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from connectit.models import AuditAction, AuditEntry
from oauth2_auth import client_assertion as ca
from oauth2_auth import discovery, flows, tokens
from oauth2_auth.models import Authorization, CredentialType, Status
from tests.conftest import form_data, make_authorization

TOKEN_URL = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"
REVOKE_URL = "https://login.microsoftonline.com/contoso/oauth2/v2.0/revoke"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "s3cr3t-value-for-hs256-signing-0123456789"


@pytest.fixture(scope="module")
def credential() -> ca.Credential:
    return ca.generate("ConnectIT import test")


@pytest.fixture(scope="module")
def other() -> ca.Credential:
    return ca.generate("Someone else")


def key_body(credential: ca.Credential) -> list[str]:
    """The base64 lines of the private key: none may appear anywhere it must not."""
    return [line for line in credential.private_key_pem.splitlines() if not line.startswith("-----")]


def sent(call: responses.Call) -> dict[str, str]:
    body = call.request.body
    return dict(parse_qsl(body.decode() if isinstance(body, bytes) else body))


def public_key(credential: ca.Credential):
    return x509.load_pem_x509_certificate(credential.certificate_pem.encode()).public_key()


def der_sha256(credential: ca.Credential) -> str:
    der = x509.load_pem_x509_certificate(credential.certificate_pem.encode()).public_bytes(
        serialization.Encoding.DER
    )
    return ca._b64url(hashlib.sha256(der).digest())


def token_ok() -> None:
    responses.add(
        responses.POST, TOKEN_URL, json={"access_token": "at-1", "expires_in": 3600, "token_type": "Bearer"}
    )


def cert_client(credential: ca.Credential, **fields) -> flows.Client:
    values = {
        "token_url": TOKEN_URL,
        "client_id": CLIENT_ID,
        "credential_type": "private_key_jwt",
        "private_key": credential.private_key_pem,
        "certificate": credential.certificate_pem,
    }
    return flows.Client(**{**values, **fields})


# --- Token requests -----------------------------------------------------------------------------


@responses.activate
def test_private_key_jwt_sends_a_verifiable_ps256_assertion_and_no_secret(credential) -> None:
    token_ok()
    flows.client_credentials(cert_client(credential, client_secret="must-not-be-sent"))
    params = sent(responses.calls[0])
    assert params["client_id"] == CLIENT_ID
    assert params["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert "client_secret" not in params
    assert "Authorization" not in responses.calls[0].request.headers
    assertion = params["client_assertion"]
    header = jwt.get_unverified_header(assertion)
    assert header["alg"] == "PS256"
    assert header["x5t#S256"] == der_sha256(credential)
    claims = jwt.decode(assertion, public_key(credential), algorithms=["PS256"], audience=TOKEN_URL)
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert 0 < claims["exp"] - claims["iat"] <= 600


@responses.activate
def test_rs256_names_the_certificate_by_its_sha1_thumbprint(credential) -> None:
    token_ok()
    flows.client_credentials(cert_client(credential, assertion_algorithm="RS256"))
    assertion = sent(responses.calls[0])["client_assertion"]
    assert jwt.get_unverified_header(assertion)["x5t"] == credential.x5t
    jwt.decode(assertion, public_key(credential), algorithms=["RS256"], audience=TOKEN_URL)


@responses.activate
def test_every_request_gets_a_fresh_assertion(credential) -> None:
    token_ok()
    token_ok()
    client = cert_client(credential)
    flows.client_credentials(client)
    flows.refresh(client, "refresh-1")
    first, second = (sent(call)["client_assertion"] for call in responses.calls)
    decode = lambda token: jwt.decode(  # noqa: E731
        token, public_key(credential), algorithms=["PS256"], audience=TOKEN_URL
    )
    assert first != second
    assert decode(first)["jti"] != decode(second)["jti"]


@responses.activate
def test_client_secret_jwt_signs_with_the_secret_and_never_sends_it() -> None:
    token_ok()
    client = flows.Client(
        token_url=TOKEN_URL, client_id=CLIENT_ID, client_secret=SECRET, credential_type="client_secret_jwt"
    )
    flows.client_credentials(client)
    params = sent(responses.calls[0])
    assert SECRET not in responses.calls[0].request.body
    claims = jwt.decode(params["client_assertion"], SECRET, algorithms=["HS256"], audience=TOKEN_URL)
    assert claims["iss"] == CLIENT_ID


@responses.activate
def test_an_assertion_echoed_by_the_provider_is_redacted(credential) -> None:
    def echo(request):
        assertion = dict(parse_qsl(request.body))["client_assertion"]
        return 401, {}, f'{{"error": "invalid_client", "error_description": "bad {assertion}"}}'

    responses.add_callback(responses.POST, TOKEN_URL, callback=echo, content_type="application/json")
    with pytest.raises(flows.OAuth2Error) as caught:
        flows.client_credentials(cert_client(credential))
    assertion = sent(responses.calls[0])["client_assertion"]
    assert assertion not in str(caught.value)
    assert assertion.split(".")[2] not in str(caught.value)
    assert "invalid_client" in str(caught.value)


@responses.activate
def test_no_stored_certificate_is_a_clear_error_before_any_request() -> None:
    client = flows.Client(token_url=TOKEN_URL, client_id=CLIENT_ID, credential_type="private_key_jwt")
    with pytest.raises(flows.OAuth2Error, match="No certificate is stored: generate or import one"):
        flows.client_credentials(client)
    assert not responses.calls


@responses.activate
def test_revocation_authenticates_with_an_assertion_too(credential) -> None:
    responses.add(responses.POST, REVOKE_URL, body="", status=200)
    assert flows.revoke(cert_client(credential), "rt-1", url=REVOKE_URL).confirmed
    params = sent(responses.calls[0])
    jwt.decode(params["client_assertion"], public_key(credential), algorithms=["PS256"], audience=TOKEN_URL)


def test_revocation_without_a_key_reports_instead_of_raising() -> None:
    client = flows.Client(token_url=TOKEN_URL, client_id=CLIENT_ID, credential_type="private_key_jwt")
    result = flows.revoke(client, "rt-1", url=REVOKE_URL)
    assert not result.confirmed
    assert "No certificate is stored" in str(result)


@responses.activate
def test_a_stored_record_gets_a_token_with_its_certificate(db, credential) -> None:
    token_ok()
    record = make_authorization(
        code="CERT",
        credential_type=CredentialType.PRIVATE_KEY_JWT,
        client_secret="",
        private_key=credential.private_key_pem,
        certificate=credential.certificate_pem,
    )
    assert tokens.get_access_token("CERT") == "at-1"
    assertion = sent(responses.calls[0])["client_assertion"]
    jwt.decode(assertion, public_key(credential), algorithms=["PS256"], audience=TOKEN_URL)
    record.refresh_from_db()
    assert record.status == Status.VALID


# --- The form -------------------------------------------------------------------------------------


def post(client, data, url="/oauth2/authorizations/new/", **kwargs):
    return client.post(url, data, **kwargs)


def cert_form(**overrides):
    return form_data(credential_type="private_key_jwt", client_secret="", **overrides)


def stored_column(record: Authorization, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM oauth2_auth_authorization WHERE id = %s", [record.pk])
        return cursor.fetchone()[0]


def test_saving_a_new_certificate_record_generates_a_key_and_certificate(admin_client) -> None:
    response = post(admin_client, cert_form(certificate_source="generate", certificate_days="365"))
    assert response.status_code == 302, response.content.decode()[:2000]
    record = Authorization.objects.get(code="BC-SANDBOX")
    credential = ca.Credential(record.private_key, record.certificate)
    assert credential.certificate.subject.rfc4514_string() == "CN=ConnectIT BC-SANDBOX"
    assert record.credential_expires_on == credential.not_after.date()
    assert record.credential_expires_on - dt.date.today() in (dt.timedelta(days=365), dt.timedelta(days=364))
    # Encrypted at rest: the key's text is not in the column.
    assert "PRIVATE KEY" not in stored_column(record, "private_key")
    page = admin_client.get(response["Location"]).content.decode()
    assert f"thumbprint {credential.thumbprint_sha1_hex}" in page
    assert "Download the certificate" in page
    for line in key_body(credential):
        assert line not in page


def test_the_audit_trail_names_a_new_key_and_certificate(admin_client, credential) -> None:
    record = make_authorization(code="BC-SANDBOX", credential_type="private_key_jwt")
    url = f"/oauth2/authorizations/{record.pk}/"
    assert (
        post(admin_client, cert_form(certificate_source="generate", certificate_days="30"), url).status_code
        == 302
    )
    entry = AuditEntry.objects.filter(action=AuditAction.CHANGED).get()
    assert {"private_key", "certificate"} <= set(entry.fields)
    assert not set(entry.fields) & {"certificate_source", "certificate_days"}
    assert "PRIVATE KEY" not in repr(list(AuditEntry.objects.values()))


def test_the_name_typed_becomes_the_certificates_subject(admin_client) -> None:
    post(admin_client, cert_form(certificate_source="generate", certificate_name="BC integration"))
    record = Authorization.objects.get(code="BC-SANDBOX")
    assert "CN=BC integration" in ca.Credential("", record.certificate).certificate.subject.rfc4514_string()


def test_an_edit_keeps_the_stored_key_unless_another_source_is_chosen(admin_client, credential) -> None:
    record = make_authorization(
        code="BC-SANDBOX",
        credential_type="private_key_jwt",
        private_key=credential.private_key_pem,
        certificate=credential.certificate_pem,
    )
    url = f"/oauth2/authorizations/{record.pk}/"
    page = admin_client.get(url).content.decode()
    stored = f"The stored certificate: CN=ConnectIT import test, thumbprint {credential.thumbprint_sha1_hex}"
    assert stored in page
    for data in (cert_form(environment="edited"), cert_form(environment="again", certificate_source="keep")):
        assert post(admin_client, data, url).status_code == 302
        record.refresh_from_db()
        assert record.private_key == credential.private_key_pem
        assert record.certificate == credential.certificate_pem


def test_a_pem_pair_is_imported(admin_client, credential) -> None:
    data = cert_form(
        certificate_source="pem",
        private_key_pem=credential.private_key_pem,
        certificate_pem=credential.certificate_pem,
        assertion_algorithm="RS256",
    )
    assert post(admin_client, data).status_code == 302
    record = Authorization.objects.get(code="BC-SANDBOX")
    assert record.private_key == credential.private_key_pem
    assert record.certificate == credential.certificate_pem
    assert record.assertion_algorithm == "RS256"
    assert record.credential_expires_on == credential.not_after.date()


def test_a_key_that_does_not_match_is_refused_and_not_shown_again(admin_client, credential, other) -> None:
    data = cert_form(
        certificate_source="pem",
        private_key_pem=other.private_key_pem,
        certificate_pem=credential.certificate_pem,
    )
    response = post(admin_client, data)
    page = response.content.decode()
    assert response.status_code == 200
    assert "The private key does not belong to the certificate." in page
    assert "Key material is not kept in the page: give it again." in page
    for line in key_body(other):
        assert line not in page
    assert not Authorization.objects.filter(code="BC-SANDBOX").exists()


def test_a_pem_import_needs_both_parts(admin_client, credential) -> None:
    page = post(
        admin_client, cert_form(certificate_source="pem", certificate_pem=credential.certificate_pem)
    ).content.decode()
    assert "Paste it to import a PEM pair." in page
    assert not Authorization.objects.exists()


def pfx(credential: ca.Credential, password: bytes) -> bytes:
    key = serialization.load_pem_private_key(credential.private_key_pem.encode(), password=None)
    return pkcs12.serialize_key_and_certificates(
        b"test", key, credential.certificate, None, serialization.BestAvailableEncryption(password)
    )


def test_a_pfx_file_is_imported_with_its_password(admin_client, credential) -> None:
    upload = SimpleUploadedFile("bc.pfx", pfx(credential, b"pfx-pass"), "application/x-pkcs12")
    data = cert_form(certificate_source="pfx", pfx_file=upload, pfx_password="pfx-pass")
    assert post(admin_client, data).status_code == 302
    record = Authorization.objects.get(code="BC-SANDBOX")
    assert ca.Credential(record.private_key, record.certificate).thumbprint_sha1_hex == (
        credential.thumbprint_sha1_hex
    )


def test_a_wrong_pfx_password_is_a_clear_error(admin_client, credential) -> None:
    upload = SimpleUploadedFile("bc.pfx", pfx(credential, b"pfx-pass"), "application/x-pkcs12")
    page = post(
        admin_client, cert_form(certificate_source="pfx", pfx_file=upload, pfx_password="wrong")
    ).content.decode()
    assert "The PFX file could not be opened: the password is wrong or the file is not a PFX." in page
    assert "wrong" not in page.split("pfx_password", 1)[1][:200]  # the password is not rendered back
    assert not Authorization.objects.exists()


def test_an_assertion_is_only_sent_by_post(admin_client) -> None:
    page = post(admin_client, cert_form(token_method="GET")).content.decode()
    assert "A signed client assertion is sent only with POST." in page


def test_client_secret_jwt_needs_a_secret(admin_client) -> None:
    data = form_data(credential_type="client_secret_jwt", client_secret="")
    page = post(admin_client, data).content.decode()
    assert "client_secret_jwt signs with the secret: type it." in page
    assert post(admin_client, form_data(credential_type="client_secret_jwt")).status_code == 302


def test_other_credential_types_store_no_key(admin_client) -> None:
    assert post(admin_client, form_data(certificate_source="generate")).status_code == 302
    record = Authorization.objects.get(code="BC-SANDBOX")
    assert record.private_key == "" and record.certificate == ""


# --- Download and who sees what -------------------------------------------------------------------


def test_the_certificate_downloads_without_the_key(reader_client, credential, db) -> None:
    record = make_authorization(
        code="CERT", private_key=credential.private_key_pem, certificate=credential.certificate_pem
    )
    response = reader_client.get(f"/oauth2/authorizations/{record.pk}/certificate/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="CERT.cer"'
    body = response.content.decode()
    assert body == credential.certificate_pem
    assert "PRIVATE KEY" not in body


def test_no_certificate_is_a_404_and_outsiders_get_403(admin_client, outsider_client, db) -> None:
    record = make_authorization(code="PLAIN")
    assert admin_client.get(f"/oauth2/authorizations/{record.pk}/certificate/").status_code == 404
    assert outsider_client.get(f"/oauth2/authorizations/{record.pk}/certificate/").status_code == 403


def test_a_reader_sees_the_thumbprint_but_no_inputs(reader_client, credential, db) -> None:
    record = make_authorization(
        code="CERT",
        credential_type="private_key_jwt",
        private_key=credential.private_key_pem,
        certificate=credential.certificate_pem,
    )
    page = reader_client.get(f"/oauth2/authorizations/{record.pk}/").content.decode()
    assert credential.thumbprint_sha1_hex in page
    assert 'name="private_key_pem"' not in page
    for line in key_body(credential):
        assert line not in page


def metadata_for(record: Authorization, **fields) -> discovery.Metadata:
    """A provider's metadata that agrees with ``record`` except in ``fields``."""
    values = {
        "source": "https://idp.example.com/.well-known/openid-configuration",
        "issuer": "https://idp.example.com",
        "authorization_endpoint": "",
        "token_endpoint": record.token_url,
        "revocation_endpoint": "",
        "pkce_s256": True,
        "auth_methods": ("client_secret_basic",),
        "sends_iss": False,
    }
    return discovery.Metadata(**{**values, **fields})


def test_check_configuration_names_an_auth_method_the_provider_does_not_list(db, credential) -> None:
    record = make_authorization(credential_type="private_key_jwt", issuer="https://idp.example.com")
    found = discovery.differences(record, metadata_for(record, auth_methods=("client_secret_basic",)))
    assert any("does not list private_key_jwt" in line for line in found)


def test_check_configuration_names_a_signing_algorithm_the_provider_does_not_list(db) -> None:
    record = make_authorization(credential_type="private_key_jwt", assertion_algorithm="PS256")
    metadata = metadata_for(record, auth_methods=("private_key_jwt",), assertion_algorithms=("RS256",))
    assert any(
        "signing algorithm: the provider does not list PS256 for client assertions (it takes RS256)" in line
        for line in discovery.differences(record, metadata)
    )
    record.assertion_algorithm = "RS256"
    assert not [line for line in discovery.differences(record, metadata) if "signing" in line]
