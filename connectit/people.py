"""Pages for administrators: users and their roles, and the audit trail.

A user's role is one of the groups that connectit/migrations/0002_roles.py creates. Invited users
get no password: the administrator hands them a one-time link (Django's password-reset token)
where they choose one.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required, permission_required
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_date
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from connectit import audit, pages, roles
from connectit.models import AuditAction, AuditEntry

User = get_user_model()
ROLE_CHOICES = [(name, f"{name}: {roles.DESCRIPTIONS[name]}") for name in roles.ROLES]


def role_of(user) -> str:
    names = {group.name for group in user.groups.all()}
    return next((name for name in reversed(roles.ROLES) if name in names), "")


class UserForm(forms.ModelForm):
    role = forms.ChoiceField(choices=ROLE_CHOICES, widget=forms.RadioSelect)

    class Meta:
        model = User
        fields = ("username", "email", "first_name", "last_name", "is_active")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["role"] = (role_of(self.instance) if self.instance.pk else "") or roles.VIEWER
        if not self.instance.pk:
            del self.fields["is_active"]  # a new user is active; deactivating is an edit

    def save(self, commit: bool = True):
        user = super().save(commit=False)
        if not user.pk:
            user.set_unusable_password()  # the invitation link sets it
        user.save()
        role_groups = Group.objects.filter(name__in=roles.ROLES)
        user.groups.remove(*role_groups)
        user.groups.add(Group.objects.get(name=self.cleaned_data["role"]))
        return user


_manage = permission_required("auth.change_user", raise_exception=True)


@_manage
def user_list(request: HttpRequest) -> HttpResponse:
    users = User.objects.prefetch_related("groups").order_by("username")
    users, query = pages.search(request, users, ("username", "email", "first_name", "last_name"))
    page = pages.paginate(request, users)
    rows = [(user, role_of(user)) for user in page]
    return render(request, "people/user_list.html", {"page": page, "rows": rows, "q": query})


@never_cache
@permission_required("auth.add_user", raise_exception=True)
@require_http_methods(["GET", "POST"])
def user_create(request: HttpRequest) -> HttpResponse:
    return _edit_user(request, None)


@never_cache
@_manage
@require_http_methods(["GET", "POST"])
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit_user(request, get_object_or_404(User, pk=pk))


def _edit_user(request: HttpRequest, user) -> HttpResponse:
    if user is not None and user.is_superuser and not request.user.is_superuser:
        raise Http404("Superusers are managed in the Django admin.")
    form = UserForm(request.POST or None, instance=user)
    if request.method == "POST" and form.is_valid():
        if user is not None and user.pk == request.user.pk and not form.cleaned_data.get("is_active", True):
            form.add_error("is_active", "You cannot deactivate yourself.")
        else:
            changed = form.changed_data
            saved = form.save()
            audit.record(
                AuditAction.CHANGED if user else AuditAction.CREATED,
                request=request,
                target_type="user",
                target=saved.get_username(),
                fields=changed,
            )
            if user is None:
                messages.success(
                    request,
                    f"User {saved.get_username()} was created. Send them this link to choose a "
                    f"password (it works once): {invitation_link(request, saved)}",
                )
            else:
                messages.success(request, f"User {saved.get_username()} was saved.")
            return redirect("user_detail", pk=saved.pk)
    context = {"form": form, "person": user, "invite": user is not None and not user.has_usable_password()}
    return render(request, "people/user_form.html", context)


def invitation_link(request: HttpRequest, user) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    path = reverse("accept_invitation", args=[uid, default_token_generator.make_token(user)])
    return request.build_absolute_uri(path)


@login_not_required
@never_cache
@sensitive_post_parameters("new_password1", "new_password2")
@require_http_methods(["GET", "POST"])
def accept_invitation(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """Where an invited user chooses a password (also usable as a reset link)."""
    try:
        user = User.objects.get(pk=force_str(urlsafe_base64_decode(uidb64)))
    except (User.DoesNotExist, ValueError, TypeError, OverflowError, ValidationError):
        user = None
    if user is None or not default_token_generator.check_token(user, token):
        context = {
            "title": "This link cannot be used",
            "message": "It was used already or has expired. Ask an administrator for a new one.",
        }
        return render(request, "error.html", context, status=403)
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        name = user.get_username()
        audit.record(
            AuditAction.CHANGED,
            request=request,
            actor=name,
            target_type="user",
            target=name,
            fields=["password"],
        )
        messages.success(request, "Your password is set. Sign in with it.")
        return redirect("login")
    return render(request, "people/accept_invitation.html", {"form": form, "person": user})


@permission_required("connectit.view_auditentry", raise_exception=True)
def audit_list(request: HttpRequest) -> HttpResponse:
    names = ("actor", "action", "target", "since", "until")
    filters = {name: request.GET.get(name, "").strip()[:200] for name in names}
    entries = AuditEntry.objects.all()
    if filters["actor"]:
        entries = entries.filter(actor__iexact=filters["actor"])
    if filters["action"] in AuditAction.values:
        entries = entries.filter(action=filters["action"])
    if filters["target"]:
        entries = entries.filter(target__icontains=filters["target"])
    if since := _date(filters["since"]):
        entries = entries.filter(at__date__gte=since)
    if until := _date(filters["until"]):
        entries = entries.filter(at__date__lte=until)
    page = pages.paginate_without_count(request, entries.order_by("-at", "-id"))
    used = {name: value for name, value in filters.items() if value}
    context = {
        "page": page,
        "filters": filters,
        "actions": AuditAction.choices,
        "extra_query": urlencode(used) + "&" if used else "",
    }
    return render(request, "people/audit_list.html", context)


def _date(text: str) -> date | None:
    try:
        return parse_date(text) if text else None
    except ValueError:  # well-formed but impossible, such as 2026-13-01
        return None
