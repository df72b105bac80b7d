"""Pages for analysts (staff only), mounted at the site root: the reports
(:mod:`analytics.pages.reports`) and the experiment planner (:mod:`analytics.pages.planner`);
their routes are in :mod:`analytics.pages.urls`."""
