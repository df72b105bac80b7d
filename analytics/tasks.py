"""Celery tasks of analytics: the periodic rollup (scheduled by beat, see settings)."""

from __future__ import annotations

from celery import shared_task

from analytics.services.rollup_lock import rollup_lock
from analytics.services.rollups import do_run_rollups


@shared_task(
    name="analytics.tasks.run_rollups",
    soft_time_limit=1800,
    time_limit=1900,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=3,
)
def run_rollups(full: bool = False) -> dict:
    """Roll events up into per-user and per-arm statistics (incremental unless ``full``).

    Skipped, saying so, while another rollup runs (``rollup_lock``): the next beat tick
    catches up, as a run re-reads everything since the last one.
    """
    from dataclasses import asdict

    with rollup_lock() as held:
        if not held:
            return {"skipped": "another rollup is running"}
        return asdict(do_run_rollups(full=full))
