"""A process killed by SIGKILL after answering: its exposures, holdout evaluation and served
list are in its journal, and another process writes them (the earliest exposure time wins)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from analytics.models import ServedList
from assignment import exposure_log
from assignment.models import Exposure, HoldoutExposure
from experiments.models import Holdout
from recommenders.serving import log as serving_log
from tests.assignment.factories import running_experiment
from writebehind import buffer as writebehind

pytestmark = pytest.mark.django_db


def test_a_killed_process_s_records_are_written_by_another(settings, tmp_path, monkeypatch):
    settings.SPLITLAB_JOURNAL_DIR = str(tmp_path)
    # The replay under test is the explicit one: this process's flusher thread, which also
    # replays dead journals when it starts, would race it.
    monkeypatch.setattr(writebehind._flusher, "ensure_running", lambda: None)
    experiment = running_experiment("replayed")
    variant = experiment.variants.first()
    holdout = Holdout.objects.create(name="replayed-holdout", share=0.05, seed="s")
    early = time.time() - 60
    pid = os.fork()
    if pid == 0:  # the web process that answered, then was killed before any flush
        exposure_log.buffer.add(experiment.id, 1, "u", variant.id, early)
        exposure_log.buffer.add_holdout(holdout.id, "u", False, early)
        serving_log.log_served_list({"request_id": "req-1", "user_id": "u", "items": []})
        os.kill(os.getpid(), signal.SIGKILL)
    os.waitpid(pid, 0)
    # This process saw the same user later and wrote first.
    exposure_log.buffer.add(experiment.id, 1, "u", variant.id, early + 30)
    exposure_log.flush()
    assert exposure_log.buffer.buffer.replay_dead() == 2
    assert serving_log._served.replay_dead() == 1
    assert Exposure.objects.get(user_id="u").first_exposed_at.timestamp() == pytest.approx(early)
    assert HoldoutExposure.objects.get(user_id="u").first_seen_at.timestamp() == pytest.approx(
        early
    )
    assert list(ServedList.objects.values_list("request_id", flat=True)) == ["req-1"]
    assert exposure_log.buffer.buffer.replay_dead() == 0  # replayed once
    assert list(tmp_path.glob("*/*.log")) == []  # every segment deleted once stored
