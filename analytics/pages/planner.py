"""The experiment planner page (staff): sizes, runtime and power curve for a planned test.

A GET form, so a plan is a shareable URL. Percentages in the form are converted here to the
fractions the statistics engine uses (``analytics.stats.plan_experiment``).
"""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render

from analytics.reports.chart_tables import power_curve_table, table_csv
from analytics.stats import (
    ExperimentPlan,
    argument_name,
    plan_experiment,
    power_noninferiority,
    sample_size_noninferiority,
)
from analytics.stats.sequential import MAX_LOOKS

DEFAULTS = {
    "metric": "proportion",
    "baseline": "5",
    "std": "",
    "quantile": "",
    "lognormal_sigma": "",
    "winsorize_percentile": "",
    "variance_reduction": "",
    "mde": "5",
    "mde_type": "relative",
    "alpha": "0.05",
    "power": "0.8",
    "treatment_share": "50",
    "alternative": "two-sided",
    "daily_users": "20000",
    "traffic_share": "100",
    "sequential": "",
    "looks": "",
    "guardrail_baseline": "",
    "guardrail_margin": "",
    "guardrail_direction": "increase",
}

FIELD_GROUPS = (
    ("Metric", ("metric", "baseline", "std", "quantile", "lognormal_sigma")),
    ("Analysis options", ("winsorize_percentile", "variance_reduction")),
    (
        "Effect and test",
        ("mde", "mde_type", "alpha", "power", "alternative", "sequential", "looks"),
    ),
    ("Traffic", ("treatment_share", "daily_users", "traffic_share")),
    ("Guardrail (optional)", ("guardrail_baseline", "guardrail_margin", "guardrail_direction")),
)

# Library argument -> form field (where the names differ).
FIELD_OF_ARGUMENT = {"ratio": "treatment_share", "n_control": "mde", "sample_size": "mde",
                     "margin": "guardrail_margin",
                     "percentile": "winsorize_percentile"}  # fmt: skip


