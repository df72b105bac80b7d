"""The experiment form, to create and to edit: variants, targeting built row by row,
overrides, metrics, plan.

Fields are validated here for shape (numbers, choices, JSON); the rules of experiments
(exactly one control, weights, layer ranges, targeting operators, overrides naming a variant,
what may change once started) are those of :mod:`experiments.services`, whose messages are
shown beside the field they name.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings

from experiments.models import Experiment, MetricDefinition
from experiments.services import ExperimentError, check_interleaving
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
    """A new draft, A/B or interleaving (``kind``). An interleaving experiment shows every
    user one list merged from its rankers, so the form ignores what only a split has: the
    weights, the A/B power plan and a required primary metric; its rankers are checked by
    the service's own :func:`check_interleaving` (2 to 4, each with its own configuration
    unless an interleaving A/A), beside the row its message names."""

    key = forms.SlugField(max_length=100, help_text="fixed once started; used by the API")
    kind = forms.ChoiceField(
        choices=Experiment.Kind.choices, initial=Experiment.Kind.AB, widget=forms.RadioSelect,
        label="Kind", help_text="fixed once started", required=False,  # not posted: A/B
    )  # fmt: skip
    interleaving_aa = forms.BooleanField(
        required=False, label="Interleaving A/A",
        help_text="the rankers may share one configuration: a check of the method itself",
    )  # fmt: skip
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

    def __init__(self, *args: Any, rows: int = VARIANT_ROWS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows = rows
        metrics = MetricDefinition.objects.order_by("name")
        self.fields["primary_metric"].queryset = metrics
        self.fields["guardrail_metrics"].queryset = metrics.filter(is_guardrail=True)
        self.fields["secondary_metrics"].queryset = metrics
        self.fields["surface"].choices = [(s, s) for s in settings.SPLITLAB_SURFACES]
        configs = _config_choices()
        for i in range(rows):
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
        if self.is_interleaving:  # posted by the hidden A/B parts of the page, and ignored
            for name in (*_PLAN_ONLY, "primary_metric"):
                if name in self.fields:
                    self.fields[name].required = False

    @property
    def is_interleaving(self) -> bool:
        """The kind asked for: posted, else prefilled (``?kind=interleaving``)."""
        raw = self.data.get("kind") if self.is_bound else self.initial.get("kind")
        return raw == Experiment.Kind.INTERLEAVING

    @property
    def kind_switchable(self) -> bool:
        """Whether the page offers both kinds (creation), so both kinds' parts are drawn."""
        return "kind" in self.fields

    def variant_rows(self) -> list[tuple[Any, Any, Any]]:
        return [
            (self[f"variant_{i}_key"], self[f"variant_{i}_weight"], self[f"variant_{i}_config"])
            for i in range(self.rows)
        ]

    def ab_plan_fields(self) -> list[Any]:
        """The A/B power plan's inputs (an interleaving experiment has none)."""
        return [self[name] for name in _PLAN_ONLY if name in self.fields]

    def shared_plan_fields(self) -> list[Any]:
        """What both kinds plan: alpha (the interleaving sign test's too), the minimum runtime,
        sequential testing."""
        names = ("alpha", "min_runtime_days", "sequential_testing")
        return [self[name] for name in names if name in self.fields]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.is_interleaving:  # hidden on the page, ignored: their errors would be too
            ignored = (*_PLAN_ONLY, *(f"variant_{i}_weight" for i in range(self.rows)))
            for name in ignored:
                self._errors.pop(name, None)
        if "kind" in self.fields and "kind" in cleaned:
            try:
                check_interleaving(cleaned["kind"], cleaned["interleaving_aa"], self._rankers())
            except ExperimentError as error:
                self._attach_interleaving_errors(error)
        return cleaned

    def _rankers(self) -> list[dict[str, Any]]:
        """The filled rows as ``check_interleaving`` reads them (configuration ids)."""
        rows = []
        for i in range(self.rows):
            key = self.cleaned_data.get(f"variant_{i}_key")
            if key:
                config = self.cleaned_data.get(f"variant_{i}_config")
                rows.append({"key": key, "recommender_config": int(config) if config else None})
        return rows

    def _attach_interleaving_errors(self, error: ExperimentError) -> None:
        """Each message beside the last row whose key it quotes (a missing or repeated
        configuration, a reserved key), else beside the first row or the field it names."""
        for name, problems in error.message_dict.items():
            for problem in problems:
                field = {"kind": "kind", "interleaving_aa": "interleaving_aa"}.get(name)
                if field is None:
                    part = "config" if name == "recommender_config" else "key"
                    named = [
                        i for i in range(self.rows)
                        if f"'{self.cleaned_data.get(f'variant_{i}_key')}'" in problem
                    ]  # fmt: skip
                    field = f"variant_{named[-1] if named else 0}_{part}"
                self.add_error(field, problem)

    def clean_kind(self) -> str:
        return self.cleaned_data.get("kind") or Experiment.Kind.AB

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
        for i in range(self.rows):
            key = self.cleaned_data.get(f"variant_{i}_key")
            if not key:
                continue
            weight = None if self.is_interleaving else self.cleaned_data.get(f"variant_{i}_weight")
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
        """The Experiment fields the form holds (percentages as shares); for an interleaving
        experiment, without the A/B plan's (the model's defaults stay)."""
        data = self.cleaned_data
        ignored = set(_PLAN_ONLY) if self.is_interleaving else set()
        fields = {
            name: data[name]
            for name in (
                "kind",
                "interleaving_aa",
                "hypothesis",
                "surface",
                "targeting",
                "qa_overrides",
                "primary_metric",
                "alpha",
                "power",
                "daily_traffic",
                "planned_sample_size",
                "min_runtime_days",
                "sequential_testing",
            )  # fmt: skip
            if name in self.fields and name not in ignored
        }
        for field, name in PERCENT_FIELDS.items():
            if field in self.fields and field not in ignored:
                fields[name] = data[field] / 100
        return fields


