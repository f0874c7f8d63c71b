from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from connectit import audit, pages, submissions
from connectit.csp import allow_form_action, origin
from connectit.models import AuditAction
from connectit.records import edit_record
from oauth2_auth import consent, discovery, flows, overview, preset_choice, token_actions, tokens
from oauth2_auth.forms import AuthorizationForm
from oauth2_auth.models import Authorization, BearerToken
from oauth2_auth.preset_choice import PresetChoiceForm
from oauth2_auth.tokens import TokenError, Trigger

EVENTS_SHOWN = 20
USED_BY_SHOWN = 50
# What the list's status badge needs; the token ciphertext is loaded but never decrypted.
LIST_FIELDS = (
    "id",
    "code",
    "environment",
    "grant_type",
    "bearer__state",
    "bearer__expires_at",
    "bearer__obtained_at",
    "bearer__access_token",
    "bearer__last_error",  # stored redacted, as the record page shows it
    "credential_expires_on",
)
# The form carries the client secret and may carry a private key: keep them out of error reports.
_sensitive = sensitive_post_parameters("client_secret", "private_key_pem", "pfx_password")


def callback_url(request: HttpRequest) -> str:
    """This app's own OAuth2 callback, as the provider must see it."""
    path = reverse("oauth2_auth:callback")
    if settings.CONNECTIT_PUBLIC_URL:
        return settings.CONNECTIT_PUBLIC_URL + path
    return request.build_absolute_uri(path)


@permission_required("oauth2_auth.view_authorization", raise_exception=True)
def authorization_list(request: HttpRequest) -> HttpResponse:
    records = overview.with_urgency(Authorization.objects.select_related("bearer").only(*LIST_FIELDS))
    records, query = pages.search(request, records, ("code", "environment"))
    status = overview.parse_status(request.GET.get("status", ""))
    by_status = request.GET.get("sort") == "status"
    # The chips count the searched records, whatever the status filter: they are its choices.
    counts = overview.count_by_status(records)
    order = ("urgency", "code") if by_status else ("code",)
    page = pages.paginate(request, overview.filter_status(records, status).order_by(*order))
    kept = {"q": query} if query else {}
    sort = {"sort": "status"} if by_status else {}
    filters = {"status": status.value} if status else {}
    context = {
        "page": page,
        "q": query,
        "status": status,
        "by_status": by_status,
        "chips": overview.chips(counts, status, {**kept, **sort}),
        "sort_query": urlencode({**kept, **filters, **({} if by_status else {"sort": "status"})}),
        "extra_query": urlencode({**filters, **sort}) + "&" if filters or sort else "",
    }
    return render(request, "oauth2_auth/authorization_list.html", context)


def _render_form(
    request: HttpRequest,
    form: AuthorizationForm,
    record: Authorization | None,
    chooser: PresetChoiceForm | None = None,
) -> HttpResponse:
    events = record.events.all()[:EVENTS_SHOWN] if record else []
    actions = token_actions.for_page(record) if record else None
    context = {"form": form, "record": record, "events": events, "token_actions": actions, "chooser": chooser}
    response = render(request, "oauth2_auth/authorization_form.html", context)
    # Get Token answers with a redirect to the provider; Chromium checks it against form-action.
    return allow_form_action(response, record.auth_url if record and record.is_authorization_code else None)


