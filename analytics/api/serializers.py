"""Request and response shapes of the analytics API (no logic in them).

``/api/v1/stats/...``: the math is in :mod:`analytics.stats`. ``POST /api/v1/events``: validation
itself runs in :mod:`analytics.services.event_validation` (plain Python: a batch holds up to
10,000 events); these serializers describe the contract and shape the answer.
"""

from __future__ import annotations

import math
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analytics.services.event_validation import EVENT_TYPES, MAX_ATTRIBUTES
from analytics.stats import SufficientStats, argument_name
from analytics.stats._validation import ALTERNATIVES
from analytics.stats.planning import METRICS
from analytics.stats.power import MEAN_METHODS, PROPORTION_METHODS
from analytics.stats.sequential import MAX_LOOKS
from analytics.stats.sequential import METHODS as SEQUENTIAL_METHODS
from analytics.stats.sufficient import KINDS
from web.serializers import (
    RulesInSchema,
    StrictBooleanField,
    StrictFloatField,
    StrictIntegerField,
)

# --- events ----------------------------------------------------------------------------------


class ImpressionItemSerializer(serializers.Serializer):
    item_id = serializers.CharField(max_length=256)
    position = serializers.IntegerField(min_value=0)


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": MAX_ATTRIBUTES,
        "additionalProperties": {
            "anyOf": [
                {"type": "string", "maxLength": 1000},
                {"type": "number"},
                {"type": "boolean"},
                {"type": "null"},
            ]
        },
    }
)
class EventAttributesField(serializers.DictField):
    """Flat attributes: strings (at most 1000 characters), numbers, booleans or null."""


class EventSerializer(serializers.Serializer):
    """One event. Which fields are required depends on ``type`` (see each field)."""

    event_id = serializers.CharField(max_length=128, help_text="idempotency key (client-made)")
    type = serializers.ChoiceField(choices=sorted(EVENT_TYPES))
    user_id = serializers.CharField(max_length=256)
    timestamp = serializers.DateTimeField(
        help_text="ISO 8601 with offset (or Unix seconds), inside the accepted window"
    )
    request_id = serializers.CharField(
        required=False, help_text="required for impression and click: the served list's id"
    )
    session_id = serializers.CharField(
        required=False, help_text="required for session_start and session_end"
    )
    item_id = serializers.CharField(required=False, help_text="required for click and watch")
    position = serializers.IntegerField(required=False, min_value=0)
    items = ImpressionItemSerializer(
        many=True, required=False, help_text="required for impression: the list as shown"
    )
    seconds = serializers.FloatField(
        required=False, min_value=0, help_text="required for watch and first_interaction"
    )
    value = serializers.FloatField(required=False, help_text="conversion value (default 0)")
    surface = serializers.CharField(required=False, max_length=100)
    experiment = serializers.CharField(required=False, max_length=100)
    variant = serializers.CharField(required=False, max_length=100)
    attributes = EventAttributesField(
        required=False, help_text="free flat attributes: device, platform, ..."
    )


class EventBatchSerializer(serializers.Serializer):
    """A batch: ``{"events": [...]}``; a bare list or a single event object also work."""

    events = EventSerializer(many=True, max_length=10_000)


class RejectedEventSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="position in the batch")
    event_id = serializers.CharField(allow_null=True)
    errors = serializers.DictField(child=serializers.CharField(), help_text="field -> reason")


class IngestResultSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    stored = serializers.IntegerField(help_text="events new to the store")
    duplicates = serializers.IntegerField(help_text="event_ids already stored (success too)")
    accepted = serializers.IntegerField(help_text="stored + duplicates")
    rejected = RejectedEventSerializer(many=True)


# --- shared by the statistics serializers ----------------------------------------------------


class FiniteFloatField(serializers.FloatField):
    """A float that is written as ``null`` when infinite or NaN (JSON has neither).

    One-sided intervals have an infinite end; relative effects of a zero baseline are NaN.
    """

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_representation(self, value: float) -> float | None:
        value = float(value)
        return value if math.isfinite(value) else None


class IntervalField(serializers.ListField):
    """``[lower, upper]``; ``null`` marks an open end."""

    def __init__(self, **kwargs) -> None:
        super().__init__(child=FiniteFloatField(), min_length=2, max_length=2, **kwargs)


# --- sample size -----------------------------------------------------------------------------


METHODS_OF_METRIC = {"proportion": PROPORTION_METHODS, "mean": MEAN_METHODS, "quantile": ("z",)}
# A sequential plan is the always-valid z-test (unpooled for rates).
SEQUENTIAL_PLAN_METHODS = ("unpooled", "z")
# A pilot sample travels in the request body; more users than this add nothing to a plan.
MAX_BASELINE_VALUES = 100_000


