"""Client authentication with a signed JWT (RFC 7523): private_key_jwt and client_secret_jwt.

The key material (an RSA key pair with a self-signed certificate, generated here or imported from
PEM or PFX) is handled by ``cryptography``; the signing by PyJWT. Nothing here is hand-written
cryptography. No database access: the caller stores ``Credential.private_key_pem`` in an
encrypted field and asks for a fresh assertion for every token request.

Every failure raises ``CredentialError`` (a ``ValueError``) with a fixed message that is safe to
show an administrator: it never contains key material, a password or a secret. Only RSA keys are
accepted: Entra ID takes only RSA certificates, and PS256/RS256 are the algorithms it documents.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
KEY_SIZE = 3072
# Entra ID refuses certificates with keys below 2048 bits; so does NIST for RSA since 2013.
MIN_KEY_SIZE = 2048
# The certificate starts a little in the past so a provider whose clock runs behind accepts it.
BACKDATE = dt.timedelta(minutes=5)
# PS256 is what Entra ID expects now; RS256 for ADFS and older stacks.
ALGORITHMS = ("PS256", "RS256")
DEFAULT_LIFETIME = 300


class CredentialError(ValueError):
    """Key material that cannot be used, or an assertion that cannot be signed (safe message)."""


@dataclass(frozen=True)
class Credential:
    """An RSA private key (PKCS#8 PEM, unencrypted) and its certificate (PEM)."""

    private_key_pem: str = field(repr=False)
    certificate_pem: str

    def __repr__(self) -> str:  # keep the private key out of tracebacks and logs
        return f"Credential(thumbprint={self.thumbprint_sha1_hex}, not_after={self.not_after.isoformat()})"

    @cached_property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certificate_pem.encode())

    @cached_property
    def _der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def thumbprint_sha1_hex(self) -> str:
        """The thumbprint as Entra's portal shows it (upper-case hex of the DER's SHA-1)."""
        return hashlib.sha1(self._der, usedforsecurity=False).hexdigest().upper()

    @property
    def x5t(self) -> str:
        return _b64url(hashlib.sha1(self._der, usedforsecurity=False).digest())

    @property
    def x5t_s256(self) -> str:
        return _b64url(hashlib.sha256(self._der).digest())

    @property
    def not_after(self) -> dt.datetime:
        return self.certificate.not_valid_after_utc


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --- Key material -------------------------------------------------------------------------------


def generate(common_name: str, days: int = 730) -> Credential:
    """A new RSA key pair and a self-signed certificate for ``common_name``, valid ``days`` days.

    730 days matches the longest lifetime Entra ID allows for a client secret, so a certificate
    is renewed no more often than the secret it replaces.
    """
    if not common_name.strip():
        raise CredentialError("The certificate needs a name (common name).")
    if days < 1:
        raise CredentialError("The certificate must be valid for at least one day.")
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name.strip())])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return _credential(key, certificate)


def load_pem(private_key_pem: str, certificate_pem: str) -> Credential:
    """Import an unencrypted PEM private key and its PEM certificate (a chain is fine: the
    certificate that matches the key is kept)."""
    try:
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    except TypeError:
        # cryptography raises TypeError for an encrypted key loaded without a password.
        raise CredentialError(
            "The private key is encrypted: import it as a PFX file with its password, or export it "
            "without a password."
        ) from None
    except (ValueError, UnicodeError):
        raise CredentialError("The private key is not a readable PEM private key.") from None
    try:
        certificates = x509.load_pem_x509_certificates(certificate_pem.encode())
    except (ValueError, UnicodeError):
        raise CredentialError("The certificate is not a readable PEM certificate.") from None
    return _credential(_rsa_key(key), _matching(key, certificates))