@_sensitive
@never_cache
@permission_required("oauth2_auth.add_authorization", raise_exception=True)
@require_http_methods(["GET", "POST"])
def authorization_create(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@_sensitive
@never_cache
@permission_required("oauth2_auth.view_authorization", raise_exception=True)
@require_http_methods(["GET", "POST"])
def authorization_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit(request, get_object_or_404(Authorization, pk=pk))


def _edit(request: HttpRequest, record: Authorization | None) -> HttpResponse:
    # Before the form copies the typed values onto the record: the page's form-action allows this.
    shown_auth_origin = origin(record.auth_url) if record and record.auth_url else None
    saved: list[Authorization] = []

    def on_saved(form: AuthorizationForm, instance: Authorization) -> None:
        _drop_tokens_if_moved(request, form, instance)
        if form.credential is not None:
            messages.info(
                request,
                f"New certificate for {instance.code}, thumbprint {form.credential.thumbprint_sha1_hex}: "
                "download it and upload it to the app registration before you get a token.",
            )
        saved.append(instance)

    # A new record may start from a provider preset: its values fill the empty form.
    chooser = preset_choice.from_request(request.GET) if record is None and request.method == "GET" else None
    initial = chooser.filled if chooser is not None and chooser.is_valid() else None

    def make_form(data: QueryDict | None, instance: Authorization | None) -> AuthorizationForm:
        files = request.FILES if data is not None else None
        return AuthorizationForm(
            data, files, instance=instance, callback_url=callback_url(request), initial=initial
        )

    response = edit_record(
        request,
        record,
        make_form,
        lambda form: _render_form(request, form, record, chooser),
        noun="Authorization",
        change_permission="oauth2_auth.change_authorization",
        detail_url="oauth2_auth:detail",
        on_saved=on_saved,
    )
    if saved and record is not None and request.POST.get("next_action") == "get_token":
        return _get_token_after_save(request, saved[0], shown_auth_origin)
    return response


def _get_token_after_save(
    request: HttpRequest, record: Authorization, shown_auth_origin: str | None
) -> HttpResponse:
    """Save & Get Token: the record was saved; now the same Get Token as the button, once per page."""
    if not request.user.has_perm("oauth2_auth.operate_authorization"):
        messages.error(request, "Your role may not get tokens: ask an operator to click Get Token.")
        return _token_tab(record.pk)
    if not submissions.first(request, f"save_get_token:{record.pk}"):
        return _already_sent(request, record.pk)
    if (
        record.is_authorization_code
        and record.auth_method == "GET"
        and origin(record.auth_url) != shown_auth_origin
    ):
        # The page allowed its form to lead only to the old sign-in server (form-action), so the
        # browser would refuse this redirect; the page shown now names the new one.
        messages.info(request, f"Click Get Token to sign in at {token_actions.host(record.auth_url)}.")
        return _token_tab(record.pk)
    return _start_get_token(request, record)


def _drop_tokens_if_moved(request: HttpRequest, form: AuthorizationForm, saved: Authorization) -> None:
    """Tokens issued by one server never go to another: a new token or auth URL origin drops them."""
    moved = form.moved_endpoints()
    if moved:
        message = "; ".join(moved) + ". The stored tokens were dropped: click Get Token."
        tokens.endpoint_changed(saved, trigger=Trigger.user(request.user), message=message)
        messages.warning(request, message)


@permission_required("oauth2_auth.delete_authorization", raise_exception=True)
@require_http_methods(["GET", "POST"])
def authorization_delete(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_object_or_404(Authorization, pk=pk)
    # Deleting would leave definitions without a token; the database refuses it too (PROTECT).
    used_by = list(record.definitions.order_by("code").values_list("code", flat=True)[: USED_BY_SHOWN + 1])
    if request.method == "POST" and not used_by:
        record.delete()
        audit.record(AuditAction.DELETED, request=request, target_type="authorization", target=record.code)
        messages.success(request, f"Authorization {record.code} was deleted.")
        return redirect("oauth2_auth:list")
    if request.method == "POST":
        messages.error(request, f"Authorization {record.code} is used by definitions and was not deleted.")
    more = record.definitions.count() - USED_BY_SHOWN if len(used_by) > USED_BY_SHOWN else 0
    context = {"record": record, "used_by": used_by[:USED_BY_SHOWN], "more": more}
    return render(request, "oauth2_auth/authorization_confirm_delete.html", context)


# --- Token actions (POST buttons on the record's page) -------------------------------------------

_change = permission_required("oauth2_auth.change_authorization", raise_exception=True)
TOKEN_TAB = "token"  # the Bearer Token tab's id, in the record page's address (#token)
# Getting and refreshing tokens is the operators' work; changing or clearing them is not.
_operate = permission_required("oauth2_auth.operate_authorization", raise_exception=True)


@_operate
@require_POST
def get_token(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_object_or_404(Authorization, pk=pk)
    if not submissions.first(request, f"get_token:{pk}"):
        return _already_sent(request, pk)
    return _start_get_token(request, record)


def _start_get_token(request: HttpRequest, record: Authorization) -> HttpResponse:
    """What Get Token does: a token now, or the browser off to the provider's sign-in page."""
    pk = record.pk
    audit.record(AuditAction.GET_TOKEN, request=request, target_type="authorization", target=record.code)
    if not record.is_authorization_code:
        return _renew(request, record, "Token obtained")
    if not record.auth_url or not record.redirect_url:
        messages.error(request, "Fill in the Auth URL and Redirect URL on the Authorization Code tab first.")
        return redirect("oauth2_auth:detail", pk=pk)
    start = consent.start(request.session, record)
    if start.method == "POST":
        page = render(request, "oauth2_auth/consent_post.html", {"start": start, "record": record})
        return allow_form_action(page, start.url)
    return redirect(start.url)


@_operate
@require_POST
def refresh_now(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_object_or_404(Authorization, pk=pk)
    if not submissions.first(request, f"refresh:{pk}"):
        return _already_sent(request, pk)
    audit.record(AuditAction.REFRESH, request=request, target_type="authorization", target=record.code)
    return _renew(request, record, "Token refreshed")


def _renew(request: HttpRequest, record: Authorization, done: str) -> HttpResponse:
    try:
        tokens.renew(record.code, force=True, trigger=Trigger.user(request.user))
    except TokenError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{done} for {record.code}: {_token_facts(record)}.")
    return _token_tab(record.pk)


def _token_facts(record: Authorization) -> str:
    """What the administrator wants to know after a token action, in one line."""
    token = BearerToken.objects.filter(pk=record.pk).first()
    if token is None or token.effective_expiry is None:
        return "no token stored"
    minutes = max(0, round((token.effective_expiry - timezone.now()).total_seconds() / 60))
    refresh = "a refresh token is stored" if token.has_refresh_token else "no refresh token"
    scopes = token.scope or f"{record.scope or 'none named'} (as asked; the provider did not list them)"
    return f"valid for {minutes} min, {refresh}, scopes: {scopes}"


def _already_sent(request: HttpRequest, pk: int) -> HttpResponse:
    """A repeated POST of one form page (a double click, a resend): nothing is asked again."""
    messages.info(request, "That request was already sent; this is its result (nothing was sent twice).")
    return _token_tab(pk)


def _token_tab(pk: int) -> HttpResponse:
    """Back to the record, on its Bearer Token tab: that is what a token action changed."""
    return redirect(reverse("oauth2_auth:detail", kwargs={"pk": pk}) + f"#{TOKEN_TAB}")


@_change
@require_http_methods(["GET", "POST"])
def clear_token(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks first, naming the definitions that will fail; POST clears. It cannot be undone:
    an authorization-code record then needs someone to sign in at the provider again."""
    record = get_object_or_404(Authorization, pk=pk)
    if request.method == "GET":
        using = record.definitions.order_by("code").values_list("code", flat=True)
        context = {"record": record, "definitions": list(using), "submission": submissions.new_key()}
        return render(request, "oauth2_auth/clear_token_confirm.html", context)
    if not submissions.first(request, f"clear_token:{pk}"):
        return _already_sent(request, pk)
    revocation = tokens.clear(record, trigger=Trigger.user(request.user))
    audit.record(AuditAction.CLEAR, request=request, target_type="authorization", target=record.code)
    if revocation is None:
        messages.success(request, f"The tokens of {record.code} were removed.")
    else:
        # The provider's part is reported beside the local clear, which happened either way.
        report = messages.success if revocation.confirmed else messages.warning
        report(request, f"The tokens of {record.code} were removed; {revocation}")
    return _token_tab(pk)


@never_cache
@permission_required("oauth2_auth.change_authorization", raise_exception=True)
@require_POST
def check_configuration(request: HttpRequest, pk: int) -> HttpResponse:
    """Read the provider's metadata again (from the record's expected issuer) and say what the
    record says otherwise; nothing is changed."""
    record = get_object_or_404(Authorization, pk=pk)
    if not record.issuer:
        messages.error(request, "Set the expected issuer first: the provider's metadata is read from there.")
        return redirect("oauth2_auth:detail", pk=pk)
    try:
        metadata = discovery.read(record.issuer)
    except discovery.DiscoveryError as exc:
        messages.error(request, f"Could not read the provider's metadata: {exc}")
        return redirect("oauth2_auth:detail", pk=pk)
    found = discovery.differences(record, metadata)
    if found:
        messages.warning(
            request, f"The provider's metadata ({metadata.source}) says otherwise: {' '.join(found)}"
        )
    else:
        messages.success(request, f"The record matches the provider's metadata ({metadata.source}).")
    return redirect("oauth2_auth:detail", pk=pk)


@login_not_required  # a login redirect would carry the one-time code in its "next"
@never_cache
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """Where the provider sends the browser back. Always answers with a redirect (to the record's
    page, or to the list or the sign-in page when the answer cannot be used), so the code never
    stays in the address bar or the history."""
    if not request.user.is_authenticated:
        messages.error(
            request,
            "You were signed out before the provider sent you back, so its answer was not used. "
            "Sign in, then click Get Token again.",
        )
        # The sign-in page comes back to the list, never to this URL: that would carry the code.
        login = resolve_url(settings.LOGIN_URL)
        return redirect(f"{login}?{urlencode({'next': reverse('oauth2_auth:list')})}")
    try:
        pending = consent.pop(request.session, request.GET.get("state", ""))
    except consent.ConsentStateError as exc:
        messages.error(request, f"This sign-in answer cannot be used: {exc} Start again with Get Token.")
        return redirect("oauth2_auth:list")
    record = get_object_or_404(Authorization, pk=pending.pk)
    trigger = Trigger.user(request.user)
    error = request.GET.get("error")
    iss = request.GET.get("iss")
    if error:
        description = request.GET.get("error_description", "")
        messages.error(
            request, tokens.consent_denied(record, error=error, description=description, trigger=trigger)
        )
        audit.record(
            AuditAction.CONSENT_DENIED, request=request, target_type="authorization", target=record.code
        )
    elif not iss and record.require_iss:
        message = (
            "The provider sent no 'iss' with its answer, which this authorization requires; "
            "the code was not used."
        )
        messages.error(request, tokens.consent_failed(record, message, trigger=trigger))
    elif iss and not flows.issuer_matches(iss, expected=record.issuer, auth_url=record.auth_url):
        message = (
            f"The answer came from an unexpected issuer ({iss[:200]}); the code was not used. "
            "Check the Expected Issuer."
        )
        messages.error(request, tokens.consent_failed(record, message, trigger=trigger))
    elif not request.GET.get("code"):
        message = "The provider sent no authorization code."
        messages.error(request, tokens.consent_failed(record, message, trigger=trigger))
    else:
        _exchange(request, record, pending, trigger)
    return _token_tab(record.pk)


def _exchange(
    request: HttpRequest, record: Authorization, pending: consent.Pending, trigger: Trigger
) -> None:
    try:
        tokens.complete_consent(
            record.pk,
            code=request.GET["code"],
            redirect_uri=pending.redirect_uri,
            code_verifier=pending.code_verifier,
            trigger=trigger,
        )
    except TokenError as exc:
        messages.error(request, str(exc))
    else:
        audit.record(
            AuditAction.CONSENT_GIVEN, request=request, target_type="authorization", target=record.code
        )
        messages.success(request, f"Consent given: {record.code} now holds a token.")


@permission_required("oauth2_auth.view_authorization", raise_exception=True)
@require_GET
def certificate(request: HttpRequest, pk: int) -> HttpResponse:
    """The public certificate (PEM), to upload to the app registration; the key never leaves."""
    record = get_object_or_404(Authorization.objects.only("code", "certificate"), pk=pk)
    if not record.certificate:
        raise Http404("This authorization has no certificate.")
    response = HttpResponse(record.certificate, content_type="application/x-pem-file")
    # .cer: the extension Entra ID's upload dialog and Windows' certificate viewer both take.
    response["Content-Disposition"] = f'attachment; filename="{record.code}.cer"'
    return response