def _when(field: str, value: Any, then: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema: when ``field`` is sent and equals ``value``, ``then`` holds."""
    return {"if": {"required": [field], "properties": {field: {"const": value}}}, "then": then}


class SampleSizeRequestSerializer(RulesInSchema, serializers.Serializer):
    metric = serializers.ChoiceField(choices=METRICS, default="proportion")
    baseline = StrictFloatField(
        required=False,
        help_text="control rate (proportion: required), mean (mean metric: required for a "
        "relative mde; winsorised: the capped mean) or quantile value (quantile metric: "
        "needed for an absolute mde with lognormal_sigma)",
    )
    std = StrictFloatField(
        required=False,
        help_text="per-user std (mean metric: this, lognormal_sigma or baseline_values; "
        "winsorised: the std of the capped values)",
    )
    quantile = StrictFloatField(
        required=False, help_text="quantile metric: the level compared (0.5 median, 0.9 p90)"
    )
    lognormal_sigma = StrictFloatField(
        required=False,
        help_text="mean or quantile metric: assume log-normal per-user values with this "
        "log-scale standard deviation (e.g. 1.2 for watch time)",
    )
    baseline_values = serializers.ListField(
        child=StrictFloatField(),
        required=False,
        min_length=20,
        max_length=MAX_BASELINE_VALUES,
        help_text="mean or quantile metric: a pilot sample of per-user values whose empirical "
        "distribution the plan uses (no shape assumed)",
    )
    winsorize_percentile = StrictFloatField(
        required=False,
        help_text="mean metric: plan the test on values capped at this pooled percentile "
        "(0.99), as a metric with winsorisation is tested",
    )
    variance_reduction = StrictFloatField(
        default=0.0,
        help_text="mean metric: share of the variance CUPED removes (R^2 of the pre-period "
        "covariates, in [0, 1)); a ratio metric is planned as the mean of its linearised values",
    )
    mde = StrictFloatField(help_text="smallest effect worth detecting (treatment - control)")
    mde_relative = StrictBooleanField(default=True, help_text="mde as a fraction of baseline")
    alpha = StrictFloatField(default=0.05)
    power = StrictFloatField(default=0.8)
    ratio = StrictFloatField(default=1.0, help_text="treatment size / control size")
    alternative = serializers.ChoiceField(choices=ALTERNATIVES, default="two-sided")
    method = serializers.ChoiceField(
        choices=PROPORTION_METHODS + MEAN_METHODS,
        required=False,
        help_text="by metric: proportion takes pooled (default: the report's test), unpooled "
        "or cohen_h; mean takes t (default) or z; quantile takes z. A sequential plan takes "
        "unpooled (proportion) or z (mean, quantile) only.",
    )
    sequential = StrictBooleanField(
        default=False,
        help_text="size for the always-valid test of a sequential experiment (one-sided with "
        "alternative larger or smaller)",
    )
    looks = StrictIntegerField(
        default=1,
        min_value=1,
        max_value=MAX_LOOKS,
        help_text="sequential plans: how many times the report will be read, equally spaced, "
        "the last at the planned size (e.g. 14 daily reads); a fixed-horizon plan is read once",
    )
    daily_users = StrictFloatField(required=False, help_text="eligible users a day")
    traffic_share = StrictFloatField(default=1.0, help_text="share of them enrolled")

    # The choices of ``method`` per metric, and the fields each metric needs, in the schema.
    schema_rules = {
        "allOf": [
            _when(
                "metric",
                "mean",
                {
                    "anyOf": [
                        {"required": ["std"]},
                        {"required": ["lognormal_sigma"]},
                        {"required": ["baseline_values"]},
                    ],
                    "properties": {"method": {"enum": list(MEAN_METHODS)}},
                },
            ),
            _when(
                "metric",
                "quantile",
                {
                    "required": ["quantile"],
                    "anyOf": [
                        {"required": ["lognormal_sigma"]},
                        {"required": ["baseline_values"]},
                    ],
                    "properties": {"method": {"enum": ["z"]}},
                },
            ),
            # Proportion (also the default metric): the rate, and its methods.
            {
                "if": {
                    "anyOf": [
                        {"not": {"required": ["metric"]}},
                        {"properties": {"metric": {"const": "proportion"}}},
                    ]
                },
                "then": {
                    "required": ["baseline"],
                    "properties": {"method": {"enum": list(PROPORTION_METHODS)}},
                },
            },
            _when(
                "sequential",
                True,
                {"properties": {"method": {"enum": list(SEQUENTIAL_PLAN_METHODS)}}},
            ),
            # Several looks are planned for the always-valid test only.
            {
                "if": {"required": ["looks"], "properties": {"looks": {"minimum": 2}}},
                "then": {"required": ["sequential"], "properties": {"sequential": {"const": True}}},
            },
        ]
    }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        method = attrs.get("method")
        accepted = METHODS_OF_METRIC[attrs["metric"]]
        if method is not None and method not in accepted:
            raise serializers.ValidationError(
                {
                    "method": [
                        f"{method!r} is not a method for a {attrs['metric']} metric; "
                        f"it takes {', '.join(accepted)}"
                    ]
                }
            )
        return attrs


class PowerCurvePointSerializer(serializers.Serializer):
    mde_absolute = FiniteFloatField()
    mde_relative = FiniteFloatField()
    power = FiniteFloatField()


class SampleSizeResponseSerializer(serializers.Serializer):
    metric = serializers.CharField()
    control = serializers.IntegerField(source="sample_size.control")
    treatment = serializers.IntegerField(source="sample_size.treatment")
    total = serializers.IntegerField(source="sample_size.total")
    control_exact = FiniteFloatField(source="sample_size.control_exact")
    mde_absolute = FiniteFloatField()
    mde_relative = FiniteFloatField()
    achieved_power = FiniteFloatField()
    expected_days = serializers.IntegerField(allow_null=True)
    sequential = serializers.BooleanField()
    looks = serializers.IntegerField(help_text="the planned reads of the report")
    test = serializers.CharField(help_text="the test the size is planned for")
    alternative = serializers.CharField(help_text="the sides of the planned test")
    std = FiniteFloatField(
        help_text="mean metrics: the per-user std planned with (capped, CUPED-adjusted); null "
        "for other metrics"
    )
    power_curve = PowerCurvePointSerializer(source="curve", many=True)


# --- analyze ---------------------------------------------------------------------------------


# Sums beyond this overflow the variance formulas (their fourth powers pass 1.8e308);
# no real experiment comes near it, so such input is refused by name instead.
SUM_LIMIT = 1e75


def sum_field(**kwargs: Any) -> serializers.FloatField:
    return StrictFloatField(min_value=-SUM_LIMIT, max_value=SUM_LIMIT, **kwargs)


class SufficientStatsSerializer(serializers.Serializer):
    n = StrictIntegerField(
        min_value=0, max_value=10**15, help_text="randomised users in the variant"
    )
    sum_x = sum_field(help_text="sum of the metric over users (successes)")
    sum_x2 = sum_field(required=False, help_text="sum of squares (mean, ratio)")
    sum_y = sum_field(required=False, help_text="ratio denominator sum")
    sum_y2 = sum_field(required=False)
    sum_xy = sum_field(required=False)
    sum_c = sum_field(required=False, help_text="CUPED pre-period covariate sum")
    sum_c2 = sum_field(required=False)
    sum_xc = sum_field(required=False)

    def validate(self, attrs: dict) -> SufficientStats:
        """The sums as the library's ``SufficientStats`` (which checks their consistency)."""
        try:
            return SufficientStats(**attrs)
        except ValueError as error:
            raise serializers.ValidationError(
                {argument_name(error) or "non_field_errors": [str(error)]}
            ) from None


class AnalyzeRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=KINDS)
    control = SufficientStatsSerializer()
    treatment = SufficientStatsSerializer()
    alpha = StrictFloatField(default=0.05)
    alternative = serializers.ChoiceField(choices=ALTERNATIVES, default="two-sided")
    sequential = StrictBooleanField(default=False)
    sequential_method = serializers.ChoiceField(choices=SEQUENTIAL_METHODS, default="asymptotic")
    planned_total = StrictIntegerField(required=False, min_value=1)
    mixing_sd = StrictFloatField(required=False)
    cuped = StrictBooleanField(default=True)
    bayesian = StrictBooleanField(default=True)


