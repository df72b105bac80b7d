"""API routes of this app (mounted under /api/v1/)."""

from django.urls import path

from assignment.api.features import ExposureTrackingView
from assignment.api.views import AssignmentView, BatchAssignmentView

urlpatterns = [
    path("assignments", AssignmentView.as_view(), name="assignments"),
    path("assignments/batch", BatchAssignmentView.as_view(), name="assignments-batch"),
    path("exposures", ExposureTrackingView.as_view(), name="exposures"),
]
