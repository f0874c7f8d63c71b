from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from oauth2_auth.forms import AUTH_CODE_FIELDS, AuthorizationForm
from oauth2_auth.models import Authorization

PAGE_SIZE = 25
# The form carries the client secret: keep it out of error reports.
_sensitive = sensitive_post_parameters("client_secret")


def callback_url(request: HttpRequest) -> str:
    """This app's own OAuth2 callback, as the provider must see it."""
    path = reverse("oauth2_auth:callback")
    if settings.CONNECTIT_PUBLIC_URL:
        return settings.CONNECTIT_PUBLIC_URL + path
    return request.build_absolute_uri(path)


@permission_required("oauth2_auth.view_authorization", raise_exception=True)
def authorization_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    records = Authorization.objects.only(
        "id", "code", "environment", "grant_type", "token_state", "expires_at"
    )
    if query:
        records = records.filter(Q(code__icontains=query) | Q(environment__icontains=query))
    page = Paginator(records.order_by("code"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "oauth2_auth/authorization_list.html", {"page": page, "q": query})


def _render_form(request: HttpRequest, form: AuthorizationForm, record: Authorization | None) -> HttpResponse:
    context = {"form": form, "record": record, "auth_code_fields": AUTH_CODE_FIELDS}
    return render(request, "oauth2_auth/authorization_form.html", context)


@_sensitive
@never_cache
@permission_required("oauth2_auth.add_authorization", raise_exception=True)
@require_http_methods(["GET", "POST"])
def authorization_create(request: HttpRequest) -> HttpResponse:
    form = AuthorizationForm(request.POST or None, callback_url=callback_url(request))
    if request.method == "POST" and form.is_valid():
        record = form.save()
        messages.success(request, f"Authorization {record.code} was created.")
        return redirect("oauth2_auth:detail", pk=record.pk)
    return _render_form(request, form, None)


@_sensitive
@never_cache
@permission_required("oauth2_auth.view_authorization", raise_exception=True)
@require_http_methods(["GET", "POST"])
def authorization_detail(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_object_or_404(Authorization, pk=pk)
    if request.method == "POST":
        if not request.user.has_perm("oauth2_auth.change_authorization"):
            return HttpResponse("You may view but not change authorizations.", status=403)
        form = AuthorizationForm(request.POST, instance=record, callback_url=callback_url(request))
        if form.is_valid():
            form.save()
            messages.success(request, f"Authorization {record.code} was saved.")
            return redirect("oauth2_auth:detail", pk=record.pk)
    else:
        form = AuthorizationForm(instance=record, callback_url=callback_url(request))
    return _render_form(request, form, record)


@permission_required("oauth2_auth.delete_authorization", raise_exception=True)
@require_http_methods(["GET", "POST"])
def authorization_delete(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_object_or_404(Authorization, pk=pk)
    if request.method == "POST":
        record.delete()
        messages.success(request, f"Authorization {record.code} was deleted.")
        return redirect("oauth2_auth:list")
    return render(request, "oauth2_auth/authorization_confirm_delete.html", {"record": record})


def callback(request: HttpRequest) -> HttpResponse:
    raise Http404("The OAuth2 callback is not served yet.")
