"""GrowthBook SDKs' payload, outside the versioned API as GrowthBook serves it:
``/api/features/<client_key>``."""

from django.urls import path

from assignment.api.features import FeaturesView

urlpatterns = [
    path("<str:client_key>", FeaturesView.as_view(), name="sdk-features"),
]
