"""API routes of this app (mounted under /api/v1/)."""

from django.urls import path

from recommenders.api import views
from recommenders.api.configs import RecommenderConfigListView

urlpatterns = [
    path("recommendations", views.RecommendationsView.as_view(), name="recommendations"),
    path(
        "recommendations/metrics",
        views.ServingMetricsView.as_view(),
        name="recommendations-metrics",
    ),
    path(
        "users/<str:user_id>/preferences",
        views.UserPreferencesView.as_view(),
        name="user-preferences",
    ),
    path(
        "recommender-configs", RecommenderConfigListView.as_view(), name="recommender-config-list"
    ),
    path(
        "recommender-configs/<slug:name>/train",
        views.TrainConfigView.as_view(),
        name="recommender-config-train",
    ),
    path(
        "recommender-configs/<slug:name>/rollback",
        views.RollbackConfigView.as_view(),
        name="recommender-config-rollback",
    ),
    path("model-versions/<int:version_id>", views.ModelVersionView.as_view(), name="model-version"),
    path(
        "model-versions/<int:version_id>/promote",
        views.PromoteModelVersionView.as_view(),
        name="model-version-promote",
    ),
]
