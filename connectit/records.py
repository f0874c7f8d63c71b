"""The create/edit flow that authorizations and definitions share."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect

from connectit import audit
from connectit.models import AuditAction


def edit_record(
    request: HttpRequest,
    record: models.Model | None,
    make_form: Callable[[QueryDict | None, models.Model | None], forms.ModelForm],
    render_form: Callable[[forms.ModelForm], HttpResponse],
    *,
    noun: str,
    change_permission: str,
    detail_url: str,
    on_saved: Callable[[forms.ModelForm, models.Model], None] | None = None,
) -> HttpResponse:
    """GET shows the form; a valid POST saves and goes to the record's page; an invalid one
    shows the form again with what was typed (never the secrets). ``record`` None creates.
    ``on_saved(form, saved)`` runs after a save, for what the record's own app must follow up."""
    if request.method == "POST" and record is not None and not request.user.has_perm(change_permission):
        # The styled 403 page names what the user's role allows and which role this needs.
        raise PermissionDenied
    form = make_form(request.POST if request.method == "POST" else None, record)
    # A user who may look but not change gets the values as text (templates/_form_tabs.html).
    form.read_only = record is not None and not request.user.has_perm(change_permission)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        audit.record(
            AuditAction.CHANGED if record else AuditAction.CREATED,
            request=request,
            target_type=noun.lower(),
            target=saved.code,
            # A secret's "clear" box names the secret itself.
            fields={name.removesuffix("_clear") for name in form.changed_data},
        )
        if on_saved is not None:
            on_saved(form, saved)
        messages.success(request, f"{noun} {saved.code} was {'saved' if record else 'created'}.")
        return redirect(detail_url, pk=saved.pk)
    return render_form(form)
