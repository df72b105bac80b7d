"""Workspace pages at the site root: the home page, /experiments/<key>/, recommenders and
off-policy evaluation."""

from django.urls import path

from workspace import offpolicy_pages, recommender_pages, views

urlpatterns = [
    path("", views.home, name="home"),
    path("recommenders/", recommender_pages.recommender_list, name="recommenders"),
    path("recommenders/<slug:name>/", recommender_pages.recommender_detail, name="recommender"),
    path("reports/offpolicy/estimate/", offpolicy_pages.offpolicy_estimate, name="offpolicy"),
    path(
        "reports/offpolicy/served.csv",
        offpolicy_pages.served_lists_export,
        name="offpolicy-served-csv",
    ),
    path("experiments/new/", views.experiment_create, name="experiment-create"),
    path("experiments/<slug:key>/", views.experiment_page, name="experiment-workspace"),
    path("experiments/<slug:key>/try/", views.experiment_try, name="experiment-try"),
    # before the lifecycle actions' pattern, which would take "edit" for an action
    path("experiments/<slug:key>/edit/", views.experiment_edit, name="experiment-edit"),
    path(
        "experiments/<slug:key>/<slug:action>/",
        views.experiment_action,
        name="experiment-action",
    ),
]