class PlannerForm(forms.Form):
    metric = forms.ChoiceField(
        choices=[
            ("proportion", "Rate (conversion, CTR per user)"),
            ("mean", "Mean (per user)"),
            ("quantile", "Quantile (median, p90 of per-user values)"),
        ]
    )
    baseline = forms.FloatField(
        required=False,
        help_text="rate: control rate in %; mean: control mean (needed for a relative MDE; "
        "winsorised: the capped mean); quantile: the control's quantile value (optional)",
    )
    std = forms.FloatField(
        label="Standard deviation", required=False, min_value=0,
        help_text="mean metrics: per-user standard deviation (winsorised: of the capped "
        "values); or leave empty and give the log-scale sd below",
    )  # fmt: skip
    quantile = forms.FloatField(
        label="Quantile level", required=False, min_value=1, max_value=99,
        help_text="quantile metrics: the level in % (50 median, 90 p90)",
    )  # fmt: skip
    lognormal_sigma = forms.FloatField(
        label="Log-scale sd", required=False, min_value=0.01, max_value=10,
        help_text="quantile metrics, or means without a standard deviation: assume log-normal "
        "per-user values with this sd of log(value) (watch time: about 1 to 1.5)",
    )  # fmt: skip
    winsorize_percentile = forms.FloatField(
        label="Winsorise at percentile", required=False, min_value=50.1, max_value=99.99,
        help_text="mean metrics: plan the test on values capped at this pooled percentile "
        "(99), as a winsorised metric is tested",
    )  # fmt: skip
    variance_reduction = forms.FloatField(
        label="CUPED variance reduction", required=False, min_value=0, max_value=99,
        help_text="mean (and ratio) metrics: % of the variance the pre-period covariates "
        "remove (R\u00b2, e.g. 30)",
    )  # fmt: skip
    mde = forms.FloatField(label="MDE", help_text="smallest change worth detecting")
    mde_type = forms.ChoiceField(
        label="MDE given as",
        choices=[
            ("relative", "relative, % of baseline"),
            ("absolute", "absolute (rate: percentage points; mean: metric units)"),
        ],
    )
    alpha = forms.FloatField(min_value=0.0001, max_value=0.5)
    power = forms.FloatField(min_value=0.05, max_value=0.9999)
    treatment_share = forms.FloatField(
        min_value=0.1, max_value=99.9, help_text="% of enrolled users in treatment"
    )
    alternative = forms.ChoiceField(
        choices=[
            ("two-sided", "two-sided"),
            ("larger", "one-sided (increase)"),
            ("smaller", "one-sided (decrease)"),
        ],
        help_text="one-sided as a metric tested one-sided: fixed-horizon and sequential alike",
    )
    sequential = forms.BooleanField(
        label="Sequential testing",
        required=False,
        help_text="size for the always-valid test the report runs when results are watched daily",
    )
    looks = forms.IntegerField(
        label="Planned looks",
        required=False,
        min_value=1,
        max_value=MAX_LOOKS,
        help_text="sequential testing: how many times the report will be read, equally spaced "
        "(e.g. 14 for daily reads over two weeks); blank for one read, at the end",
    )
    daily_users = forms.FloatField(required=False, min_value=1, help_text="new eligible users/day")
    traffic_share = forms.FloatField(
        min_value=0.01, max_value=100, help_text="% of eligible users enrolled"
    )
    guardrail_baseline = forms.FloatField(
        required=False, help_text="a guardrail rate's control value in %"
    )
    guardrail_margin = forms.FloatField(
        required=False, min_value=0.01, max_value=99,
        help_text="non-inferiority margin, % of the guardrail's baseline",
    )  # fmt: skip
    guardrail_direction = forms.ChoiceField(
        label="Guardrail harm is",
        choices=[("increase", "a rise"), ("decrease", "a fall")],
        required=False,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("metric") == "proportion":
            baseline = data.get("baseline")
            if baseline is None or not 0 < baseline < 100:
                self.add_error("baseline", "a rate needs the control rate in %, between 0 and 100")
        elif data.get("metric") == "mean":
            if not data.get("std") and not data.get("lognormal_sigma"):
                self.add_error(
                    "std", "a mean metric needs its per-user standard deviation (> 0) or a "
                    "log-scale sd"
                )  # fmt: skip
        elif data.get("metric") == "quantile":
            if data.get("quantile") is None:
                self.add_error("quantile", "a quantile metric needs its level (50 for a median)")
            if not data.get("lognormal_sigma"):
                self.add_error("lognormal_sigma", "a quantile plan needs the log-scale sd")
        if data.get("metric") != "mean":
            for name in ("winsorize_percentile", "variance_reduction"):
                if data.get(name):
                    self.add_error(name, "applies to mean metrics only")
        return data

    def plan_arguments(self) -> dict[str, Any]:
        """``plan_experiment`` keyword arguments, percentages turned into fractions."""
        d = self.cleaned_data
        rate, mean = d["metric"] == "proportion", d["metric"] == "mean"
        relative = d["mde_type"] == "relative"
        share = d["treatment_share"] / 100
        percentile = d.get("winsorize_percentile")
        sigma = None if rate or (mean and d.get("std")) else d.get("lognormal_sigma")
        return {
            "metric": d["metric"],
            "baseline": d["baseline"] / 100 if rate else d["baseline"],
            "std": d["std"] if mean and d.get("std") else None,
            "quantile": d["quantile"] / 100 if d["metric"] == "quantile" else None,
            "lognormal_sigma": sigma,
            "winsorize_percentile": percentile / 100 if mean and percentile else None,
            "variance_reduction": (d.get("variance_reduction") or 0) / 100 if mean else 0.0,
            "mde": d["mde"] / 100 if (relative or rate) else d["mde"],
            "mde_relative": relative,
            "alpha": d["alpha"],
            "power": d["power"],
            "ratio": share / (1 - share),
            "alternative": d["alternative"],
            "daily_users": d["daily_users"],
            "traffic_share": d["traffic_share"] / 100,
            "sequential": bool(d.get("sequential")),
            "looks": d.get("looks") or 1,
        }


def guardrail_plan(form: PlannerForm, plan: ExperimentPlan) -> dict[str, Any] | None:
    """Users a rate guardrail needs for its margin, and its power at the primary's size."""
    d = form.cleaned_data
    if d.get("guardrail_baseline") is None or d.get("guardrail_margin") is None:
        return None
    arguments = {
        "kind": "proportion",
        "baseline": d["guardrail_baseline"] / 100,
        "margin": d["guardrail_margin"] / 100,
        "bad_direction": d.get("guardrail_direction") or "increase",
        "alpha": d["alpha"],
        "ratio": form.plan_arguments()["ratio"],
        "sequential": bool(d.get("sequential")),
    }
    size = sample_size_noninferiority(**arguments, power=d["power"])
    power = power_noninferiority(**arguments, n_control=plan.sample_size.control)
    return {"control": f"{size.control:,}", "total": f"{size.total:,}", "power": power}


def chart_data(plan: ExperimentPlan, power_target: float, relative_axis: bool) -> dict[str, Any]:
    """Power curve points for the chart: x in % of the baseline when the MDE was given that
    way (and a baseline is known), else absolute (percentage points for rates)."""
    relative = relative_axis and not math.isnan(plan.mde_relative)
    scale = 100.0 if (relative or plan.metric == "proportion") else 1.0

    def x_of(point_relative: float, point_absolute: float) -> float:
        return (point_relative if relative else point_absolute) * scale

    if relative:
        x_title = "Minimum detectable effect (relative change, % of baseline)"
    elif plan.metric == "proportion":
        x_title = "Minimum detectable effect (percentage points)"
    else:
        x_title = "Minimum detectable effect (metric units)"
    return {
        "points": [
            {"x": x_of(p.mde_relative, p.mde_absolute), "y": p.power * 100} for p in plan.curve
        ],
        "planned": {
            "x": x_of(plan.mde_relative, plan.mde_absolute),
            "y": plan.achieved_power * 100,
        },
        "target": power_target * 100,
        "x_title": x_title,
        "x_unit": "%" if relative else (" pp" if plan.metric == "proportion" else ""),
        "n_control": plan.sample_size.control,
    }


def curve_table(chart: dict[str, Any]) -> list[dict[str, float]]:
    """About ten rows of the curve for reading without the chart (the planned MDE is one:
    it sits at 1/2.5 of the range, a multiple of the step)."""
    points = chart["points"]
    step = max(1, (len(points) - 1) // 10)
    return points[::step]


def summary(plan: ExperimentPlan) -> dict[str, str]:
    """The plan's numbers as the page prints them (thousands separators, units)."""
    size = plan.sample_size
    absolute = plan.mde_absolute * (100 if plan.metric == "proportion" else 1)
    unit = " percentage points" if plan.metric == "proportion" else " (metric units)"
    mde = f"{absolute:+.4g}{unit}"
    if not math.isnan(plan.mde_relative):
        mde = f"{plan.mde_relative * 100:+.4g}% relative, {mde}"
    return {
        "control": f"{size.control:,}",
        "treatment": f"{size.treatment:,}",
        "total": f"{size.total:,}",
        "mde": mde,
        # mean plans: the sd the test will see (capped, CUPED-adjusted), worth checking
        "std": "" if math.isnan(plan.std) else f"{plan.std:.4g}",
    }


@staff_member_required
def planner(request: HttpRequest) -> HttpResponse:
    """``GET /planner/``: the form, and the plan for its values (defaults on first visit)."""
    form = PlannerForm(request.GET if request.GET else DEFAULTS)
    plan = chart = guardrail = None
    if form.is_valid():
        try:
            plan = plan_experiment(**form.plan_arguments())
            guardrail = guardrail_plan(form, plan)
        except ValueError as error:
            name = argument_name(error) or ""
            field = FIELD_OF_ARGUMENT.get(name, name)
            form.add_error(field if field in form.fields else None, str(error))
        else:
            relative_axis = form.cleaned_data["mde_type"] == "relative"
            chart = chart_data(plan, form.cleaned_data["power"], relative_axis)
    if chart and request.GET.get("format") == "csv":  # the power curve's data, as drawn
        response = HttpResponse(
            table_csv(power_curve_table(chart)), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="power-curve.csv"'
        return response
    query = request.GET.copy() if request.GET else QueryDict(mutable=True)
    if not request.GET:
        query.update(DEFAULTS)  # the values the form was filled with
    query["format"] = "csv"
    context = {
        "csv_url": f"{request.path}?{query.urlencode()}",
        "form": form,
        "field_groups": [
            (legend, [form[name] for name in names]) for legend, names in FIELD_GROUPS
        ],
        "plan": plan,
        "summary": summary(plan) if plan else None,
        "chart": chart,
        "table": curve_table(chart) if chart else [],
        "guardrail": guardrail,
    }
    return render(request, "analytics/planner.html", context)
