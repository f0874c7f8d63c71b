from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from connectit import views

admin.site.site_header = "ConnectIT OAuth2 administration"
admin.site.site_title = "ConnectIT OAuth2"

urlpatterns = [
    path("", views.home, name="home"),
    path("setup/", views.setup, name="setup"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", views.ConnectITLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("oauth2/", include("oauth2_auth.urls")),
    path("definitions/", include("definitions.urls")),
    path("admin/", admin.site.urls),
]
