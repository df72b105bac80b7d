"""Top-level URLs: admin, health, the versioned API, its schema and docs, report pages."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from ops.health import healthz
from web.api import PingView

api_v1 = [
    path("ping", PingView.as_view(), name="ping"),
    path("", include("assignment.urls")),
    path("", include("analytics.urls")),
    path("", include("recommenders.urls")),
    path("", include("experiments.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/features/", include("assignment.sdk_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script from a URL: the CSP allows no inline code.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("", include("analytics.pages.urls")),
    path("", include("workspace.urls")),
]

handler404 = "web.api.not_found"
handler500 = "web.api.server_error"
