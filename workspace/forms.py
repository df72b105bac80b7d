"""The experiment creation form: variants, targeting built row by row, overrides, metrics, plan.

Fields are validated here for shape (numbers, choices, JSON); the rules of experiments
(exactly one control, weights, layer ranges, targeting operators, overrides naming a variant)
are those of :mod:`experiments.services`, whose messages are shown beside the field they name.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings

from experiments.models import MetricDefinition
from recommenders.models import RecommenderConfig

VARIANT_ROWS = 4
TARGETING_OPERATORS = {
    "$eq": "is",
    "$ne": "is not",
    "$in": "is one of (comma-separated)",
    "$nin": "is none of (comma-separated)",
}


def _config_choices() -> list[tuple[str, str]]:
    return [("", "none (default recommender)")] + [
        (str(c.pk), c.name) for c in RecommenderConfig.objects.order_by("name")
    ]


class ExperimentCreateForm(forms.Form):
    key = forms.SlugField(max_length=100, help_text="fixed once started; used by the API")
    name = forms.CharField(max_length=200)
    hypothesis = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    surface = forms.ChoiceField(help_text="where the recommendations are shown")
    coverage_percent = forms.FloatField(
        label="Coverage (%)", min_value=0, max_value=100, initial=100,
        help_text="share of eligible users who enter",
    )  # fmt: skip
    targeting = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text='advanced view of the conditions, e.g. {"country": {"$in": ["US", "CA"]}}',
    )
    qa_overrides = forms.CharField(
        label="QA overrides",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        help_text="one per line: user id = variant key",
    )
    primary_metric = forms.ModelChoiceField(queryset=MetricDefinition.objects.none())
    guardrail_metrics = forms.ModelMultipleChoiceField(
        queryset=MetricDefinition.objects.none(), required=False
    )
    secondary_metrics = forms.ModelMultipleChoiceField(
        queryset=MetricDefinition.objects.none(), required=False
    )
    baseline_percent = forms.FloatField(
        label="Baseline rate (%)", min_value=0.0001, max_value=99.9999, initial=5
    )
    mde_percent = forms.FloatField(
        label="Minimum detectable effect (relative %)", min_value=0.01, initial=5
    )
    alpha = forms.FloatField(min_value=1e-6, max_value=0.5, initial=0.05)
    power = forms.FloatField(min_value=0.5, max_value=0.9999, initial=0.8)
    daily_traffic = forms.IntegerField(min_value=1, required=False, label="Eligible users per day")
    planned_sample_size = forms.IntegerField(
        min_value=1, required=False, label="Planned users per variant",
        help_text="leave empty to plan the required size",
    )  # fmt: skip
    min_runtime_days = forms.IntegerField(min_value=0, max_value=365, initial=14)
    sequential_testing = forms.BooleanField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        metrics = MetricDefinition.objects.order_by("name")
        self.fields["primary_metric"].queryset = metrics
        self.fields["guardrail_metrics"].queryset = metrics.filter(is_guardrail=True)
        self.fields["secondary_metrics"].queryset = metrics
        self.fields["surface"].choices = [(s, s) for s in settings.SPLITLAB_SURFACES]
        configs = _config_choices()
        for i in range(VARIANT_ROWS):
            self.fields[f"variant_{i}_key"] = forms.SlugField(
                max_length=100, required=i < 2, label=f"Variant {i + 1} key",
                initial=("control", "treatment")[i] if i < 2 else None,
            )  # fmt: skip
            self.fields[f"variant_{i}_weight"] = forms.FloatField(
                min_value=0, required=False, initial=1.0, label=f"Variant {i + 1} weight"
            )
            self.fields[f"variant_{i}_config"] = forms.ChoiceField(
                choices=configs, required=False, label=f"Variant {i + 1} recommender"
            )

        for name, field in self.fields.items():
            if name.startswith("variant_"):
                field.widget.attrs["aria-label"] = field.label

    def variant_rows(self) -> list[tuple[Any, Any, Any]]:
        return [
            (self[f"variant_{i}_key"], self[f"variant_{i}_weight"], self[f"variant_{i}_config"])
            for i in range(VARIANT_ROWS)
        ]

    def plan_fields(self) -> list[Any]:
        names = (
            "baseline_percent", "mde_percent", "alpha", "power", "daily_traffic",
            "planned_sample_size", "min_runtime_days", "sequential_testing",
        )  # fmt: skip
        return [self[name] for name in names]

    def clean_targeting(self) -> dict[str, Any]:
        raw = (self.cleaned_data.get("targeting") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as error:
            message = f"not valid JSON: {error.msg} at column {error.colno}"
            raise forms.ValidationError(message) from None
        if not isinstance(value, dict):
            raise forms.ValidationError("expected an object of attribute -> condition")
        return value

    def clean_qa_overrides(self) -> dict[str, str]:
        overrides = {}
        for number, line in enumerate((self.cleaned_data.get("qa_overrides") or "").splitlines()):
            if not line.strip():
                continue
            user, sep, variant = line.partition("=")
            if not sep or not user.strip() or not variant.strip():
                raise forms.ValidationError(f"line {number + 1}: expected 'user id = variant key'")
            overrides[user.strip()] = variant.strip()
        return overrides

    def variants(self) -> list[dict[str, Any]]:
        """The filled variant rows as the service takes them; the first is the control."""
        out = []
        for i in range(VARIANT_ROWS):
            key = self.cleaned_data.get(f"variant_{i}_key")
            if not key:
                continue
            weight = self.cleaned_data.get(f"variant_{i}_weight")
            config = self.cleaned_data.get(f"variant_{i}_config")
            out.append(
                {
                    "key": key,
                    "weight": 1.0 if weight is None else weight,
                    "is_control": not out,
                    "recommender_config": (
                        RecommenderConfig.objects.get(pk=int(config)) if config else None
                    ),
                }
            )
        return out

    def experiment_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "hypothesis": data["hypothesis"],
            "surface": data["surface"],
            "coverage": data["coverage_percent"] / 100,
            "targeting": data["targeting"],
            "qa_overrides": data["qa_overrides"],
            "primary_metric": data["primary_metric"],
            "baseline_rate": data["baseline_percent"] / 100,
            "mde_relative": data["mde_percent"] / 100,
            "alpha": data["alpha"],
            "power": data["power"],
            "daily_traffic": data["daily_traffic"],
            "planned_sample_size": data["planned_sample_size"],
            "min_runtime_days": data["min_runtime_days"],
            "sequential_testing": data["sequential_testing"],
        }
