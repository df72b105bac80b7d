"""The assignment cache follows configuration changes through the experiments app's
``config_changed`` signal (experiments imports nothing of assignment)."""

from __future__ import annotations

import pytest
from django.db.models import F

from assignment import config_cache
from experiments import services as experiment_services
from experiments.models import ConfigVersion, Experiment
from experiments.signals import config_changed
from tests.experiments.factories import running_experiment
from web import background

pytestmark = pytest.mark.django_db


def test_bump_sends_config_changed_now_and_again_on_commit(django_capture_on_commit_callbacks):
    received = []

    def receiver(sender, **kwargs):
        received.append(sender)

    config_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            experiment_services.bump_config_version()
            assert received == [ConfigVersion]
        assert received == [ConfigVersion, ConfigVersion]
    finally:
        config_changed.disconnect(receiver)


def test_a_bump_makes_this_process_reload_within_the_ttl():
    experiment = running_experiment("cache-signal")
    assert config_cache.get_snapshot().experiments["cache-signal"].coverage == 1.0
    # A write that bypasses the model signals: only the explicit bump can announce it.
    Experiment.objects.filter(pk=experiment.pk).update(coverage=0.5)
    assert config_cache.get_snapshot().experiments["cache-signal"].coverage == 1.0
    experiment_services.bump_config_version()
    assert config_cache.get_snapshot().experiments["cache-signal"].coverage == 0.5


def test_with_the_refresher_running_a_request_reads_memory_and_the_refresher_reloads(
    settings, monkeypatch, django_assert_num_queries
):
    experiment = running_experiment("refreshed")
    assert config_cache.get_snapshot().experiments["refreshed"].coverage == 1.0
    settings.SPLITLAB_ASSIGNMENT_CONFIG_TTL_SECONDS = 0  # every snapshot is past its TTL
    monkeypatch.setattr(background, "running", lambda: True)
    # Another process's change: rows and the version row, no signal in this process.
    Experiment.objects.filter(pk=experiment.pk).update(coverage=0.5)
    ConfigVersion.objects.filter(pk=1).update(version=F("version") + 1, token="elsewhere")
    with django_assert_num_queries(0):
        assert config_cache.get_snapshot().experiments["refreshed"].coverage == 1.0
    config_cache.refresh()  # the refresher's turn
    with django_assert_num_queries(0):
        assert config_cache.get_snapshot().experiments["refreshed"].coverage == 0.5


def test_without_the_refresher_the_request_past_the_ttl_reads(settings):
    experiment = running_experiment("read-by-request")
    assert config_cache.get_snapshot().experiments["read-by-request"].coverage == 1.0
    settings.SPLITLAB_ASSIGNMENT_CONFIG_TTL_SECONDS = 0
    Experiment.objects.filter(pk=experiment.pk).update(coverage=0.5)
    ConfigVersion.objects.filter(pk=1).update(version=F("version") + 1, token="elsewhere")
    assert config_cache.get_snapshot().experiments["read-by-request"].coverage == 0.5
