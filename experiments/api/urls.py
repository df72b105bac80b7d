"""Routes of the management API (mounted under /api/v1/)."""

from django.urls import path

from experiments.api import views

urlpatterns = [
    path("experiments", views.ExperimentListView.as_view(), name="experiment-list"),
    path("experiments/<slug:key>", views.ExperimentDetailView.as_view(), name="experiment-detail"),
    *(
        path(
            f"experiments/<slug:key>/{action}",
            views.ExperimentActionView.as_view(action=action),
            name=f"experiment-{action}",
        )
        for action in views.ACTIONS
        if action != "conclude"
    ),
    path(
        "experiments/<slug:key>/conclude",
        views.ExperimentConcludeView.as_view(),
        name="experiment-conclude",
    ),
    path("layers", views.LayerListView.as_view(), name="layer-list"),
    path("holdouts", views.HoldoutListView.as_view(), name="holdout-list"),
    path("metrics", views.MetricListView.as_view(), name="metric-list"),
]
