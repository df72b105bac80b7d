"""The assignment cache follows configuration changes through the experiments app's
``config_changed`` signal (experiments imports nothing of assignment)."""

from __future__ import annotations

import pytest

from assignment import config_cache
from experiments import services as experiment_services
from experiments.models import ConfigVersion, Experiment
from experiments.signals import config_changed
from tests.experiments.factories import running_experiment

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
