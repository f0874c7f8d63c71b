"""A test-only urlconf: the app's URLs plus one view that raises, to reach the 500 page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.urls import path

from connectit.urls import handler400, handler403, handler404, handler500
from connectit.urls import urlpatterns as app_urls

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


@login_not_required
def explode(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("secret-exception-text-xyz")


urlpatterns = [path("boom/", explode), *app_urls]
