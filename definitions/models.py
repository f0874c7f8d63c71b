"""REST and SOAP definitions: calls to external APIs, and the log of every run."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
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
        "parameters (JSON)",
        blank=True,
        help_text="A placeholder is filled in as the inside of a JSON string: put it in quotes, e.g. "
        '{"customer_no": "{customer}"}; leave the quotes out only for a number, e.g. {"count": {count}}.',
    )
    soap_action = models.CharField("SOAPAction", max_length=500, blank=True)
    envelope_template = models.TextField(blank=True)

    # Runs
    run_deadline = models.PositiveIntegerField(
        "run deadline (minutes)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text="A run still going after this long is stopped. Empty: the server default.",
    )
    allow_overlap = models.BooleanField(
        "allow overlapping runs",
        default=False,
        help_text="Off: a run waits while another run of this definition is running.",
    )
    keep_runs_days = models.PositiveIntegerField(
        "keep runs (days)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="Runs and their pages are deleted after this many days. Empty: the server default.",
    )

    # Schedule
    schedule_enabled = models.BooleanField("run on a schedule", default=False)
    schedule_every = models.PositiveIntegerField(
        "every (minutes)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(366 * 24 * 60)],
    )
    schedule_cron = models.CharField(
        "cron expression",
        max_length=100,
        blank=True,
        help_text="Five fields: minute hour day-of-month month day-of-week, e.g. '30 6 * * 1-5'; "
        "in the server's time zone.",
    )
    schedule_parameters = models.JSONField(
        "schedule parameters",
        default=dict,
        blank=True,
        help_text="Placeholder values for scheduled runs.",
    )
    # Written only by definitions.schedules: when the schedule next fires.
    next_run_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        permissions = [("run_definition", "Can run definition")]
        # Every worker asks once a second which schedules are due.
        indexes = [
            models.Index(fields=["next_run_at"], condition=Q(schedule_enabled=True), name="due_schedules"),
        ]

    def __str__(self) -> str:
        return self.code

    def save(self, *args, **kwargs) -> None:
        self.code = (self.code or "").strip().upper()
        super().save(*args, **kwargs)

    def operations(self) -> list[dict]:
        """The operations read from the WSDL, each ``{"name", "parameters"}`` (rows saved before
        parameters were read hold names only: they get no parameters)."""
        return [
            item if isinstance(item, dict) else {"name": str(item), "parameters": []}
            for item in self.wsdl_operations or []
        ]


class Outcome(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


UNFINISHED = (Outcome.QUEUED, Outcome.RUNNING)


class Run(models.Model):
    """One run of a definition. Secret values are redacted before anything is stored here.

    Columns and their writers: the run's worker (definitions.runlog) writes the outcome, progress
    and log of a running run; definitions.runs creates it, cancels it while queued and marks it
    lost; the web writes only ``cancel_requested``. Every change of ``outcome`` is a
    compare-and-set on its old value.
    """

    # No index of its own: the (definition, -started_at, -id) index below starts with it, and
    # every index costs each claim and finish of a run (both change the indexed outcome).
    definition = models.ForeignKey(Definition, on_delete=models.CASCADE, related_name="runs", db_index=False)
    trigger = models.CharField(max_length=200)
    # When the run was asked for (the list's order); running_since is when a worker began it.
    started_at = models.DateTimeField(default=timezone.now)
    running_since = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.QUEUED)
    http_status = models.PositiveIntegerField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)
    bytes_received = models.BigIntegerField(default=0)
    items = models.BigIntegerField(null=True, blank=True, help_text="Records counted in the pages.")
    message = models.TextField(blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    # The export body to send instead of the template (None: the template); emptied when the
    # run ends. NULL and "" differ here: an empty body is a body.
    payload = models.TextField(null=True, blank=True)  # noqa: DJ001
    step = models.CharField(max_length=300, blank=True, help_text="What a running run is doing now.")
    retries = models.PositiveIntegerField(default=0, help_text="Requests sent again after 429/503.")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    # The form submission that asked for this run: a second POST of the same form finds it.
    # NULL for runs no form asked for, so that the uniqueness (Meta.constraints) skips them.
    submission = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    scheduled = models.BooleanField(default=False)
    # Copied from the definition (not allow_overlap): at most one exclusive run is running.
    exclusive = models.BooleanField(default=True)
    task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=64, blank=True)
    request_line = models.TextField(blank=True)
    request_headers = models.TextField(blank=True)
    request_body = models.TextField(blank=True)
    response_headers = models.TextField(blank=True)
    response_content_type = models.CharField(max_length=200, blank=True)
    response_body = models.TextField(blank=True, help_text="Export: the answer, cut at 1 MiB.")
    response_truncated = models.BooleanField(default=False)
    # Whether the request left this machine: a run that failed first (missing parameters, no
    # token, a refused address) says "not sent" rather than show a request that never went out.
    request_sent = models.BooleanField(default=False)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["-started_at", "-id"]),
            models.Index(fields=["definition", "-started_at", "-id"]),
            models.Index(fields=["outcome", "-started_at", "-id"]),
            # Runs waiting for their turn (a running run of their definition ends).
            models.Index(
                fields=["definition", "started_at", "id"],
                condition=Q(outcome="queued", task_id=""),
                name="waiting_runs",
            ),
        ]
        constraints = [
            # The database itself keeps two workers from running one definition at once.
            models.UniqueConstraint(
                fields=["definition"],
                condition=Q(outcome="running", exclusive=True),
                name="one_running_run_per_definition",
            ),
            # A constraint rather than unique=True: on PostgreSQL that would add a second index
            # for LIKE searches, which nothing makes, to every run written.
            models.UniqueConstraint(fields=["submission"], name="one_run_per_submission"),
        ]

    def __str__(self) -> str:
        return f"{self.definition_id} run {self.pk}"

    @property
    def finished(self) -> bool:
        return self.outcome not in UNFINISHED

    @property
    def never_sent(self) -> bool:
        """A finished run whose request never left this machine (any answer proves one did)."""
        answered = self.http_status is not None or self.pages or self.response_body
        return self.finished and not self.request_sent and not answered

    @property
    def duration_ms(self) -> int | None:
        if self.finished_at is None:
            return None
        return int((self.finished_at - (self.running_since or self.started_at)).total_seconds() * 1000)

    @property
    def elapsed_seconds(self) -> int | None:
        """Seconds since a worker began the run, up to its end (None while queued)."""
        if self.running_since is None:
            return None
        end = self.finished_at or timezone.now()
        return max(0, int((end - self.running_since).total_seconds()))


class RunPage(models.Model):
    """One page an import received, stored as it arrives so a long import is never held in memory."""

    # No index of its own: the unique (run, number) index starts with it.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="page_set", db_index=False)
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
