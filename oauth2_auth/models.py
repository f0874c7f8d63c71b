"""The OAuth2 Authorization record: how to get a token, and the token itself (encrypted)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from connectit.fields import DecryptionError, EncryptedTextField, is_stored
from connectit.validators import validate_endpoint_url, validate_endpoint_urls

CODE_MAX_LENGTH = 20
validate_code = RegexValidator(
    r"^[A-Z0-9_-]+\Z",
    "Use only letters, digits, '_' and '-' (stored in upper case).",
)


class GrantType(models.TextChoices):
    CLIENT_CREDENTIALS = "client_credentials", "Client Credentials"
    AUTHORIZATION_CODE = "authorization_code", "Authorization Code"


class BasicEncoding(models.TextChoices):
    FORM = "form", "Form-encode the ID and secret first (RFC 6749)"
    RAW = "raw", "Raw ID and secret (for providers that expect them as they are)"


class HttpMethod(models.TextChoices):
    GET = "GET", "GET"
    POST = "POST", "POST"


class CredentialType(models.TextChoices):
    BASIC = "basic", "Basic (HTTP Basic header)"
    BODY = "body", "Client-ID & Secret (in the request: the body for POST, the query for GET)"
    PRIVATE_KEY_JWT = "private_key_jwt", "Certificate (private_key_jwt: signed with a private key)"
    CLIENT_SECRET_JWT = "client_secret_jwt", "Secret-signed assertion (client_secret_jwt)"


class AssertionAlgorithm(models.TextChoices):
    """How a private_key_jwt assertion is signed, and how its header names the certificate."""

    PS256 = "PS256", "PS256, certificate named by x5t#S256 (Entra ID today)"
    RS256 = "RS256", "RS256, certificate named by a SHA-1 x5t (AD FS and older stacks)"


class ContentType(models.TextChoices):
    FORM = "application/x-www-form-urlencoded", "application/x-www-form-urlencoded"
    JSON = "application/json", "application/json"


class TokenState(models.TextChoices):
    """What the last token operation left behind; ``Authorization.status`` adds expiry."""

    NOT_CONNECTED = "not_connected", "Not connected"
    CONNECTED = "connected", "Connected"
    FAILED = "failed", "Failed"
    CONSENT_REQUIRED = "consent_required", "Consent required"


class Status(models.TextChoices):
    """What an administrator sees in the list badge and the Bearer Token tab."""

    NOT_CONNECTED = "not_connected", "Not connected"
    VALID = "valid", "Valid"
    EXPIRED = "expired", "Expired"
    FAILED = "failed", "Failed"
    CONSENT_REQUIRED = "consent_required", "Consent required"


def origin(url: str) -> str:
    """scheme://host:port of a URL, with the default port spelled out; "" for none. Where a
    secret or a token may go is decided by this (the form's checks, Clear token's revocation)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return url
    if not parts.hostname:
        return ""
    return f"{parts.scheme.lower()}://{parts.hostname.lower()}:{port}"


