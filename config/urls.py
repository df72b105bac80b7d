"""Top-level URLs: admin, health, the versioned API, its schema and docs, report pages."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from analytics.api.results import ExperimentResultsView
from assignment.api.features import ExposureTrackingView, FeaturesView
from config.api import PingView
from config.health import healthz
from recommenders.api.configs import RecommenderConfigListView

api_v1 = [
    path("ping", PingView.as_view(), name="ping"),
    path("", include("assignment.urls")),
    path("", include("analytics.urls")),
    path("", include("recommenders.urls")),
    path("", include("experiments.api.urls")),
    path("exposures", ExposureTrackingView.as_view(), name="exposures"),
    path(
        "recommender-configs", RecommenderConfigListView.as_view(), name="recommender-config-list"
    ),
    path(
        "experiments/<slug:key>/results",
        ExperimentResultsView.as_view(),
        name="experiment-results",
    ),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/features/<str:client_key>", FeaturesView.as_view(), name="sdk-features"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("", include("analytics.pages")),
]

handler404 = "config.api.not_found"
handler500 = "config.api.server_error"
