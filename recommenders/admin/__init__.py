"""Admin for the recommenders app, one module per area."""

from recommenders.admin import catalog, versions  # noqa: F401