def host_port(url: str) -> str:
    """'host' or 'host:port' of a URL as API host lists spell it: lower case, default port left out."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"https": 443, "http": 80}.get(parts.scheme.lower())
    return host if port in (None, default) else f"{host}:{port}"


_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_HOST_PORT = re.compile(rf"(?:\[[0-9a-f:.]+\]|{_LABEL}(?:\.{_LABEL})*)(?::[0-9]{{1,5}})?")


def parse_hosts(text: str) -> list[str]:
    """API hosts, one per line (commas and spaces separate too), in the host_port spelling.
    A URL counts as its host; anything that is no host name is left out."""
    hosts = []
    for item in text.replace(",", " ").split():
        spelled = host_port(item if "://" in item else f"https://{item}")
        if _HOST_PORT.fullmatch(spelled):
            hosts.append(spelled)
    return list(dict.fromkeys(hosts))


def url_field(verbose_name: str, **kwargs) -> models.CharField:
    return models.CharField(
        verbose_name, max_length=2000, blank=True, validators=[validate_endpoint_url], **kwargs
    )


class Authorization(models.Model):
    # General
    code = models.CharField(
        max_length=CODE_MAX_LENGTH,
        unique=True,
        validators=[validate_code],
        help_text="Short unique name that definitions use to reference this authorization.",
    )
    environment = models.CharField(max_length=250, blank=True, help_text="Free text describing the service.")
    grant_type = models.CharField(
        max_length=32, choices=GrantType.choices, default=GrantType.CLIENT_CREDENTIALS
    )

    # Credentials
    client_id = models.CharField("username or client ID", max_length=500, blank=True)
    client_secret = EncryptedTextField("password or secret")
    basic_encoding = models.CharField(
        "Basic header encoding",
        max_length=4,
        choices=BasicEncoding.choices,
        default=BasicEncoding.FORM,
        help_text="How the client ID and secret go into an HTTP Basic header.",
    )
    credential_expires_on = models.DateField(
        "secret or certificate expires on",
        null=True,
        blank=True,
        help_text="The list and the record warn 30 days ahead (Entra secrets last at most 24 months).",
    )

    # The certificate credential (private_key_jwt): the key signs every token request's assertion
    # and never leaves the app; the certificate (public) is uploaded to the app registration.
    private_key = EncryptedTextField("private key")
    certificate = models.TextField("certificate (PEM)", blank=True, editable=False)
    assertion_algorithm = models.CharField(
        "signing algorithm",
        max_length=5,
        choices=AssertionAlgorithm.choices,
        default=AssertionAlgorithm.PS256,
    )

    # Authorization code
    auth_url = url_field("auth URL", help_text="Where the browser goes to give consent.")
    auth_method = models.CharField(
        "auth URL method", max_length=4, choices=HttpMethod.choices, default=HttpMethod.GET
    )
    redirect_url = url_field("redirect URL", help_text="This app's callback URL, registered at the provider.")
    issuer = url_field(
        "expected issuer",
        help_text="When the provider sends 'iss' with the code, it must equal this. "
        "Blank: it must be on the auth URL's host.",
    )
    use_pkce = models.BooleanField(
        "use PKCE (S256)",
        default=True,
        help_text="Turn off only for providers that reject a code challenge.",
    )
    auth_extra_params = models.TextField(
        "extra authorization request parameters",
        blank=True,
        help_text="name=value, one per line, added to the sign-in request: prompt=consent, "
        "login_hint=…, domain_hint=…",
    )
    require_iss = models.BooleanField(
        "require iss",
        default=False,
        help_text="Refuse an answer that carries no 'iss' (RFC 9207). Turn on when the provider "
        "sends it (its metadata says authorization_response_iss_parameter_supported).",
    )

    # Token request (both grants)
    token_url = url_field("access token URL", help_text="Token endpoint, also used for refresh.")
    token_method = models.CharField(
        "access token URL method", max_length=4, choices=HttpMethod.choices, default=HttpMethod.POST
    )
    resource_url = models.CharField(
        "resource URL",
        max_length=2000,
        blank=True,
        validators=[validate_endpoint_urls],
        help_text="The API the token is for; several, one per line, where the provider allows it. "
        "Entra ID v2 endpoints get '<resource>/.default' added to the scope; other providers get "
        "a 'resource' parameter for each (Entra v1, RFC 8707).",
    )
    token_extra_params = models.TextField(
        "extra token request parameters",
        blank=True,
        help_text="name=value, one per line, added to every token request: audience=…",
    )
    revocation_url = url_field(
        "revocation URL",
        help_text="RFC 7009 endpoint: Clear token also revokes the refresh token there.",
    )
    api_hosts = models.TextField(
        "API hosts",
        blank=True,
        help_text="The only hosts this token is sent to, one per line (host, or host:port). "
        "Filled in from the resource URL, or from the first definition that uses it.",
    )
    scope = models.CharField(max_length=2000, blank=True)
    credential_type = models.CharField(
        max_length=20, choices=CredentialType.choices, default=CredentialType.BODY
    )
    content_type = models.CharField(
        "content-type", max_length=40, choices=ContentType.choices, default=ContentType.FORM
    )
    access_token_property = models.CharField(max_length=200, default="access_token")
    expires_in_property = models.CharField(max_length=200, default="expires_in")
    refresh_token_property = models.CharField(max_length=200, default="refresh_token")

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = "OAuth2 authorization"
        permissions = [
            ("operate_authorization", "Can get, refresh and give consent for tokens"),
            ("use_authorization", "Can attach authorizations to definitions"),
        ]

    def __str__(self) -> str:
        return self.code

    def save(self, *args, **kwargs) -> None:
        self.code = (self.code or "").strip().upper()
        super().save(*args, **kwargs)

    @property
    def allowed_hosts(self) -> list[str]:
        return parse_hosts(self.api_hosts)

    def allows(self, url: str) -> bool:
        """Whether this authorization's token may be sent to ``url``."""
        return host_port(url) in self.allowed_hosts

    @property
    def token(self) -> BearerToken:
        """The token state; an empty, unsaved one while no token was ever requested."""
        try:
            return self.bearer
        except BearerToken.DoesNotExist:
            return BearerToken(authorization=self)

    @property
    def status(self) -> Status:
        return self.token.status

    @property
    def is_authorization_code(self) -> bool:
        return self.grant_type == GrantType.AUTHORIZATION_CODE


