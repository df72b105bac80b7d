"""Pages for analysts (staff only), mounted at the site root: /reports/, /reports/holdout/,
/reports/<key>/ and its CSV, each chart's data as CSV, and the experiment planner at /planner/."""

from django.urls import path

from analytics.pages import planner, reports

urlpatterns = [
    path("planner/", planner.planner, name="planner"),
    path("reports/", reports.report_list, name="reports"),
    path("reports/holdout/", reports.holdout_report, name="holdout-report"),
    path(
        "reports/holdout/charts/<slug:metric>.csv",
        reports.holdout_chart_csv,
        name="holdout-chart-csv",
    ),
    path("reports/<slug:key>/", reports.experiment_report, name="experiment-report"),
    path(
        "reports/<slug:key>/export.csv",
        reports.experiment_report_csv,
        name="experiment-report-csv",
    ),
    path(
        "reports/<slug:key>/charts/<slug:chart>.csv",
        reports.experiment_chart_csv,
        name="experiment-chart-csv",
    ),
]