class AnalyzeResponseSerializer(serializers.Serializer):
    kind = serializers.CharField()
    method = serializers.CharField()
    control_n = serializers.IntegerField()
    treatment_n = serializers.IntegerField()
    control_mean = FiniteFloatField()
    treatment_mean = FiniteFloatField()
    absolute_effect = FiniteFloatField()
    absolute_ci = IntervalField()
    relative_effect = FiniteFloatField()
    relative_ci = IntervalField()
    p_value = FiniteFloatField()
    statistic = FiniteFloatField()
    std_error = FiniteFloatField()
    df = FiniteFloatField(help_text="null for z-tests")
    significant = serializers.BooleanField()
    alpha = serializers.FloatField()
    alternative = serializers.CharField()
    cuped_theta = FiniteFloatField()
    variance_reduction = FiniteFloatField()
    sequential_method = serializers.CharField(allow_null=True)
    sequential_p_value = FiniteFloatField()
    sequential_ci = IntervalField(allow_null=True)
    probability_to_beat = FiniteFloatField()
    chance_to_win = FiniteFloatField(
        help_text="GrowthBook's Gaussian posterior P(relative effect > 0), any metric kind"
    )
    risk = IntervalField(
        allow_null=True,
        help_text="expected relative loss of choosing [control, treatment] (GrowthBook's risk)",
    )
    note = serializers.CharField(
        help_text="what was done with degenerate data (exact test, not enough data, relative "
        "effect not meaningful); empty otherwise"
    )
