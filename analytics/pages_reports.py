"""Report pages (staff only): /reports/, /reports/holdout/, /reports/<key>/ and its CSV."""

from django.urls import path

from analytics import views_reports

urlpatterns = [
    path("reports/", views_reports.report_list, name="reports"),
    path("reports/holdout/", views_reports.holdout_report, name="holdout-report"),
    path("reports/<slug:key>/", views_reports.experiment_report, name="experiment-report"),
    path(
        "reports/<slug:key>/export.csv",
        views_reports.experiment_report_csv,
        name="experiment-report-csv",
    ),
]
