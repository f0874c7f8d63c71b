"""The signing core of private_key_jwt and client_secret_jwt: key material and assertions.

Every check is made independently of the module: thumbprints from the certificate's DER with
hashlib, signatures with PyJWT and the certificate's own public key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from oauth2_auth import client_assertion as ca

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
TOKEN_URL = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
SECRET = "s3cr3t~value.with-reserved/chars+and=length-over-32"


@pytest.fixture(scope="module")
def credential() -> ca.Credential:
    return ca.generate("ConnectIT test")


@pytest.fixture(scope="module")
def other() -> ca.Credential:
    return ca.generate("Someone else")


def der(credential: ca.Credential) -> bytes:
    certificate = x509.load_pem_x509_certificate(credential.certificate_pem.encode())
    return certificate.public_bytes(serialization.Encoding.DER)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_key(credential: ca.Credential):
    return x509.load_pem_x509_certificate(credential.certificate_pem.encode()).public_key()


def decode(assertion: str, credential: ca.Credential, algorithm: str) -> dict:
    return jwt.decode(assertion, public_key(credential), algorithms=[algorithm], audience=TOKEN_URL)


def pfx(credential: ca.Credential, password: bytes | None) -> bytes:
    key = serialization.load_pem_private_key(credential.private_key_pem.encode(), password=None)
    certificate = x509.load_pem_x509_certificate(credential.certificate_pem.encode())
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return pkcs12.serialize_key_and_certificates(b"connectit", key, certificate, None, encryption)


# --- generate -----------------------------------------------------------------------------------


def test_it_generates_a_self_signed_rsa_3072_certificate(credential: ca.Credential) -> None:
    certificate = x509.load_pem_x509_certificate(credential.certificate_pem.encode())
    key = serialization.load_pem_private_key(credential.private_key_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 3072
    assert credential.private_key_pem.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted
    assert certificate.subject == certificate.issuer
    cn = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert cn == "ConnectIT test"
    assert certificate.signature_hash_algorithm.name == "sha256"
    public_der = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public_der == key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_its_validity_starts_five_minutes_back_and_lasts_the_days_asked() -> None:
    before = dt.datetime.now(dt.UTC)
    credential = ca.generate("Short", days=30)
    certificate = x509.load_pem_x509_certificate(credential.certificate_pem.encode())
    starts = certificate.not_valid_before_utc
    assert before - dt.timedelta(minutes=5, seconds=2) <= starts <= before - dt.timedelta(minutes=4)
    assert credential.not_after == certificate.not_valid_after_utc
    assert credential.not_after.tzinfo is not None
    assert abs(credential.not_after - (before + dt.timedelta(days=30))) < dt.timedelta(seconds=5)


def test_its_thumbprints_match_the_certificate_der(credential: ca.Credential) -> None:
    data = der(credential)
    assert credential.thumbprint_sha1_hex == hashlib.sha1(data).hexdigest().upper()
    assert credential.x5t == b64url(hashlib.sha1(data).digest())
    assert credential.x5t_s256 == b64url(hashlib.sha256(data).digest())
    assert "=" not in credential.x5t + credential.x5t_s256


def test_its_repr_hides_the_private_key(credential: ca.Credential) -> None:
    assert "PRIVATE" not in repr(credential)
    assert credential.thumbprint_sha1_hex in repr(credential)


@pytest.mark.parametrize(("name", "days"), [("", 730), ("   ", 730), ("Fine", 0)])
def test_it_refuses_a_nameless_or_timeless_certificate(name: str, days: int) -> None:
    with pytest.raises(ca.CredentialError):
        ca.generate(name, days=days)


# --- private_key_jwt ----------------------------------------------------------------------------


def test_a_ps256_assertion_verifies_with_the_certificate_and_names_it_by_x5t_s256(
    credential: ca.Credential,
) -> None:
    assertion = ca.private_key_jwt(credential, client_id=CLIENT_ID, audience=TOKEN_URL)
    header = jwt.get_unverified_header(assertion)
    assert header["alg"] == "PS256"
    assert header["typ"] == "JWT"
    assert header["x5t#S256"] == b64url(hashlib.sha256(der(credential)).digest())
    assert "x5t" not in header
    claims = decode(assertion, credential, "PS256")
    assert claims["aud"] == TOKEN_URL


def test_an_rs256_assertion_verifies_with_the_certificate_and_names_it_by_sha1_x5t(
    credential: ca.Credential,
) -> None:
    assertion = ca.private_key_jwt(credential, client_id=CLIENT_ID, audience=TOKEN_URL, algorithm="RS256")
    header = jwt.get_unverified_header(assertion)
    assert header["alg"] == "RS256"
    assert header["typ"] == "JWT"
    assert header["x5t"] == b64url(hashlib.sha1(der(credential)).digest())
    assert "x5t#S256" not in header
    decode(assertion, credential, "RS256")


def test_its_claims_follow_rfc_7523(credential: ca.Credential) -> None:
    now = dt.datetime.now(dt.UTC)
    assertion = ca.private_key_jwt(credential, client_id=CLIENT_ID, audience=TOKEN_URL, lifetime=120, now=now)
    claims = decode(assertion, credential, "PS256")
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == TOKEN_URL
    assert claims["iat"] == claims["nbf"] == int(now.timestamp())
    assert claims["exp"] - claims["iat"] == 120
    assert len(claims["jti"]) >= 16


def test_every_assertion_has_a_fresh_jti(credential: ca.Credential) -> None:
    now = dt.datetime.now(dt.UTC)
    first, second = (
        decode(
            ca.private_key_jwt(credential, client_id=CLIENT_ID, audience=TOKEN_URL, now=now),
            credential,
            "PS256",
        )
        for _ in range(2)
    )
    assert first["jti"] != second["jti"]


def test_an_assertion_does_not_verify_with_another_certificate(
    credential: ca.Credential, other: ca.Credential
) -> None:
    assertion = ca.private_key_jwt(credential, client_id=CLIENT_ID, audience=TOKEN_URL)
    with pytest.raises(jwt.InvalidSignatureError):
        decode(assertion, other, "PS256")


def test_an_assertion_does_not_verify_for_another_audience(credential: ca.Credential) -> None:
    assertion = ca.private_key_jwt(credential, client_id=CLIENT_ID, audience=TOKEN_URL)
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(
            assertion, public_key(credential), algorithms=["PS256"], audience="https://elsewhere/token"
        )


@pytest.mark.parametrize("algorithm", ["HS256", "ES256", "none", "ps256", "RS512"])
def test_it_refuses_an_unsupported_algorithm(credential: ca.Credential, algorithm: str) -> None:
    with pytest.raises(ca.CredentialError, match="Unsupported signing algorithm"):
        ca.private_key_jwt(credential, client_id=CLIENT_ID, audience=TOKEN_URL, algorithm=algorithm)


@pytest.mark.parametrize("kwargs", [{"client_id": ""}, {"audience": ""}, {"lifetime": 0}, {"lifetime": -5}])
def test_it_refuses_an_assertion_without_its_parts(credential: ca.Credential, kwargs: dict) -> None:
    arguments = {"client_id": CLIENT_ID, "audience": TOKEN_URL, **kwargs}
    with pytest.raises(ca.CredentialError):
        ca.private_key_jwt(credential, **arguments)


# --- client_secret_jwt --------------------------------------------------------------------------


def test_an_hs256_assertion_verifies_with_the_secret_only() -> None:
    now = dt.datetime.now(dt.UTC)
    assertion = ca.client_secret_jwt(SECRET, client_id=CLIENT_ID, audience=TOKEN_URL, lifetime=60, now=now)
    header = jwt.get_unverified_header(assertion)
    assert header == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(assertion, SECRET, algorithms=["HS256"], audience=TOKEN_URL)
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["exp"] - claims["iat"] == 60
    assert claims["nbf"] == claims["iat"] == int(now.timestamp())
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(assertion, SECRET + "x", algorithms=["HS256"], audience=TOKEN_URL)


def test_hs256_assertions_have_fresh_jtis() -> None:
    first, second = (
        jwt.decode(
            ca.client_secret_jwt(SECRET, client_id=CLIENT_ID, audience=TOKEN_URL),
            SECRET,
            algorithms=["HS256"],
            audience=TOKEN_URL,
        )
        for _ in range(2)
    )
    assert first["jti"] != second["jti"]


def test_it_refuses_client_secret_jwt_without_a_secret() -> None:
    with pytest.raises(ca.CredentialError):
        ca.client_secret_jwt("", client_id=CLIENT_ID, audience=TOKEN_URL)


def test_assertion_params_carry_the_jwt_bearer_type() -> None:
    assert ca.assertion_params("a.b.c") == {
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": "a.b.c",
    }


# --- load_pem -----------------------------------------------------------------------------------


def test_load_pem_round_trips(credential: ca.Credential) -> None:
    loaded = ca.load_pem(credential.private_key_pem, credential.certificate_pem)
    assert loaded == credential
    assert loaded.thumbprint_sha1_hex == credential.thumbprint_sha1_hex


def test_load_pem_takes_a_traditional_rsa_key_and_stores_pkcs8(credential: ca.Credential) -> None:
    key = serialization.load_pem_private_key(credential.private_key_pem.encode(), password=None)
    traditional = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    assert traditional.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert ca.load_pem(traditional, credential.certificate_pem) == credential


def test_load_pem_picks_the_matching_certificate_from_a_chain(
    credential: ca.Credential, other: ca.Credential
) -> None:
    chain = other.certificate_pem + credential.certificate_pem
    assert ca.load_pem(credential.private_key_pem, chain) == credential


def test_load_pem_refuses_a_key_of_another_certificate(
    credential: ca.Credential, other: ca.Credential
) -> None:
    with pytest.raises(ca.CredentialError, match="does not belong to the certificate") as caught:
        ca.load_pem(credential.private_key_pem, other.certificate_pem)
    assert_no_key_material(caught.value, credential)


@pytest.mark.parametrize(
    ("key", "certificate", "message"),
    [
        ("not a key", None, "not a readable PEM private key"),
        (None, "not a certificate", "not a readable PEM certificate"),
        (None, "", "not a readable PEM certificate"),
    ],
)
def test_load_pem_refuses_unreadable_input(
    credential: ca.Credential, key: str | None, certificate: str | None, message: str
) -> None:
    with pytest.raises(ca.CredentialError, match=message) as caught:
        ca.load_pem(
            key or credential.private_key_pem,
            credential.certificate_pem if certificate is None else certificate,
        )
    assert_no_key_material(caught.value, credential)


def test_load_pem_refuses_an_encrypted_key_with_advice(credential: ca.Credential) -> None:
    key = serialization.load_pem_private_key(credential.private_key_pem.encode(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    ).decode()
    with pytest.raises(ca.CredentialError, match="encrypted") as caught:
        ca.load_pem(encrypted, credential.certificate_pem)
    assert_no_key_material(caught.value, credential)


def test_load_pem_refuses_an_ec_key() -> None:
    # Only RSA is supported: Entra ID takes RSA certificates, and PS256/RS256 need RSA.
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "ec")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, ca.hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(ca.CredentialError, match="not an RSA key"):
        ca.load_pem(key_pem, cert_pem)


# --- load_pfx -----------------------------------------------------------------------------------


@pytest.mark.parametrize("password", [None, "pfx-Passw0rd!"])
def test_load_pfx_round_trips(credential: ca.Credential, password: str | None) -> None:
    data = pfx(credential, password.encode() if password else None)
    assert ca.load_pfx(data, password) == credential


def test_load_pfx_refuses_a_wrong_password(credential: ca.Credential) -> None:
    data = pfx(credential, b"right-password")
    for wrong in ("wrong-password", None):
        with pytest.raises(ca.CredentialError, match="password is wrong") as caught:
            ca.load_pfx(data, wrong)
        assert_no_key_material(caught.value, credential)
        assert "right-password" not in str(caught.value)


def test_load_pfx_refuses_a_file_that_is_not_a_pfx(credential: ca.Credential) -> None:
    with pytest.raises(ca.CredentialError, match="not a PFX"):
        ca.load_pfx(credential.certificate_pem.encode(), None)


def test_load_pfx_refuses_a_pfx_without_a_key(credential: ca.Credential) -> None:
    certificate = x509.load_pem_x509_certificate(credential.certificate_pem.encode())
    data = pkcs12.serialize_key_and_certificates(
        b"x", None, None, [certificate], serialization.NoEncryption()
    )
    with pytest.raises(ca.CredentialError, match="no private key"):
        ca.load_pfx(data, None)


def test_load_pfx_refuses_a_key_of_another_certificate(
    credential: ca.Credential, other: ca.Credential
) -> None:
    key = serialization.load_pem_private_key(credential.private_key_pem.encode(), password=None)
    certificate = x509.load_pem_x509_certificate(other.certificate_pem.encode())
    # cryptography refuses to build a PFX whose key and certificate differ; an extra one it takes.
    data = pkcs12.serialize_key_and_certificates(b"x", key, None, [certificate], serialization.NoEncryption())
    with pytest.raises(ca.CredentialError, match="does not belong") as caught:
        ca.load_pfx(data, None)
    assert_no_key_material(caught.value, credential)


# --- helpers ------------------------------------------------------------------------------------


def assert_no_key_material(error: Exception, credential: ca.Credential) -> None:
    """Neither the message nor a chained cause carries the key (or any PEM body line of it)."""
    body = [line for line in credential.private_key_pem.splitlines() if line and "-----" not in line]
    texts = [str(error), repr(error)]
    if error.__cause__ or error.__context__:
        texts.append(str(error.__cause__ or error.__context__))
    for text in texts:
        assert "PRIVATE KEY" not in text
        assert not any(line in text for line in body)
    # Raised "from None": the library's own error never reaches a traceback in the logs.
    assert error.__context__ is None or error.__suppress_context__
