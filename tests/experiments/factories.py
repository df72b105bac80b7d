"""Helpers shared by the experiments, assignment and API tests."""

from __future__ import annotations

from typing import Any

from experiments import services
from experiments.models import Experiment


def running_experiment(
    key: str, variants: list[tuple[str, float]] | None = None, **fields: Any
) -> Experiment:
    """Create and start an experiment; the first variant is the control."""
    specs = [
        {"key": name, "weight": weight, "is_control": i == 0}
        for i, (name, weight) in enumerate(variants or [("control", 1.0), ("treatment", 1.0)])
    ]
    experiment = services.do_create_experiment(key=key, name=key, variants=specs, **fields)
    return services.do_start_experiment(experiment, None)
