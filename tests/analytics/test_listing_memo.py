"""The experiment lists' memo: a rollup run's analyses are made once per process and read
from memory until the next run or a change of configuration; the clock still moves them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from analytics.reports import listing
from analytics.reports.experiment import analyze_arms
from analytics.services.rollups import do_run_rollups
from experiments.models import Experiment
from tests.analytics.factories import START, generate
from web import background


@pytest.fixture
def rolled(db):
    listing.clear_memo()
    data = generate(users=120, seed=21, lift=1.6)
    do_run_rollups()
    yield data
    listing.clear_memo()


@pytest.fixture
def analyses(monkeypatch):
    """Counts the analyses the lists make (the expensive step the memo saves)."""
    calls: list[str] = []

    def counted(experiment, *args, **kwargs):
        calls.append(experiment.key)
        return analyze_arms(experiment, *args, **kwargs)

    monkeypatch.setattr(listing, "analyze_arms", counted)
    return calls


def summary(now=None) -> listing.ExperimentSummary:
    return listing.experiment_summaries(keys=("exp",), now=now)[0]


def test_a_second_view_reads_the_analysis_from_memory(
    rolled, analyses, django_assert_max_num_queries
):
    first = summary()
    assert analyses == ["exp"]
    with django_assert_max_num_queries(5):  # experiments, 3 prefetches, the rollup state
        again = summary()
    assert analyses == ["exp"]
    assert (again.verdict, again.decision, again.exposed) == (
        first.verdict,
        first.decision,
        first.exposed,
    )
    assert again.guardrail_alerts == first.guardrail_alerts


def test_a_rollup_run_or_a_configuration_change_analyses_again(rolled, analyses):
    before = summary()
    do_run_rollups()  # nothing new, but a run may change any sums: its own key
    summary()
    assert analyses == ["exp", "exp"]  # a new run
    summary()
    assert analyses == ["exp", "exp"]

    experiment = Experiment.objects.get(key="exp")
    guardrail = experiment.guardrail_metrics.first()
    guardrail.noninferiority_margin = guardrail.noninferiority_margin * 2
    guardrail.save()
    summary()
    assert analyses == ["exp", "exp", "exp"]  # a metric's option is part of the key

    Experiment.objects.filter(pk=experiment.pk).update(alpha=0.01)
    changed = summary()
    assert analyses == ["exp", "exp", "exp", "exp"]  # and the experiment's own fields
    assert changed.exposed == before.exposed  # exposures come from the same rollup


def test_the_clock_moves_a_remembered_analysis(rolled, analyses):
    early = summary(now=START + timedelta(days=2))
    late = summary(now=START + timedelta(days=10))
    assert analyses == ["exp"]  # the second view used the first's analysis
    assert early.preliminary and not late.preliminary
    assert round(early.days_running, 6) == 2 and round(late.days_running, 6) == 10
    assert "minimum runtime" in early.decision.text
    listing.clear_memo()
    fresh = summary(now=START + timedelta(days=10))  # what a fresh analysis decides then
    assert (late.decision, late.preliminary) == (fresh.decision, fresh.preliminary)


def test_each_web_process_analyses_a_new_run_in_the_background():
    job = background._jobs["experiment-lists"]
    assert job.refresh is listing.experiment_summaries
    assert 0 < job.interval_seconds() <= 60
