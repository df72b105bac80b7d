"""The exposure buffer: flush after responses, at exit, and retry after a database error."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection
from django.urls import reverse

from assignment import exposure_log, services
from assignment.models import Exposure
from tests.experiments.factories import running_experiment
from writebehind import buffer as writebehind

pytestmark = pytest.mark.django_db


def test_flush_after_response_once_due(api_client, settings):
    running_experiment("due")
    settings.SPLITLAB_EXPOSURE_FLUSH_SECONDS = 3600
    settings.SPLITLAB_EXPOSURE_BUFFER_SIZE = 3
    url = reverse("api:assignments")
    api_client.post(url, {"user_id": "a"}, format="json")
    api_client.post(url, {"user_id": "b"}, format="json")
    assert not Exposure.objects.exists()  # neither size nor age reached
    api_client.post(url, {"user_id": "c"}, format="json")
    assert Exposure.objects.count() == 3  # written after the third response
    settings.SPLITLAB_EXPOSURE_FLUSH_SECONDS = 0
    api_client.post(url, {"user_id": "d"}, format="json")
    assert Exposure.objects.count() == 4  # age 0: every response flushes


def test_with_background_threads_the_flusher_thread_writes_them_not_the_request(
    api_client, settings, monkeypatch
):
    running_experiment("threaded")
    settings.SPLITLAB_BACKGROUND_THREADS = True
    settings.SPLITLAB_EXPOSURE_FLUSH_SECONDS = 0  # due at once
    started = []
    monkeypatch.setattr(writebehind._flusher, "ensure_running", lambda: started.append(1))
    response = api_client.post(reverse("api:assignments"), {"user_id": "t1"}, format="json")
    assert response.status_code == 200
    assert not Exposure.objects.exists()  # not written in the request's thread
    assert exposure_log.buffer.rows == 1 and started  # but handed to the flusher thread
    assert exposure_log.buffer.buffer.in_thread
    settings.SPLITLAB_BACKGROUND_THREADS = False
    assert not exposure_log.buffer.buffer.in_thread


def test_flush_at_exit_writes_pending_rows():
    running_experiment("bye")
    services.assign_user("leaving", {})
    assert not Exposure.objects.exists()
    exposure_log._flush_at_exit()  # what atexit runs on a clean worker exit
    assert Exposure.objects.filter(user_id="leaving").count() == 1
    assert len(exposure_log.buffer) == 0


def test_failed_flush_keeps_rows_for_the_next_attempt(monkeypatch):
    running_experiment("retry")
    services.assign_user("u1", {})
    real_write = exposure_log._write

    def broken(*args):
        raise OperationalError("database is down")

    monkeypatch.setattr(exposure_log, "_write", broken)
    assert exposure_log.flush() == 0
    assert len(exposure_log.buffer) == 1
    monkeypatch.setattr(exposure_log, "_write", real_write)
    services.assign_user("u2", {})
    assert exposure_log.flush() == 2
    assert set(Exposure.objects.values_list("user_id", flat=True)) == {"u1", "u2"}


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite checks deferred foreign keys only at a real commit, which a test never does",
)
def test_rows_of_a_deleted_experiment_are_dropped_and_the_rest_written():
    experiment = running_experiment("deleted")
    running_experiment("kept")
    services.assign_user("u1", {})
    experiment.delete()  # another process deletes it before this one flushes
    assert exposure_log.flush() == 1  # the row of "kept"; the orphan is dropped
    assert len(exposure_log.buffer) == 0
    assert list(Exposure.objects.values_list("experiment__key", flat=True)) == ["kept"]


def test_reload_drops_pending_rows_of_deleted_experiments():
    gone = running_experiment("gone")
    running_experiment("stays")
    services.assign_user("u1", {})
    assert len(exposure_log.buffer) == 2
    gone.delete()
    services.assign_user("u2", {})  # the next call reloads the configuration
    assert exposure_log.flush() == 2  # u1 and u2 in "stays" only
    assert set(Exposure.objects.values_list("experiment__key", "user_id")) == {
        ("stays", "u1"),
        ("stays", "u2"),
    }


def test_the_earliest_exposure_wins_whatever_the_order_of_commits():
    """Process B saw the user first but flushes second: its earlier time replaces A's, for
    the experiment and for the holdout; a later time never replaces an earlier one."""
    from datetime import UTC, datetime

    from assignment.models import HoldoutExposure
    from experiments.models import Holdout

    experiment = running_experiment("earliest")
    variant = experiment.variants.first()
    holdout = Holdout.objects.create(name="earliest-holdout", share=0.05, seed="s")
    times = [1_700_000_200.0, 1_700_000_100.0, 1_700_000_300.0]  # A, then B (earlier), then C
    for at in times:
        exposure_log.buffer.forget()  # each flush as from another process
        exposure_log.buffer.add(experiment.id, 1, "u", variant.id, at)
        exposure_log.buffer.add_holdout(holdout.id, "u", False, at)
        exposure_log.flush()
    earliest = datetime.fromtimestamp(min(times), tz=UTC)
    assert Exposure.objects.get(user_id="u").first_exposed_at == earliest
    assert HoldoutExposure.objects.get(user_id="u").first_seen_at == earliest
    assert Exposure.objects.count() == HoldoutExposure.objects.count() == 1
