from __future__ import annotations

import secrets
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from connectit import audit, pages
from connectit.models import AuditAction
from connectit.records import edit_record
from definitions import runner, runs, schedules, soap, tasks
from definitions.calls import Caller, RunFailed
from definitions.display import shown_redactor
from definitions.forms import SCHEDULE_FIELDS, DefinitionForm, RunForm, describe_operations
from definitions.models import AuthType, Definition, Direction, Outcome, Run, RunPage
from definitions.payload import download_name, payload_chunks, payload_type
from definitions.templating import MissingParameters
from oauth2_auth.models import Authorization, host_port
from oauth2_auth.tokens import Trigger

_sensitive = sensitive_post_parameters("auth_password", "bearer_token", "api_key_value")
_view = permission_required("definitions.view_definition", raise_exception=True)
_change = permission_required("definitions.change_definition", raise_exception=True)
PAGES_LISTED = 500
# The big columns a progress poll does not read.
RUN_LOG_FIELDS = (
    "payload",
    "request_headers",
    "request_body",
    "response_headers",
    "response_body",
)
RUN_LIST_FIELDS = (
    "id",
    "definition__code",
    "definition__authorization__code",
    "trigger",
    "started_at",
    "running_since",
    "finished_at",
    "outcome",
    "http_status",
    "pages",
    "message",
)


@_view
def definition_list(request: HttpRequest) -> HttpResponse:
    records = Definition.objects.select_related("authorization").only(
        "id", "code", "description", "kind", "direction", "auth_type", "active", "authorization__code"
    )
    records, query = pages.search(request, records, ("code", "description", "endpoint_url"))
    page = pages.paginate(request, records.order_by("code"))
    return render(request, "definitions/definition_list.html", {"page": page, "q": query})


def _render_form(request: HttpRequest, form: DefinitionForm, record: Definition | None) -> HttpResponse:
    recent = (
        record.runs.only("id", "started_at", "outcome", "http_status", "definition_id")[:5] if record else []
    )
    context = {"form": form, "record": record, "recent_runs": recent}
    return render(request, "definitions/definition_form.html", context)


