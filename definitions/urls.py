from __future__ import annotations

from django.urls import path

from definitions import views

app_name = "definitions"
urlpatterns = [
    path("", views.definition_list, name="list"),
    path("new/", views.definition_create, name="create"),
    path("new/operations/", views.read_operations, name="read_operations"),
    path("<int:pk>/", views.definition_detail, name="detail"),
    path("<int:pk>/delete/", views.definition_delete, name="delete"),
    path("<int:pk>/operations/", views.read_operations, name="read_operations"),
    path("<int:pk>/run/", views.run_definition, name="run_definition"),
    path("runs/", views.run_list, name="runs"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/progress/", views.run_progress, name="run_progress"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
    path("runs/<int:pk>/pages/<int:number>/", views.run_page, name="run_page"),
    path("runs/<int:pk>/download/", views.run_download, name="run_download"),
]