def load_pfx(data: bytes, password: str | None) -> Credential:
    """Import a PFX (PKCS#12) file holding a private key and its certificate."""
    secret = password.encode() if password else None
    try:
        key, certificate, extra = pkcs12.load_key_and_certificates(data, secret)
    except (ValueError, TypeError):
        # cryptography gives the same ValueError for a wrong password and a damaged file.
        raise CredentialError(
            "The PFX file could not be opened: the password is wrong or the file is not a PFX."
        ) from None
    if key is None:
        raise CredentialError("The PFX file holds no private key.")
    candidates = [c for c in [certificate, *extra] if c is not None]
    if not candidates:
        raise CredentialError("The PFX file holds no certificate.")
    return _credential(_rsa_key(key), _matching(key, candidates))


def _rsa_key(key: Any) -> rsa.RSAPrivateKey:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialError("The private key is not an RSA key; only RSA keys are supported.")
    if key.key_size < MIN_KEY_SIZE:
        raise CredentialError(f"The RSA key has {key.key_size} bits; at least {MIN_KEY_SIZE} are needed.")
    return key


def _matching(key: Any, certificates: list[x509.Certificate]) -> x509.Certificate:
    """The certificate whose public key is ``key``'s (compared as DER public key info)."""
    wanted = _public_der(key.public_key())
    for certificate in certificates:
        if _public_der(certificate.public_key()) == wanted:
            return certificate
    raise CredentialError("The private key does not belong to the certificate.")


def _public_der(public_key: Any) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _credential(key: rsa.RSAPrivateKey, certificate: x509.Certificate) -> Credential:
    """Store the key as unencrypted PKCS#8, whatever format it came in: one format to read back."""
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    return Credential(private_key_pem=key_pem.decode("ascii"), certificate_pem=cert_pem.decode("ascii"))


# --- Signing ------------------------------------------------------------------------------------


def private_key_jwt(
    credential: Credential,
    *,
    client_id: str,
    audience: str,
    algorithm: str = "PS256",
    lifetime: int = DEFAULT_LIFETIME,
    now: dt.datetime | None = None,
) -> str:
    """A client assertion signed with the credential's private key (RFC 7523 section 2.2).

    The header names the certificate so the provider can pick the key: ``x5t#S256`` for PS256
    (what Entra ID expects now), the SHA-1 ``x5t`` for RS256 (ADFS and older stacks).
    """
    if algorithm not in ALGORITHMS:
        raise CredentialError(f"Unsupported signing algorithm; use one of {', '.join(ALGORITHMS)}.")
    headers = {"x5t#S256": credential.x5t_s256} if algorithm == "PS256" else {"x5t": credential.x5t}
    try:
        key = serialization.load_pem_private_key(credential.private_key_pem.encode(), password=None)
    except (ValueError, TypeError, UnicodeError):
        raise CredentialError("The stored private key cannot be read; import or generate it again.") from None
    claims = _claims(client_id, audience, lifetime, now)
    return jwt.encode(claims, _rsa_key(key), algorithm=algorithm, headers={"typ": "JWT", **headers})


def client_secret_jwt(
    secret: str,
    *,
    client_id: str,
    audience: str,
    lifetime: int = DEFAULT_LIFETIME,
    now: dt.datetime | None = None,
) -> str:
    """A client assertion signed with HS256 and the client secret as the key (RFC 7523)."""
    if not secret:
        raise CredentialError("client_secret_jwt needs the client secret.")
    claims = _claims(client_id, audience, lifetime, now)
    return jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "JWT"})


def _claims(client_id: str, audience: str, lifetime: int, now: dt.datetime | None) -> dict[str, Any]:
    if not client_id:
        raise CredentialError("A client assertion needs the client ID.")
    if not audience:
        raise CredentialError("A client assertion needs the token endpoint URL as its audience.")
    if lifetime < 1:
        raise CredentialError("A client assertion must live at least one second.")
    issued = int((now or dt.datetime.now(dt.UTC)).timestamp())
    return {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        # A fresh jti for every request: providers refuse a replayed assertion by its jti.
        "jti": str(uuid.uuid4()),
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
    }


def assertion_params(assertion: str) -> dict[str, str]:
    """The token request parameters that carry ``assertion`` (the caller adds client_id)."""
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}