@_sensitive
@never_cache
@permission_required("definitions.add_definition", raise_exception=True)
@require_http_methods(["GET", "POST"])
def definition_create(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@_sensitive
@never_cache
@_view
@require_http_methods(["GET", "POST"])
def definition_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit(request, get_object_or_404(Definition, pk=pk))


def _edit(request: HttpRequest, record: Definition | None) -> HttpResponse:
    return edit_record(
        request,
        record,
        lambda data, instance: DefinitionForm(data, instance=instance, user=request.user),
        lambda form: _render_form(request, form, record),
        noun="Definition",
        change_permission="definitions.change_definition",
        detail_url="definitions:detail",
        on_saved=_saved,
    )


def _saved(form: DefinitionForm, definition: Definition) -> None:
    _first_api_host(definition)
    if form.instance.pk is None or SCHEDULE_FIELDS & set(form.changed_data):
        schedules.reschedule(definition)


def _first_api_host(definition: Definition) -> None:
    """The first definition that uses an authorization with no API hosts names its first one.
    Only an empty list is filled, so an administrator's list is never changed from here."""
    if definition.auth_type == AuthType.OAUTH2 and definition.authorization_id:
        host = host_port(definition.endpoint_url)
        if host:
            Authorization.objects.filter(pk=definition.authorization_id, api_hosts="").update(api_hosts=host)


@permission_required("definitions.delete_definition", raise_exception=True)
@require_http_methods(["GET", "POST"])
def definition_delete(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_object_or_404(Definition, pk=pk)
    if request.method == "POST":
        record.delete()
        audit.record(AuditAction.DELETED, request=request, target_type="definition", target=record.code)
        messages.success(request, f"Definition {record.code} and its runs were deleted.")
        return redirect("definitions:list")
    return render(request, "definitions/definition_confirm_delete.html", {"record": record})


@_sensitive
@never_cache
@require_POST
def read_operations(request: HttpRequest, pk: int | None = None) -> JsonResponse:
    """The operations of the WSDL at the URL as typed in the form (posted whole), with the
    authorization as typed, each with its parameters; nothing is saved (Save stores the list
    the page then holds). A new definition's form may read them before its first save."""
    record = get_object_or_404(Definition, pk=pk) if pk else Definition()
    if not request.user.has_perm("definitions.change_definition" if pk else "definitions.add_definition"):
        raise PermissionDenied
    form = DefinitionForm(request.POST, instance=record, user=request.user)
    form.is_valid()  # only the fields reading needs must be valid: see below
    candidate = form.instance  # the typed values that passed their checks, never saved here
    form.apply_secrets(candidate)
    problem = _read_problem(form, candidate)
    if problem:
        return JsonResponse({"error": problem}, status=400)
    caller: Caller | None = None
    try:
        caller = Caller(candidate, Trigger.user(request.user))
        operations = soap.list_operations(candidate, caller)
    except (RunFailed, MissingParameters) as exc:
        # Redacted with every secret the typed definition holds (and the token it got): an error
        # may quote a URL or header that holds one.
        redact = shown_redactor(candidate)
        redact.add(*(caller.redact.secrets if caller else ()))
        return JsonResponse({"error": f"Could not read operations: {redact(str(exc))}"}, status=400)
    return JsonResponse({"operations": operations, "descriptions": describe_operations(operations)})


# The fields reading a WSDL uses: one of them that does not pass its checks stops the reading.
READ_FIELDS = ("wsdl_url", "soap_version", "auth_type", "authorization", "extra_headers", "timeout")


def _read_problem(form: DefinitionForm, candidate: Definition) -> str:
    for name in READ_FIELDS:
        if name in form.errors:
            return f"{form.fields[name].label}: {' '.join(form.errors[name])}"
    if not candidate.wsdl_url.strip():
        return "Enter the WSDL URL first."
    return ""


@never_cache
@permission_required("definitions.run_definition", raise_exception=True)
@require_http_methods(["GET", "POST"])
def run_definition(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue a run and show its page at once; a worker runs it."""
    record = get_object_or_404(Definition.objects.select_related("authorization"), pk=pk)
    form = RunForm(
        request.POST or None,
        names=runner.parameter_names(record),
        allow_payload=record.direction == Direction.EXPORT,
        initial={"submission": secrets.token_urlsafe(24)},
    )
    if request.method == "POST" and form.is_valid():
        if not record.active:
            messages.error(request, f"Definition {record.code} is not active.")
        else:
            return _queue(request, record, form)
    return render(request, "definitions/run_form.html", {"form": form, "record": record})


def _queue(request: HttpRequest, record: Definition, form: RunForm) -> HttpResponse:
    queued, created = tasks.submit(
        record,
        params=form.params(),
        payload=form.payload_value(),
        trigger=Trigger.user(request.user),
        submission=form.submission_key(),
    )
    if created:
        audit.record(
            AuditAction.RUN,
            request=request,
            target_type="definition",
            target=record.code,
            message=f"run {queued.pk}",
        )
    else:
        messages.info(
            request, "This form was already sent: here is the run it started (nothing was sent twice)."
        )
    return redirect("definitions:run", pk=queued.pk)


@never_cache
@permission_required("definitions.run_definition", raise_exception=True)
@require_POST
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    result = get_object_or_404(Run.objects.select_related("definition"), pk=pk)
    state = runs.cancel(result.pk, by=request.user.get_username())
    if state == "finished":
        messages.info(request, "The run had already ended.")
    else:
        audit.record(
            AuditAction.CANCEL,
            request=request,
            target_type="definition",
            target=result.definition.code,
            message=f"run {result.pk}",
        )
        if state == "cancelled":
            messages.success(request, f"Run {result.pk} was cancelled before it started.")
        else:
            messages.info(request, f"Run {result.pk} stops after the page it is fetching now.")
    return redirect("definitions:run", pk=pk)


@_view
def run_list(request: HttpRequest) -> HttpResponse:
    # One query per page however many definitions and authorizations the rows name (joined).
    runs = Run.objects.select_related("definition__authorization").only(*RUN_LIST_FIELDS)
    code = request.GET.get("definition", "").strip().upper()[:20]
    outcome = request.GET.get("outcome", "")
    if code:
        # Part of a code is enough: administrators remember "CUST", not "CUSTOMERS-BC-EU".
        runs = runs.filter(definition__code__icontains=code)
    if outcome in Outcome.values:
        runs = runs.filter(outcome=outcome)
    page = pages.paginate_without_count(request, runs.order_by("-started_at", "-id"))
    filters = urlencode({key: value for key, value in (("definition", code), ("outcome", outcome)) if value})
    context = {
        "page": page,
        "code": code,
        "outcome": outcome,
        "outcomes": Outcome.choices,
        "extra_query": f"{filters}&" if filters else "",
        "retention_days": settings.CONNECTIT_RUN_RETENTION_DAYS,
        "own_retention": Definition.objects.exclude(keep_runs_days=None).exists(),
    }
    return render(request, "definitions/run_list.html", context)


@_view
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    # With the authorization: the page links it.
    result = get_object_or_404(Run.objects.select_related("definition__authorization"), pk=pk)
    # The page list without bodies; the first page's body is shown, the rest one click away.
    run_pages = list(
        result.page_set.only("id", "run_id", "number", "http_status", "url", "size", "kept")[:PAGES_LISTED]
    )
    first_page = result.page_set.filter(number=1).first() if run_pages else None
    context = {
        "run": result,
        "run_pages": run_pages,
        "first_page": first_page,
        "redact": shown_redactor(result.definition),
        "not_sent_why": _first_sentence(result.message) if result.never_sent else "",
    }
    return render(request, "definitions/run_detail.html", context)


def _first_sentence(message: str) -> str:
    # The whole message is in the alert above; "Not sent" needs only its gist.
    first, sep, _ = message.partition(". ")
    return first + "." if sep else message


NO_WORKER_HINT_AFTER = 30  # seconds a queued run waits before its page asks about the workers


def _queued_step(result: Run) -> str:
    waited = int((timezone.now() - result.started_at).total_seconds())
    if waited < NO_WORKER_HINT_AFTER:
        return "Queued"
    return f"Queued for {waited} s: no worker has taken it yet. Is a worker running (manage.py worker)?"


@never_cache
@_view
def run_progress(request: HttpRequest, pk: int) -> JsonResponse:
    """What the run page shows while a run is queued or running; polled by run_progress.js."""
    # The whole definition: its secrets are what the step is redacted with.
    result = get_object_or_404(Run.objects.select_related("definition").defer(*RUN_LOG_FIELDS), pk=pk)
    redact = shown_redactor(result.definition)
    elapsed = result.elapsed_seconds
    return JsonResponse(
        {
            "outcome": result.outcome,
            "outcome_label": result.get_outcome_display(),
            "finished": result.finished,
            "step": redact(result.step) if result.step != "Queued" else _queued_step(result),
            "pages": result.pages,
            "bytes": result.bytes_received,
            "items": result.items,
            "retries": result.retries,
            "elapsed": elapsed,
            "cancel_requested": result.cancel_requested,
        }
    )


@_view
def run_page(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    page = get_object_or_404(RunPage.objects.select_related("run__definition"), run_id=pk, number=number)
    context = {"run": page.run, "page": page, "redact": shown_redactor(page.run.definition)}
    return render(request, "definitions/run_page.html", context)


@_view
def run_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The import payload: a single page as it came, several JSON pages merged into one list."""
    result = get_object_or_404(Run.objects.select_related("definition"), pk=pk)
    redact = shown_redactor(result.definition)
    # Each chunk is a whole stored body or a whole merged record, so no secret spans two chunks.
    chunks = (redact(chunk) for chunk in payload_chunks(result))
    response = StreamingHttpResponse(chunks, content_type=payload_type(result))
    # What the API answered must never be shown as a page of this app (its script would run on
    # this origin): a download, of a listed type, not sniffed, and sandboxed should it be shown.
    response["Content-Disposition"] = f'attachment; filename="{download_name(result)}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
