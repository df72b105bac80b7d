"""Pages for analysts (staff only): reports and the planner, mounted at the site root."""

from django.urls import include, path

urlpatterns = [
    path("", include("analytics.pages_stats")),
    path("", include("analytics.pages_reports")),
]
