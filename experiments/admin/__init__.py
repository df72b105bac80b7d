"""Admin for experiment owners (registered on import by Django's autodiscovery)."""

from experiments.admin import experiment, others  # noqa: F401 - registers the admins
