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
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET


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
