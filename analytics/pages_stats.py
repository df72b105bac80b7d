"""Page routes of the statistics engine (staff only): the experiment planner."""

from django.urls import path

from analytics import views_planner

urlpatterns = [
    path("planner/", views_planner.planner, name="planner"),
]
