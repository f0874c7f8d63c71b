from __future__ import annotations

from django.urls import path

from oauth2_auth import views

app_name = "oauth2_auth"
urlpatterns = [
    path("authorizations/", views.authorization_list, name="list"),
    path("authorizations/new/", views.authorization_create, name="create"),
    path("authorizations/<int:pk>/", views.authorization_detail, name="detail"),
    path("authorizations/<int:pk>/delete/", views.authorization_delete, name="delete"),
    path("callback/", views.callback, name="callback"),
]
