"""The experiment factory moved to :mod:`tests.experiments.factories`; this name is kept for
tests written against the old path."""

from tests.experiments.factories import running_experiment

__all__ = ["running_experiment"]