class BearerToken(models.Model):
    """An authorization's token and the state of its renewal, one row per authorization.

    Written only by ``oauth2_auth.tokens``: forms, admin and commands save ``Authorization`` rows,
    which hold none of these columns, so they can never write back a token they loaded earlier.
    ``lease_owner``/``lease_until`` mark a renewal in progress: whoever claims the lease (a short
    compare-and-set) calls the provider with no transaction open, and stores the answer only if
    the lease is still its own.
    """

    authorization = models.OneToOneField(
        Authorization, on_delete=models.CASCADE, primary_key=True, related_name="bearer"
    )
    access_token = EncryptedTextField()
    refresh_token = EncryptedTextField()
    token_type = models.CharField(max_length=40, blank=True)
    # The scope the provider says it granted (RFC 6749 5.1); empty when it did not say, which
    # means the scope that was asked for.
    scope = models.CharField(max_length=2000, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    obtained_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=20, choices=TokenState.choices, default=TokenState.NOT_CONNECTED)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "bearer token"

    def __str__(self) -> str:
        return f"token of {self.authorization_id}"

    @property
    def effective_expiry(self) -> datetime | None:
        """When the stored access token stops being usable; a missing expires_in counts as
        the configured default lifetime."""
        if not is_stored(self, "access_token"):
            return None
        if self.expires_at is not None:
            return self.expires_at
        if self.obtained_at is None:
            return None
        return self.obtained_at + timedelta(seconds=settings.CONNECTIT_DEFAULT_TOKEN_LIFETIME)

    def margin_for(self, margin: int) -> float:
        """The refresh margin never exceeds half the token's lifetime: a token that lives no
        longer than the margin would otherwise be renewed on every call."""
        expiry = self.effective_expiry
        if expiry is None or self.obtained_at is None:
            return margin
        return max(0.0, min(float(margin), (expiry - self.obtained_at).total_seconds() / 2))

    def is_fresh(self, margin: int = 0) -> bool:
        expiry = self.effective_expiry
        return expiry is not None and expiry > timezone.now() + timedelta(seconds=self.margin_for(margin))

    @property
    def has_refresh_token(self) -> bool:
        return is_stored(self, "refresh_token")

    @property
    def status(self) -> Status:
        if self.state == TokenState.CONSENT_REQUIRED:
            return Status.CONSENT_REQUIRED
        if self.state == TokenState.FAILED:
            return Status.FAILED
        if self.state == TokenState.NOT_CONNECTED or not is_stored(self, "access_token"):
            return Status.NOT_CONNECTED
        return Status.VALID if self.is_fresh() else Status.EXPIRED

    @property
    def masked_refresh_token(self) -> str:
        """Enough to tell two refresh tokens apart, never enough to use one."""
        if not is_stored(self, "refresh_token"):
            return ""
        try:
            token = self.refresh_token
        except DecryptionError:
            return "stored, but cannot be decrypted with the configured keys"
        tail = token[-4:] if len(token) >= 20 else ""
        return "••••••••" + tail


class EventKind(models.TextChoices):
    OBTAINED = "obtained", "Token obtained"
    REFRESHED = "refreshed", "Token refreshed"
    REFRESH_FAILED = "refresh_failed", "Refresh failed"
    REQUEST_FAILED = "request_failed", "Token request failed"
    CONSENT_STARTED = "consent_started", "Consent started"
    CONSENT_GIVEN = "consent_given", "Consent given"
    CONSENT_DENIED = "consent_denied", "Consent denied"
    CLEARED = "cleared", "Token cleared"
    ENDPOINT_CHANGED = "endpoint_changed", "Endpoint changed"


class TokenEvent(models.Model):
    """What happened to an authorization's token, by whom. Never holds a token value."""

    authorization = models.ForeignKey(Authorization, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    success = models.BooleanField(default=True)
    trigger = models.CharField(max_length=200, help_text="Who or what caused it.")
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["authorization", "-at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.trigger})"
