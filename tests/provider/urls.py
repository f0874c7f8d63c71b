from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path

from tests.provider import views

urlpatterns = [
    path("", views.index),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Ahead of DOT's own routes so these wrappers answer the same URLs.
    path("o/token/", views.CountingTokenView.as_view()),
    path("o/introspect/", views.CountingIntrospectView.as_view()),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("api/", views.api, {"path": ""}),
    path("api/<path:path>", views.api),
    path("test/stats/", views.stats),
    path("test/reset/", views.reset),
    path("test/redirect-uris/", views.redirect_uris),
    path("test/expire/", views.expire),
    path("test/revoke/", views.revoke),
    path("test/token-delay/", views.token_delay),
    path("test/token-hang/", views.token_hang),
]
