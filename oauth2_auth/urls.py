from __future__ import annotations

from django.urls import path

from oauth2_auth import views

app_name = "oauth2_auth"
urlpatterns = [
    path("authorizations/", views.authorization_list, name="list"),
    path("authorizations/new/", views.authorization_create, name="create"),
    path("authorizations/<int:pk>/", views.authorization_detail, name="detail"),
    path("authorizations/<int:pk>/delete/", views.authorization_delete, name="delete"),
    path("authorizations/<int:pk>/get-token/", views.get_token, name="get_token"),
    path("authorizations/<int:pk>/refresh/", views.refresh_now, name="refresh"),
    path("authorizations/<int:pk>/clear-token/", views.clear_token, name="clear_token"),
    path("authorizations/<int:pk>/certificate/", views.certificate, name="certificate"),
    path("authorizations/<int:pk>/check/", views.check_configuration, name="check_configuration"),
    path("callback/", views.callback, name="callback"),
]