# Form fields in percent -> the Experiment fields they hold as shares.
PERCENT_FIELDS = {
    "coverage_percent": "coverage",
    "baseline_percent": "baseline_rate",
    "mde_percent": "mde_relative",
}
# The A/B power plan's inputs, which an interleaving experiment has no use for (its alpha
# stays: the sign test on users' preferences is read at it).
_PLAN_ONLY = (
    "baseline_percent", "mde_percent", "power", "daily_traffic", "planned_sample_size",
)  # fmt: skip


def _percent(share: float | None) -> float | None:
    return None if share is None else round(100 * share, 6)


class ExperimentEditForm(ExperimentCreateForm):
    """The creation form over a stored experiment, with what may no longer change disabled:
    once started, the key, the variants (keys and recommenders) and the minimum runtime; once
    stopped, the coverage and weights too. An interleaving experiment has no weights and no
    power plan (every user sees the merged list). A field left as it was keeps the stored
    value exactly (no percent round trip). The rules themselves are the service's."""

    def __init__(self, experiment: Experiment, *args: Any, **kwargs: Any) -> None:
        self.experiment = experiment
        variants = list(experiment.variants.all())
        rows = max(VARIANT_ROWS, len(variants)) if experiment.status == "draft" else len(variants)
        super().__init__(*args, initial=experiment_initial(experiment), rows=rows, **kwargs)
        del self.fields["kind"], self.fields["interleaving_aa"]  # the kind is the stored one
        started = experiment.status != Experiment.Status.DRAFT
        fixed = ["key", "min_runtime_days"] if started else []
        if started:
            fixed += [f"variant_{i}_{part}" for i in range(rows) for part in ("key", "config")]
        if experiment.is_interleaving or experiment.status in ("stopped", "concluded"):
            fixed += [f"variant_{i}_weight" for i in range(rows)]
        if experiment.status in ("stopped", "concluded"):  # no traffic: allocation is history
            fixed.append("coverage_percent")
        if experiment.is_interleaving:
            for name in _PLAN_ONLY:
                del self.fields[name]
        for name in fixed:
            self.fields[name].disabled = True
        if started:
            self.fields["key"].help_text = "fixed: the experiment has started"
        # made elsewhere (admin, API) without these: editing does not force a choice
        self.fields["primary_metric"].required = experiment.primary_metric_id is not None
        if not experiment.surface:
            self.fields["surface"].required = False
            self.fields["surface"].choices = [("", "none")] + self.fields["surface"].choices

    @property
    def is_interleaving(self) -> bool:
        return self.experiment.is_interleaving

    def experiment_fields(self) -> dict[str, Any]:
        fields = super().experiment_fields()
        fields["key"] = self.cleaned_data["key"]
        fields["name"] = self.cleaned_data["name"]
        for field, name in PERCENT_FIELDS.items():
            if name in fields and field not in self.changed_data:
                fields[name] = getattr(self.experiment, name)
        return fields

    def weights(self) -> dict[str, float]:
        return {v["key"]: v["weight"] for v in self.variants()}


def experiment_initial(experiment: Experiment) -> dict[str, Any]:
    """The form's values for a stored experiment (prefetch its variants and metrics)."""
    initial: dict[str, Any] = {
        "key": experiment.key,
        "name": experiment.name,
        "hypothesis": experiment.hypothesis,
        "surface": experiment.surface,
        "targeting": json.dumps(experiment.targeting) if experiment.targeting else "",
        "qa_overrides": "\n".join(f"{u} = {v}" for u, v in experiment.qa_overrides.items()),
        "primary_metric": experiment.primary_metric_id,
        "guardrail_metrics": [m.pk for m in experiment.guardrail_metrics.all()],
        "secondary_metrics": [m.pk for m in experiment.secondary_metrics.all()],
        "alpha": experiment.alpha,
        "power": experiment.power,
        "daily_traffic": experiment.daily_traffic,
        "planned_sample_size": experiment.planned_sample_size,
        "min_runtime_days": experiment.min_runtime_days,
        "sequential_testing": experiment.sequential_testing,
    }
    for field, name in PERCENT_FIELDS.items():
        initial[field] = _percent(getattr(experiment, name))
    for i, variant in enumerate(experiment.variants.all()):
        initial[f"variant_{i}_key"] = variant.key
        initial[f"variant_{i}_weight"] = variant.weight
        initial[f"variant_{i}_config"] = str(variant.recommender_config_id or "")
    return initial
