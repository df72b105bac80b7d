"""Workspace pages at the site root: the home page and /experiments/<key>/."""

from django.urls import path

from workspace import views

urlpatterns = [
    path("", views.home, name="home"),
    path("experiments/new/", views.experiment_create, name="experiment-create"),
    path("experiments/<slug:key>/", views.experiment_page, name="experiment-workspace"),
    path(
        "experiments/<slug:key>/<slug:action>/",
        views.experiment_action,
        name="experiment-action",
    ),
]
