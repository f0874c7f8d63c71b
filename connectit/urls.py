from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from connectit import alerts_views, people, views

admin.site.site_header = "ConnectIT OAuth2 administration"
admin.site.site_title = "ConnectIT OAuth2"


def _superusers_only(request) -> bool:
    # Administrators manage users on the app's own pages; the Django admin is for superusers.
    return request.user.is_active and request.user.is_superuser


admin.site.has_permission = _superusers_only

urlpatterns = [
    path("", views.home, name="home"),
    path("setup/", views.setup, name="setup"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", views.ConnectITLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("oauth2/", include("oauth2_auth.urls")),
    path("definitions/", include("definitions.urls")),
    path("users/", people.user_list, name="user_list"),
    path("users/new/", people.user_create, name="user_create"),
    path("users/<int:pk>/", people.user_detail, name="user_detail"),
    path("invitation/<str:uidb64>/<str:token>/", people.accept_invitation, name="accept_invitation"),
    path("audit/", people.audit_list, name="audit"),
    path("alerts/", alerts_views.alerts_page, name="alerts"),
    path("alerts/test/", alerts_views.send_test_alert, name="send_test_alert"),
    path("admin/", admin.site.urls),
]

handler400 = "connectit.views.bad_request"
handler403 = "connectit.views.permission_denied"
handler404 = "connectit.views.page_not_found"
handler500 = "connectit.views.server_error"
