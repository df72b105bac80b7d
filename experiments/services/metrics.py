"""Metric definitions created outside the admin (the management API)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from experiments.models import MetricDefinition
from experiments.services.base import ExperimentError, record_audit

__all__ = ["do_create_metric_definition"]


@transaction.atomic
def do_create_metric_definition(actor: Any, fields: Mapping[str, Any]) -> MetricDefinition:
    """Create a metric (its statistic follows from its kind); audit entry ``create_metric``."""
    metric = MetricDefinition(**fields)
    metric.statistic = MetricDefinition.STATISTIC_OF_KIND.get(metric.kind, "")
    try:
        metric.full_clean()
    except ValidationError as error:
        raise ExperimentError(error.message_dict) from None
    metric.save()
    record_audit(actor, "create_metric", object_repr=f"metric {metric.key}", changes=dict(fields))
    return metric
