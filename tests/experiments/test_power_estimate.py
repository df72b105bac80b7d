"""The experiment's own required size plans the test its primary metric gets (issue 13):
one-sided, winsorised and quantile metrics are sized as the report tests them."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from analytics.stats import plan_experiment
from experiments import selectors, services
from experiments.models import Experiment, MetricDefinition

TWO = [{"key": "control", "is_control": True}, {"key": "treatment"}]
pytestmark = pytest.mark.django_db


def metric(key: str, kind: str, **options) -> MetricDefinition:
    return MetricDefinition.objects.create(key=key, name=key, kind=kind, **options)


def experiment(primary: MetricDefinition | None, key: str = "plan", **fields):
    return services.do_create_experiment(
        key=key, name=key, variants=TWO, primary_metric=primary, mde_relative=0.05,
        baseline_rate=0.05, **fields,
    )  # fmt: skip


def test_a_one_sided_rate_is_planned_one_sided():
    two = selectors.power_estimate(experiment(metric("conv2", "conversion_rate"), key="two"))
    MetricDefinition.objects.filter(key="conv2").update(test_sides="one-sided")
    exp = experiment(MetricDefinition.objects.get(key="conv2"), sequential_testing=False)
    one = selectors.power_estimate(exp)
    expected = plan_experiment(baseline=0.05, mde=0.05, alternative="larger")
    assert one.per_variant == expected.sample_size.control < two.per_variant
    assert "one-sided (larger)" in one.describe()


def test_a_one_sided_sequential_metric_where_lower_is_better_is_planned_on_its_side():
    primary = metric("ttfi", "time_to_first_interaction", higher_is_better=False,
                     test_sides="one-sided", planning_log_sd=1.0)  # fmt: skip
    estimate = selectors.power_estimate(experiment(primary, sequential_testing=True))
    expected = plan_experiment(
        "mean", baseline=1.0, lognormal_sigma=1.0, mde=-0.05, alternative="smaller",
        sequential=True,
    )  # fmt: skip
    assert estimate.per_variant == expected.sample_size.control
    assert "always-valid" in estimate.test and "smaller" in estimate.test


def test_a_winsorised_mean_is_planned_with_the_capped_variance():
    capped = metric("watch99", "watch_time", winsorize_percentile=0.99, planning_log_sd=1.5)
    plain = metric("watch", "watch_time", planning_log_sd=1.5)
    with_cap = selectors.power_estimate(experiment(capped))
    without = plan_experiment("mean", baseline=1.0, lognormal_sigma=1.5, mde=0.05)
    expected = plan_experiment(
        "mean", baseline=1.0, lognormal_sigma=1.5, mde=0.05, winsorize_percentile=0.99
    )
    assert with_cap.per_variant == expected.sample_size.control
    assert with_cap.per_variant < 0.6 * without.sample_size.control
    assert "winsorised" in with_cap.describe()
    assert plain.planning_log_sd == 1.5


def test_a_quantile_metric_is_planned_with_its_level_or_says_what_it_needs():
    p90 = metric("watch_p90", "watch_time_quantile", quantile_level=0.9, planning_log_sd=1.2)
    estimate = selectors.power_estimate(experiment(p90))
    expected = plan_experiment("quantile", quantile=0.9, lognormal_sigma=1.2, mde=0.05)
    assert estimate.per_variant == expected.sample_size.control
    assert "p90" in estimate.describe()
    MetricDefinition.objects.filter(key="watch_p90").update(planning_log_sd=None)
    unplanned = Experiment.objects.get(key="plan")
    with pytest.raises(ValueError, match="^planning_log_sd: "):
        selectors.power_estimate(unplanned)


def test_the_planning_sd_is_validated_by_name():
    bad = MetricDefinition(key="bad", name="bad", kind="watch_time", planning_log_sd=-1)
    with pytest.raises(ValidationError) as error:
        bad.full_clean()
    assert "planning_log_sd" in error.value.message_dict
