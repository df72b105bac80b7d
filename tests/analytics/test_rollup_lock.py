"""A rollup never runs twice at once: the task skips, the command waits."""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, connections

from analytics.models import RollupState
from analytics.services import rollup_lock as lock_module
from analytics.tasks import run_rollups


@contextmanager
def held_elsewhere() -> Iterator[None]:
    """The rollup lock held by another holder (another session or open file)."""
    if connection.vendor == "postgresql":
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s)", [lock_module.ADVISORY_KEY])
            yield
        finally:
            other.close()
        return
    path = Path(settings.VAR_DIR) / "rollup.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_task_skips_while_another_rollup_runs_and_runs_after():
    with held_elsewhere():
        assert run_rollups() == {"skipped": "another rollup is running"}
        assert not RollupState.objects.exists()
    assert "full" in run_rollups()
    assert RollupState.objects.get().last_run_at is not None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_command_waits_for_the_lock(monkeypatch):
    monkeypatch.setattr("analytics.management.commands.rollup.LOCK_WAIT_SECONDS", 0.3)
    with held_elsewhere(), pytest.raises(CommandError, match="another rollup"):
        call_command("rollup")
    release = threading.Event()

    def hold_briefly() -> None:
        with held_elsewhere():
            release.set()
            threading.Event().wait(0.5)

    monkeypatch.setattr("analytics.management.commands.rollup.LOCK_WAIT_SECONDS", 30)
    holder = threading.Thread(target=hold_briefly)
    holder.start()
    release.wait(5)
    call_command("rollup")  # waits for the holder, then runs
    holder.join()
    assert RollupState.objects.get().last_run_at is not None
