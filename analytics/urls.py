"""API routes of analytics (mounted under /api/v1/): events and statistics."""

from django.urls import include, path

urlpatterns = [
    path("", include("analytics.urls_stats")),
    path("", include("analytics.urls_events")),
]
