"""API routes of the statistics engine (mounted under /api/v1/)."""

from django.urls import path

from analytics.api.stats_views import AnalyzeView, SampleSizeView

urlpatterns = [
    path("stats/sample-size", SampleSizeView.as_view(), name="stats-sample-size"),
    path("stats/analyze", AnalyzeView.as_view(), name="stats-analyze"),
]
