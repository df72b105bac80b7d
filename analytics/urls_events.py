"""API routes of events (mounted under /api/v1/)."""

from django.urls import path

from analytics.api.events_views import EventIngestView

urlpatterns = [
    path("events", EventIngestView.as_view(), name="events"),
]
