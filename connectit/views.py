"""Project-level pages: home, first-run setup, login and the health check."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.views import LoginView
from django.db import connection, transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.urls import NoReverseMatch, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET

from connectit.roles import ADMINISTRATOR, OPERATOR, ROLES, VIEWER


def _no_users() -> bool:
    return not get_user_model().objects.exists()


def home(request: HttpRequest) -> HttpResponse:
    return redirect("oauth2_auth:list")


class FirstAdministratorForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")


@login_not_required
@sensitive_post_parameters("password1", "password2")
@never_cache
def setup(request: HttpRequest) -> HttpResponse:
    """Create the first administrator; once any user exists this page does not exist."""
    if not _no_users():
        raise Http404("Setup is done.")
    form = FirstAdministratorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            # Re-check inside the transaction: two people racing through setup get one admin.
            if not _no_users():
                raise Http404("Setup is done.")
            user = form.save(commit=False)
            user.is_staff = user.is_superuser = True
            user.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.username}. You are the first administrator.")
        return redirect("home")
    return render(request, "setup.html", {"form": form})


class ConnectITLoginView(LoginView):
    """Django's login, except that a database without users sends people to first-run setup."""

    @method_decorator(login_not_required)
    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if _no_users():
            return redirect("setup")
        return super().dispatch(request, *args, **kwargs)


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers: 200 when the database answers, 503 when it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any database failure means unhealthy
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


# Error pages. Each names what happened and links back to the list the user came from, so a
# wrong link or a missing role is never a dead end. Data-driven: URL prefix -> (noun, list URL,
# the permission that lets a user read that section).
_SECTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("/oauth2/", "authorizations", "oauth2_auth:list", "oauth2_auth.view_authorization"),
    ("/definitions/runs/", "runs", "definitions:runs", "definitions.view_run"),
    ("/definitions/", "definitions", "definitions:list", "definitions.view_definition"),
    ("/users/", "users", "user_list", "auth.view_user"),
    ("/audit/", "the audit trail", "audit", "connectit.view_auditentry"),
    ("/alerts/", "alerts", "alerts", "connectit.manage_alerts"),
)
# Get Token, Refresh and Run are Operator actions; naming Administrator for them would over-ask.
_OPERATOR_ACTIONS = ("/get-token/", "/refresh/", "/run/", "/cancel/")


def _section(path: str) -> tuple[str, str, str] | None:
    for prefix, noun, url_name, view_permission in _SECTIONS:
        if path.startswith(prefix):
            try:
                return noun, reverse(url_name), view_permission
            except NoReverseMatch:
                return None
    return None


def _role_sentence(request: HttpRequest) -> str:
    user = request.user
    groups = set(user.groups.values_list("name", flat=True)) if user.is_authenticated else set()
    roles = [role for role in ROLES if role in groups]
    if not roles:
        return "Your account has no role yet; ask an administrator."
    section = _section(request.path)
    if section is None:
        return f"Your role ({roles[-1]}) does not allow this page. Ask an administrator."
    noun, _url, view_permission = section
    needed = ADMINISTRATOR
    if request.path.endswith(_OPERATOR_ACTIONS) and roles[-1] == VIEWER:
        needed = OPERATOR
    if user.has_perm(view_permission):
        return f"You can view {noun} but not change them. Ask an administrator for the {needed} role."
    return f"Your role ({roles[-1]}) cannot see {noun}. Ask an administrator for the {needed} role."


def _error(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    section = _section(request.path)
    context = {
        "title": title,
        "message": message,
        "section_noun": section[0] if section else "",
        "section_url": section[1] if section else "",
    }
    # One page for 400, 403 and 404: only the words differ.
    return render(request, "error_page.html", context, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    # The exception text is never shown: it may echo a header or parameter value.
    return _error(request, 400, "Bad request", "The request could not be understood.")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _error(request, 403, "Not allowed", _role_sentence(request))


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _error(request, 404, "Page not found", "This page does not exist, or the record was deleted.")


def server_error(request: HttpRequest) -> HttpResponse:
    # No request context on purpose: the database or the session may be what failed, and the
    # exception text must never reach the page.
    return HttpResponse(loader.get_template("500.html").render({}), status=500)
