"""API routes of analytics (mounted under /api/v1/): events and statistics."""

from django.urls import path

from analytics.api.results import ExperimentResultsView
from analytics.api.views import AnalyzeView, EventIngestView, SampleSizeView

urlpatterns = [
    path("stats/sample-size", SampleSizeView.as_view(), name="stats-sample-size"),
    path("stats/analyze", AnalyzeView.as_view(), name="stats-analyze"),
    path("events", EventIngestView.as_view(), name="events"),
    path(
        "experiments/<slug:key>/results",
        ExperimentResultsView.as_view(),
        name="experiment-results",
    ),
]
