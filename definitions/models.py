"""REST and SOAP definitions: calls to external APIs, and the log of every run."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from connectit.fields import EncryptedTextField
from connectit.validators import validate_templated_url
from oauth2_auth.models import CODE_MAX_LENGTH, Authorization, validate_code


class Kind(models.TextChoices):
    REST = "rest", "REST"
    SOAP = "soap", "SOAP"


class Direction(models.TextChoices):
    EXPORT = "export", "Export (send data to the endpoint)"
    IMPORT = "import", "Import (fetch data from the endpoint)"


class AuthType(models.TextChoices):
    ANONYMOUS = "anonymous", "Anonymous"
    BASIC = "basic", "Basic (username + password)"
    BEARER = "bearer", "Bearer token (static)"
    API_KEY = "api_key", "API key / custom header"
    OAUTH2 = "oauth2", "OAuth2 authorization"


class RestMethod(models.TextChoices):
    GET = "GET", "GET"
    POST = "POST", "POST"
    PUT = "PUT", "PUT"
    PATCH = "PATCH", "PATCH"
    DELETE = "DELETE", "DELETE"


class BodyFormat(models.TextChoices):
    JSON = "application/json", "JSON (application/json)"
    XML = "application/xml", "XML (application/xml)"
    TEXT = "text/plain", "Text (text/plain)"


class Paging(models.TextChoices):
    NONE = "none", "None"
    PAGE_NUMBER = "page_number", "Page number ({page} placeholder)"
    NEXT_LINK = "next_link", "Next link (property in the response)"


class SoapVersion(models.TextChoices):
    SOAP11 = "1.1", "SOAP 1.1"
    SOAP12 = "1.2", "SOAP 1.2"


class SoapMode(models.TextChoices):
    WSDL = "wsdl", "WSDL (operation read from the WSDL)"
    ENVELOPE = "envelope", "Envelope (SOAPAction + XML template)"


class Definition(models.Model):
    code = models.CharField(max_length=CODE_MAX_LENGTH, unique=True, validators=[validate_code])
    description = models.CharField(max_length=250, blank=True)
    kind = models.CharField(max_length=4, choices=Kind.choices, default=Kind.REST)
    direction = models.CharField(max_length=6, choices=Direction.choices, default=Direction.IMPORT)
    endpoint_url = models.CharField(
        "endpoint URL",
        max_length=2000,
        validators=[validate_templated_url],
        help_text="{name} placeholders are filled from the run's parameters (URL-encoded). "
        "For SOAP in WSDL mode this is the service address called (it overrides the WSDL's).",
    )
    active = models.BooleanField(default=True)
    timeout = models.PositiveIntegerField(
        "timeout (seconds)", default=30, validators=[MinValueValidator(1), MaxValueValidator(600)]
    )
    extra_headers = models.TextField(blank=True, help_text="One 'Name: value' per line.")

    # Authorization
    auth_type = models.CharField(
        "authorization type", max_length=10, choices=AuthType.choices, default=AuthType.ANONYMOUS
    )
    auth_username = models.CharField("username", max_length=250, blank=True)
    auth_password = EncryptedTextField("password")
    bearer_token = EncryptedTextField("bearer token")
    api_key_header = models.CharField("API key header name", max_length=100, blank=True)
    api_key_value = EncryptedTextField("API key value")
    authorization = models.ForeignKey(
        Authorization,
        verbose_name="OAuth2 authorization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="definitions",
    )

    # REST
    http_method = models.CharField("method", max_length=6, choices=RestMethod.choices, default=RestMethod.GET)
    body_template = models.TextField(blank=True, help_text="Request body; {name} placeholders are filled in.")
    content_type = models.CharField(
        "content-type", max_length=40, choices=BodyFormat.choices, default=BodyFormat.JSON
    )
    accept = models.CharField(max_length=200, default="application/json", blank=True)
    paging = models.CharField(max_length=12, choices=Paging.choices, default=Paging.NONE)
    page_start = models.IntegerField("start page", default=1)
    items_property = models.CharField(
        max_length=200, blank=True, help_text="Path to the list of records in each page, e.g. 'value'."
    )
    total_pages_property = models.CharField(max_length=200, blank=True)
    next_link_property = models.CharField(max_length=200, blank=True, help_text="e.g. '@odata.nextLink'.")
    max_pages = models.PositiveIntegerField(
        "maximum pages", default=100, validators=[MinValueValidator(1), MaxValueValidator(100000)]
    )

    # SOAP
    soap_version = models.CharField(
        "SOAP version", max_length=3, choices=SoapVersion.choices, default=SoapVersion.SOAP11
    )
    soap_mode = models.CharField("SOAP mode", max_length=8, choices=SoapMode.choices, default=SoapMode.WSDL)
    wsdl_url = models.CharField("WSDL URL", max_length=2000, blank=True, validators=[validate_templated_url])
    operation = models.CharField(max_length=200, blank=True)
    wsdl_operations = models.JSONField(default=list, blank=True, editable=False)
    parameters_json = models.TextField(
        "parameters (JSON)", blank=True, help_text='e.g. {"customer_id": {id}}; placeholders are filled in.'
    )
    soap_action = models.CharField("SOAPAction", max_length=500, blank=True)
    envelope_template = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        permissions = [("run_definition", "Can run definition")]

    def __str__(self) -> str:
        return self.code

    def save(self, *args, **kwargs) -> None:
        self.code = (self.code or "").strip().upper()
        super().save(*args, **kwargs)


class Outcome(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"


class Run(models.Model):
    """One run of a definition. Secret values are redacted before anything is stored here."""

    definition = models.ForeignKey(Definition, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=200)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.RUNNING)
    http_status = models.PositiveIntegerField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)
    bytes_received = models.BigIntegerField(default=0)
    message = models.TextField(blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    request_line = models.TextField(blank=True)
    request_headers = models.TextField(blank=True)
    request_body = models.TextField(blank=True)
    response_headers = models.TextField(blank=True)
    response_content_type = models.CharField(max_length=200, blank=True)
    response_body = models.TextField(blank=True, help_text="Export: the answer, cut at 1 MiB.")
    response_truncated = models.BooleanField(default=False)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["-started_at", "-id"]),
            models.Index(fields=["definition", "-started_at", "-id"]),
            models.Index(fields=["outcome", "-started_at", "-id"]),
        ]

    def __str__(self) -> str:
        return f"{self.definition_id} run {self.pk}"

    @property
    def duration_ms(self) -> int | None:
        if self.finished_at is None:
            return None
        return int((self.finished_at - self.started_at).total_seconds() * 1000)


class RunPage(models.Model):
    """One page an import received, stored as it arrives so a long import is never held in memory."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="page_set")
    number = models.PositiveIntegerField()
    http_status = models.PositiveIntegerField()
    url = models.TextField()
    body = models.TextField(blank=True)
    size = models.PositiveIntegerField(default=0)
    kept = models.BooleanField(default=True, help_text="False once the run's keep limit was reached.")

    class Meta:
        ordering = ["run", "number"]
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="unique_run_page")]

    def __str__(self) -> str:
        return f"page {self.number}"
